//! Validation rules of parking observations.

use arrow_array::Array;

use super::*;
use crate::catalog::UnknownSensors;

#[test]
fn parses_every_status_name() {
    for name in SpotStatus::NAMES {
        let status = SpotStatus::parse(name).map(SpotStatus::as_str);
        assert_eq!(status, Some(name));
    }
    assert_eq!(SpotStatus::parse("FREE"), None);
}

#[test]
fn refuses_free_above_total_and_unknown_facilities() {
    let catalog = Catalog::with_cities(&["ulm"], UnknownSensors::Reject);
    let mut b = ParkingBatchBuilder::default();
    let bounds = TimeBounds {
        now: 1_795_478_400_000,
        max_future_ms: 300_000,
    };
    let facility = |free, total| ParkingObservation::Facility {
        city: "ulm",
        id: "p1",
        ts: 1_795_478_400_000,
        free_spaces: free,
        total_spaces: total,
        entries: None,
        exits: None,
        opening: None,
    };
    let err = b.push(&catalog, None, &facility(1, Some(2)), bounds).err();
    assert_eq!(err.map(|r| r.reason), Some(RejectReason::UnknownSensor));
    assert!(b.finish(&catalog).is_ok());
}

#[test]
fn entries_and_exits_must_be_non_negative_counts() {
    assert_eq!(check_vehicle_count("entries", None), Ok(None));
    assert_eq!(check_vehicle_count("exits", Some(0)), Ok(Some(0)));
    assert_eq!(check_vehicle_count("entries", Some(17)), Ok(Some(17)));
    let negative = check_vehicle_count("exits", Some(-3)).err();
    assert_eq!(
        negative.as_ref().map(|r| (r.reason, r.detail.as_str())),
        Some((RejectReason::NegativeCount, "exits -3 is negative"))
    );
    let huge = check_vehicle_count("entries", Some(1 << 40)).err();
    assert_eq!(huge.map(|r| r.reason), Some(RejectReason::InvalidParking));
}

#[test]
fn a_negative_exit_count_refuses_the_whole_observation() {
    let mut catalog = Catalog::with_cities(&["ulm"], UnknownSensors::Reject);
    catalog.add_facility(0, "p1", Some(100));
    let mut b = ParkingBatchBuilder::default();
    let bounds = TimeBounds {
        now: 1_795_478_400_000,
        max_future_ms: 300_000,
    };
    let count = |entries, exits| ParkingObservation::Facility {
        city: "ulm",
        id: "p1",
        ts: 1_795_478_400_000,
        free_spaces: 40,
        total_spaces: None,
        entries,
        exits,
        opening: None,
    };
    let refused = b
        .push(&catalog, None, &count(Some(5), Some(-1)), bounds)
        .err();
    assert_eq!(refused.map(|r| r.reason), Some(RejectReason::NegativeCount));
    assert!(b.is_empty(), "nothing appended for a refused observation");
    assert!(
        b.push(&catalog, None, &count(Some(5), None), bounds)
            .is_ok()
    );
    let batch = b.finish(&catalog).expect("batch");
    let entries = batch
        .record_batch()
        .column_by_name(col::ENTRIES)
        .and_then(|c| c.as_any().downcast_ref::<UInt32Array>().cloned());
    let exits = batch
        .record_batch()
        .column_by_name(col::EXITS)
        .and_then(|c| c.as_any().downcast_ref::<UInt32Array>().cloned());
    assert_eq!(entries.map(|a| a.value(0)), Some(5));
    assert_eq!(exits.map(|a| a.is_null(0)), Some(true));
}
