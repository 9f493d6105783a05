//! The documents as text: what a person checks in them. Schema validity and the read-back
//! through the DATEX II decoder are tested in `ingest/tests/datex2_output.rs`.

use super::*;
use crate::window::parking::{FacilityLive, ParkingStatus, Trend};

/// 2026-11-24T01:00:00Z.
const NOW: i64 = 1_795_482_000_000;

fn publication() -> Publication<'static> {
    Publication {
        city: "ulm",
        published_at: NOW,
        static_since: NOW - 86_400_000,
        stale_after_ms: 900_000,
    }
}

fn level(free: u32, total: Option<u32>, age_ms: i64) -> FacilityLive {
    let mut level = FacilityLive::new(free, total, NOW - age_ms);
    level.status = Some(ParkingStatus::SpacesAvailable);
    level.trend = Some(Trend::Increasing);
    level
}

fn facility(id: &'static str, level: Option<FacilityLive>) -> PublishedFacility<'static> {
    PublishedFacility {
        id,
        name: Some("Parkhaus Fischer & Söhne <Mitte>"),
        lat: 48.398_123,
        lon: 9.991,
        capacity: Some(100),
        on_street: false,
        level,
    }
}

fn text(bytes: Vec<u8>) -> String {
    String::from_utf8(bytes).expect("utf-8")
}

#[test]
fn table_has_name_capacity_position_and_escapes_names() {
    let facilities = [facility("ulm-p-1", None)];
    let doc = text(parking_table(&publication(), &facilities).expect("rendered"));
    assert!(doc.starts_with(r#"<?xml version="1.0" encoding="UTF-8"?><d2LogicalModel xmlns="http://datex2.eu/schema/2/2_0""#));
    assert!(
        doc.contains("<genericPublicationName>ParkingTablePublication</genericPublicationName>")
    );
    assert!(doc.contains(r#"<parkingTable id="stadtpuls-ulm" version=""#));
    assert!(doc.contains(r#"<parkingRecord id="ulm-p-1" version=""#));
    assert!(doc.contains("<value lang=\"de\">Parkhaus Fischer &amp; Söhne &lt;Mitte&gt;</value>"));
    assert!(doc.contains("<parkingNumberOfSpaces>100</parkingNumberOfSpaces>"));
    assert!(doc.contains("<latitude>48.398123</latitude><longitude>9.991</longitude>"));
    assert!(
        doc.contains(
            "<parkingRecordVersionTime>2026-11-23T01:00:00.000Z</parkingRecordVersionTime>"
        )
    );
}

#[test]
fn status_of_a_fresh_facility() {
    // 25 free of 100 → 75 occupied, 75 %.
    let facilities = [facility("ulm-p-1", Some(level(25, Some(100), 60_000)))];
    let doc = text(parking_status(&publication(), &facilities).expect("rendered"));
    let record = r#"<parkingRecordStatus xsi:type="ParkingSiteStatus"><parkingRecordReference id="ulm-p-1" targetClass="ParkingRecord" version=""#;
    assert!(doc.contains(record), "{doc}");
    assert!(
        doc.contains(concat!(
            "<parkingStatusOriginTime>2026-11-24T00:59:00.000Z</parkingStatusOriginTime>",
            "<parkingOccupancy><parkingNumberOfSpacesOverride>100</parkingNumberOfSpacesOverride>",
            "<parkingNumberOfVacantSpaces>25</parkingNumberOfVacantSpaces>",
            "<parkingNumberOfOccupiedSpaces>75</parkingNumberOfOccupiedSpaces>",
            "<parkingOccupancy>75</parkingOccupancy>",
            "<parkingOccupancyTrend>increasing</parkingOccupancyTrend></parkingOccupancy>",
            "<parkingSiteStatus>spacesAvailable</parkingSiteStatus>",
            "<parkingSiteOpeningStatus>open</parkingSiteOpeningStatus></parkingRecordStatus>"
        )),
        "{doc}"
    );
    assert!(!doc.contains("parkingFault"));
}

#[test]
fn stale_facility_keeps_its_counts_and_age_but_is_marked() {
    let facilities = [facility("ulm-p-2", Some(level(5, Some(50), 3_600_000)))];
    let doc = text(parking_status(&publication(), &facilities).expect("rendered"));
    assert!(
        doc.contains(concat!(
            "<parkingStatusOriginTime>2026-11-24T00:00:00.000Z</parkingStatusOriginTime>",
            "<parkingFault>communicationsFailure</parkingFault>",
            "<parkingOccupancy><parkingNumberOfSpacesOverride>50</parkingNumberOfSpacesOverride>",
            "<parkingNumberOfVacantSpaces>5</parkingNumberOfVacantSpaces>",
            "<parkingNumberOfOccupiedSpaces>45</parkingNumberOfOccupiedSpaces>",
            "<parkingOccupancy>90</parkingOccupancy></parkingOccupancy>",
            "<parkingSiteStatus>unknown</parkingSiteStatus>",
            "<parkingSiteOpeningStatus>statusUnknown</parkingSiteOpeningStatus>"
        )),
        "{doc}"
    );
}

#[test]
fn never_reported_facility_has_no_status_record_and_an_empty_city_no_payload() {
    let facilities = [
        facility("ulm-p-1", Some(level(25, Some(100), 0))),
        facility("ulm-p-3", None),
    ];
    let doc = text(parking_status(&publication(), &facilities).expect("rendered"));
    assert_eq!(doc.matches("<parkingRecordStatus ").count(), 1);
    assert!(!doc.contains("ulm-p-3"));
    let nobody = [facility("ulm-p-3", None)];
    let doc = text(parking_status(&publication(), &nobody).expect("rendered"));
    assert!(doc.ends_with("</exchange></d2LogicalModel>"), "{doc}");
    assert!(!doc.contains("payloadPublication"));
}

#[test]
fn closed_and_overcrowded_and_unknown_capacity() {
    let mut closed = FacilityLive::new(0, Some(0), NOW);
    closed.status = Some(ParkingStatus::Closed);
    let overcrowded = FacilityLive::new(250, Some(200), NOW);
    let unknown_capacity = FacilityLive::new(12, None, NOW);
    let facilities = [
        facility("closed", Some(closed)),
        facility("overcrowded", Some(overcrowded)),
        facility("unknown", Some(unknown_capacity)),
    ];
    let doc = text(parking_status(&publication(), &facilities).expect("rendered"));
    let records: Vec<&str> = doc.split("<parkingRecordStatus ").skip(1).collect();
    assert!(records[0].contains("<parkingSiteOpeningStatus>closed</parkingSiteOpeningStatus>"));
    assert!(!records[0].contains("<parkingSiteStatus>"));
    assert!(records[1].contains("<parkingNumberOfVacantSpaces>200</parkingNumberOfVacantSpaces>"));
    assert!(records[2].contains("<parkingOccupancy><parkingNumberOfVacantSpaces>12</parkingNumberOfVacantSpaces></parkingOccupancy>"));
}

#[test]
fn versions_follow_the_static_data() {
    let a = facility("ulm-p-1", None);
    let mut b = a.clone();
    assert_eq!(a.static_version(), b.static_version());
    b.capacity = Some(101);
    assert_ne!(a.static_version(), b.static_version());
    // The live level is not part of the static version.
    b.capacity = a.capacity;
    b.level = Some(level(1, Some(100), 0));
    assert_eq!(a.static_version(), b.static_version());
}
