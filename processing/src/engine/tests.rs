//! The engine on its own: batches in, values out — no Kafka, no files, no clock.

use arrow_array::{
    Array, StringArray, TimestampMillisecondArray, UInt8Array, UInt32Array, UInt64Array,
};

use super::*;
use crate::catalog::UnknownSensors;
use crate::model::TimeBounds;
use crate::model::parking::{ParkingBatchBuilder, ParkingObservation};
use crate::model::traffic::{TrafficBatchBuilder, TrafficObservation};
use crate::window::parking::out as parking_out;
use crate::window::traffic::out;
use crate::window::{ClosedWindows, DroppedWindow, LateRow, TimestampSemantics, WindowShape};

/// 2026-11-24T08:00:00Z, on a quarter hour.
const T0: i64 = 1_795_478_400_000;
const MIN: i64 = 60_000;

/// 1-minute and 15-minute windows, no disorder allowed, 2 minutes of lateness, sources
/// idle after 10 minutes.
fn spec() -> EngineSpec {
    EngineSpec::new(WindowSpec {
        shapes: vec![WindowShape::tumbling(MIN), WindowShape::tumbling(15 * MIN)],
        out_of_orderness_ms: 0,
        idle_timeout_ms: 10 * MIN,
        allowed_lateness_ms: 2 * MIN,
        timestamps: TimestampSemantics::IntervalEnd,
    })
}

/// The city `ulm`, sensors admitted as they report, one car park of 100 spaces.
fn catalog() -> (Catalog, EntityKey) {
    let mut catalog = Catalog::with_cities(&["ulm"], UnknownSensors::Admit);
    let park = catalog.add_facility(0, "park", Some(100));
    (catalog, park)
}

/// A traffic batch of (sensor, lane, interval end, vehicles), 30-s intervals.
fn traffic(catalog: &mut Catalog, rows: &[(&str, i64, i64, i64)]) -> TrafficBatch {
    let bounds = TimeBounds {
        now: T0 + 60 * MIN,
        max_future_ms: 0,
    };
    let mut builder = TrafficBatchBuilder::default();
    for &(sensor_id, lane, ts, vehicle_count) in rows {
        let obs = TrafficObservation {
            city: "ulm",
            sensor_id,
            lane,
            ts,
            interval_s: 30,
            vehicle_count,
            heavy_vehicle_count: None,
            avg_speed_kmh: Some(50.0),
            occupancy_pct: None,
        };
        let pushed = builder.push(catalog, None, &obs, bounds);
        assert!(pushed.is_ok(), "valid observation: {pushed:?}");
    }
    builder.finish(catalog).expect("traffic batch")
}

/// A parking batch of counts of `park`: (time, free spaces).
fn parking(catalog: &Catalog, rows: &[(i64, i64)]) -> ParkingBatch {
    let bounds = TimeBounds {
        now: T0 + 60 * MIN,
        max_future_ms: 0,
    };
    let mut builder = ParkingBatchBuilder::default();
    for &(ts, free_spaces) in rows {
        let obs = ParkingObservation::Facility {
            city: "ulm",
            id: "park",
            ts,
            free_spaces,
            total_spaces: None,
            entries: None,
            exits: None,
            opening: None,
        };
        assert!(builder.push(catalog, None, &obs, bounds).is_ok());
    }
    builder.finish(catalog).expect("parking batch")
}

/// Every window `until` closes, with its stream.
fn close(
    engine: &mut Engine,
    catalog: &Catalog,
    until: Close,
) -> Vec<(HistoryStream, ClosedWindows)> {
    let mut closed = Vec::new();
    engine
        .close(until, catalog, |stream, windows| {
            closed.push((stream, windows));
            Ok(())
        })
        .expect("close");
    closed
}

/// One row of a closed traffic window: (sensor, lane, window start, window size in s,
/// vehicles).
type TrafficRow = (String, Option<u8>, i64, u32, u64);

fn traffic_rows(closed: &[(HistoryStream, ClosedWindows)], of: HistoryStream) -> Vec<TrafficRow> {
    let mut rows = Vec::new();
    for (stream, c) in closed.iter().filter(|(s, _)| *s == of) {
        let column = |name| c.batch.column_by_name(name).expect(name);
        let sensor = column(out::SENSOR_ID);
        let sensor = sensor.as_any().downcast_ref::<StringArray>().expect("ids");
        let start = column(out::WINDOW_START);
        let start = start
            .as_any()
            .downcast_ref::<TimestampMillisecondArray>()
            .expect("starts");
        let vehicles = column(out::VEHICLES);
        let vehicles = vehicles.as_any().downcast_ref::<UInt64Array>().expect("n");
        let lane = column(out::LANE);
        let lane = lane.as_any().downcast_ref::<UInt8Array>().expect("lanes");
        assert_eq!(
            c.batch.column_by_name(out::TRAFFIC_STATE).is_some(),
            *stream == HistoryStream::Traffic,
            "traffic windows come classified, lane windows not"
        );
        for i in 0..c.batch.num_rows() {
            let lane = lane.is_valid(i).then(|| lane.value(i));
            rows.push((
                sensor.value(i).to_owned(),
                lane,
                start.value(i),
                c.window_s,
                vehicles.value(i),
            ));
        }
    }
    rows
}

fn row(sensor: &str, lane: Option<u8>, start: i64, window_s: u32, n: u64) -> TrafficRow {
    (sensor.to_owned(), lane, start, window_s, n)
}

#[test]
fn a_fold_and_an_advance_close_the_windows_of_every_stream() {
    let (mut catalog, park) = catalog();
    let mut engine = Engine::new(&spec(), &catalog);
    engine.add_source(0, Feed::Traffic, T0);
    engine.add_source(1, Feed::Parking, T0);
    let batch = traffic(
        &mut catalog,
        &[
            ("s1", 1, T0 + 30_000, 10),
            ("s1", 2, T0 + 30_000, 20),
            ("s1", 1, T0 + MIN, 5),
            ("s1", 1, T0 + 2 * MIN, 1),
        ],
    );
    let folded = engine.fold_traffic(0, T0, batch, &catalog).expect("fold");
    assert_eq!((folded.stats.rows, folded.stats.late()), (4, 0));
    assert!(folded.clock_jumps.is_empty());
    let batch = parking(&catalog, &[(T0 + 10_000, 30), (T0 + 70_000, 20)]);
    let folded = engine.fold_parking(1, T0, batch, &catalog).expect("fold");
    assert_eq!(folded.stats.rows, 2);

    let closed = close(&mut engine, &catalog, Close::Due(T0));
    // Traffic: watermark 00:02 − 1 ms closes (00:00, 00:01] only.
    assert_eq!(
        traffic_rows(&closed, HistoryStream::Traffic),
        vec![row("s1", None, T0, 60, 35)]
    );
    assert_eq!(
        traffic_rows(&closed, HistoryStream::TrafficLanes),
        vec![
            row("s1", Some(1), T0, 60, 15),
            row("s1", Some(2), T0, 60, 20)
        ]
    );
    // Parking (instants): watermark 00:01:10 − 1 ms closes [00:00, 00:01), fewest free 30.
    let parked: Vec<_> = closed
        .iter()
        .filter(|(s, _)| *s == HistoryStream::Parking)
        .collect();
    assert_eq!(parked.len(), 1);
    let free_min = parked[0].1.batch.column_by_name(parking_out::FREE_MIN);
    let free_min = free_min.and_then(|c| c.as_any().downcast_ref::<UInt32Array>());
    assert_eq!(free_min.map(|c| c.value(0)), Some(30));
    let levels = engine.take_changed_levels();
    assert_eq!(
        levels.iter().map(|(k, l)| (*k, l.free)).collect::<Vec<_>>(),
        vec![(park, 20)]
    );
    assert!(engine.take_changed_levels().is_empty(), "taken once");
    let gauges = engine.gauges();
    assert_eq!(
        (gauges.traffic_watermark, gauges.parking_watermark),
        (
            Watermark::EventTime(T0 + 2 * MIN - 1),
            Watermark::EventTime(T0 + 70_000 - 1)
        )
    );
}

#[test]
fn late_rows_come_back_with_the_windows_that_dropped_them() {
    let (mut catalog, _) = catalog();
    let mut engine = Engine::new(&spec(), &catalog);
    engine.add_source(0, Feed::Traffic, T0);
    let batch = traffic(
        &mut catalog,
        &[
            ("s1", 0, T0 + MIN, 1),
            ("s1", 0, T0 + 10 * MIN, 1),
            ("s1", 0, T0 + 20 * MIN, 1),
        ],
    );
    engine.fold_traffic(0, T0, batch, &catalog).expect("fold");
    close(&mut engine, &catalog, Close::Due(T0));
    // Watermark 00:20 − 1 ms. The interval ending 00:17 is past its minute's lateness
    // (00:17 + 2 min ≤ watermark) but inside the open quarter hour (00:15, 00:30]; the one
    // ending 00:19 is late for its minute, within the lateness.
    let batch = traffic(
        &mut catalog,
        &[("s1", 0, T0 + 17 * MIN, 7), ("s1", 0, T0 + 19 * MIN, 3)],
    );
    let stats = engine
        .fold_traffic(0, T0, batch, &catalog)
        .expect("fold")
        .stats;
    let minute = WindowShape::tumbling(MIN);
    let quarter = WindowShape::tumbling(15 * MIN);
    assert_eq!(
        stats.late_rows,
        vec![LateRow {
            row: 0,
            dropped: vec![DroppedWindow {
                shape: minute,
                start: T0 + 16 * MIN
            }],
        }]
    );
    assert_eq!(stats.dropped_per_shape, vec![(minute, 1), (quarter, 0)]);
    assert_eq!(
        stats.updated_late_per_shape,
        vec![(minute, 1), (quarter, 0)]
    );
    let closed = close(&mut engine, &catalog, Close::Due(T0));
    assert_eq!(
        traffic_rows(&closed, HistoryStream::Traffic),
        vec![row("s1", None, T0 + 18 * MIN, 60, 3)],
        "the minute within the lateness is emitted, the dropped one not"
    );
    assert_eq!(closed[0].1.revision, 0, "first emission of (00:18, 00:19]");
    let rest = close(&mut engine, &catalog, Close::All);
    let quarter_rows: Vec<_> = traffic_rows(&rest, HistoryStream::Traffic)
        .into_iter()
        .filter(|r| r.3 == 900)
        .collect();
    assert_eq!(
        quarter_rows,
        vec![row("s1", None, T0 + 15 * MIN, 900, 1 + 7 + 3)],
        "the quarter hour counted the row its minute dropped"
    );
}

/// Feeds the second half of a run: late lanes for an emitted minute, then new minutes.
fn second_half(engine: &mut Engine, catalog: &mut Catalog) -> Vec<(HistoryStream, ClosedWindows)> {
    let batch = traffic(
        catalog,
        &[
            ("s1", 1, T0 + MIN, 4),
            ("s2", 0, T0 + 4 * MIN, 9),
            ("s1", 2, T0 + 5 * MIN, 6),
        ],
    );
    engine
        .fold_traffic(0, T0 + 1_000, batch, catalog)
        .expect("fold");
    let batch = parking(catalog, &[(T0 + 4 * MIN, 10), (T0 + 5 * MIN, 12)]);
    engine
        .fold_parking(1, T0 + 1_000, batch, catalog)
        .expect("fold");
    let mut closed = close(engine, catalog, Close::Due(T0 + 1_000));
    closed.extend(close(engine, catalog, Close::All));
    closed
}

#[test]
fn a_task_restored_into_a_fresh_engine_continues_as_if_nothing_happened() {
    let (mut catalog, _) = catalog();
    let mut engine = Engine::new(&spec(), &catalog);
    engine.add_source(0, Feed::Traffic, T0);
    engine.add_source(1, Feed::Parking, T0);
    let batch = traffic(
        &mut catalog,
        &[
            ("s1", 1, T0 + 30_000, 10),
            ("s1", 2, T0 + MIN, 20),
            ("s2", 0, T0 + 2 * MIN, 5),
            ("s1", 1, T0 + 3 * MIN, 1),
        ],
    );
    engine.fold_traffic(0, T0, batch, &catalog).expect("fold");
    let batch = parking(&catalog, &[(T0 + 30_000, 50), (T0 + 3 * MIN, 40)]);
    engine.fold_parking(1, T0, batch, &catalog).expect("fold");
    let before = close(&mut engine, &catalog, Close::Due(T0));
    assert!(
        !before.is_empty(),
        "the first minutes closed before the snapshot"
    );

    // Through bytes, as a checkpoint keeps them; a fresh instance whose catalog has not
    // seen the sensors yet.
    let saved: Vec<Vec<u8>> = [0, 1]
        .iter()
        .map(|&task| engine.snapshot(task, &catalog).encode().expect("encode"))
        .collect();
    let (mut fresh_catalog, _) = catalog_with_other_sensor_first();
    let mut fresh = Engine::new(&spec(), &fresh_catalog);
    let mut restored = RestoreStats::default();
    for (task, feed) in [(0, Feed::Traffic), (1, Feed::Parking)] {
        let state = TaskState::decode(&saved[task as usize]).expect("decode");
        restored += fresh.restore(task, feed, &state, &mut fresh_catalog, T0 + 500);
    }
    assert_eq!(restored.dropped, 0);
    assert!(restored.restored > 0);

    let want = second_half(&mut engine, &mut catalog);
    let got = second_half(&mut fresh, &mut fresh_catalog);
    assert!(
        want.iter()
            .any(|(s, c)| *s == HistoryStream::Traffic && c.revision == 1),
        "the late lane re-emits an emitted minute: emission states travelled"
    );
    assert_eq!(got.len(), want.len());
    for ((gs, g), (ws, w)) in got.iter().zip(&want) {
        assert_eq!(
            (gs, g.window_s, g.window_start),
            (ws, w.window_s, w.window_start)
        );
        assert_eq!((g.revision, g.owner), (w.revision, w.owner));
        assert_eq!(g.batch, w.batch, "{gs:?} window at {}", w.window_start);
    }
}

/// A catalog that admitted another sensor first, so the restored sensors get other keys.
fn catalog_with_other_sensor_first() -> (Catalog, EntityKey) {
    let (mut catalog, park) = catalog();
    traffic(&mut catalog, &[("s0", 0, T0, 1)]);
    (catalog, park)
}

#[test]
fn a_second_source_holds_the_watermark_until_it_turns_idle() {
    let (mut catalog, _) = catalog();
    let mut engine = Engine::new(&spec(), &catalog);
    engine.add_source(0, Feed::Traffic, T0);
    engine.add_source(1, Feed::Traffic, T0);
    let batch = traffic(
        &mut catalog,
        &[("s1", 0, T0 + MIN, 1), ("s1", 0, T0 + 5 * MIN, 1)],
    );
    engine
        .fold_traffic(0, T0 + 1_000, batch, &catalog)
        .expect("fold");
    assert!(
        close(&mut engine, &catalog, Close::Due(T0 + 1_000)).is_empty(),
        "source 1 is assigned and silent: its backlog may still come"
    );
    assert_eq!(engine.gauges().traffic_watermark, Watermark::Unknown);

    let batch = traffic(&mut catalog, &[("s2", 0, T0 + 2 * MIN, 1)]);
    engine
        .fold_traffic(1, T0 + 2_000, batch, &catalog)
        .expect("fold");
    let closed = close(&mut engine, &catalog, Close::Due(T0 + 2_000));
    assert_eq!(
        engine.gauges().traffic_watermark,
        Watermark::EventTime(T0 + 2 * MIN - 1),
        "the slower source holds it"
    );
    assert_eq!(
        traffic_rows(&closed, HistoryStream::Traffic),
        vec![row("s1", None, T0, 60, 1)]
    );

    // Source 0 speaks on; source 1 is silent for longer than the idle timeout.
    let later = T0 + 2_000 + 10 * MIN + 1;
    let batch = traffic(&mut catalog, &[("s1", 0, T0 + 6 * MIN, 1)]);
    engine
        .fold_traffic(0, later, batch, &catalog)
        .expect("fold");
    let closed = close(&mut engine, &catalog, Close::Due(later));
    assert_eq!(
        engine.gauges().traffic_watermark,
        Watermark::EventTime(T0 + 6 * MIN - 1),
        "the idle source no longer counts"
    );
    assert_eq!(
        traffic_rows(&closed, HistoryStream::Traffic),
        vec![
            row("s2", None, T0 + MIN, 60, 1),
            row("s1", None, T0 + 4 * MIN, 60, 1)
        ]
    );
}

#[test]
fn a_row_whose_clock_jumped_is_refused_before_any_window() {
    let (mut catalog, _) = catalog();
    let mut engine = Engine::new(&spec(), &catalog);
    engine.add_source(0, Feed::Traffic, T0);
    let batch = traffic(
        &mut catalog,
        &[("s1", 0, T0 + MIN, 1), ("s2", 0, T0 + 21 * MIN, 1)],
    );
    let folded = engine.fold_traffic(0, T0, batch, &catalog).expect("fold");
    assert_eq!(folded.clock_jumps.len(), 1);
    assert_eq!(
        (folded.clock_jumps[0].row, folded.clock_jumps[0].progress),
        (1, T0 + MIN)
    );
    assert_eq!((folded.batch.num_rows(), folded.stats.rows), (1, 1));
    assert_eq!(
        engine.gauges().traffic_watermark,
        Watermark::Unknown,
        "not moved by the refused row"
    );
    close(&mut engine, &catalog, Close::Due(T0));
    assert_eq!(
        engine.gauges().traffic_watermark,
        Watermark::EventTime(T0 + MIN - 1)
    );
}

/// The `speed_stddev_kmh` of every window `reports` (lane, interval end, vehicles, speed)
/// of sensor `s1` close: the cross-section's, then the lanes'.
fn speed_spread(reports: &[(i64, i64, i64, Option<f64>)]) -> (Vec<Option<f64>>, Vec<Option<f64>>) {
    let (mut catalog, _) = catalog();
    let bounds = TimeBounds {
        now: T0 + 60 * MIN,
        max_future_ms: 0,
    };
    let mut builder = TrafficBatchBuilder::default();
    for &(lane, ts, vehicle_count, avg_speed_kmh) in reports {
        let obs = TrafficObservation {
            city: "ulm",
            sensor_id: "s1",
            lane,
            ts,
            interval_s: 30,
            vehicle_count,
            heavy_vehicle_count: None,
            avg_speed_kmh,
            occupancy_pct: None,
        };
        assert!(builder.push(&mut catalog, None, &obs, bounds).is_ok());
    }
    let batch = builder.finish(&catalog).expect("traffic batch");
    let spec = WindowSpec::tumbling(&[MIN], 0, 10 * MIN, TimestampSemantics::IntervalEnd);
    let values = |mut op: TrafficWindowOperator| -> Vec<Option<f64>> {
        op.fold(0, T0, &batch, &catalog).expect("fold");
        let closed = op.finish(&catalog).expect("close");
        closed
            .iter()
            .flat_map(|c| {
                let a: &arrow_array::Float64Array =
                    column(&c.batch, "speed_stddev_kmh").expect("column");
                (0..a.len()).map(|i| a.is_valid(i).then(|| a.value(i)))
            })
            .collect()
    };
    (
        values(TrafficWindowOperator::new(&spec)),
        values(TrafficWindowOperator::per_lane(&spec)),
    )
}

/// One minute of a two-lane sensor, 30-s intervals: lane 1 at 50 and 60 km/h, lane 2 at
/// 40 and 30 km/h and once without a speed (not in the sample). Σv = 180, Σv² = 8600,
/// n = 4: s = √((8600 − 180²/4) / 3) = √(500/3) = 12.91 km/h; per lane √((25 + 25) / 1)
/// = 7.07 km/h.
#[test]
fn speed_spread_of_a_window_and_of_its_lanes() {
    let reports = [
        (1, T0 + 30_000, 10, Some(50.0)),
        (2, T0 + 30_000, 20, Some(40.0)),
        (1, T0 + MIN, 12, Some(60.0)),
        (2, T0 + MIN, 18, Some(30.0)),
        (2, T0 + MIN, 5, None),
    ];
    let (section, lanes) = speed_spread(&reports);
    assert_eq!(section, [Some((500.0f64 / 3.0).sqrt())]);
    assert_eq!(lanes, [Some(50f64.sqrt()), Some(50f64.sqrt())]);
    // fewer than two intervals with a speed: no spread, on the lane and the cross-section
    let (section, lanes) = speed_spread(&reports[..1]);
    assert_eq!((section, lanes), (vec![None], vec![None]));
    let (section, lanes) =
        speed_spread(&[(1, T0 + 30_000, 10, Some(50.0)), (2, T0 + 30_000, 3, None)]);
    assert_eq!((section, lanes), (vec![None], vec![None, None]));
}

mod admitted;
