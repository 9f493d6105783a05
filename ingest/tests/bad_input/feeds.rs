//! The partner formats' rows of "Bad input and what it gets" (`docs/input.md`): each kind
//! of bad FIWARE or ParkAPI input, through the pipeline step of a city whose topics are
//! configured for them, gets its dead letter and moves both its counters by exactly one —
//! `stadtpuls_events_rejected_total{city,kind,reason}` and
//! `stadtpuls_feed_observations_rejected_total{city,format,reason}` — while the good
//! observations around it are accepted.
//!
//! City `porto` is this test's own, so the other test of the binary never moves its labels.

use std::sync::Arc;

use stadtpuls_config::FeedFormat;
use stadtpuls_ingest::decode::external::ExternalIds;
use stadtpuls_ingest::decode::feed::FeedTopics;
use stadtpuls_ingest::metrics::{EVENTS_REJECTED, FEED_REJECTED};
use stadtpuls_ingest::pipeline::{Pipeline, RawMessage};
use stadtpuls_processing::RejectReason;
use stadtpuls_processing::catalog::{Catalog, UnknownSensors};

use super::NOW;

const FIWARE: &str = "porto.fiware";
const PARKAPI: &str = "porto.parkapi";
/// A conventional topic, configured for nothing: native unless a header says otherwise.
const NATIVE: &str = "sensors.porto.parking";

fn pipeline() -> Pipeline {
    let mut catalog = Catalog::with_cities(&["porto"], UnknownSensors::Reject);
    catalog.add_traffic(0, "va-1", 2, 50.0);
    catalog.add_facility(0, "trindade", Some(414));
    let mut feeds = FeedTopics::default();
    feeds.insert(FIWARE, 0, "porto", FeedFormat::Fiware);
    feeds.insert(PARKAPI, 0, "porto", FeedFormat::ParkApi);
    let mut ids = ExternalIds::default();
    ids.insert(0, "urn:ngsi-ld:TrafficFlowObserved:va-1", "va-1", None);
    ids.insert(0, "urn:ngsi-ld:OffStreetParking:trindade", "trindade", None);
    ids.insert(0, "12717250", "trindade", None);
    super::feed_pipeline(catalog, feeds, ids)
}

/// An NGSI-LD keyValues car park at 2026-11-24T00:50:00Z with `counts`.
fn car_park(counts: &str) -> String {
    format!(
        r#"{{"id":"urn:ngsi-ld:OffStreetParking:trindade","type":"OffStreetParking","occupancyModified":"2026-11-24T00:50:00Z"{counts}}}"#
    )
}

/// An NGSI v2 normalized traffic flow over 00:49–00:50 with `extra` attributes.
fn flow(extra: &str) -> String {
    format!(
        r#"{{"id":"urn:ngsi-ld:TrafficFlowObserved:va-1","type":"TrafficFlowObserved","laneId":{{"type":"Number","value":1}},"intensity":{{"type":"Number","value":12}},"dateObservedFrom":{{"type":"DateTime","value":"2026-11-24T00:49:00Z"}},"dateObservedTo":{{"type":"DateTime","value":"2026-11-24T00:50:00Z"}}{extra}}}"#
    )
}

/// A ParkAPI v3 site at 2026-11-24T00:50:00Z with `fields`.
fn site(fields: &str) -> String {
    format!(r#"{{"uid":"12717250","realtime_data_updated_at":"2026-11-24T00:50:00Z"{fields}}}"#)
}

struct Case {
    what: &'static str,
    topic: &'static str,
    header: Option<FeedFormat>,
    payload: String,
    accepted: usize,
    /// (element index, reason, text the detail must hold)
    refused: Vec<(Option<usize>, RejectReason, &'static str)>,
}

fn case(
    what: &'static str,
    topic: &'static str,
    payload: String,
    refused: Vec<(Option<usize>, RejectReason, &'static str)>,
) -> Case {
    Case {
        what,
        topic,
        header: None,
        payload,
        accepted: 0,
        refused,
    }
}

fn cases() -> Vec<Case> {
    use RejectReason::*;
    vec![
        case(
            "broken NGSI JSON",
            FIWARE,
            r#"{"id":"x","type":"#.into(),
            vec![(None, Malformed, "invalid JSON")],
        ),
        case(
            "broken ParkAPI JSON",
            PARKAPI,
            "[{\"uid\":".into(),
            vec![(None, Malformed, "invalid JSON")],
        ),
        case(
            "car park without counts",
            FIWARE,
            car_park(r#","totalSpotNumber":414"#),
            vec![(None, Malformed, "no availableSpotNumber")],
        ),
        case(
            "ParkAPI site without realtime data (a static entry)",
            PARKAPI,
            r#"{"uid":"12717250","capacity":158,"has_realtime_data":false}"#.into(),
            vec![(None, NoObservation, "has_realtime_data")],
        ),
        case(
            "ParkAPI site without free capacity",
            PARKAPI,
            site(r#","realtime_capacity":158"#),
            vec![(None, Malformed, "realtime_free_capacity")],
        ),
        case(
            "occupancy above 1 (over 100 %)",
            FIWARE,
            flow(r#","occupancy":{"type":"Number","value":1.2}"#),
            vec![(None, OccupancyOutOfRange, "")],
        ),
        case(
            "more free than total (NGSI)",
            FIWARE,
            car_park(r#","availableSpotNumber":500,"totalSpotNumber":414"#),
            vec![(None, InvalidParking, "")],
        ),
        case(
            "more free than total (ParkAPI)",
            PARKAPI,
            site(r#","realtime_free_capacity":200,"realtime_capacity":158"#),
            vec![(None, InvalidParking, "")],
        ),
        case(
            "unknown entity type",
            FIWARE,
            r#"{"id":"urn:ngsi-ld:WeatherObserved:1","type":"WeatherObserved","temperature":3}"#
                .into(),
            vec![(None, Malformed, "WeatherObserved")],
        ),
        case(
            "unmapped NGSI id",
            FIWARE,
            car_park(r#","availableSpotNumber":1"#).replace("trindade", "bolhao"),
            vec![(None, UnknownSensor, "urn:ngsi-ld:OffStreetParking:bolhao")],
        ),
        case(
            "unmapped ParkAPI uid",
            PARKAPI,
            site(r#","realtime_free_capacity":1"#).replace("12717250", "555"),
            vec![(None, UnknownSensor, "`555`")],
        ),
        case(
            "impossible date",
            FIWARE,
            flow("").replace("2026-11-24T00:50:00Z", "2026-02-30T00:50:00Z"),
            vec![(None, Malformed, "dateObservedTo")],
        ),
        case(
            "interval ending before it starts",
            FIWARE,
            flow("").replace("00:49:00Z", "00:51:00Z"),
            vec![(None, Malformed, "whole seconds after")],
        ),
        case(
            "time before 2000",
            PARKAPI,
            site(r#","realtime_free_capacity":1"#).replace("2026-11-24", "1999-12-31"),
            vec![(None, TimestampOutOfRange, "")],
        ),
        case(
            "unknown opening status",
            PARKAPI,
            site(r#","realtime_free_capacity":1,"realtime_opening_status":"AJAR""#),
            vec![(None, Malformed, "AJAR")],
        ),
        Case {
            accepted: 2,
            ..case(
                "one bad entity in a notification",
                FIWARE,
                format!(
                    r#"{{"type":"Notification","data":[{},{},{}]}}"#,
                    flow(""),
                    car_park(r#","availableSpotNumber":"many""#),
                    car_park(r#","availableSpotNumber":100"#)
                ),
                vec![(Some(1), Malformed, "not a whole number")],
            )
        },
        Case {
            accepted: 1,
            ..case(
                "ParkAPI2 lots: one without data, one in an unknown state",
                PARKAPI,
                r#"{"lots":[{"id":"12717250","status":"nodata","num_free":null,"capacity":158,"timestamp":"2026-11-24T00:50:00"},
                           {"id":"12717250","status":"open","num_free":9,"capacity":158,"timestamp":"2026-11-24T00:50:00"},
                           {"id":"12717250","status":"ajar","num_free":9,"timestamp":"2026-11-24T00:50:00"}]}"#
                    .into(),
                vec![
                    (Some(0), NoObservation, "nodata"),
                    (Some(2), Malformed, "ajar"),
                ],
            )
        },
        Case {
            accepted: 1,
            ..case(
                "one site without uid in a list",
                PARKAPI,
                format!(
                    r#"{{"items":[{},{{"uidx":1}}]}}"#,
                    site(r#","realtime_free_capacity":7,"realtime_capacity":158"#)
                ),
                vec![(Some(1), Malformed, "`uid`")],
            )
        },
        Case {
            accepted: 1,
            ..case(
                "a closed ParkAPI site, 0 free",
                PARKAPI,
                site(r#","realtime_free_capacity":40,"realtime_opening_status":"CLOSED""#),
                vec![],
            )
        },
        Case {
            header: Some(FeedFormat::Fiware),
            accepted: 1,
            ..case(
                "NGSI-LD by content-type on a native topic",
                NATIVE,
                car_park(r#","availableSpotNumber":132,"totalSpotNumber":414"#),
                vec![],
            )
        },
        case(
            "NGSI on a native topic without a header",
            NATIVE,
            car_park(r#","availableSpotNumber":132"#),
            vec![(None, Malformed, "")],
        ),
    ]
}

fn format_of(case: &Case) -> Option<&'static str> {
    match (case.header, case.topic) {
        (Some(format), _) => Some(format.as_str()),
        (None, FIWARE) => Some("fiware"),
        (None, PARKAPI) => Some("parkapi"),
        _ => None,
    }
}

#[test]
fn every_bad_feed_input_gets_its_reason_and_both_counters() {
    for case in cases() {
        let what = case.what;
        let format = format_of(&case);
        let kind = if case.payload.contains("TrafficFlowObserved") && case.topic != NATIVE {
            "traffic"
        } else {
            "parking"
        };
        let counters = |reason: RejectReason| {
            let events = EVENTS_REJECTED
                .with_label_values(&["porto", kind, reason.as_str()])
                .get();
            let feed = format.map_or(0, |format| {
                FEED_REJECTED
                    .with_label_values(&["porto", format, reason.as_str()])
                    .get()
            });
            (events, feed)
        };
        let before: Vec<_> = case.refused.iter().map(|r| counters(r.1)).collect();
        let message = RawMessage {
            source: 0,
            topic: Arc::from(case.topic),
            partition: 0,
            offset: 7,
            key: None,
            payload: case.payload.clone().into_bytes().into(),
            format: case.header,
        };
        let out = pipeline().process(&[message], NOW).expect("process");
        let letters: Vec<_> = out
            .dead_letters
            .iter()
            .map(|d| (d.index, d.reason))
            .collect();
        let expected: Vec<_> = case.refused.iter().map(|r| (r.0, r.1)).collect();
        assert_eq!(letters, expected, "{what}: {:?}", out.dead_letters);
        assert_eq!(out.accepted, case.accepted, "{what}");
        for ((refusal, letter), before) in case.refused.iter().zip(&out.dead_letters).zip(before) {
            assert!(
                letter.detail.contains(refusal.2),
                "{what}: {}",
                letter.detail
            );
            assert_eq!(letter.offset, 7, "{what}");
            let (events, feed) = counters(refusal.1);
            assert_eq!(events, before.0 + 1, "{what}: events counter");
            let moved = u64::from(format.is_some());
            assert_eq!(feed, before.1 + moved, "{what}: feed counter");
        }
    }
}

/// `admit_unmapped_facilities` (city `braga`, this test's own labels): an unmapped ParkAPI
/// site without a capacity cannot be admitted and stays `unknown_sensor`, saying so, with
/// both counters moved by one and nothing admitted; with its capacity the same site is
/// accepted and counted as admitted, once.
#[test]
fn an_unmapped_site_without_capacity_is_not_admitted() {
    use stadtpuls_ingest::metrics::FACILITIES_ADMITTED;

    let mut catalog = Catalog::with_cities(&["braga"], UnknownSensors::Reject);
    catalog.add_facility(0, "se", Some(100));
    catalog.set_admitting(0, true);
    let mut feeds = FeedTopics::default();
    feeds.insert("braga.parkapi", 0, "braga", FeedFormat::ParkApi);
    let mut pipeline = super::feed_pipeline(catalog, feeds, ExternalIds::default());
    let message = |offset: i64, fields: &str| RawMessage {
        source: 0,
        topic: Arc::from("braga.parkapi"),
        partition: 0,
        offset,
        key: None,
        payload: site(fields).replace("12717250", "555").into_bytes().into(),
        format: None,
    };
    let unknown = RejectReason::UnknownSensor.as_str();
    let events = || {
        EVENTS_REJECTED
            .with_label_values(&["braga", "parking", unknown])
            .get()
    };
    let feed = || {
        FEED_REJECTED
            .with_label_values(&["braga", "parkapi", unknown])
            .get()
    };
    let admitted = || {
        FACILITIES_ADMITTED
            .with_label_values(&["braga", "parkapi"])
            .get()
    };
    let before = (events(), feed(), admitted());

    let out = pipeline
        .process(&[message(7, r#","realtime_free_capacity":1"#)], NOW)
        .expect("process");
    let letters: Vec<_> = out
        .dead_letters
        .iter()
        .map(|d| (d.reason, &d.detail))
        .collect();
    assert_eq!(letters.len(), 1, "{letters:?}");
    assert_eq!(letters[0].0, RejectReason::UnknownSensor);
    assert!(letters[0].1.contains("`555`"), "{letters:?}");
    assert!(letters[0].1.contains("no capacity"), "{letters:?}");
    assert_eq!(out.accepted, 0);
    assert_eq!(
        (events(), feed(), admitted()),
        (before.0 + 1, before.1 + 1, before.2)
    );
    assert_eq!(pipeline.catalog().facilities().len(), 1, "nothing admitted");

    let fields = r#","realtime_free_capacity":1,"realtime_capacity":20"#;
    let out = pipeline
        .process(&[message(8, fields), message(9, fields)], NOW)
        .expect("process");
    assert!(out.dead_letters.is_empty(), "{:?}", out.dead_letters);
    assert_eq!(out.accepted, 2);
    assert_eq!(admitted(), before.2 + 1, "admitted once");
    assert_eq!(pipeline.catalog().facilities().len(), 2);
}
