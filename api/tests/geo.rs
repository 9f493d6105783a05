//! Zone roll-ups and the nearby-parking search through the router, in-process, with
//! hand-computed numbers.

mod common;

use std::path::Path;
use std::sync::Arc;

use axum::http::StatusCode;
use common::call;
use serde_json::{Value, json};
use stadtpuls_api::AppState;
use stadtpuls_config::{CityRegistry, CityZones, Config, parse_registry, parse_zones};
use stadtpuls_processing::catalog::{Catalog, UnknownSensors};
use stadtpuls_processing::engine::{Operator, TrafficWindowOperator};
use stadtpuls_processing::live::LiveState;
use stadtpuls_processing::model::TimeBounds;
use stadtpuls_processing::model::traffic::{TrafficBatchBuilder, TrafficObservation};
use stadtpuls_processing::window::parking::FacilityLive;
use stadtpuls_processing::window::{TimestampSemantics, WindowSpec};

/// 2026-11-24T00:00:00Z: the end of the window the traffic falls in, and the clock.
const NOW: i64 = 1_795_478_400_000;
const HEADER: &str = "id,kind,name,lat,lon,lanes,capacity,free_flow_kmh,facility_id\n";

fn registry(city: &str, rows: &str) -> CityRegistry {
    let config = Config::demo(&Default::default()).expect("demo config");
    let city = config.city(city).expect("demo city").clone();
    parse_registry(&city, Path::new("registry.csv"), &format!("{HEADER}{rows}"))
        .unwrap_or_else(|errors| panic!("{errors}"))
}

/// Ulm: west and east districts split at 9.99 E, and a parking zone across both.
fn ulm() -> (CityRegistry, CityZones) {
    let registry = registry(
        "ulm",
        "ulm-t-1,traffic,West inner,48.398,9.985,2,,50,\n\
         ulm-t-2,traffic,East inner,48.398,9.995,2,,50,\n\
         ulm-t-3,traffic,East outer,48.405,9.995,2,,50,\n\
         ulm-t-4,traffic,West outer (silent),48.405,9.985,2,,50,\n\
         ulm-p-1,parking_facility,Parkhaus West,48.398,9.986,,400,,\n\
         ulm-p-2,parking_facility,Parkhaus Ost,48.398,9.996,,100,,\n\
         ulm-p-3,parking_facility,Parkplatz Ost (stale),48.405,9.996,,200,,\n",
    );
    let rect = |lon0: f64, lat0: f64, lon1: f64, lat1: f64| {
        format!(
            "[[[{lon0},{lat0}],[{lon1},{lat0}],[{lon1},{lat1}],[{lon0},{lat1}],[{lon0},{lat0}]]]"
        )
    };
    let feature = |id: &str, kind: &str, rings: String| {
        json!({"type": "Feature", "properties": {"id": id, "name": id, "kind": kind},
               "geometry": {"type": "Polygon", "coordinates": serde_json::from_str::<Value>(&rings).expect("rings")}})
    };
    let text = json!({"type": "FeatureCollection", "features": [
        feature("ulm-west", "district", rect(9.98, 48.39, 9.99, 48.41)),
        feature("ulm-ost", "district", rect(9.99, 48.39, 10.0, 48.41)),
        feature("ulm-pz", "parking_zone", rect(9.984, 48.396, 9.997, 48.40)),
    ]})
    .to_string();
    let zones = parse_zones(&registry.city, Path::new("ulm.geojson"), &text)
        .unwrap_or_else(|errors| panic!("{errors}"));
    (
        registry,
        CityZones {
            city: "ulm".to_owned(),
            zones,
        },
    )
}

/// One 60-s interval ending at NOW per sensor: (sensor, vehicles, km/h, occupancy %),
/// run through the real batch builder and window operator into the live view.
fn feed_traffic(live: &LiveState, registries: &[CityRegistry], rows: &[(&str, i64, f64, f64)]) {
    let mut catalog = Catalog::from_registries(
        registries,
        &stadtpuls_config::TrafficConfig::default(),
        UnknownSensors::Reject,
    );
    let spec = WindowSpec::tumbling(
        &[60_000, 900_000],
        0,
        60_000,
        TimestampSemantics::IntervalEnd,
    );
    let mut operator = TrafficWindowOperator::new(&spec);
    let bounds = TimeBounds {
        now: NOW,
        max_future_ms: 300_000,
    };
    let mut builder = TrafficBatchBuilder::default();
    for &(sensor_id, vehicles, speed, occupancy) in rows {
        let observation = TrafficObservation {
            city: "ulm",
            sensor_id,
            lane: 1,
            ts: NOW,
            interval_s: 60,
            vehicle_count: vehicles,
            heavy_vehicle_count: None,
            avg_speed_kmh: Some(speed),
            occupancy_pct: Some(occupancy),
        };
        builder
            .push(&mut catalog, None, &observation, bounds)
            .unwrap_or_else(|rejection| panic!("{rejection}"));
    }
    let batch = builder.finish(&catalog).expect("batch");
    operator.fold(0, NOW, &batch, &catalog).expect("process");
    let mut classifier = stadtpuls_processing::window::traffic_state::TrafficStateClassifier::new();
    // The end of the input closes them: a running operator waits for a report after NOW.
    let closed: Vec<_> = operator
        .finish(&catalog)
        .expect("finish")
        .iter()
        .map(|c| classifier.classify(c, &catalog).expect("classify"))
        .collect();
    assert_eq!(
        closed.len(),
        2,
        "the 1m and 15m windows ending at NOW close"
    );
    for windows in &closed {
        live.apply_traffic(windows).expect("apply");
    }
}

fn level(free: u32, total: u32, age_ms: i64) -> FacilityLive {
    FacilityLive::new(free, Some(total), NOW - age_ms)
}

fn state(live: Arc<LiveState>, registries: &[CityRegistry], zones: &[CityZones]) -> AppState {
    let mut state = AppState::new(live, registries, vec![60, 900], 900_000, Arc::new(|| true))
        .with_zones(registries, zones);
    state.now_ms = Arc::new(|| NOW);
    state
}

fn ulm_state() -> AppState {
    let (registry, zones) = ulm();
    let live = Arc::new(LiveState::new(3_600_000));
    // q = n · 3600 / 60: t-1 1200 veh/h at 50, t-2 600 at 20, t-3 300 at 60; t-4 silent.
    feed_traffic(
        &live,
        std::slice::from_ref(&registry),
        &[
            ("ulm-t-1", 20, 50.0, 10.0),
            ("ulm-t-2", 10, 20.0, 30.0),
            ("ulm-t-3", 5, 60.0, 5.0),
        ],
    );
    live.set_facility("ulm", "ulm-p-1", level(100, 400, 60_000));
    live.set_facility("ulm", "ulm-p-2", level(40, 100, 120_000));
    live.set_facility("ulm", "ulm-p-3", level(150, 200, 3_600_000));
    state(live, &[registry], &[zones])
}

/// west: t-1, t-4 (silent) | p-1          → Q 1200, v 50, b 10; 100 of 400 free → 75 %
/// ost:  t-2, t-3          | p-2, p-3 (stale)
///       Q = 600 + 300 = 900, v = 900 / (600/20 + 300/60) = 900 / 35 = 25.71, b = (30 + 5) / 2
///       40 of 100 free → 60 %
/// pz:   t-1, t-2          | p-1, p-2
///       Q = 1800, v = 1800 / (1200/50 + 600/20) = 1800 / 54 = 33.33, b = (10 + 30) / 2
///       140 of 500 free → 72 %
#[tokio::test]
async fn zone_rollups_are_hand_computed() {
    let (status, body) = call(ulm_state(), "/v1/cities/ulm/zones").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["city"], "ulm");
    assert_eq!(body["window"], "1m");
    let end = "2026-11-24T00:00:00.000Z";
    let expected = json!([
        {"id": "ulm-west", "name": "ulm-west", "kind": "district",
         "traffic": {"sensors": 2, "sensors_reporting": 1, "flow_veh_h": 1200.0,
                     "speed_space_mean_kmh": 50.0, "occupancy_pct": 10.0, "window_end": end},
         "parking": {"facilities": 1, "facilities_reporting": 1, "facilities_stale": 0,
                     "free": 100, "total": 400, "occupied": 300, "occupancy_pct": 75.0}},
        {"id": "ulm-ost", "name": "ulm-ost", "kind": "district",
         "traffic": {"sensors": 2, "sensors_reporting": 2, "flow_veh_h": 900.0,
                     "speed_space_mean_kmh": 25.71, "occupancy_pct": 17.5, "window_end": end},
         "parking": {"facilities": 2, "facilities_reporting": 1, "facilities_stale": 1,
                     "free": 40, "total": 100, "occupied": 60, "occupancy_pct": 60.0}},
        {"id": "ulm-pz", "name": "ulm-pz", "kind": "parking_zone",
         "traffic": {"sensors": 2, "sensors_reporting": 2, "flow_veh_h": 1800.0,
                     "speed_space_mean_kmh": 33.33, "occupancy_pct": 20.0, "window_end": end},
         "parking": {"facilities": 2, "facilities_reporting": 2, "facilities_stale": 0,
                     "free": 140, "total": 500, "occupied": 360, "occupancy_pct": 72.0}}
    ]);
    assert_eq!(body["zones"], expected);
    // The 15-minute window received the same single interval: same flows.
    let (status, body) = call(ulm_state(), "/v1/cities/ulm/zones?window=15m").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["zones"][2]["traffic"]["flow_veh_h"], 1800.0);
}

#[tokio::test]
async fn zones_without_data_or_zone_file() {
    let (ulm_registry, zones) = ulm();
    let karlsruhe = registry(
        "karlsruhe",
        "karlsruhe-t-1,traffic,Ring,49.01,8.40,2,,50,\n",
    );
    let quiet = state(
        Arc::new(LiveState::new(3_600_000)),
        &[ulm_registry, karlsruhe],
        &[zones],
    );
    let (status, body) = call(quiet.clone(), "/v1/cities/ulm/zones").await;
    assert_eq!(status, StatusCode::OK);
    let west = &body["zones"][0];
    assert_eq!(west["traffic"]["sensors_reporting"], 0);
    assert_eq!(west["traffic"]["flow_veh_h"], Value::Null);
    assert_eq!(west["traffic"]["window_end"], Value::Null);
    assert_eq!(west["parking"]["facilities_stale"], 1, "never reported");
    assert_eq!(west["parking"]["total"], 0);
    assert_eq!(west["parking"]["occupancy_pct"], Value::Null);
    let (status, body) = call(quiet.clone(), "/v1/cities/karlsruhe/zones").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["zones"], json!([]), "karlsruhe has no zone file here");
    let (status, body) = call(quiet.clone(), "/v1/cities/atlantis/zones").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(
        body["error"]
            .as_str()
            .unwrap_or_default()
            .contains("atlantis")
    );
    let (status, body) = call(quiet, "/v1/cities/ulm/zones?window=5m").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(
        body["error"]
            .as_str()
            .unwrap_or_default()
            .contains("1m, 15m")
    );
}

/// Around the Karlsruhe/Ettlingen border P+R at (48.964, 8.406), all on the meridian
/// 8.406 E, where 0.001° of latitude is 6 371 008.8 m · π/180 · 0.001 = 111.195 m.
fn border_state() -> AppState {
    let karlsruhe = registry(
        "karlsruhe",
        "karlsruhe-p-1,parking_facility,Full,48.970,8.406,,300,,\n\
         karlsruhe-p-2,parking_facility,Stale,48.9645,8.406,,300,,\n\
         karlsruhe-p-3,parking_facility,Far,48.990,8.406,,300,,\n\
         karlsruhe-p-6,parking_facility,P+R Rüppurr Süd,48.966,8.406,,380,,\n",
    );
    let ettlingen = registry(
        "ettlingen",
        "ettlingen-p-1,parking_facility,Near,48.9605,8.406,,200,,\n\
         ettlingen-p-2,parking_facility,Silent,48.9615,8.406,,200,,\n\
         ettlingen-p-4,parking_facility,P+R Rüppurr Süd,48.966,8.406,,380,,\n",
    );
    let live = Arc::new(LiveState::new(3_600_000));
    live.set_facility("karlsruhe", "karlsruhe-p-1", level(0, 300, 0));
    live.set_facility("karlsruhe", "karlsruhe-p-2", level(99, 300, 3_600_000));
    live.set_facility("karlsruhe", "karlsruhe-p-3", level(50, 300, 0));
    live.set_facility("karlsruhe", "karlsruhe-p-6", level(12, 380, 60_000));
    live.set_facility("ettlingen", "ettlingen-p-1", level(5, 200, 0));
    live.set_facility("ettlingen", "ettlingen-p-4", level(30, 380, 60_000));
    state(live, &[karlsruhe, ettlingen], &[])
}

fn found(body: &Value) -> Vec<(String, f64)> {
    body["facilities"]
        .as_array()
        .map(|items| {
            items
                .iter()
                .map(|item| {
                    let id = item["facility_id"].as_str().unwrap_or_default().to_owned();
                    (id, item["distance_m"].as_f64().unwrap_or(f64::NAN))
                })
                .collect()
        })
        .unwrap_or_default()
}

#[tokio::test]
async fn nearby_is_sorted_by_distance_across_two_cities() {
    let (status, body) = call(border_state(), "/v1/parking/nearby?lat=48.964&lon=8.406").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        (body["radius_m"].as_f64(), body["min_free"].as_u64()),
        (Some(1000.0), Some(1))
    );
    // 2 · 111.195 = 222.4 m twice (same site, both cities list it; ettlingen first),
    // 3.5 · 111.195 = 389.2 m; the full, stale and silent ones are left out.
    assert_eq!(
        found(&body),
        [
            ("ettlingen-p-4".to_owned(), 222.4),
            ("karlsruhe-p-6".to_owned(), 222.4),
            ("ettlingen-p-1".to_owned(), 389.2)
        ]
    );
    let first = &body["facilities"][0];
    assert_eq!(
        *first,
        json!({"city": "ettlingen", "facility_id": "ettlingen-p-4", "name": "P+R Rüppurr Süd",
               "lat": 48.966, "lon": 8.406, "distance_m": 222.4, "free": 30, "total": 380,
               "occupancy_pct": 92.1, "updated_at": "2026-11-23T23:59:00.000Z", "stale": false})
    );
}

#[tokio::test]
async fn nearby_min_free_and_radius() {
    let uri = |query: &str| format!("/v1/parking/nearby?lat=48.964&lon=8.406&{query}");
    let (_, body) = call(border_state(), &uri("min_free=0")).await;
    let ids: Vec<String> = found(&body).into_iter().map(|(id, _)| id).collect();
    assert_eq!(
        ids,
        [
            "karlsruhe-p-2", // 55.6 m, stale
            "ettlingen-p-4",
            "karlsruhe-p-6",
            "ettlingen-p-2", // 278.0 m, never reported
            "ettlingen-p-1",
            "karlsruhe-p-1", // 667.2 m, full
        ]
    );
    assert_eq!(body["facilities"][0]["stale"], true);
    assert_eq!(body["facilities"][3]["free"], Value::Null);
    assert_eq!(body["facilities"][3]["updated_at"], Value::Null);
    let (_, body) = call(border_state(), &uri("min_free=20")).await;
    assert_eq!(found(&body), [("ettlingen-p-4".to_owned(), 222.4)]);
    let (_, body) = call(border_state(), &uri("radius_m=5000")).await;
    let far = found(&body);
    assert_eq!(far.last(), Some(&("karlsruhe-p-3".to_owned(), 2891.1)));
    let (_, body) = call(border_state(), &uri("radius_m=100")).await;
    assert_eq!(body["facilities"], json!([]));
}

#[tokio::test]
async fn nearby_rejects_bad_parameters() {
    let cases = [
        ("lon=8.4", "`lat` is required"),
        ("lat=48.9", "`lon` is required"),
        ("lat=abc&lon=8.4", "`lat` = `abc` is not a number"),
        ("lat=91&lon=8.4", "out of range -90..=90"),
        ("lat=48.9&lon=-181", "out of range -180..=180"),
        ("lat=NaN&lon=8.4", "not a number"),
        ("lat=48.9&lon=8.4&radius_m=0", "out of range 1..=50000"),
        ("lat=48.9&lon=8.4&radius_m=50001", "`radius_m` = 50001"),
        ("lat=48.9&lon=8.4&radius_m=far", "`radius_m` = `far`"),
        ("lat=48.9&lon=8.4&min_free=-1", "`min_free` = `-1`"),
        ("lat=48.9&lon=8.4&min_free=1.5", "whole number"),
    ];
    for (query, needle) in cases {
        let (status, body) = call(border_state(), &format!("/v1/parking/nearby?{query}")).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{query}: {body}");
        let message = body["error"].as_str().unwrap_or_default();
        assert!(message.contains(needle), "{query}: {message}");
    }
    for query in ["radius_m=1", "radius_m=50000", "min_free=0"] {
        let uri = format!("/v1/parking/nearby?lat=48.964&lon=8.406&{query}");
        assert_eq!(
            call(border_state(), &uri).await.0,
            StatusCode::OK,
            "{query}"
        );
    }
}

#[tokio::test]
async fn openapi_describes_the_geo_endpoints() {
    let (status, spec) = call(border_state(), "/openapi.json").await;
    assert_eq!(status, StatusCode::OK);
    assert!(spec["paths"]["/v1/cities/{city}/zones"]["get"].is_object());
    assert!(spec["paths"]["/v1/parking/nearby"]["get"].is_object());
}
