//! Random scenarios: a window spec and a sequence of steps (batches, registrations,
//! heartbeats, removals), generated from small primitives so that shrinking stays cheap.

use proptest::collection::vec;
use proptest::option;
use proptest::prelude::*;
use proptest::sample::subsequence;
use stadtpuls_processing::window::{TimestampSemantics, WindowShape, WindowSpec};

/// 2026-11-24T00:00:00Z: the first event-time clock, aligned to every window size.
pub const T0: i64 = 1_795_478_400_000;
/// Sensor ids, one per key of the small sensor set.
pub const SENSORS: [&str; 4] = ["s0", "s1", "s2", "s3"];
/// Most sources a scenario uses.
pub const MAX_SOURCES: u32 = 3;

/// One validated observation with its absolute timestamp.
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    pub sensor: usize,
    pub lane: u8,
    pub ts: i64,
    pub interval_s: u32,
    pub vehicles: u32,
    pub heavy: Option<u32>,
    pub speed: Option<f64>,
    pub occupancy: Option<f64>,
}

/// What a step does before the (optional) advance.
#[derive(Debug, Clone)]
pub enum Op {
    Batch { source: u32, rows: Vec<Row> },
    Register(u32),
    Heartbeat(u32),
    Remove(u32),
}

/// One step at processing time `now`.
#[derive(Debug, Clone)]
pub struct Event {
    pub now: i64,
    pub op: Op,
    /// Whether the watermark is advanced (and windows emitted) after the op; the pipeline
    /// advances once after all the partitions of a poll, so some steps do not.
    pub advance: bool,
}

/// A generated run: the spec, sources registered up front, and the steps.
#[derive(Debug, Clone)]
pub struct Scenario {
    pub spec: WindowSpec,
    /// Sources registered at the first processing time, before any of them sent.
    pub registered: Vec<u32>,
    pub events: Vec<Event>,
}

/// A row as generated: its timestamp is relative to its source's event-time clock.
#[derive(Debug, Clone)]
struct RowGen {
    sensor: usize,
    lane: u8,
    /// The source's clock moves on by this many seconds before the row.
    clock_step_s: i64,
    /// How far behind the clock the row is (out-of-order jitter, late and far-late rows).
    behind_ms: i64,
    /// ±1 ms off a whole second, to hit both sides of window boundaries.
    nudge_ms: i64,
    interval_s: u32,
    vehicles: u32,
    heavy: Option<u32>,
    speed: Option<f64>,
    occupancy: Option<f64>,
}

#[derive(Debug, Clone)]
enum OpGen {
    Batch(u32, Vec<RowGen>),
    Register(u32),
    Heartbeat(u32),
    Remove(u32),
}

#[derive(Debug, Clone)]
struct StepGen {
    dt_ms: i64,
    op: OpGen,
    advance: bool,
}

/// Which window families a property draws from.
#[derive(Debug, Clone, Copy)]
pub enum Shapes {
    /// One to three tumbling sizes.
    Tumbling,
    /// One or two hopping families, with or without a tumbling one (first).
    Hopping,
    /// Any mix, at least one family.
    Mixed,
}

/// Which allowed lateness a property draws from.
#[derive(Debug, Clone, Copy)]
pub enum Lateness {
    Zero,
    Positive,
    Any,
}

const TUMBLING_S: [i64; 4] = [10, 20, 30, 60];
const HOPPING_S: [(i64, i64); 4] = [(60, 20), (30, 10), (60, 30), (20, 10)];

fn tumbling(range: std::ops::RangeInclusive<usize>) -> BoxedStrategy<Vec<WindowShape>> {
    subsequence(TUMBLING_S.to_vec(), range)
        .prop_map(|sizes| {
            sizes
                .into_iter()
                .map(|s| WindowShape::tumbling(s * 1000))
                .collect()
        })
        .boxed()
}

fn hopping(range: std::ops::RangeInclusive<usize>) -> BoxedStrategy<Vec<WindowShape>> {
    subsequence(HOPPING_S.to_vec(), range)
        .prop_map(|pairs| {
            pairs
                .into_iter()
                .map(|(size, slide)| WindowShape {
                    size_ms: size * 1000,
                    slide_ms: slide * 1000,
                })
                .collect()
        })
        .boxed()
}

fn shapes(kind: Shapes) -> BoxedStrategy<Vec<WindowShape>> {
    let joined = |(mut a, b): (Vec<WindowShape>, Vec<WindowShape>)| {
        a.extend(b);
        a
    };
    match kind {
        Shapes::Tumbling => tumbling(1..=3),
        Shapes::Hopping => (tumbling(0..=1), hopping(1..=2)).prop_map(joined).boxed(),
        Shapes::Mixed => (tumbling(0..=2), hopping(0..=2))
            .prop_map(joined)
            .prop_filter("at least one window family", |s| !s.is_empty())
            .boxed(),
    }
}

fn lateness(kind: Lateness) -> BoxedStrategy<i64> {
    match kind {
        Lateness::Zero => Just(0).boxed(),
        Lateness::Positive => prop_oneof![Just(10_000), Just(30_000)].boxed(),
        Lateness::Any => prop_oneof![Just(0), Just(10_000), Just(30_000)].boxed(),
    }
}

/// A window spec: the families, out-of-orderness 0–15 s, a small or effectively infinite idle
/// timeout, the allowed lateness, and either timestamp semantics.
pub fn spec(shape_kind: Shapes, lateness_kind: Lateness) -> impl Strategy<Value = WindowSpec> {
    (
        shapes(shape_kind),
        prop_oneof![Just(0i64), Just(5_000), Just(15_000)],
        prop_oneof![Just(5_000i64), Just(20_000), Just(3_600_000)],
        lateness(lateness_kind),
        any::<bool>(),
    )
        .prop_map(
            |(shapes, out_of_orderness_ms, idle_timeout_ms, allowed_lateness_ms, instant)| {
                WindowSpec {
                    shapes,
                    out_of_orderness_ms,
                    idle_timeout_ms,
                    allowed_lateness_ms,
                    timestamps: if instant {
                        TimestampSemantics::Instant
                    } else {
                        TimestampSemantics::IntervalEnd
                    },
                }
            },
        )
}

fn row() -> impl Strategy<Value = RowGen> {
    let behind_s = prop_oneof![
        14 => Just(0i64),
        5 => 0i64..=40,
        1 => 60i64..=600,
    ];
    let nudge = prop_oneof![8 => Just(0i64), 1 => Just(1), 1 => Just(-1)];
    let speed = prop_oneof![1 => Just(0.0), 9 => (1u32..=2500).prop_map(|v| f64::from(v) / 10.0)];
    let occupancy = (0u32..=1000).prop_map(|v| f64::from(v) / 10.0);
    (
        0..SENSORS.len(),
        0u8..3,
        0i64..=12,
        behind_s,
        nudge,
        prop_oneof![Just(10u32), Just(30), Just(60)],
        0u32..=60,
        option::of(0u32..=60),
        option::weighted(0.8, speed),
        option::of(occupancy),
    )
        .prop_map(
            |(sensor, lane, clock_step_s, behind_s, nudge_ms, interval_s, n, heavy, speed, occ)| {
                // vehicles ≤ interval (one per second per lane), heavy ≤ vehicles
                let vehicles = n.min(interval_s);
                RowGen {
                    sensor,
                    lane,
                    clock_step_s,
                    behind_ms: behind_s * 1000,
                    nudge_ms,
                    interval_s,
                    vehicles,
                    heavy: heavy.map(|h| h.min(vehicles)),
                    speed,
                    occupancy: occ,
                }
            },
        )
}

fn step() -> impl Strategy<Value = StepGen> {
    let source = 0..MAX_SOURCES;
    let op = prop_oneof![
        12 => (source.clone(), vec(row(), 1..6)).prop_map(|(s, rows)| OpGen::Batch(s, rows)),
        1 => source.clone().prop_map(OpGen::Register),
        2 => source.clone().prop_map(OpGen::Heartbeat),
        1 => source.prop_map(OpGen::Remove),
    ];
    (
        prop_oneof![
            Just(0i64),
            Just(1_000),
            Just(5_000),
            Just(20_000),
            Just(60_000)
        ],
        op,
        proptest::bool::weighted(0.85),
    )
        .prop_map(|(dt_ms, op, advance)| StepGen { dt_ms, op, advance })
}

/// A scenario with 1–3 sources, each starting its event-time clock up to a minute after
/// [`T0`], some registered before they send.
pub fn scenario(shape_kind: Shapes, lateness_kind: Lateness) -> impl Strategy<Value = Scenario> {
    (
        spec(shape_kind, lateness_kind),
        1..=MAX_SOURCES,
        vec(0i64..=60, MAX_SOURCES as usize),
        vec(any::<bool>(), MAX_SOURCES as usize),
        vec(step(), 1..40),
    )
        .prop_map(|(spec, sources, start_s, registered, steps)| {
            materialise(spec, sources, &start_s, &registered, steps)
        })
}

/// Turns relative clocks into absolute timestamps and processing times.
///
/// As in the pipeline, where producers key messages by entity, each sensor is sent by one
/// source only. A registration of a source seen before (registered or sent) becomes a
/// heartbeat: the pipeline never registers a partition again without its state (it comes
/// back through a restore), and a source registered anew while the watermark is known
/// starts its entities' windows afresh.
fn materialise(
    spec: WindowSpec,
    sources: u32,
    start_s: &[i64],
    registered: &[bool],
    steps: Vec<StepGen>,
) -> Scenario {
    let mut clocks: Vec<i64> = start_s.iter().map(|s| T0 + s * 1000).collect();
    let mut now = T0;
    let mut events = Vec::with_capacity(steps.len());
    let mut seen: Vec<bool> = (0..MAX_SOURCES as usize).map(|s| registered[s]).collect();
    for step in steps {
        now += step.dt_ms;
        let op = match step.op {
            OpGen::Batch(source, rows) => {
                let source = source % sources;
                seen[source as usize] = true;
                let clock = &mut clocks[source as usize];
                let rows = rows
                    .into_iter()
                    .map(|r| {
                        *clock += r.clock_step_s * 1000;
                        Row {
                            sensor: sensor_of(source, sources, r.sensor),
                            lane: r.lane,
                            ts: *clock - r.behind_ms + r.nudge_ms,
                            interval_s: r.interval_s,
                            vehicles: r.vehicles,
                            heavy: r.heavy,
                            speed: r.speed,
                            occupancy: r.occupancy,
                        }
                    })
                    .collect();
                Op::Batch { source, rows }
            }
            OpGen::Register(s) => {
                let s = s % sources;
                if std::mem::replace(&mut seen[s as usize], true) {
                    Op::Heartbeat(s)
                } else {
                    Op::Register(s)
                }
            }
            OpGen::Heartbeat(s) => Op::Heartbeat(s % sources),
            OpGen::Remove(s) => Op::Remove(s % sources),
        };
        events.push(Event {
            now,
            op,
            advance: step.advance,
        });
    }
    Scenario {
        spec,
        registered: (0..sources).filter(|&s| registered[s as usize]).collect(),
        events,
    }
}

/// The `pick`-th sensor of those `source` sends: sensors `k` with `k % sources == source`.
fn sensor_of(source: u32, sources: u32, pick: usize) -> usize {
    let own: Vec<usize> = (0..SENSORS.len())
        .filter(|k| *k as u32 % sources == source)
        .collect();
    own[pick % own.len()]
}

/// One operation on a [`stadtpuls_processing::window::watermark::WatermarkTracker`].
#[derive(Debug, Clone)]
pub enum TrackerOp {
    Register(u32),
    Observe(u32, i64),
    Heartbeat(u32),
    Remove(u32),
    Advance,
}

/// Tracker operations with processing-time steps; observed times wander around a rising
/// clock, so a source's maximum sometimes stands still and sometimes jumps.
pub fn tracker_ops() -> impl Strategy<Value = Vec<(i64, TrackerOp)>> {
    let source = 0u32..4;
    let op = prop_oneof![
        1 => source.clone().prop_map(TrackerOp::Register),
        6 => (source.clone(), -60i64..=120).prop_map(|(s, t)| TrackerOp::Observe(s, t)),
        2 => source.clone().prop_map(TrackerOp::Heartbeat),
        1 => source.prop_map(TrackerOp::Remove),
        5 => Just(TrackerOp::Advance),
    ];
    let dt = prop_oneof![Just(0i64), Just(1_000), Just(5_000), Just(20_000)];
    vec((dt, op), 1..60).prop_map(|steps| {
        let mut now = T0;
        steps
            .into_iter()
            .map(|(dt, op)| {
                now += dt;
                let op = match op {
                    // event time rises with processing time, observed up to 1 min behind or
                    // 2 min ahead of it
                    TrackerOp::Observe(s, t) => TrackerOp::Observe(s, now + t * 1000),
                    other => other,
                };
                (now, op)
            })
            .collect()
    })
}
