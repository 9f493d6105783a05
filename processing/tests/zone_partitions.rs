//! A zone's windows and the partitions its spots come through (issue #11, item 3).
//!
//! A zone's level is the roll-up of its spots' newest states, stepped in the order the
//! operator applies them. With every spot of the zone in one partition (records keyed by
//! zone, as `stadtpuls produce` does) that order is the partition's, and the zone's windows
//! are the same however the partitions interleave. With the spots spread over two
//! partitions (keyed by spot id) they are not, and the operator reports the conflict.

use arrow_array::{Array, RecordBatch, StringArray};
use stadtpuls_processing::catalog::{Catalog, EntityKey, UnknownSensors};
use stadtpuls_processing::engine::{Operator, ParkingOperator};
use stadtpuls_processing::model::TimeBounds;
use stadtpuls_processing::model::parking::{ParkingBatchBuilder, ParkingObservation, SpotStatus};
use stadtpuls_processing::window::parking::{ParkingSpec, out};
use stadtpuls_processing::window::watermark::SourceId;
use stadtpuls_processing::window::{ClosedWindows, TimestampSemantics, WindowSpec};
use stadtpuls_processing::{ProcessingError, Result};

const T0: i64 = 1_795_478_400_000;
const S: i64 = 1_000;
const MIN: i64 = 60_000;

/// One batch of one source (partition).
type Batch = (SourceId, Vec<ParkingObservation<'static>>);

fn spot(id: &'static str, ts: i64, status: SpotStatus) -> ParkingObservation<'static> {
    ParkingObservation::Spot {
        city: "ulm",
        id,
        facility_id: None,
        ts,
        status,
    }
}

fn count(ts: i64, free: i64) -> ParkingObservation<'static> {
    ParkingObservation::Facility {
        city: "ulm",
        id: "park",
        ts,
        free_spaces: free,
        total_spaces: None,
        entries: None,
        exits: None,
        opening: None,
    }
}

/// What a run produced: the zone's closed rows by (window size, start, revision), and
/// the conflicts the operator reported as (facility, rows).
#[derive(Debug, PartialEq)]
struct Outcome {
    zone: Vec<(u32, i64, u32, RecordBatch)>,
    conflicts: Vec<(EntityKey, u64)>,
}

/// Feeds `batches` in the order given to a fresh operator (a zone of four spots and a car
/// park; sources 0 and 1 assigned, 1- and 5-minute windows), then closes every window.
fn run(batches: &[Batch]) -> Result<Outcome> {
    let mut catalog = Catalog::with_cities(&["ulm"], UnknownSensors::Reject);
    let zone = catalog.add_facility(0, "zone", None);
    catalog.add_facility(0, "park", Some(100));
    for id in ["s1", "s2", "s3", "s4"] {
        catalog.add_spot(0, id, zone);
    }
    let windows = WindowSpec::tumbling(
        &[MIN, 5 * MIN],
        0,
        60 * MIN,
        TimestampSemantics::IntervalEnd,
    );
    let mut op = ParkingOperator::new(&windows, &ParkingSpec::default(), &catalog);
    op.add_source(0, T0);
    op.add_source(1, T0);
    let bounds = TimeBounds {
        now: T0 + 60 * MIN,
        max_future_ms: 0,
    };
    let mut closed: Vec<ClosedWindows> = Vec::new();
    let mut conflicts = Vec::new();
    for (source, rows) in batches {
        let mut builder = ParkingBatchBuilder::default();
        for row in rows {
            builder
                .push(&catalog, None, row, bounds)
                .map_err(|r| ProcessingError::Internal(r.to_string()))?;
        }
        let batch = builder.finish(&catalog)?;
        let stats = op.fold(*source, T0, &batch, &catalog)?;
        conflicts.extend(stats.partition_conflicts.iter().map(|c| (c.entity, c.rows)));
        closed.extend(op.advance(T0, &catalog)?);
    }
    closed.extend(op.finish(&catalog)?);
    let mut rows = Vec::new();
    for window in &closed {
        let ids = window
            .batch
            .column_by_name(out::FACILITY_ID)
            .and_then(|c| c.as_any().downcast_ref::<StringArray>())
            .ok_or_else(|| ProcessingError::Internal("facility_id column".into()))?;
        for i in (0..ids.len()).filter(|&i| ids.value(i) == "zone") {
            rows.push((
                window.window_s,
                window.window_start,
                window.revision,
                window.batch.slice(i, 1),
            ));
        }
    }
    rows.sort_by_key(|(size, start, revision, _)| (*size, *start, *revision));
    Ok(Outcome {
        zone: rows,
        conflicts,
    })
}

/// Records keyed by zone: all four spots in partition 0 (in its order), the car park's
/// counts in partition 1. However the two partitions' batches interleave, the zone's
/// windows are the same and nothing is reported.
#[test]
fn a_zone_keyed_to_one_partition_is_the_same_however_partitions_interleave() -> Result<()> {
    use SpotStatus::{Free, Occupied};
    let zone_a = (
        0,
        vec![
            spot("s1", T0 + 10 * S, Occupied),
            spot("s3", T0 + 20 * S, Occupied),
        ],
    );
    let zone_b = (
        0,
        vec![
            spot("s4", T0 + 30 * S, Free),
            spot("s2", T0 + 40 * S, Occupied),
        ],
    );
    let zone_c = (
        0,
        vec![
            spot("s1", T0 + 70 * S, Free),
            spot("s4", T0 + 3 * MIN, Free),
        ],
    );
    let park_a = (1, vec![count(T0 + 15 * S, 40), count(T0 + 45 * S, 38)]);
    let park_b = (1, vec![count(T0 + 75 * S, 37), count(T0 + 3 * MIN, 36)]);
    let orders: [Vec<&Batch>; 3] = [
        vec![&zone_a, &zone_b, &zone_c, &park_a, &park_b],
        vec![&park_a, &park_b, &zone_a, &zone_b, &zone_c],
        vec![&zone_a, &park_a, &zone_b, &park_b, &zone_c],
    ];
    let outcomes = orders
        .iter()
        .map(|order| run(&order.iter().map(|b| (*b).clone()).collect::<Vec<_>>()))
        .collect::<Result<Vec<_>>>()?;
    assert!(
        !outcomes[0].zone.is_empty(),
        "the zone's windows were emitted"
    );
    for outcome in &outcomes {
        assert_eq!(outcome.conflicts, vec![], "one zone, one partition");
        assert_eq!(outcome.zone, outcomes[0].zone, "the zone's windows differ");
    }
    Ok(())
}

/// The same spot reports keyed by spot id: s1 and s2 in partition 0, s3 and s4 in
/// partition 1. The zone's level is stepped in whichever order the batches come, so the
/// two interleavings give different windows — and either way the operator reports the
/// zone as fed by two partitions (`stadtpuls_partition_conflicts_total` in the pipeline).
#[test]
fn a_zone_spread_over_two_partitions_depends_on_interleaving_and_is_reported() -> Result<()> {
    use SpotStatus::{Free, Occupied};
    let first = (
        0,
        vec![
            spot("s1", T0 + 10 * S, Occupied),
            spot("s2", T0 + 40 * S, Occupied),
        ],
    );
    let second = (
        1,
        vec![
            spot("s3", T0 + 20 * S, Occupied),
            spot("s4", T0 + 30 * S, Free),
        ],
    );
    let closing = [
        (0, vec![spot("s1", T0 + 6 * MIN, Occupied)]),
        (1, vec![spot("s3", T0 + 6 * MIN, Occupied)]),
    ];
    let one = run(&[
        first.clone(),
        second.clone(),
        closing[0].clone(),
        closing[1].clone(),
    ])?;
    let other = run(&[second, first, closing[0].clone(), closing[1].clone()])?;
    assert_ne!(
        one.zone, other.zone,
        "a zone over two partitions depends on their interleaving"
    );
    // The zone is key 0; a batch of the partition that did not feed the zone last is
    // reported with its rows.
    assert_eq!(one.conflicts, vec![(0, 2), (0, 1), (0, 1)]);
    assert_eq!(other.conflicts, vec![(0, 2), (0, 1)]);
    Ok(())
}
