//! A facility admitted at run time travels in its task's snapshot: a fresh instance that
//! never saw it admits it again from the snapshot and continues its level and windows; a
//! snapshot written before snapshots carried admitted facilities still restores.

use arrow_array::{Float64Array, StringArray, TimestampMillisecondArray, UInt32Array};

use super::*;
use crate::catalog::AdmittedFacility;

/// `ulm` admitting facilities, its registry holding `park` only.
fn admitting_catalog(admitting: bool) -> Catalog {
    let (mut catalog, _) = catalog();
    catalog.set_admitting(0, admitting);
    catalog
}

fn site() -> AdmittedFacility {
    AdmittedFacility {
        city: "ulm".to_owned(),
        id: "ext-garage".to_owned(),
        external_id: "Garage Nord".to_owned(),
        capacity: 200,
        name: Some("Garage Nord".to_owned()),
        position: Some((48.4, 9.99)),
    }
}

/// Counts of `id`: (time, free spaces), capacity stated by the feed.
fn counts(catalog: &Catalog, id: &str, rows: &[(i64, i64)]) -> ParkingBatch {
    let bounds = TimeBounds {
        now: T0 + 60 * MIN,
        max_future_ms: 0,
    };
    let mut builder = ParkingBatchBuilder::default();
    for &(ts, free_spaces) in rows {
        let obs = ParkingObservation::Facility {
            city: "ulm",
            id,
            ts,
            free_spaces,
            total_spaces: Some(200),
            entries: None,
            exits: None,
            opening: None,
        };
        let pushed = builder.push(catalog, None, &obs, bounds);
        assert!(pushed.is_ok(), "{pushed:?}");
    }
    builder.finish(catalog).expect("parking batch")
}

/// (facility, window start, updates, fewest free, mean occupancy) of closed parking rows.
type ParkingRow = (String, i64, u32, u32, Option<f64>);

fn parking_rows(closed: &[(HistoryStream, ClosedWindows)]) -> Vec<ParkingRow> {
    let mut rows = Vec::new();
    for (_, c) in closed.iter().filter(|(s, _)| *s == HistoryStream::Parking) {
        let column = |name| c.batch.column_by_name(name).expect(name);
        let id = column(parking_out::FACILITY_ID);
        let id = id.as_any().downcast_ref::<StringArray>().expect("ids");
        let start = column(parking_out::WINDOW_START);
        let start = start
            .as_any()
            .downcast_ref::<TimestampMillisecondArray>()
            .expect("starts");
        let updates = column(parking_out::UPDATES);
        let updates = updates.as_any().downcast_ref::<UInt32Array>().expect("n");
        let free_min = column(parking_out::FREE_MIN);
        let free_min = free_min.as_any().downcast_ref::<UInt32Array>().expect("n");
        let mean = column(parking_out::OCCUPANCY_MEAN_PCT);
        let mean = mean.as_any().downcast_ref::<Float64Array>().expect("pct");
        for row in 0..c.batch.num_rows() {
            rows.push((
                id.value(row).to_owned(),
                start.value(row),
                updates.value(row),
                free_min.value(row),
                mean.is_valid(row).then(|| mean.value(row)),
            ));
        }
    }
    rows.sort_by(|a, b| (&a.0, a.1).cmp(&(&b.0, b.1)));
    rows
}

/// The engine of one instance that admitted `ext-garage` and folded two counts into an
/// open window, and its catalog.
fn instance_with_admitted_facility() -> (Engine, Catalog, EntityKey) {
    let mut catalog = admitting_catalog(true);
    let key = catalog.admit_facility(site()).expect("ulm admits");
    let mut engine = Engine::new(&spec(), &catalog);
    engine.add_source(1, Feed::Parking, T0);
    let batch = counts(
        &catalog,
        "ext-garage",
        &[(T0 + 10_000, 150), (T0 + 20_000, 120)],
    );
    engine.fold_parking(1, T0, batch, &catalog).expect("fold");
    (engine, catalog, key)
}

#[test]
fn an_admitted_facility_is_admitted_again_by_a_restore_and_continues() {
    let (mut engine, catalog, key) = instance_with_admitted_facility();
    let state = engine.snapshot(1, &catalog);
    assert_eq!(
        state.admitted,
        vec![site()],
        "the snapshot carries what admits it"
    );
    let bytes = state.encode().expect("encode");

    // A fresh instance: its catalog has the registry only.
    let mut fresh_catalog = admitting_catalog(true);
    assert_eq!(fresh_catalog.facility_key(0, "ext-garage"), None);
    let mut fresh = Engine::new(&spec(), &fresh_catalog);
    let state = TaskState::decode(&bytes).expect("decode");
    let stats = fresh.restore(1, Feed::Parking, &state, &mut fresh_catalog, T0 + 500);
    assert_eq!(stats.dropped, 0, "nothing dropped");
    let fresh_key = fresh_catalog
        .facility_key(0, "ext-garage")
        .expect("admitted again");
    let info = &fresh_catalog.facilities()[fresh_key as usize];
    assert_eq!(info.capacity, Some(200));
    assert_eq!(info.admitted.as_deref(), Some(&site()));
    assert_eq!(
        fresh.facility(fresh_key),
        engine.facility(key),
        "level kept"
    );
    assert_eq!(fresh.facility(fresh_key).map(|l| l.free), Some(120));

    // Both go on with the same count: the same windows, nothing lost or doubled.
    let run = |engine: &mut Engine, catalog: &Catalog| {
        let batch = counts(catalog, "ext-garage", &[(T0 + 30_000, 100)]);
        engine
            .fold_parking(1, T0 + 1_000, batch, catalog)
            .expect("fold");
        parking_rows(&close(engine, catalog, Close::All))
    };
    let want = run(&mut engine, &catalog);
    let got = run(&mut fresh, &fresh_catalog);
    assert!(!want.is_empty());
    assert_eq!(got, want);
    assert!(
        want.iter()
            .all(|r| r.0 == "ext-garage" && r.2 == 3 && r.3 == 100),
        "three counts in each window, the fewest free 100: {want:?}"
    );
}

/// Without the admission in the snapshot (or with the city's option turned off since),
/// the facility's state would be dropped as of an unknown facility: the restore counts it.
#[test]
fn a_city_that_no_longer_admits_drops_the_admitted_facility_on_restore() {
    let (engine, catalog, _) = instance_with_admitted_facility();
    let state = engine.snapshot(1, &catalog);
    let mut closed_city = admitting_catalog(false);
    let mut fresh = Engine::new(&spec(), &closed_city);
    let stats = fresh.restore(1, Feed::Parking, &state, &mut closed_city, T0 + 500);
    assert!(stats.dropped > 0, "{stats:?}");
    assert_eq!(closed_city.facility_key(0, "ext-garage"), None);
}

/// `admitted` is the state's last field: a state cut before it is refused by the current
/// decoder rather than read as one without admitted facilities. (A real format-5 file,
/// which has no `admitted` and no opening statuses, restores:
/// `ingest/tests/old_checkpoints.rs`, `processing/tests/opening_status.rs`.)
#[test]
fn a_state_cut_before_its_admitted_facilities_is_refused() {
    let (catalog, _) = catalog();
    let mut engine = Engine::new(&spec(), &catalog);
    engine.add_source(1, Feed::Parking, T0);
    let batch = parking(&catalog, &[(T0 + 10_000, 50)]);
    engine.fold_parking(1, T0, batch, &catalog).expect("fold");
    let state = engine.snapshot(1, &catalog);
    assert!(state.admitted.is_empty());
    let bytes = state.encode().expect("encode");
    assert_eq!(TaskState::decode(&bytes).expect("decode"), state);
    // An empty `admitted` is one byte, its length 0.
    let (cut, last) = bytes.split_at(bytes.len() - 1);
    assert_eq!(last, [0]);
    assert!(TaskState::decode(cut).is_err());
}
