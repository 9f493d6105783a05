//! Property tests: for random streams, `TrafficWindowOperator` emits exactly what a
//! deliberately naive reference emits (issue #3, item 6), and `WatermarkTracker` follows the
//! documented rule.
//!
//! A scenario is a window spec (tumbling sizes, hopping size/slide, allowed lateness 0 or
//! more, interval-end or instant timestamps) and a sequence of steps: batches from one of
//! 1–3 sources with mostly increasing, jittered, sometimes far-late timestamps; source
//! registrations, heartbeats and removals; processing time moving on, so sources turn idle.
//! After each step (most of them) the watermark advances. The engine and the reference
//! (`properties/reference.rs`) run side by side and must agree after every step.

#[path = "properties/compare.rs"]
mod compare;
#[path = "properties/reference.rs"]
mod reference;
#[path = "properties/scenario.rs"]
mod scenario;

use proptest::prelude::*;
use proptest::test_runner::FileFailurePersistence;
use stadtpuls_processing::catalog::{Catalog, UnknownSensors};
use stadtpuls_processing::engine::{Operator, TrafficWindowOperator};
use stadtpuls_processing::model::TimeBounds;
use stadtpuls_processing::model::traffic::{TrafficBatch, TrafficBatchBuilder, TrafficObservation};
use stadtpuls_processing::window::watermark::WatermarkTracker;
use stadtpuls_processing::window::{ClosedWindows, ProcessStats, WindowShape};

use compare::{Key, Values, finals, rows_of, same_rows};
use reference::{CITY, RefWatermark, Reference, window_starts};
use scenario::{Event, Lateness, Op, Row, SENSORS, Scenario, Shapes, T0, TrackerOp};

/// The operator under test with the catalog its batches are keyed by.
struct Engine {
    catalog: Catalog,
    op: TrafficWindowOperator,
}

impl Engine {
    fn new(scenario: &Scenario) -> Self {
        Self {
            catalog: Catalog::with_cities(&[CITY], UnknownSensors::Admit),
            op: TrafficWindowOperator::new(&scenario.spec),
        }
    }

    fn batch(&mut self, rows: &[Row]) -> Result<TrafficBatch, String> {
        // validation is not under test: accept any generated time
        let bounds = TimeBounds {
            now: T0 + 86_400_000,
            max_future_ms: 0,
        };
        let mut builder = TrafficBatchBuilder::default();
        for row in rows {
            let obs = TrafficObservation {
                city: CITY,
                sensor_id: SENSORS[row.sensor],
                lane: i64::from(row.lane),
                ts: row.ts,
                interval_s: i64::from(row.interval_s),
                vehicle_count: i64::from(row.vehicles),
                heavy_vehicle_count: row.heavy.map(i64::from),
                avg_speed_kmh: row.speed,
                occupancy_pct: row.occupancy,
            };
            builder
                .push(&mut self.catalog, None, &obs, bounds)
                .map_err(|r| format!("generated row refused: {r} ({row:?})"))?;
        }
        builder.finish(&self.catalog).map_err(|e| e.to_string())
    }

    fn process(&mut self, source: u32, now: i64, rows: &[Row]) -> Result<ProcessStats, String> {
        let batch = self.batch(rows)?;
        self.op
            .fold(source, now, &batch, &self.catalog)
            .map_err(|e| e.to_string())
    }

    fn advance(&mut self, now: i64) -> Result<Vec<(Key, Values)>, String> {
        let closed = self
            .op
            .advance(now, &self.catalog)
            .map_err(|e| e.to_string())?;
        flatten(&closed)
    }

    fn finish(&mut self) -> Result<Vec<(Key, Values)>, String> {
        let closed = self.op.finish(&self.catalog).map_err(|e| e.to_string())?;
        flatten(&closed)
    }
}

fn flatten(closed: &[ClosedWindows]) -> Result<Vec<(Key, Values)>, String> {
    let mut rows = Vec::new();
    for window in closed {
        rows.extend(rows_of(window)?);
    }
    Ok(rows)
}

/// Runs engine and reference side by side; the first disagreement, with the step, is the
/// error.
fn run(scenario: &Scenario) -> Result<(), String> {
    let mut engine = Engine::new(scenario);
    let mut reference = Reference::new(&scenario.spec);
    for &source in &scenario.registered {
        engine.op.add_source(source, T0);
        reference.watermark.register(source, T0);
    }
    let mut emitted = Emitted::default();
    for (step, event) in scenario.events.iter().enumerate() {
        step_both(
            &mut engine,
            &mut reference,
            &scenario.spec.shapes,
            event,
            &mut emitted,
        )
        .map_err(|e| format!("step {step} ({event:?}):\n{e}"))?;
    }
    let got = engine.finish()?;
    let want = reference.finish();
    same_rows(&got, &want).map_err(|e| format!("finish:\n{e}"))?;
    emitted.engine.extend(got);
    emitted.reference.extend(want);
    // implied by the per-step checks, stated for the whole run: the same multiset of rows
    same_rows(&emitted.engine, &emitted.reference).map_err(|e| format!("whole run:\n{e}"))?;
    if engine.op.open_states() != 0 {
        return Err(format!(
            "{} states open after finish",
            engine.op.open_states()
        ));
    }
    // the highest revision of every (family, window, sensor) is the total of all rows the
    // reference folded into it, and every such cell was emitted
    same_rows(&finals(&emitted.engine), &reference.totals())
        .map_err(|e| format!("final values:\n{e}"))
}

/// Every row emitted so far, by either side.
#[derive(Default)]
struct Emitted {
    engine: Vec<(Key, Values)>,
    reference: Vec<(Key, Values)>,
}

fn step_both(
    engine: &mut Engine,
    reference: &mut Reference,
    spec_shapes: &[WindowShape],
    event: &Event,
    emitted: &mut Emitted,
) -> Result<(), String> {
    let now = event.now;
    match &event.op {
        Op::Batch { source, rows } => {
            let stats = engine.process(*source, now, rows)?;
            let verdict = reference.process(*source, now, rows)?;
            let shapes: Vec<WindowShape> =
                stats.dropped_per_shape.iter().map(|(s, _)| *s).collect();
            let dropped: Vec<u64> = stats.dropped_per_shape.iter().map(|(_, n)| *n).collect();
            let updated: Vec<u64> = stats
                .updated_late_per_shape
                .iter()
                .map(|(_, n)| *n)
                .collect();
            // every window each row was dropped from, as (row, shape, start)
            let mut dropped_windows: Vec<(u32, usize, i64)> = Vec::new();
            for late in &stats.late_rows {
                for window in &late.dropped {
                    let shape = spec_shapes.iter().position(|s| *s == window.shape);
                    dropped_windows.push((late.row, shape.unwrap_or(usize::MAX), window.start));
                }
            }
            dropped_windows.sort_unstable();
            let report = format!("engine {stats:?}\nreference {verdict:?}");
            if stats.rows != rows.len()
                || shapes != spec_shapes
                || dropped != verdict.dropped
                || updated != verdict.updated_late
                || dropped_windows != verdict.dropped_windows
            {
                return Err(format!("batch statistics differ:\n{report}"));
            }
        }
        Op::Register(source) => {
            engine.op.add_source(*source, now);
            reference.watermark.register(*source, now);
        }
        Op::Heartbeat(source) => {
            engine.op.heartbeat(*source, now);
            reference.watermark.heartbeat(*source, now);
        }
        Op::Remove(source) => {
            engine.op.remove_source(*source);
            reference.watermark.remove(*source);
        }
    }
    if !event.advance {
        return Ok(());
    }
    let got = engine.advance(now)?;
    let want = reference.advance(now);
    let (wm_engine, wm_reference) = (engine.op.watermark().time(), reference.watermark.current());
    if wm_engine != wm_reference {
        return Err(format!(
            "watermark: engine {wm_engine:?}, reference {wm_reference:?}"
        ));
    }
    same_rows(&got, &want)?;
    emitted.engine.extend(got);
    emitted.reference.extend(want);
    if engine.op.open_states() != reference.open_states() {
        return Err(format!(
            "open states: engine {}, reference {}",
            engine.op.open_states(),
            reference.open_states()
        ));
    }
    Ok(())
}

fn check(scenario: &Scenario) -> Result<(), TestCaseError> {
    run(scenario).map_err(TestCaseError::fail)
}

/// The tracker alone against the rule, with its invariants: never decreasing (but for a
/// restart after a source registered anew), and a change never above an active source's
/// bound (or, with every source idle, above the newest one).
fn check_tracker(
    ops: &[(i64, TrackerOp)],
    out_of_orderness_ms: i64,
    idle_timeout_ms: i64,
) -> Result<(), String> {
    let mut tracker = WatermarkTracker::new(out_of_orderness_ms, idle_timeout_ms);
    let mut rule = RefWatermark::new(out_of_orderness_ms, idle_timeout_ms);
    let mut previous: Option<i64> = None;
    for (step, (now, op)) in ops.iter().enumerate() {
        let now = *now;
        match *op {
            TrackerOp::Register(s) => {
                tracker.register(s, now);
                rule.register(s, now);
            }
            TrackerOp::Observe(s, t) => {
                tracker.observe(s, t, now);
                rule.observe(s, t, now);
            }
            TrackerOp::Heartbeat(s) => {
                tracker.heartbeat(s, now);
                rule.heartbeat(s, now);
            }
            TrackerOp::Remove(s) => {
                tracker.remove(s);
                rule.remove(s);
            }
            TrackerOp::Advance => {
                let bounds = rule.bounds(now);
                // a source registered anew: the watermark starts over from the clocks
                let restart = rule.restarts();
                let got = tracker.advance(now).time();
                let want = rule.advance(now);
                let fail = |what: &str| {
                    Err(format!(
                        "step {step} at {now}: {what}: got {got:?}, rule {want:?}, previous {previous:?}, {bounds:?}"
                    ))
                };
                if got != want {
                    return fail("differs from the rule");
                }
                if got != tracker.current().time() {
                    return fail("current() differs from what advance returned");
                }
                if got < previous && !restart {
                    return fail("went backwards");
                }
                if got != previous && !(restart && got.is_none()) {
                    let limit = if bounds.active.is_empty() {
                        bounds.all.iter().copied().max()
                    } else {
                        bounds.active.iter().copied().min()
                    };
                    if bounds.held {
                        return fail("moved while a silent active source holds it");
                    }
                    let within = matches!((got, limit), (Some(wm), Some(limit)) if wm <= limit);
                    if !within {
                        return fail("raised above a bound");
                    }
                }
                previous = got;
            }
        }
    }
    if tracker.finish().time() != Some(i64::MAX) {
        return Err("finish does not go to the end of time".to_owned());
    }
    Ok(())
}

/// Cases per property: the whole suite runs in about a second in a debug build.
const CASES: u32 = 128;

/// Failing seeds go to `tests/properties.proptest-regressions` (an integration test has no
/// `lib.rs` for the default location).
fn config() -> ProptestConfig {
    ProptestConfig {
        cases: std::env::var("PROPTEST_CASES")
            .ok()
            .and_then(|c| c.parse().ok())
            .unwrap_or(CASES),
        failure_persistence: Some(Box::new(FileFailurePersistence::WithSource(
            "proptest-regressions",
        ))),
        ..ProptestConfig::default()
    }
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn tumbling_windows_equal_the_reference(s in scenario::scenario(Shapes::Tumbling, Lateness::Any)) {
        check(&s)?;
    }

    #[test]
    fn hopping_windows_equal_the_reference(s in scenario::scenario(Shapes::Hopping, Lateness::Any)) {
        check(&s)?;
    }

    #[test]
    fn without_lateness_late_rows_drop_like_the_reference(s in scenario::scenario(Shapes::Mixed, Lateness::Zero)) {
        check(&s)?;
    }

    #[test]
    fn with_lateness_windows_re_emit_like_the_reference(s in scenario::scenario(Shapes::Mixed, Lateness::Positive)) {
        check(&s)?;
    }
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn watermark_tracker_follows_the_rule(
        ops in scenario::tracker_ops(),
        out_of_orderness_ms in prop_oneof![Just(0i64), Just(5_000), Just(30_000)],
        idle_timeout_ms in prop_oneof![Just(1_000i64), Just(10_000), Just(60_000)],
    ) {
        check_tracker(&ops, out_of_orderness_ms, idle_timeout_ms).map_err(TestCaseError::fail)?;
    }
}

/// The reference itself against hand-worked cases, so a wrong reference cannot hide behind
/// an engine with the same mistake.
mod reference_by_hand {
    use super::*;

    #[test]
    fn assignment_follows_the_spec() {
        // instant 60 000 in 1-min windows: [60 000, 120 000)
        assert_eq!(window_starts(60_000, 60_000, 60_000), vec![60_000]);
        // interval end 60 000 → 59 999: (0, 60 000]
        assert_eq!(window_starts(60_000 - 1, 60_000, 60_000), vec![0]);
        // hopping 60 s / 20 s: every window whose [start, start + 60 s) holds 45 s
        assert_eq!(
            window_starts(45_000, 60_000, 20_000),
            vec![0, 20_000, 40_000]
        );
        assert_eq!(
            window_starts(-1, 60_000, 20_000),
            vec![-60_000, -40_000, -20_000]
        );
    }

    #[test]
    fn metrics_match_the_hand_worked_example() {
        // docs/metrics.md: two lanes, 30-s intervals, one minute
        let row = |lane, vehicles, speed| Row {
            sensor: 0,
            lane,
            ts: T0 + 30_000,
            interval_s: 30,
            vehicles,
            heavy: None,
            speed: Some(speed),
            occupancy: None,
        };
        let rows = [
            row(1, 10, 50.0),
            row(1, 12, 60.0),
            row(2, 20, 40.0),
            row(2, 18, 30.0),
        ];
        let v = reference::values(&rows, T0, 60_000);
        assert_eq!(
            (v.vehicles, v.lanes_reporting, v.flow),
            (60, 2, Some(3600.0))
        );
        assert!((v.speed_time_mean.unwrap_or_default() - 2560.0 / 60.0).abs() < 1e-9);
        assert!((v.speed_space_mean.unwrap_or_default() - 40.0).abs() < 1e-9);
        assert!((v.density.unwrap_or_default() - 90.0).abs() < 1e-9);
    }

    #[test]
    fn rule_holds_for_a_silent_source_then_takes_the_newest_when_all_idle() {
        let mut w = RefWatermark::new(1_000, 10_000);
        w.register(1, 0);
        w.observe(0, 50_000, 0);
        assert_eq!(w.advance(5_000), None);
        w.observe(2, 30_000, 15_000);
        // source 1 idle, 0 idle, 2 active: 30 s − 1 s out-of-orderness − 1 ms
        assert_eq!(w.advance(15_000), Some(28_999));
        // everyone idle: the newest
        assert_eq!(w.advance(40_000), Some(48_999));
        // 2 speaks again, old: never back
        w.observe(2, 31_000, 41_000);
        assert_eq!(w.advance(41_000), Some(48_999));
    }
}
