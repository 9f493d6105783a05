//! The live map's routes in-process: the page and every asset it references are served
//! from the binary, `/` leads there, the tile settings come from the config, and the
//! geometry shows each kind only to a request that sees it.

use std::path::Path;
use std::sync::Arc;

use axum::body::{Body, Bytes};
use axum::http::{HeaderMap, Request, StatusCode, header};
use http_body_util::BodyExt;
use serde_json::{Value, json};
use stadtpuls_api::access::Policy;
use stadtpuls_api::map::MapDoor;
use stadtpuls_api::{AppState, router};
use stadtpuls_config::Config;
use stadtpuls_processing::live::LiveState;
use tower::ServiceExt;

const TILES: &str = "https://tiles.example.org/{z}/{x}/{y}.png";

/// Pforzheim shares its parking openly and its traffic with keys only; it has one
/// district. The config sets a tile layer.
fn state(dir: &Path) -> AppState {
    std::fs::write(
        dir.join("pforzheim.csv"),
        "id,kind,name,lat,lon,lanes,capacity,free_flow_kmh,facility_id\n\
         pf-t-1,traffic,Ring,48.892,8.694,2,,50,\n\
         pf-p-1,parking_facility,Parkhaus,48.893,8.695,,300,,\n",
    )
    .expect("registry");
    let zones = json!({"type": "FeatureCollection", "features": [{
        "type": "Feature",
        "properties": {"id": "mitte", "name": "Mitte", "kind": "district"},
        "geometry": {"type": "Polygon", "coordinates": [[[8.68, 48.88], [8.71, 48.88], [8.71, 48.90], [8.68, 48.90], [8.68, 48.88]]]},
    }]});
    std::fs::write(dir.join("pforzheim.geojson"), zones.to_string()).expect("zones");
    let toml = format!(
        "[api]\nmap_tile_url = \"{TILES}\"\nmap_tile_attribution = \"© OSM\"\n\n\
         [[api_keys]]\nprincipal = \"all\"\nkey_sha256 = \"{}\"\ncities = [\"*\"]\n\n\
         [[cities]]\nid = \"pforzheim\"\nname = \"Pforzheim\"\ntimezone = \"Europe/Berlin\"\n\
         lat = 48.892\nlon = 8.694\nregistry = \"pforzheim.csv\"\nzones = \"pforzheim.geojson\"\n\
         [cities.share]\ntraffic = \"private\"\nparking = \"open\"\n",
        stadtpuls_api::sql::hash_key("key-all"),
    );
    let config = Config::from_toml(&toml, &dir.join("stadtpuls.toml"), &Default::default())
        .unwrap_or_else(|e| panic!("{e}"));
    let registries = config.load_registries().expect("registries");
    let zones = config.load_zones().expect("zones");
    let live = Arc::new(LiveState::new(3_600_000));
    AppState::new(live, &registries, vec![60], 900_000, Arc::new(|| true))
        .with_zones(&registries, &zones)
        .with_policy(Policy::from_config(&config))
        .with_map(MapDoor::new(config.api.map_tiles.clone(), &zones))
}

async fn get(state: AppState, uri: &str, key: Option<&str>) -> (StatusCode, HeaderMap, Bytes) {
    let mut request = Request::get(uri);
    if let Some(key) = key {
        request = request.header(header::AUTHORIZATION, format!("Bearer {key}"));
    }
    let response = router(state)
        .oneshot(request.body(Body::empty()).expect("request"))
        .await
        .expect("response");
    let status = response.status();
    let headers = response.headers().clone();
    let body = response
        .into_body()
        .collect()
        .await
        .expect("body")
        .to_bytes();
    (status, headers, body)
}

fn layers(body: &Bytes) -> Vec<(String, String)> {
    let body: Value = serde_json::from_slice(body).expect("GeoJSON");
    assert_eq!(body["type"], "FeatureCollection");
    body["features"]
        .as_array()
        .expect("features")
        .iter()
        .map(|f| {
            let p = &f["properties"];
            (
                p["layer"].as_str().unwrap_or_default().to_owned(),
                p["id"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect()
}

#[tokio::test]
async fn geometry_shows_each_kind_only_to_who_sees_it() {
    let dir = tempfile::tempdir().expect("tempdir");
    let state = state(dir.path());
    let uri = "/v1/cities/pforzheim/geometry";

    let (status, _, body) = get(state.clone(), uri, None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        layers(&body),
        [("zone", "mitte"), ("parking_facility", "pf-p-1")].map(|(l, i)| (l.into(), i.into())),
        "anonymous: open parking, no private traffic"
    );

    let (status, _, body) = get(state.clone(), uri, Some("key-all")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        layers(&body),
        [
            ("zone", "mitte"),
            ("traffic_sensor", "pf-t-1"),
            ("parking_facility", "pf-p-1")
        ]
        .map(|(l, i)| (l.into(), i.into()))
    );
    let body: Value = serde_json::from_slice(&body).expect("JSON");
    let features = &body["features"];
    assert_eq!(
        features[0]["geometry"],
        json!({"type": "MultiPolygon", "coordinates": [[[[8.68, 48.88], [8.71, 48.88], [8.71, 48.90], [8.68, 48.90], [8.68, 48.88]]]]})
    );
    assert_eq!(features[0]["properties"]["kind"], "district");
    assert_eq!(
        features[2]["geometry"],
        json!({"type": "Point", "coordinates": [8.695, 48.893]})
    );
    assert_eq!(features[2]["properties"]["capacity"], 300);

    let (status, ..) = get(state, "/v1/cities/nowhere/geometry", None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn the_page_and_everything_it_loads_come_from_the_binary() {
    let dir = tempfile::tempdir().expect("tempdir");
    let state = state(dir.path());

    let (status, headers, _) = get(state.clone(), "/", None).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert_eq!(headers[header::LOCATION], "/map");

    let (status, headers, page) = get(state.clone(), "/map", None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(headers[header::CONTENT_TYPE], "text/html; charset=utf-8");
    let page = String::from_utf8(page.to_vec()).expect("UTF-8");
    // Every script and style sheet the page names is ours, under /map/assets/.
    let referenced: Vec<&str> = page
        .split(['"', '\''])
        .filter(|part| part.ends_with(".js") || part.ends_with(".css"))
        .collect();
    assert_eq!(referenced.len(), 5, "{referenced:?}");
    for asset in referenced {
        assert!(asset.starts_with("/map/assets/"), "{asset} is not embedded");
        let (status, headers, body) = get(state.clone(), asset, None).await;
        assert_eq!(status, StatusCode::OK, "{asset}");
        assert!(!body.is_empty(), "{asset}");
        let media = headers[header::CONTENT_TYPE].to_str().expect("ASCII");
        let expected = if asset.ends_with(".js") {
            "text/javascript"
        } else {
            "text/css"
        };
        assert!(media.starts_with(expected), "{asset}: {media}");
    }
    let (status, ..) = get(state, "/map/assets/../../Cargo.toml", None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn the_tile_layer_is_the_configured_one_or_none() {
    let dir = tempfile::tempdir().expect("tempdir");
    let state = state(dir.path());
    let (status, _, body) = get(state.clone(), "/map/settings.json", None).await;
    assert_eq!(status, StatusCode::OK);
    let body: Value = serde_json::from_slice(&body).expect("JSON");
    assert_eq!(
        body,
        json!({"tile_url": TILES, "tile_attribution": "© OSM"})
    );

    let mut plain = state;
    plain.map = Arc::new(MapDoor::default());
    let (_, _, body) = get(plain, "/map/settings.json", None).await;
    let body: Value = serde_json::from_slice(&body).expect("JSON");
    assert_eq!(body, json!({"tile_url": null, "tile_attribution": null}));
}
