//! The entities against the Smart Data Models examples (`ingest/tests/fixtures/feeds/fiware/`,
//! copied unchanged, read at compile time): every attribute the example has too must have
//! its shape — the same NGSI-LD attribute type, the same JSON types of value and
//! `@type`/`@value` — and every other attribute is one the model's schema defines.

use serde_json::Value;

use super::*;
use crate::window::parking::{FacilityLive, ParkingStatus, Trend};

/// 2026-11-24T01:00:00Z.
const NOW: i64 = 1_795_482_000_000;

macro_rules! example {
    ($path:literal) => {
        include_str!(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../ingest/tests/fixtures/feeds/fiware/",
            $path
        ))
    };
}

fn publication() -> Publication<'static> {
    Publication {
        city: "ulm",
        published_at: NOW,
        static_since: NOW - 86_400_000,
        stale_after_ms: 900_000,
    }
}

fn facility(level: Option<FacilityLive>) -> PublishedFacility<'static> {
    PublishedFacility {
        id: "ulm-p-1",
        name: Some("Parkhaus Deutschhaus"),
        lat: 48.398,
        lon: 9.991,
        capacity: Some(100),
        on_street: false,
        level,
    }
}

fn fresh() -> FacilityLive {
    let mut level = FacilityLive::new(25, Some(100), NOW - 60_000);
    level.status = Some(ParkingStatus::SpacesAvailable);
    level.trend = Some(Trend::Stable);
    level
}

/// The JSON shape of a value: types, the NGSI-LD `type` and `@type` literals, keys of
/// objects; `observedAt` must be text where present (NGSI-LD allows it on any Property).
fn shape(value: &Value) -> String {
    match value {
        Value::Null => "null".into(),
        Value::Bool(_) => "bool".into(),
        Value::Number(_) => "number".into(),
        Value::String(_) => "string".into(),
        Value::Array(items) => format!("[{}]", items.first().map(shape).unwrap_or_default()),
        Value::Object(map) => {
            let fields: Vec<String> = map
                .iter()
                .filter(|(k, _)| k.as_str() != "observedAt")
                .map(|(k, v)| match (k.as_str(), v) {
                    ("type" | "@type", Value::String(literal)) => format!("{k}={literal}"),
                    _ => format!("{k}:{}", shape(v)),
                })
                .collect();
            if let Some(at) = map.get("observedAt") {
                assert!(at.is_string(), "observedAt {at}");
            }
            format!("{{{}}}", fields.join(","))
        }
    }
}

/// The shape of a location attribute with the geometry's type and coordinates left out.
fn geometry_free(location: &Value) -> String {
    let strip = |geometry: &Value| {
        assert!(geometry["type"].is_string() && geometry["coordinates"].is_array());
        json!({"type": "Geometry"})
    };
    let stripped = match location.get("value") {
        Some(geometry) => json!({"type": location["type"], "value": strip(geometry)}),
        None => strip(location),
    };
    shape(&stripped)
}

fn assert_example_shape(entity: &Value, example: &str, schema_only: &[&str]) {
    let example: Value = serde_json::from_str(example).expect("example");
    let (Value::Object(ours), Value::Object(theirs)) = (entity, &example) else {
        panic!("entities are objects");
    };
    for (key, value) in ours {
        match theirs.get(key) {
            // Any GeoJSON geometry is the model's location (a sensor is a Point, the
            // example's road a LineString): compare the attribute without it.
            Some(expected) if key == "location" => {
                assert_eq!(geometry_free(value), geometry_free(expected), "`location`")
            }
            Some(expected) if key != "id" => {
                assert_eq!(shape(value), shape(expected), "attribute `{key}`")
            }
            Some(_) => {}
            None => assert!(
                schema_only.contains(&key.as_str()),
                "`{key}` is in no example"
            ),
        }
    }
}

#[test]
fn off_street_parking_has_the_examples_shape_in_both_forms() {
    let p = publication();
    let normalized = parking_entity(&p, &facility(Some(fresh())), Form::Normalized);
    // `status` is the model's (an array of DATEX II 2.3 values) but not in its example.
    let extra = ["status"];
    assert_example_shape(
        &normalized,
        example!("OffStreetParking/example-normalized.jsonld"),
        &extra,
    );
    let key_values = parking_entity(&p, &facility(Some(fresh())), Form::KeyValues);
    assert_example_shape(
        &key_values,
        example!("OffStreetParking/example.jsonld"),
        &extra,
    );

    assert_eq!(normalized["id"], "urn:ngsi-ld:OffStreetParking:ulm:ulm-p-1");
    assert_eq!(
        normalized["availableSpotNumber"],
        json!({"type": "Property", "value": 25, "observedAt": "2026-11-24T00:59:00.000Z"})
    );
    assert_eq!(normalized["occupancy"]["value"], 0.75);
    assert_eq!(normalized["status"]["value"], json!(["spacesAvailable"]));
    assert_eq!(key_values["totalSpotNumber"], 100);
    assert_eq!(
        key_values["location"],
        json!({"type": "Point", "coordinates": [9.991, 48.398]})
    );
    assert_eq!(key_values["@context"][0], PARKING_CONTEXT[0]);
}

#[test]
fn stale_and_never_reported_facilities() {
    let p = publication();
    let stale = FacilityLive {
        updated_at: NOW - 3_600_000,
        ..fresh()
    };
    let stale = parking_entity(&p, &facility(Some(stale)), Form::KeyValues);
    assert_eq!(stale["availableSpotNumber"], 25);
    assert_eq!(stale["occupancyModified"], "2026-11-24T00:00:00.000Z");
    assert!(stale.get("status").is_none(), "{stale}");
    let never = parking_entity(&p, &facility(None), Form::KeyValues);
    assert!(never.get("availableSpotNumber").is_none());
    assert_eq!(never["totalSpotNumber"], 100);
    let mut zone = facility(None);
    zone.on_street = true;
    assert_eq!(
        parking_entity(&p, &zone, Form::KeyValues)["type"],
        ON_STREET
    );
}

/// A car park its operator closed: `status` `["closed"]`, none available of its spots,
/// no occupied count and no occupancy (closed is not full).
#[test]
fn a_closed_car_park_is_closed_not_full() {
    use crate::model::parking::OpeningStatus;
    let p = publication();
    let closed =
        FacilityLive::new(25, Some(100), NOW - 60_000).with_opening(Some(OpeningStatus::Closed));
    for form in [Form::KeyValues, Form::Normalized] {
        let entity = parking_entity(&p, &facility(Some(closed)), form);
        let value = |name: &str| match form {
            Form::KeyValues => entity[name].clone(),
            Form::Normalized => entity[name]["value"].clone(),
        };
        assert_eq!(value("status"), json!(["closed"]), "{entity}");
        assert_eq!(value("availableSpotNumber"), 0);
        assert_eq!(value("totalSpotNumber"), 100);
        assert!(entity.get("occupiedSpotNumber").is_none(), "{entity}");
        assert!(entity.get("occupancy").is_none(), "{entity}");
    }
}

#[test]
fn traffic_flow_observed_has_the_examples_shape_in_both_forms() {
    let p = publication();
    let window = TrafficWindowRow::new(NOW - 60_000, NOW)
        .with(out::VEHICLES, 23_u64)
        .with(out::SPEED_TIME_MEAN_KMH, 47.456)
        .with(out::OCCUPANCY_PCT, 12.5);
    let sensor = PublishedSensor {
        id: "ulm-t-1",
        name: Some("B10 Neue Straße"),
        lat: 48.4,
        lon: 9.99,
        window: &window,
    };
    let normalized = traffic_entity(&p, &sensor, Form::Normalized);
    // `name` comes from the GSMA commons every model includes.
    let extra = ["name"];
    assert_example_shape(
        &normalized,
        example!("TrafficFlowObserved/example-normalized.jsonld"),
        &extra,
    );
    let key_values = traffic_entity(&p, &sensor, Form::KeyValues);
    assert_example_shape(
        &key_values,
        example!("TrafficFlowObserved/example.jsonld"),
        &extra,
    );
    assert_eq!(key_values["intensity"], 23);
    assert_eq!(key_values["averageVehicleSpeed"], 47.46);
    assert_eq!(key_values["occupancy"], 0.13);
    assert_eq!(key_values["dateObservedFrom"], "2026-11-24T00:59:00.000Z");
    assert_eq!(
        normalized["dateObservedTo"]["value"],
        json!({"@type": "DateTime", "@value": "2026-11-24T01:00:00.000Z"})
    );
}
