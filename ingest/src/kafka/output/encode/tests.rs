//! Hand-checked rows → exact keys and JSON values.

use std::sync::Arc;

use arrow_array::{
    ArrayRef, BooleanArray, Float64Array, RecordBatch, StringArray, TimestampMillisecondArray,
    UInt8Array, UInt32Array, UInt64Array, new_null_array,
};
use arrow_schema::SchemaRef;
use stadtpuls_processing::window::ClosedWindows;
use stadtpuls_processing::window::parking::parking_window_schema;
use stadtpuls_processing::window::traffic::{traffic_aggregate_schema, traffic_window_schema};

use super::{Span, encode};
use crate::sink::Stream;

/// 2026-11-24T10:00:00Z.
const T10: i64 = 1_795_514_400_000;

fn strings(values: &[Option<&str>]) -> ArrayRef {
    Arc::new(StringArray::from(values.to_vec()))
}

fn times(ts: i64, n: usize) -> ArrayRef {
    Arc::new(TimestampMillisecondArray::from(vec![ts; n]).with_timezone("UTC"))
}

fn floats(values: &[Option<f64>]) -> ArrayRef {
    Arc::new(Float64Array::from(values.to_vec()))
}

/// A batch of `schema` from named columns; a nullable column not given is null, so the
/// fixtures follow the contract's order and a new nullable measure shows as `null`.
fn by_name(schema: &SchemaRef, given: &[(&str, ArrayRef)]) -> RecordBatch {
    let rows = given.first().map_or(0, |(_, c)| c.len());
    let columns: Vec<ArrayRef> = schema
        .fields()
        .iter()
        .map(|field| {
            let found = given.iter().find(|(name, _)| name == field.name());
            match found {
                Some((_, column)) => column.clone(),
                None if field.is_nullable() => new_null_array(field.data_type(), rows),
                None => panic!("no test value for {}", field.name()),
            }
        })
        .collect();
    RecordBatch::try_new(schema.clone(), columns).expect("batch of the contract's schema")
}

/// Two closed 1-minute windows of 10:00–10:01, hand-worked:
/// - `ul-000042`, two lanes, 30 vehicles in 60 s → q = 30·3600/60 = 1800 veh/h; space-mean
///   speed 48 km/h → k = 1800/48 = 37.5 veh/km; 3 heavy of 30 → 10 %; free flow 50 km/h →
///   speed ratio 48/50 = 0.96, state Z1; interval speeds 46.75 and 52.75 km/h → reported
///   mean 49.75, spread √((3² + 3²) / 1) = √18 = 4.2426 km/h;
/// - `b/7%` (an id with the key separator and the escape character), one report of zero
///   vehicles without speed, occupancy or heavy count: nulls.
fn traffic_windows(revision: u32) -> ClosedWindows {
    let columns = [
        ("city", strings(&[Some("ulm"), Some("ulm")])),
        ("sensor_id", strings(&[Some("ul-000042"), Some("b/7%")])),
        ("window_start", times(T10, 2)),
        ("window_end", times(T10 + 60_000, 2)),
        ("observations", Arc::new(UInt32Array::from(vec![2, 1]))),
        ("lanes_reporting", Arc::new(UInt8Array::from(vec![2, 1]))),
        ("vehicles", Arc::new(UInt64Array::from(vec![30, 0]))),
        ("flow_veh_h", floats(&[Some(1800.0), Some(0.0)])),
        ("speed_time_mean_kmh", floats(&[Some(50.5), None])),
        ("speed_space_mean_kmh", floats(&[Some(48.0), None])),
        ("speed_reported_mean_kmh", floats(&[Some(49.75), None])),
        ("speed_stddev_kmh", floats(&[Some(18f64.sqrt()), None])),
        ("density_veh_km", floats(&[Some(37.5), None])),
        ("occupancy_pct", floats(&[Some(12.5), None])),
        ("occupancy_max_pct", floats(&[Some(14.0), None])),
        (
            "heavy_vehicles",
            Arc::new(UInt64Array::from(vec![Some(3), None])),
        ),
        ("heavy_share_pct", floats(&[Some(10.0), None])),
        ("completeness_pct", floats(&[Some(100.0), Some(50.0)])),
        ("lane", Arc::new(UInt8Array::from(vec![None::<u8>, None]))),
        ("speed_ratio", floats(&[Some(0.96), None])),
        ("traffic_state", strings(&[Some("Z1"), None])),
        (
            "congested",
            Arc::new(BooleanArray::from(vec![Some(false), None])),
        ),
    ];
    ClosedWindows {
        window_s: 60,
        slide_s: 60,
        window_start: T10,
        revision,
        owner: 0,
        batch: by_name(&traffic_window_schema(), &columns),
    }
}

fn records(stream: Stream, closed: &ClosedWindows) -> Vec<(String, String)> {
    let mut buf = Vec::new();
    let mut spans: Vec<Span> = Vec::new();
    encode(stream, closed, &mut buf, &mut spans).expect("encodes");
    spans
        .iter()
        .map(|span| {
            assert_eq!(span.stream, stream);
            let text = |range: &std::ops::Range<usize>| {
                String::from_utf8(buf[range.clone()].to_vec()).expect("utf-8")
            };
            (text(&span.key), text(&span.value))
        })
        .collect()
}

#[test]
fn traffic_window_gives_the_exact_key_and_json() {
    let got = records(Stream::Traffic, &traffic_windows(0));
    assert_eq!(got.len(), 2);
    assert_eq!(got[0].0, "ulm/ul-000042/2026-11-24T10:00:00Z/1m");
    assert_eq!(
        got[0].1,
        concat!(
            r#"{"city":"ulm","sensor_id":"ul-000042","window":"1m","revision":0,"#,
            r#""window_start":"2026-11-24T10:00:00.000Z","window_end":"2026-11-24T10:01:00.000Z","#,
            r#""observations":2,"lanes_reporting":2,"vehicles":30,"flow_veh_h":1800.0,"#,
            r#""speed_time_mean_kmh":50.5,"speed_space_mean_kmh":48.0,"speed_reported_mean_kmh":49.75,"#,
            r#""speed_stddev_kmh":4.242640687119285,"density_veh_km":37.5,"occupancy_pct":12.5,"occupancy_max_pct":14.0,"#,
            r#""heavy_vehicles":3,"heavy_share_pct":10.0,"completeness_pct":100.0,"#,
            r#""speed_ratio":0.96,"traffic_state":"Z1","congested":false}"#
        )
    );
}

#[test]
fn nulls_stay_null_and_ids_are_escaped_in_keys_only() {
    let got = records(Stream::Traffic, &traffic_windows(0));
    assert_eq!(got[1].0, "ulm/b%2F7%25/2026-11-24T10:00:00Z/1m");
    let value: serde_json::Value = serde_json::from_str(&got[1].1).expect("valid JSON");
    assert_eq!(value["sensor_id"], "b/7%");
    for field in [
        "speed_time_mean_kmh",
        "speed_space_mean_kmh",
        "speed_stddev_kmh",
        "heavy_vehicles",
        "traffic_state",
        "congested",
    ] {
        assert!(value[field].is_null(), "{field}: {}", got[1].1);
    }
    assert_eq!(value["completeness_pct"], 50.0);
}

#[test]
fn a_revision_keeps_the_key_and_carries_its_number() {
    let first = records(Stream::Traffic, &traffic_windows(0));
    let revised = records(Stream::Traffic, &traffic_windows(2));
    assert_eq!(first[0].0, revised[0].0);
    assert!(
        revised[0].1.contains(r#""revision":2,"#),
        "{}",
        revised[0].1
    );
    assert_eq!(
        records(Stream::Traffic, &traffic_windows(2)),
        revised,
        "deterministic"
    );
}

/// The fields of the API's traffic window JSON (`WindowItem` in
/// `api/src/routes/traffic.rs`): a consumer of the topic and of the API sees one vocabulary.
const API_TRAFFIC_FIELDS: [&str; 20] = [
    "sensor_id",
    "window_start",
    "window_end",
    "observations",
    "lanes_reporting",
    "vehicles",
    "flow_veh_h",
    "speed_time_mean_kmh",
    "speed_space_mean_kmh",
    "speed_reported_mean_kmh",
    "speed_stddev_kmh",
    "density_veh_km",
    "occupancy_pct",
    "occupancy_max_pct",
    "heavy_vehicles",
    "heavy_share_pct",
    "completeness_pct",
    "speed_ratio",
    "traffic_state",
    "congested",
];

#[test]
fn values_use_the_api_field_names() {
    let got = records(Stream::Traffic, &traffic_windows(0));
    let value: serde_json::Value = serde_json::from_str(&got[0].1).expect("valid JSON");
    for field in API_TRAFFIC_FIELDS {
        assert!(value.get(field).is_some(), "{field} missing: {}", got[0].1);
    }
    assert!(value.get("lane").is_none(), "a cross-section has no lane");
}

#[test]
fn lane_windows_append_the_lane_to_the_key() {
    let columns = [
        ("city", strings(&[Some("ulm")])),
        ("sensor_id", strings(&[Some("ul-000042")])),
        ("window_start", times(T10, 1)),
        ("window_end", times(T10 + 3_600_000, 1)),
        ("observations", Arc::new(UInt32Array::from(vec![60]))),
        ("lanes_reporting", Arc::new(UInt8Array::from(vec![1]))),
        ("vehicles", Arc::new(UInt64Array::from(vec![480]))),
        ("flow_veh_h", floats(&[Some(480.0)])),
        ("speed_time_mean_kmh", floats(&[Some(51.0)])),
        ("speed_space_mean_kmh", floats(&[Some(50.0)])),
        ("speed_reported_mean_kmh", floats(&[Some(51.0)])),
        ("speed_stddev_kmh", floats(&[Some(2.5)])),
        ("density_veh_km", floats(&[Some(9.6)])),
        ("occupancy_pct", floats(&[None])),
        ("occupancy_max_pct", floats(&[None])),
        (
            "heavy_vehicles",
            Arc::new(UInt64Array::from(vec![None::<u64>])),
        ),
        ("heavy_share_pct", floats(&[None])),
        ("completeness_pct", floats(&[Some(100.0)])),
        ("lane", Arc::new(UInt8Array::from(vec![Some(2)]))),
    ];
    let closed = ClosedWindows {
        window_s: 3600,
        slide_s: 900,
        window_start: T10,
        revision: 0,
        owner: 0,
        batch: by_name(&traffic_aggregate_schema(), &columns),
    };
    let got = records(Stream::TrafficLanes, &closed);
    assert_eq!(got[0].0, "ulm/ul-000042/2026-11-24T10:00:00Z/1h/15m/2");
    let value: serde_json::Value = serde_json::from_str(&got[0].1).expect("valid JSON");
    assert_eq!(value["lane"], 2);
    assert_eq!(value["window"], "1h/15m");
    assert_eq!(value["window_end"], "2026-11-24T11:00:00.000Z");
    assert_eq!(
        value["speed_stddev_kmh"], 2.5,
        "lane windows carry the spread too"
    );
    assert!(
        value.get("traffic_state").is_none(),
        "no MARZ state per lane"
    );
}

#[test]
fn parking_window_gives_the_exact_key_and_json() {
    let columns = [
        ("city", strings(&[Some("ulm")])),
        ("facility_id", strings(&[Some("ulm-p-01")])),
        ("window_start", times(T10, 1)),
        ("window_end", times(T10 + 900_000, 1)),
        ("updates", Arc::new(UInt32Array::from(vec![15]))),
        ("free", Arc::new(UInt32Array::from(vec![120]))),
        ("total", Arc::new(UInt32Array::from(vec![Some(400)]))),
        ("occupied", Arc::new(UInt32Array::from(vec![Some(280)]))),
        ("occupancy_pct", floats(&[Some(70.0)])),
        ("occupancy_mean_pct", floats(&[Some(69.5)])),
        ("free_min", Arc::new(UInt32Array::from(vec![118]))),
        ("status", strings(&[Some("spacesAvailable")])),
        ("trend", strings(&[Some("increasing")])),
        ("entries", Arc::new(UInt64Array::from(vec![Some(12)]))),
        ("exits", Arc::new(UInt64Array::from(vec![Some(9)]))),
        (
            "sessions_ended",
            Arc::new(UInt32Array::from(vec![None::<u32>])),
        ),
        ("mean_dwell_s", floats(&[None])),
        ("turnover", floats(&[None])),
        ("opening_status", strings(&[Some("open")])),
    ];
    let closed = ClosedWindows {
        window_s: 900,
        slide_s: 900,
        window_start: T10,
        revision: 1,
        owner: 0,
        batch: by_name(&parking_window_schema(), &columns),
    };
    let got = records(Stream::Parking, &closed);
    assert_eq!(got[0].0, "ulm/ulm-p-01/2026-11-24T10:00:00Z/15m");
    assert_eq!(
        got[0].1,
        concat!(
            r#"{"city":"ulm","facility_id":"ulm-p-01","window":"15m","revision":1,"#,
            r#""window_start":"2026-11-24T10:00:00.000Z","window_end":"2026-11-24T10:15:00.000Z","#,
            r#""updates":15,"free":120,"total":400,"occupied":280,"occupancy_pct":70.0,"#,
            r#""occupancy_mean_pct":69.5,"free_min":118,"status":"spacesAvailable","#,
            r#""trend":"increasing","entries":12,"exits":9,"sessions_ended":null,"#,
            r#""mean_dwell_s":null,"turnover":null,"opening_status":"open"}"#
        )
    );
}

#[test]
fn a_batch_of_another_stream_is_a_schema_error_not_a_panic() {
    let closed = traffic_windows(0);
    let mut buf = Vec::new();
    let mut spans = Vec::new();
    let parking = encode(Stream::Parking, &closed, &mut buf, &mut spans);
    assert!(parking.is_err());
    let lanes = encode(Stream::TrafficLanes, &closed, &mut buf, &mut spans);
    let message = lanes.expect_err("lane column is null").to_string();
    assert!(message.contains("has no lane"), "{message}");
}
