//! The regional views through the router, over windows closed by the real traffic
//! operator and classifier: the corridor aggregate is the vehicle-weighted harmonic mean
//! worked out by hand, the parking view adds up its cities' own totals, and every field
//! the region routes serve is in the OpenAPI description.

mod common;

use std::sync::Arc;

use axum::http::StatusCode;
use common::call;
use http_body_util::BodyExt;
use serde_json::Value;
use stadtpuls_api::AppState;
use stadtpuls_config::{CityRegistry, Config, TrafficConfig};
use stadtpuls_processing::catalog::{Catalog, UnknownSensors};
use stadtpuls_processing::engine::{Operator, TrafficWindowOperator};
use stadtpuls_processing::live::LiveState;
use stadtpuls_processing::model::TimeBounds;
use stadtpuls_processing::model::traffic::{TrafficBatchBuilder, TrafficObservation};
use stadtpuls_processing::window::parking::FacilityLive;
use stadtpuls_processing::window::traffic_state::TrafficStateClassifier;
use stadtpuls_processing::window::{TimestampSemantics, WindowSpec};
use tower::ServiceExt;

const NOW: i64 = 1_795_478_400_000;
const CITIES: [&str; 2] = ["ulm", "neu-ulm"];

/// Two cities with a corridor sensor, a side-street sensor, a garage and a P+R each,
/// and the region `donau` of both.
fn config(dir: &std::path::Path) -> (Config, Vec<CityRegistry>) {
    let mut toml = String::new();
    for city in CITIES {
        let csv = format!(
            "id,kind,name,lat,lon,lanes,capacity,free_flow_kmh,facility_id\n\
             {city}-t-1,traffic,Brücke,48.40,9.99,2,,50,\n\
             {city}-t-2,traffic,Gasse,48.40,9.99,1,,50,\n\
             {city}-p-1,parking_facility,Parkhaus,48.40,9.991,,100,,\n\
             {city}-p-2,parking_facility,P+R Süd,48.39,9.98,,400,,\n"
        );
        std::fs::write(dir.join(format!("{city}.csv")), csv).expect("registry");
        toml.push_str(&format!(
            "[[cities]]\nid = \"{city}\"\nname = \"{city}\"\ntimezone = \"Europe/Berlin\"\n\
             lat = 48.40\nlon = 9.99\nregistry = \"{city}.csv\"\n\n"
        ));
    }
    toml.push_str(
        "[[regions]]\nid = \"donau\"\nname = \"Ulm / Neu-Ulm\"\ncities = [\"ulm\", \"neu-ulm\"]\n\
         corridors = [\"ulm/ulm-t-1\", \"neu-ulm/neu-ulm-t-1\"]\n",
    );
    let config =
        Config::from_toml(&toml, &dir.join("stadtpuls.toml"), &Default::default()).expect("config");
    let registries = config.load_registries().expect("registries");
    (config, registries)
}

/// One minute of lane 1 (of 2) at each corridor sensor, and of the side street, through
/// the operator and the classifier into the live view: ulm 20 vehicles at 30 km/h,
/// neu-ulm 10 at 60 km/h, ulm's side street 50 at 10 km/h (not a corridor).
fn feed_traffic(live: &LiveState, registries: &[CityRegistry]) {
    let mut catalog = Catalog::from_registries(
        registries,
        &TrafficConfig::default(),
        UnknownSensors::Reject,
    );
    let spec = WindowSpec::tumbling(&[60_000], 0, 60_000, TimestampSemantics::IntervalEnd);
    let mut op = TrafficWindowOperator::new(&spec);
    let mut builder = TrafficBatchBuilder::default();
    let bounds = TimeBounds {
        now: NOW,
        max_future_ms: 0,
    };
    for (city, sensor, vehicles, speed) in [
        ("ulm", "ulm-t-1", 20, 30.0),
        ("neu-ulm", "neu-ulm-t-1", 10, 60.0),
        ("ulm", "ulm-t-2", 50, 10.0),
    ] {
        let observation = TrafficObservation {
            city,
            sensor_id: sensor,
            lane: 1,
            ts: NOW,
            interval_s: 60,
            vehicle_count: vehicles,
            heavy_vehicle_count: None,
            avg_speed_kmh: Some(speed),
            occupancy_pct: None,
        };
        builder
            .push(&mut catalog, None, &observation, bounds)
            .expect("valid observation");
    }
    let batch = builder.finish(&catalog).expect("batch");
    op.fold(0, NOW, &batch, &catalog).expect("fold");
    let mut classifier = TrafficStateClassifier::new();
    for closed in op.finish(&catalog).expect("close") {
        let classified = classifier.classify(&closed, &catalog).expect("classify");
        live.apply_traffic(&classified).expect("apply");
    }
}

fn state(dir: &std::path::Path) -> AppState {
    let (config, registries) = config(dir);
    let live = Arc::new(LiveState::new(3_600_000));
    feed_traffic(&live, &registries);
    for (i, city) in CITIES.iter().enumerate() {
        let i = i as u32;
        live.set_facility(
            city,
            &format!("{city}-p-1"),
            FacilityLive::new(30 + i, Some(100), NOW - 60_000),
        );
        live.set_facility(
            city,
            &format!("{city}-p-2"),
            FacilityLive::new(200 + i, Some(400), NOW - 60_000),
        );
    }
    let mut state = AppState::new(live, &registries, vec![60], 900_000, Arc::new(|| true))
        .with_regions(&config.regions);
    state.now_ms = Arc::new(|| NOW);
    state
}

#[tokio::test]
async fn corridor_speed_is_the_vehicle_weighted_harmonic_mean_of_the_corridors() {
    let dir = tempfile::tempdir().expect("temp dir");
    let state = state(dir.path());
    let (status, body) = call(state, "/v1/regions/donau/traffic?window=1m").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["cities"], serde_json::json!(["ulm", "neu-ulm"]));
    let aggregate = &body["aggregate"];
    // Half the lanes reported for the whole minute: ulm 20 veh → 1200 veh/h, neu-ulm
    // 10 veh → 600 veh/h. v̄ = (20 + 10) / (20/30 + 10/60) = 30 / (5/6) = 36 km/h; the
    // plain mean of the speeds would say 45. The side street (50 veh at 10 km/h) is no
    // corridor and counts nowhere.
    assert_eq!(aggregate["vehicles"], 30, "{body}");
    assert_eq!(aggregate["flow_veh_h"], 1800.0, "{body}");
    assert_eq!(aggregate["speed_space_mean_kmh"], 36.0, "{body}");
    assert_eq!(aggregate["sensors"], 2);
    assert_eq!(aggregate["sensors_reporting"], 2);
    let sensors = body["sensors"].as_array().expect("sensors");
    let ids: Vec<&str> = sensors
        .iter()
        .filter_map(|s| s["sensor_id"].as_str())
        .collect();
    assert_eq!(ids, ["ulm-t-1", "neu-ulm-t-1"]);
    assert_eq!(sensors[0]["latest"]["speed_space_mean_kmh"], 30.0);
    assert_eq!(sensors[0]["name"], "Brücke");
}

#[tokio::test]
async fn region_parking_adds_up_its_cities_by_kind() {
    let dir = tempfile::tempdir().expect("temp dir");
    let state = state(dir.path());
    let (status, region) = call(state.clone(), "/v1/regions/donau/parking").await;
    assert_eq!(status, StatusCode::OK, "{region}");
    let mut free = 0;
    let mut total = 0;
    for city in CITIES {
        let (_, own) = call(state.clone(), &format!("/v1/cities/{city}/parking")).await;
        free += own["totals"]["free"].as_u64().expect("free");
        total += own["totals"]["total"].as_u64().expect("total");
        let part = region["by_city"]
            .as_array()
            .and_then(|parts| parts.iter().find(|p| p["city"] == city))
            .expect("the city's part");
        assert_eq!(part["free"], own["totals"]["free"], "{city}");
    }
    assert_eq!((free, total), (30 + 31 + 200 + 201, 1000));
    assert_eq!(region["totals"]["free"], free);
    assert_eq!(region["totals"]["total"], total);
    assert_eq!(region["by_kind"]["park_and_ride"]["free"], 401);
    assert_eq!(region["by_kind"]["park_and_ride"]["total"], 800);
    assert_eq!(region["by_kind"]["car_park"]["free"], 61);
    assert_eq!(region["by_kind"]["on_street"]["total"], 0);
}

/// The registry's `facility_type` decides a facility's kind; the name rule only where a
/// row has none.
#[tokio::test]
async fn region_kinds_follow_the_registry_facility_type_before_the_name() {
    let dir = tempfile::tempdir().expect("temp dir");
    let csv = "id,kind,name,lat,lon,capacity,facility_type\n\
               ulm-p-1,parking_facility,Messe Nord,48.40,9.99,500,park_and_ride\n\
               ulm-p-2,parking_facility,P+R-Platz Garage,48.40,9.99,100,car_park\n\
               ulm-p-3,parking_facility,P+R Süd,48.39,9.98,300,\n";
    std::fs::write(dir.path().join("ulm.csv"), csv).expect("registry");
    let toml = "[[cities]]\nid = \"ulm\"\nname = \"Ulm\"\ntimezone = \"Europe/Berlin\"\n\
                lat = 48.40\nlon = 9.99\nregistry = \"ulm.csv\"\n\n\
                [[regions]]\nid = \"donau\"\nname = \"Donau\"\ncities = [\"ulm\"]\n";
    let config = Config::from_toml(
        toml,
        &dir.path().join("stadtpuls.toml"),
        &Default::default(),
    )
    .expect("config");
    let registries = config.load_registries().expect("registries");
    let live = Arc::new(LiveState::new(3_600_000));
    for (id, free, total) in [
        ("ulm-p-1", 50, 500),
        ("ulm-p-2", 10, 100),
        ("ulm-p-3", 30, 300),
    ] {
        live.set_facility(
            "ulm",
            id,
            FacilityLive::new(free, Some(total), NOW - 60_000),
        );
    }
    let mut state = AppState::new(live, &registries, vec![60], 900_000, Arc::new(|| true))
        .with_regions(&config.regions);
    state.now_ms = Arc::new(|| NOW);
    let (status, body) = call(state, "/v1/regions/donau/parking").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    // Messe Nord (declared) and P+R Süd (by its name) are P+R; the garage whose name
    // says P+R is declared a car park.
    assert_eq!(body["by_kind"]["park_and_ride"]["total"], 800, "{body}");
    assert_eq!(body["by_kind"]["park_and_ride"]["free"], 80, "{body}");
    assert_eq!(body["by_kind"]["car_park"]["total"], 100, "{body}");
}

/// The Karlsruhe/Ettlingen border P+R, in both registries under the same external id
/// (the partner record that feeds it): the region counts its spaces once, under the
/// first member city (config order), and publishes one DATEX II record for it. The same
/// external id 8 km away (a record id two partners both use) is another facility.
#[tokio::test]
async fn a_facility_two_member_cities_list_counts_once() {
    let dir = tempfile::tempdir().expect("temp dir");
    let rows = [
        (
            "karlsruhe",
            49.0,
            "karlsruhe-p-6,parking_facility,P+R Rüppurr Süd,48.964,8.406,380,kvv-pr-12\n\
             karlsruhe-p-7,parking_facility,Parkhaus,49.01,8.40,100,P1\n",
        ),
        (
            "ettlingen",
            48.94,
            "ettlingen-p-4,parking_facility,P+R Rüppurr Süd,48.964,8.406,380,kvv-pr-12\n\
             ettlingen-p-1,parking_facility,Tiefgarage,48.94,8.41,200,P1\n",
        ),
    ];
    let mut toml = String::new();
    for (city, lat, csv) in rows {
        std::fs::write(
            dir.path().join(format!("{city}.csv")),
            format!("id,kind,name,lat,lon,capacity,external_id\n{csv}"),
        )
        .expect("registry");
        toml.push_str(&format!(
            "[[cities]]\nid = \"{city}\"\nname = \"{city}\"\ntimezone = \"Europe/Berlin\"\n\
             lat = {lat}\nlon = 8.40\nregistry = \"{city}.csv\"\n\n"
        ));
    }
    toml.push_str(
        "[[regions]]\nid = \"ka\"\nname = \"Karlsruhe area\"\ncities = [\"karlsruhe\", \"ettlingen\"]\n",
    );
    let config = Config::from_toml(
        &toml,
        &dir.path().join("stadtpuls.toml"),
        &Default::default(),
    )
    .expect("config");
    let registries = config.load_registries().expect("registries");
    let live = Arc::new(LiveState::new(3_600_000));
    for (city, id, free, total) in [
        ("karlsruhe", "karlsruhe-p-6", 120, 380),
        ("karlsruhe", "karlsruhe-p-7", 10, 100),
        ("ettlingen", "ettlingen-p-4", 118, 380),
        ("ettlingen", "ettlingen-p-1", 20, 200),
    ] {
        live.set_facility(city, id, FacilityLive::new(free, Some(total), NOW - 60_000));
    }
    let mut state = AppState::new(live, &registries, vec![60], 900_000, Arc::new(|| true))
        .with_regions(&config.regions);
    state.now_ms = Arc::new(|| NOW);
    let (status, body) = call(state.clone(), "/v1/regions/ka/parking").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    // Karlsruhe's listing of the P+R (120 of 380), both P1s: 150 free of 680.
    assert_eq!(body["totals"]["total"], 680, "{body}");
    assert_eq!(body["totals"]["free"], 150, "{body}");
    assert_eq!(body["by_kind"]["park_and_ride"]["total"], 380, "{body}");
    assert_eq!(body["by_city"][1]["city"], "ettlingen");
    assert_eq!(body["by_city"][1]["total"], 200, "{body}");
    // Ettlingen's own view still lists its P+R.
    let (_, own) = call(state.clone(), "/v1/cities/ettlingen/parking").await;
    assert_eq!(own["totals"]["total"], 580, "{own}");

    let response = stadtpuls_api::router(state)
        .oneshot(
            axum::http::Request::get("/v1/regions/ka/datex2/parking-table")
                .body(axum::body::Body::empty())
                .expect("request"),
        )
        .await
        .expect("response");
    let bytes = response
        .into_body()
        .collect()
        .await
        .expect("body")
        .to_bytes();
    let table = String::from_utf8_lossy(&bytes);
    let records: Vec<&str> = table
        .split("<parkingRecord id=\"")
        .skip(1)
        .filter_map(|r| r.split('"').next())
        .collect();
    assert_eq!(
        records,
        [
            "karlsruhe/karlsruhe-p-6",
            "karlsruhe/karlsruhe-p-7",
            "ettlingen/ettlingen-p-1"
        ]
    );
}

/// Resolves a local `$ref` of the OpenAPI document.
fn resolve<'a>(spec: &'a Value, schema: &'a Value) -> &'a Value {
    match schema["$ref"].as_str() {
        Some(reference) => reference
            .trim_start_matches("#/")
            .split('/')
            .fold(spec, |node, key| &node[key]),
        None => schema,
    }
}

/// Every key of `value` is a property of `schema` (recursing into objects and arrays);
/// problems are pushed as paths.
fn documented(spec: &Value, schema: &Value, value: &Value, path: &str, missing: &mut Vec<String>) {
    let schema = resolve(spec, schema);
    if let Some(parts) = schema["allOf"].as_array().or(schema["oneOf"].as_array()) {
        let mut merged = serde_json::Map::new();
        for part in parts {
            if let Some(props) = resolve(spec, part)["properties"].as_object() {
                merged.extend(props.clone());
            }
        }
        let merged = serde_json::json!({"type": "object", "properties": merged});
        return documented(spec, &merged, value, path, missing);
    }
    match value {
        Value::Object(map) => {
            for (key, child) in map {
                let property = &schema["properties"][key];
                if property.is_null() {
                    missing.push(format!("{path}.{key}"));
                } else {
                    documented(spec, property, child, &format!("{path}.{key}"), missing);
                }
            }
        }
        Value::Array(items) => {
            for item in items {
                documented(spec, &schema["items"], item, &format!("{path}[]"), missing);
            }
        }
        _ => {}
    }
}

#[tokio::test]
async fn every_region_field_is_documented() {
    let dir = tempfile::tempdir().expect("temp dir");
    let state = state(dir.path());
    let spec: Value = serde_json::from_str(stadtpuls_api::OPENAPI).expect("openapi");
    let mut missing = Vec::new();
    for (route, path) in [
        ("/v1/regions", "/v1/regions"),
        ("/v1/regions/{region}/parking", "/v1/regions/donau/parking"),
        ("/v1/regions/{region}/traffic", "/v1/regions/donau/traffic"),
    ] {
        let (status, body) = call(state.clone(), path).await;
        assert_eq!(status, StatusCode::OK, "{path}: {body}");
        let schema = &spec["paths"][route]["get"]["responses"]["200"]["content"]["application/json"]
            ["schema"];
        assert!(schema.is_object(), "{route} is documented");
        documented(&spec, schema, &body, route, &mut missing);
    }
    assert!(
        missing.is_empty(),
        "served but not in docs/openapi.json: {missing:?}"
    );
}
