//! Stadtpuls' own DATEX II 2.3 outputs (`processing/src/publish/datex2.rs`) against the
//! official 2.3 schema (xmllint, `tests/fixtures/datex2-schema/`) and read back by
//! Stadtpuls' DATEX II decoder and table reader with the same numbers.
//!
//! Needs `xmllint` (Debian `libxml2-utils`, installed by `scripts/test.sh`).

use std::path::{Path, PathBuf};
use std::process::Command;

use stadtpuls_config::FeedFormat;
use stadtpuls_ingest::decode::datex2::{TableRecord, read_table};
use stadtpuls_processing::model::parking::OpeningStatus;
use stadtpuls_processing::publish::datex2::{parking_status, parking_table};
use stadtpuls_processing::publish::{Publication, PublishedFacility};
use stadtpuls_processing::time::to_rfc3339;
use stadtpuls_processing::window::parking::{FacilityLive, ParkingStatus, Trend};

/// 2026-11-24T01:00:00Z.
const NOW: i64 = 1_795_482_000_000;

#[path = "../../tests/support/read_back.rs"]
mod read_back;
use read_back::read_back;

fn schema() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/datex2-schema/tmfg-metadata_DATEXIISchema_2_2_3_with_definitions.xsd")
}

/// Runs `xmllint --noout --schema` on `doc`; returns (success, stderr).
fn xmllint(doc: &[u8]) -> (bool, String) {
    let dir = tempfile::tempdir().expect("temp dir");
    let file = dir.path().join("doc.xml");
    std::fs::write(&file, doc).expect("write doc");
    let out = Command::new("xmllint")
        .arg("--noout")
        .arg("--schema")
        .arg(schema())
        .arg(&file)
        .output()
        .expect("xmllint runs (Debian: apt-get install libxml2-utils)");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn publication() -> Publication<'static> {
    Publication {
        city: "ulm",
        published_at: NOW,
        static_since: NOW - 86_400_000,
        stale_after_ms: 900_000,
    }
}

/// Eight facilities, one of each case: fresh (25 of 100 free, rising), stale (5 of 50, an
/// hour old), closed (every spot closed), unknown current capacity (12 free), never
/// reported, a name that needs escaping, a car park its operator closed (its counter
/// still at 30 of 200), and one whose operator does not know whether it is open.
fn facilities() -> Vec<PublishedFacility<'static>> {
    let mut fresh = FacilityLive::new(25, Some(100), NOW - 60_000);
    fresh.status = Some(ParkingStatus::SpacesAvailable);
    fresh.trend = Some(Trend::Increasing);
    let mut stale = FacilityLive::new(5, Some(50), NOW - 3_600_000);
    stale.status = Some(ParkingStatus::AlmostFull);
    let mut closed = FacilityLive::new(0, Some(0), NOW - 120_000);
    closed.status = Some(ParkingStatus::Closed);
    let unknown_capacity = FacilityLive::new(12, None, NOW - 30_000);
    let mut full = FacilityLive::new(1, Some(80), NOW - 10_000);
    full.status = Some(ParkingStatus::Full);
    full.trend = Some(Trend::Stable);
    let shut =
        FacilityLive::new(30, Some(200), NOW - 20_000).with_opening(Some(OpeningStatus::Closed));
    let mut unsure =
        FacilityLive::new(40, Some(60), NOW - 5_000).with_opening(Some(OpeningStatus::Unknown));
    unsure.status = Some(ParkingStatus::SpacesAvailable);
    let entry = |id, name, lat, lon, capacity, level| PublishedFacility {
        id,
        name,
        lat,
        lon,
        capacity,
        on_street: id == "ulm-p-3",
        level,
    };
    vec![
        entry(
            "ulm-p-1",
            Some("Parkhaus Deutschhaus"),
            48.398_123,
            9.991,
            Some(100),
            Some(fresh),
        ),
        entry(
            "ulm-p-2",
            Some("P+R Donautal"),
            48.39,
            9.98,
            Some(50),
            Some(stale),
        ),
        entry(
            "ulm-p-3",
            Some("Anwohnerzone Fischerviertel"),
            48.3965,
            9.9897,
            Some(12),
            Some(closed),
        ),
        entry(
            "ulm-p-4",
            None,
            48.4011,
            9.9876,
            None,
            Some(unknown_capacity),
        ),
        entry(
            "ulm-p-5",
            Some("Parkplatz Friedrichsau"),
            48.4102,
            10.0123,
            Some(300),
            None,
        ),
        entry(
            "ulm-p-6",
            Some("Fischer & Söhne <Mitte> \"Süd\""),
            48.3977,
            9.9921,
            Some(80),
            Some(full),
        ),
        entry(
            "ulm-p-7",
            Some("Parkhaus Rathaus"),
            48.3968,
            9.9925,
            Some(200),
            Some(shut),
        ),
        entry("ulm-p-8", None, 48.3991, 9.9888, Some(60), Some(unsure)),
    ]
}

#[test]
fn table_and_status_validate_against_the_datex2_2_3_schema() {
    let facilities = facilities();
    let table = parking_table(&publication(), &facilities).expect("table");
    let status = parking_status(&publication(), &facilities).expect("status");
    for (name, doc) in [("table", &table), ("status", &status)] {
        let (ok, stderr) = xmllint(doc);
        assert!(
            ok,
            "{name} does not validate: {stderr}\n{}",
            String::from_utf8_lossy(doc)
        );
        assert!(stderr.contains("validates"), "{stderr}");
    }
    // The car park its operator closed: closed, none vacant, no occupied count, no
    // occupancy, no site status (a closed car park is not `full`).
    let text = String::from_utf8_lossy(&status);
    let shut = text
        .split("<parkingRecordStatus ")
        .find(|r| r.contains("id=\"ulm-p-7\""))
        .expect("a record of ulm-p-7");
    assert!(shut.contains("<parkingSiteOpeningStatus>closed</parkingSiteOpeningStatus>"));
    assert!(shut.contains("<parkingNumberOfVacantSpaces>0</parkingNumberOfVacantSpaces>"));
    assert!(!shut.contains("<parkingNumberOfOccupiedSpaces>"), "{shut}");
    assert_eq!(
        shut.matches("<parkingOccupancy>").count(),
        1,
        "no percentage: {shut}"
    );
    assert!(!shut.contains("<parkingSiteStatus>"), "{shut}");
    let unsure = text
        .split("<parkingRecordStatus ")
        .find(|r| r.contains("id=\"ulm-p-8\""))
        .expect("a record of ulm-p-8");
    assert!(unsure.contains("<parkingSiteOpeningStatus>statusUnknown</parkingSiteOpeningStatus>"));
    // A city without facilities (or none reported): the exchange alone, still valid.
    let empty = parking_status(&publication(), &facilities[4..5]).expect("status");
    let (ok, stderr) = xmllint(&empty);
    assert!(ok, "{stderr}");
}

/// The check has teeth: the same document with a required element dropped, or with an
/// enum value the schema does not know, is refused.
#[test]
fn xmllint_refuses_a_broken_status_publication() {
    let status = String::from_utf8(parking_status(&publication(), &facilities()).expect("status"))
        .expect("utf-8");
    let origin_time = "<parkingStatusOriginTime>2026-11-24T00:59:00.000Z</parkingStatusOriginTime>";
    assert!(status.contains(origin_time));
    for broken in [
        status.replacen(origin_time, "", 1),
        status.replacen("<parkingSiteStatus>full<", "<parkingSiteStatus>closed<", 1),
    ] {
        assert_ne!(broken, status);
        let (ok, stderr) = xmllint(broken.as_bytes());
        assert!(!ok, "a broken document validated: {stderr}");
    }
}

/// Rows of `doc` read back as `facility free total opening ts`, each published facility
/// registered with its capacity; and the count of observations accepted.
fn decode(doc: &[u8], facilities: &[PublishedFacility<'_>]) -> (Vec<String>, usize) {
    let registered: Vec<_> = facilities.iter().map(|f| (f.id, f.capacity)).collect();
    let back = read_back(FeedFormat::Datex2, "ulm", &registered, NOW, doc);
    assert!(back.refused.is_empty(), "{:?}", back.refused);
    let rows = back
        .rows
        .iter()
        .map(|r| {
            let total = r.total.map_or("-".to_owned(), |t| t.to_string());
            let state = r.opening.as_deref().unwrap_or("-");
            format!(
                "{} {} {total} {state} {}",
                r.facility,
                r.free,
                to_rfc3339(r.ts)
            )
        })
        .collect();
    (rows, back.accepted)
}

#[test]
fn status_reads_back_through_the_decoder_with_the_same_numbers() {
    let facilities = facilities();
    let status = parking_status(&publication(), &facilities).expect("status");
    let (rows, accepted) = decode(&status, &facilities);
    // Every reported facility, with its free and current total and the time of its
    // reading (not of the publication); the stale one with its last count and its age;
    // the closed zone with no free space and its registry capacity (a closed site's 0 is
    // not its size); the never-reported one absent; the opening status as published
    // (stale: unknown; the car park its operator closed: closed, none free).
    assert_eq!(accepted, 7);
    assert_eq!(
        rows,
        [
            "ulm-p-1 25 100 open 2026-11-24T00:59:00.000Z",
            "ulm-p-2 5 50 unknown 2026-11-24T00:00:00.000Z",
            "ulm-p-3 0 - closed 2026-11-24T00:58:00.000Z",
            "ulm-p-4 12 - open 2026-11-24T00:59:30.000Z",
            "ulm-p-6 1 80 open 2026-11-24T00:59:50.000Z",
            "ulm-p-7 0 200 closed 2026-11-24T00:59:40.000Z",
            "ulm-p-8 40 60 unknown 2026-11-24T00:59:55.000Z",
        ]
    );
}

#[test]
fn table_reads_back_through_the_registry_import_reader() {
    let facilities = facilities();
    let table = parking_table(&publication(), &facilities).expect("table");
    let records = read_table(&table).expect("table reads");
    let expected: Vec<TableRecord> = facilities
        .iter()
        .map(|f| TableRecord {
            id: Some(f.id.to_owned()),
            name: f.name.map(str::to_owned),
            capacity: f.capacity.map(|c| c.to_string()),
            lat: Some(f.lat.to_string()),
            lon: Some(f.lon.to_string()),
        })
        .collect();
    assert_eq!(records, expected);
    // Positions read back as the same f64, not merely as close ones.
    assert_eq!(
        records[0].lat.as_deref().map(str::parse::<f64>),
        Some(Ok(48.398_123))
    );
}
