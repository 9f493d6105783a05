//! The router with in-process requests: status codes, bodies, staleness, readiness.

mod common;

use std::collections::BTreeSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use axum::http::StatusCode;
use common::call;
use serde_json::Value;
use stadtpuls_api::AppState;
use stadtpuls_config::{CityRegistry, Config, TrafficConfig, parse_registry};
use stadtpuls_processing::catalog::{Catalog, UnknownSensors};
use stadtpuls_processing::engine::{Operator, ParkingOperator, TrafficWindowOperator};
use stadtpuls_processing::live::LiveState;
use stadtpuls_processing::model::TimeBounds;
use stadtpuls_processing::model::contract::traffic;
use stadtpuls_processing::model::parking::{ParkingBatchBuilder, ParkingObservation};
use stadtpuls_processing::model::traffic::{TrafficBatchBuilder, TrafficObservation};
use stadtpuls_processing::window::parking::{FacilityLive, ParkingSpec};
use stadtpuls_processing::window::traffic_state::TrafficStateClassifier;
use stadtpuls_processing::window::{TimestampSemantics, WindowSpec};

const NOW: i64 = 1_795_478_400_000;

fn registry() -> CityRegistry {
    let config = Config::demo(&Default::default()).expect("demo config");
    let city = config.city("ulm").expect("ulm").clone();
    let csv = "id,kind,name,lat,lon,lanes,capacity,free_flow_kmh,facility_id\n\
               ulm-t-1,traffic,Ring,48.40,9.99,2,,50,\n\
               ulm-p-1,parking_facility,Parkhaus,48.398,9.991,,100,,\n\
               ulm-p-2,parking_facility,P+R,48.39,9.98,,50,,\n";
    parse_registry(&city, std::path::Path::new("ulm.csv"), csv).expect("registry")
}

fn state(ready: Arc<AtomicBool>) -> AppState {
    let registry = registry();
    let live = Arc::new(LiveState::new(3_600_000));
    run_parking(&live, &registry);
    live.set_facility(
        "ulm",
        "ulm-p-2",
        FacilityLive::new(5, Some(50), NOW - 3_600_000),
    );
    let mut state = AppState::new(
        live,
        &[registry],
        vec![60, 900],
        900_000,
        Arc::new(move || ready.load(Ordering::Acquire)),
    );
    state.now_ms = Arc::new(|| NOW);
    state
}

/// Feeds ulm-p-1 through the real operator: 30 free (entries 5, exits 2) at 23:46, 25 free
/// (entries 3) at 23:59, so the window [23:45, 00:00) and the level reach the live view.
fn run_parking(live: &LiveState, registry: &stadtpuls_config::CityRegistry) {
    let catalog = Catalog::from_registries(
        std::slice::from_ref(registry),
        &TrafficConfig::default(),
        UnknownSensors::Reject,
    );
    let windows = WindowSpec::tumbling(
        &[60_000, 900_000],
        0,
        60_000,
        TimestampSemantics::IntervalEnd,
    );
    let mut op = ParkingOperator::new(&windows, &ParkingSpec::default(), &catalog);
    let mut builder = ParkingBatchBuilder::default();
    let bounds = TimeBounds {
        now: NOW,
        max_future_ms: 0,
    };
    for (ts, free, entries, exits) in [
        (NOW - 14 * 60_000, 30, Some(5), Some(2)),
        (NOW - 60_000, 25, Some(3), None),
    ] {
        let count = ParkingObservation::Facility {
            city: "ulm",
            id: "ulm-p-1",
            ts,
            free_spaces: free,
            total_spaces: None,
            entries,
            exits,
            opening: None,
        };
        builder
            .push(&catalog, None, &count, bounds)
            .expect("valid count");
    }
    let batch = builder.finish(&catalog).expect("batch");
    op.fold(0, NOW, &batch, &catalog).expect("process");
    for closed in op.finish(&catalog).expect("windows") {
        live.apply_parking(&closed).expect("parking window");
    }
    let key = catalog.facility_key(0, "ulm-p-1").expect("registered");
    let level = op.facility(key).expect("reported");
    live.set_facility("ulm", "ulm-p-1", level);
}

#[tokio::test]
async fn cities_and_parking_levels() {
    let s = state(Arc::new(AtomicBool::new(true)));
    let (status, body) = call(s.clone(), "/v1/cities").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["cities"][0]["id"], "ulm");
    assert_eq!(body["cities"][0]["traffic_sensors"], 1);
    assert_eq!(body["cities"][0]["parking_facilities"], 2);
    let (status, body) = call(s.clone(), "/v1/cities/ulm/parking").await;
    assert_eq!(status, StatusCode::OK);
    let f = &body["facilities"];
    assert_eq!(f[0]["occupancy_pct"], 75.0);
    assert_eq!(f[0]["occupied"], 75);
    assert_eq!(f[0]["status"], "spacesAvailable");
    // two readings 13 min apart (more than half the 15-min trend window): +5 points
    assert_eq!(f[0]["trend"], "increasing");
    assert_eq!(f[0]["trend_pct_per_h"], 23.1); // 5 / 13 · 60
    assert_eq!(f[0]["stale"], false);
    assert_eq!(f[1]["stale"], true, "an hour old with stale_after 15 min");
    assert_eq!(f[0]["updated_at"], "2026-11-23T23:59:00.000Z");
    assert_eq!(body["window"], "15m", "largest window by default");
    let w = &f[0]["last_window"];
    assert_eq!(w["window_start"], "2026-11-23T23:45:00.000Z");
    assert_eq!(w["window_end"], "2026-11-24T00:00:00.000Z");
    assert_eq!(
        (w["entries"].as_u64(), w["exits"].as_u64()),
        (Some(8), Some(2))
    );
    // 70 % from 23:46 for 13 min, 75 % from 23:59 for 1 min: (910 + 75) / 14 = 70.36
    assert_eq!(w["occupancy_mean_pct"], 70.4);
    assert_eq!(w["free_min"], 25);
    assert_eq!(
        w["sessions_ended"],
        Value::Null,
        "a counted car park has no sessions"
    );
    assert_eq!(f[1]["last_window"], Value::Null);
    // ulm-p-2 is stale, so only ulm-p-1 counts
    let totals = &body["totals"];
    assert_eq!(
        (
            totals["free"].as_u64(),
            totals["total"].as_u64(),
            totals["occupied"].as_u64()
        ),
        (Some(25), Some(100), Some(75))
    );
    assert_eq!(totals["occupancy_pct"], 75.0);
    assert_eq!(totals["facilities_reporting"], 1);
    assert_eq!(totals["facilities_stale"], 1);
    let (_, minute) = call(s.clone(), "/v1/cities/ulm/parking?window=1m").await;
    let w = &minute["facilities"][0]["last_window"];
    // parking readings are instants: 23:59:00 opens [23:59, 00:00)
    assert_eq!(w["window_start"], "2026-11-23T23:59:00.000Z");
    assert_eq!(
        (w["entries"].as_u64(), w["exits"].as_u64()),
        (Some(3), None)
    );
    let (status, body) = call(s, "/v1/cities/ulm/parking?window=5m").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(
        body["error"]
            .as_str()
            .is_some_and(|e| e.contains("1m, 15m"))
    );
}

#[tokio::test]
async fn errors_have_status_and_reason() {
    let s = state(Arc::new(AtomicBool::new(true)));
    let cases = [
        (
            "/v1/cities/atlantis/parking",
            StatusCode::NOT_FOUND,
            "atlantis",
        ),
        ("/v1/cities/ulm/traffic/nope", StatusCode::NOT_FOUND, "nope"),
        (
            "/v1/cities/ulm/traffic?window=5m",
            StatusCode::BAD_REQUEST,
            "1m, 15m",
        ),
        (
            "/v1/cities/ulm/traffic?window=soon",
            StatusCode::BAD_REQUEST,
            "soon",
        ),
        (
            "/v1/cities/ulm/traffic/ulm-t-1?from=yesterday",
            StatusCode::BAD_REQUEST,
            "yesterday",
        ),
        (
            "/v1/cities/ulm/traffic/ulm-t-1?from=2000&to=1000",
            StatusCode::BAD_REQUEST,
            "after",
        ),
        ("/v2/anything", StatusCode::NOT_FOUND, "route"),
    ];
    for (uri, expected, needle) in cases {
        let (status, body) = call(s.clone(), uri).await;
        assert_eq!(status, expected, "{uri}");
        let message = body["error"].as_str().unwrap_or_default();
        assert!(message.contains(needle), "{uri}: {message}");
    }
    let (status, body) = call(s, "/v1/cities/ulm/traffic/ulm-t-1?window=15m").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["window"], "15m");
    assert_eq!(body["windows"].as_array().map(Vec::len), Some(0));
}

#[tokio::test]
async fn readiness_follows_the_pipeline() {
    let ready = Arc::new(AtomicBool::new(false));
    let s = state(ready.clone());
    assert_eq!(
        call(s.clone(), "/readyz").await.0,
        StatusCode::SERVICE_UNAVAILABLE
    );
    assert_eq!(call(s.clone(), "/healthz").await.0, StatusCode::OK);
    ready.store(true, Ordering::Release);
    assert_eq!(call(s.clone(), "/readyz").await.0, StatusCode::OK);
    let (status, spec) = call(s, "/openapi.json").await;
    assert_eq!(status, StatusCode::OK);
    assert!(spec["paths"]["/v1/cities/{city}/parking"].is_object());
}

/// Runs one report of `ulm-t-1` through the operator and the classifier into the live view.
fn feed_one_window(live: &LiveState) {
    let mut catalog = Catalog::from_registries(
        &[registry()],
        &TrafficConfig::default(),
        UnknownSensors::Reject,
    );
    let spec = WindowSpec::tumbling(
        &[60_000, 900_000],
        0,
        60_000,
        TimestampSemantics::IntervalEnd,
    );
    let mut op = TrafficWindowOperator::new(&spec);
    let mut builder = TrafficBatchBuilder::default();
    let obs = TrafficObservation {
        city: "ulm",
        sensor_id: "ulm-t-1",
        lane: 1,
        ts: NOW,
        interval_s: 60,
        vehicle_count: 20,
        heavy_vehicle_count: None,
        avg_speed_kmh: Some(30.0),
        occupancy_pct: None,
    };
    let bounds = TimeBounds {
        now: NOW,
        max_future_ms: 0,
    };
    builder
        .push(&mut catalog, None, &obs, bounds)
        .expect("valid observation");
    let batch = builder.finish(&catalog).expect("batch");
    op.fold(0, NOW, &batch, &catalog).expect("process");
    let mut classifier = TrafficStateClassifier::new();
    for closed in op.finish(&catalog).expect("close") {
        let classified = classifier.classify(&closed, &catalog).expect("classify");
        live.apply_traffic(&classified).expect("apply");
    }
}

#[tokio::test]
async fn traffic_windows_carry_state_and_completeness() {
    let s = state(Arc::new(AtomicBool::new(true)));
    feed_one_window(&s.live);
    let (status, body) = call(s.clone(), "/v1/cities/ulm/traffic?window=1m").await;
    assert_eq!(status, StatusCode::OK);
    let window = &body["sensors"][0];
    // Lane 1 of 2 sent 60 s: q = 1200 veh/h, v_s = 30 km/h, k = 40 veh/km on an urban
    // street (v1 15, v2 35; two lanes: k1 30, k2 60) → Z3; 60 of 120 lane-seconds.
    assert_eq!(window["sensor_id"], "ulm-t-1");
    assert_eq!(window["density_veh_km"], 40.0);
    assert_eq!(window["traffic_state"], "Z3");
    assert_eq!(window["congested"], true);
    assert_eq!(window["completeness_pct"], 50.0);
    assert_eq!(window["speed_ratio"], 0.6);
    assert_eq!(
        window["speed_reported_mean_kmh"], 30.0,
        "a measure the API once left out"
    );

    // The JSON is derived from the history contract: every traffic window column but the
    // city (in the path) and the lane (the key of the lanes endpoint), under its name.
    let served: BTreeSet<&str> = window
        .as_object()
        .map(|o| o.keys().map(String::as_str).collect())
        .unwrap_or_default();
    let contract: BTreeSet<&str> = traffic::AGGREGATE
        .iter()
        .chain(traffic::CLASSIFIER)
        .map(|c| c.name)
        .filter(|name| ![traffic::out::CITY, traffic::out::LANE].contains(name))
        .collect();
    assert_eq!(served, contract);

    // Every field served is documented in the OpenAPI description (`SensorWindow` in the
    // city list, `Window` without `sensor_id` in a sensor's history).
    let (_, spec) = call(s, "/openapi.json").await;
    for schema in ["Window", "SensorWindow"] {
        let properties = &spec["components"]["schemas"][schema]["properties"];
        let fields = window.as_object().map(|o| o.keys().collect::<Vec<_>>());
        for field in fields.unwrap_or_default() {
            if field == "sensor_id" && schema == "Window" {
                continue;
            }
            assert!(properties[field].is_object(), "{schema} lacks `{field}`");
        }
    }
}
