//! Stadtpuls' own NGSI-LD entities (`processing/src/publish/ngsi_ld.rs`) read back by its
//! FIWARE decoder, normalized and keyValues, as one batch upsert body: the numbers and
//! times that went out come back.

use arrow_array::cast::AsArray;
use arrow_array::types::{Float64Type, TimestampMillisecondType, UInt32Type};
use arrow_array::{Array, RecordBatch};
use serde_json::Value;
use stadtpuls_config::FeedFormat;
use stadtpuls_ingest::decode::external::ExternalIds;
use stadtpuls_processing::catalog::{Catalog, UnknownSensors};
use stadtpuls_processing::live::TrafficWindowRow;
use stadtpuls_processing::model::contract::traffic::out;
use stadtpuls_processing::publish::ngsi_ld::{
    Form, PublishedSensor, entity_id, parking_entity, traffic_entity,
};
use stadtpuls_processing::publish::{Publication, PublishedFacility};
use stadtpuls_processing::time::to_rfc3339;
use stadtpuls_processing::window::parking::{FacilityLive, ParkingStatus};

/// 2026-11-24T01:00:00Z.
const NOW: i64 = 1_795_482_000_000;

#[path = "../../tests/support/read_back.rs"]
mod read_back;

fn publication() -> Publication<'static> {
    Publication {
        city: "ulm",
        published_at: NOW,
        static_since: NOW - 86_400_000,
        stale_after_ms: 900_000,
    }
}

/// A fresh car park (25 of 100), a stale one (5 of 50, an hour old), a closed zone.
fn facilities() -> Vec<PublishedFacility<'static>> {
    let mut closed = FacilityLive::new(0, Some(0), NOW - 120_000);
    closed.status = Some(ParkingStatus::Closed);
    let mut fresh = FacilityLive::new(25, Some(100), NOW - 60_000);
    fresh.status = Some(ParkingStatus::SpacesAvailable);
    let facility = |id, capacity, on_street, level| PublishedFacility {
        id,
        name: Some("Parkhaus"),
        lat: 48.398,
        lon: 9.991,
        capacity,
        on_street,
        level: Some(level),
    };
    vec![
        facility("ulm-p-1", Some(100), false, fresh),
        facility(
            "ulm-p-2",
            Some(50),
            false,
            FacilityLive::new(5, Some(50), NOW - 3_600_000),
        ),
        facility("ulm-p-3", Some(12), true, closed),
    ]
}

fn decode(body: &[u8]) -> (RecordBatch, RecordBatch) {
    let mut catalog = Catalog::with_cities(&["ulm"], UnknownSensors::Reject);
    let mut external = ExternalIds::default();
    for facility in facilities() {
        catalog.add_facility(0, facility.id, facility.capacity);
        let kind = if facility.on_street {
            "OnStreetParking"
        } else {
            "OffStreetParking"
        };
        external.insert(0, &entity_id(kind, "ulm", facility.id), facility.id, None);
    }
    catalog.add_traffic(0, "ulm-t-1", 2, 50.0);
    external.insert(
        0,
        &entity_id("TrafficFlowObserved", "ulm", "ulm-t-1"),
        "ulm-t-1",
        None,
    );
    let decoded = read_back::decode(FeedFormat::Fiware, "ulm", catalog, &external, NOW, body);
    assert!(decoded.refused.is_empty(), "{:?}", decoded.refused);
    assert_eq!(decoded.accepted, 4);
    (decoded.parking, decoded.traffic)
}

fn parking_rows(batch: &RecordBatch) -> Vec<String> {
    let ids = batch
        .column_by_name("facility_id")
        .expect("id")
        .as_dictionary::<UInt32Type>();
    let names = ids.values().as_string::<i32>();
    let free = batch
        .column_by_name("free_spaces")
        .expect("free")
        .as_primitive::<UInt32Type>();
    let total = batch
        .column_by_name("total_spaces")
        .expect("total")
        .as_primitive::<UInt32Type>();
    let ts = batch
        .column_by_name("ts")
        .expect("ts")
        .as_primitive::<TimestampMillisecondType>();
    (0..batch.num_rows())
        .map(|i| {
            let total = if total.is_null(i) {
                "-".into()
            } else {
                total.value(i).to_string()
            };
            format!(
                "{} {} {total} {}",
                names.value(ids.keys().value(i) as usize),
                free.value(i),
                to_rfc3339(ts.value(i))
            )
        })
        .collect()
}

#[test]
fn entities_read_back_through_the_fiware_decoder_in_both_forms() {
    let window = TrafficWindowRow::new(NOW - 60_000, NOW)
        .with(out::VEHICLES, 23_u64)
        .with(out::SPEED_TIME_MEAN_KMH, 47.5)
        .with(out::OCCUPANCY_PCT, 12.0);
    let sensor = PublishedSensor {
        id: "ulm-t-1",
        name: None,
        lat: 48.4,
        lon: 9.99,
        window: &window,
    };
    for form in [Form::Normalized, Form::KeyValues] {
        let p = publication();
        let mut entities: Vec<Value> = facilities()
            .iter()
            .map(|f| parking_entity(&p, f, form))
            .collect();
        entities.push(traffic_entity(&p, &sensor, form));
        let body = serde_json::to_vec(&entities).expect("json");
        let (parking, traffic) = decode(&body);
        // The time of each reading, not of the publication; the closed zone 0 free of
        // its registry size.
        assert_eq!(
            parking_rows(&parking),
            [
                "ulm-p-1 25 100 2026-11-24T00:59:00.000Z",
                "ulm-p-2 5 50 2026-11-24T00:00:00.000Z",
                "ulm-p-3 0 12 2026-11-24T00:58:00.000Z",
            ],
            "{form:?}"
        );
        assert_eq!(traffic.num_rows(), 1);
        let column = |name: &str| traffic.column_by_name(name).expect(name).clone();
        let ts = column("ts");
        assert_eq!(ts.as_primitive::<TimestampMillisecondType>().value(0), NOW);
        assert_eq!(
            column("interval_s").as_primitive::<UInt32Type>().value(0),
            60
        );
        assert_eq!(
            column("vehicle_count")
                .as_primitive::<UInt32Type>()
                .value(0),
            23
        );
        assert_eq!(
            column("avg_speed_kmh")
                .as_primitive::<Float64Type>()
                .value(0),
            47.5
        );
        assert_eq!(
            column("occupancy_pct")
                .as_primitive::<Float64Type>()
                .value(0),
            12.0
        );
    }
}
