//! Shared by the restore and checkpoint tests: a pipeline with every window kind, a
//! random stream of five tasks, and closed windows as comparable text lines.

#![allow(dead_code)]

pub mod harness;

use std::sync::Arc;

use arrow_array::types::TimestampMillisecondType;
use arrow_array::{
    Array, BooleanArray, Float64Array, PrimitiveArray, RecordBatch, StringArray, UInt8Array,
    UInt32Array, UInt64Array,
};
use stadtpuls_ingest::pipeline::{Limits, Pipeline, PipelineOptions, RawMessage, StepOutput};
use stadtpuls_processing::catalog::{Catalog, UnknownSensors};
use stadtpuls_processing::live::LiveState;
use stadtpuls_processing::window::ClosedWindows;
use stadtpuls_processing::window::parking::ParkingSpec;
use stadtpuls_processing::window::{TimestampSemantics, WindowShape, WindowSpec};

pub const T0: i64 = 1_795_478_400_000;
pub const MIN: i64 = 60_000;

/// (source id, topic, partition) of the five tasks.
pub const TASKS: [(u32, &str, i32); 5] = [
    (0, "sensors.ulm.traffic", 0),
    (1, "sensors.ulm.traffic", 1),
    (2, "sensors.ka.traffic", 0),
    (3, "sensors.ulm.parking", 0),
    (4, "sensors.ka.parking", 0),
];

pub fn pipeline() -> Pipeline {
    let mut catalog = Catalog::with_cities(&["ulm", "ka"], UnknownSensors::Admit);
    for id in ["t1", "t2", "t3"] {
        catalog.add_traffic(0, id, 2, 50.0);
    }
    catalog.add_traffic(1, "k1", 3, 100.0);
    catalog.add_facility(0, "p1", Some(100));
    let zone = catalog.add_facility(0, "z1", None);
    for spot in ["s1", "s2", "s3", "s4"] {
        catalog.add_spot(0, spot, zone);
    }
    catalog.add_facility(1, "kp", Some(40));
    let spec = WindowSpec {
        shapes: vec![
            WindowShape::tumbling(MIN),
            WindowShape::tumbling(5 * MIN),
            WindowShape {
                size_ms: 10 * MIN,
                slide_ms: 5 * MIN,
            },
        ],
        out_of_orderness_ms: 30_000,
        idle_timeout_ms: 3_600_000,
        allowed_lateness_ms: 2 * MIN,
        timestamps: TimestampSemantics::IntervalEnd,
    };
    let parking = ParkingSpec {
        trend_window_ms: 10 * MIN,
        ..ParkingSpec::default()
    };
    Pipeline::from_parts(
        catalog,
        &spec,
        &parking,
        Limits {
            max_message_bytes: 4096,
            max_future_ms: 300_000,
            max_clock_jump_ms: 150_000,
        },
        Arc::new(LiveState::new(3_600_000)),
        PipelineOptions {
            unknown_sensors: UnknownSensors::Admit,
            ..PipelineOptions::default()
        },
    )
}

/// A small deterministic generator (xorshift64*).
pub struct Rng(pub u64);

impl Rng {
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// Batches of messages of all five tasks over about 40 minutes of event time, mostly in
/// order, some a minute or two late (revisions), a few far too late (dropped).
pub fn stream(seed: u64, t0: i64) -> Vec<(i64, Vec<RawMessage>)> {
    let mut rng = Rng(seed | 1);
    let mut offsets = [0i64; 5];
    let mut batches = Vec::new();
    for step in 0..40 {
        let base = t0 + step * MIN;
        let mut batch = Vec::new();
        for _ in 0..(3 + rng.below(10)) {
            let task = rng.below(5) as usize;
            let late = match rng.below(20) {
                0 => 4 * MIN + rng.below(3) as i64 * MIN,
                1 | 2 => MIN + rng.below(60) as i64 * 1000,
                _ => 0,
            };
            let ts = base + rng.below(60) as i64 * 1000 - late;
            let payload = match task {
                0..=2 => {
                    let sensor = match (task, rng.below(3)) {
                        (0, 0) => "t1",
                        (0, 1) => "t2",
                        (0, _) => "x1",
                        (1, 0) => "t3",
                        (1, _) => "x2",
                        _ => "k1",
                    };
                    let city = if task == 2 { "ka" } else { "ulm" };
                    let lane = rng.below(3);
                    let n = rng.below(40);
                    let speed = 20 + rng.below(80);
                    let occupancy = rng.below(100);
                    let heavy = if rng.below(2) == 0 {
                        format!(r#","heavy_vehicle_count":{}"#, n / 5)
                    } else {
                        String::new()
                    };
                    format!(
                        r#"{{"city":"{city}","sensor_id":"{sensor}","lane":{lane},"ts":{ts},"interval_s":60,"vehicle_count":{n},"avg_speed_kmh":{speed}.5,"occupancy_pct":{occupancy}{heavy}}}"#
                    )
                }
                3 if rng.below(2) == 0 => {
                    let free = rng.below(100);
                    format!(
                        r#"{{"city":"ulm","kind":"facility","id":"p1","ts":{ts},"free_spaces":{free},"total_spaces":100,"entries":{},"exits":{}}}"#,
                        rng.below(5),
                        rng.below(5)
                    )
                }
                3 => {
                    let spot = ["s1", "s2", "s3", "s4"][rng.below(4) as usize];
                    let status = ["free", "occupied", "occupied", "closed", "unknown"]
                        [rng.below(5) as usize];
                    format!(
                        r#"{{"city":"ulm","kind":"spot","id":"{spot}","facility_id":"z1","ts":{ts},"status":"{status}"}}"#
                    )
                }
                _ => format!(
                    r#"{{"city":"ka","kind":"facility","id":"kp","ts":{ts},"free_spaces":{}}}"#,
                    rng.below(40)
                ),
            };
            let (source, topic, partition) = TASKS[task];
            batch.push(RawMessage {
                source,
                topic: Arc::from(topic),
                partition,
                offset: offsets[task],
                key: None,
                payload: payload.into_bytes().into(),
                format: None,
            });
            offsets[task] += 1;
        }
        batches.push((base + MIN, batch));
    }
    batches
}

/// Every closed row and dead letter of a step as a line, comparable across instances
/// (catalog keys differ; ids, values, revision and owning task do not).
pub fn lines(out: &StepOutput) -> Vec<String> {
    let mut lines = Vec::new();
    for (stream, closed) in [
        ("traffic", &out.traffic),
        ("lanes", &out.traffic_lanes),
        ("parking", &out.parking),
    ] {
        for w in closed {
            for row in 0..w.batch.num_rows() {
                lines.push(format!(
                    "{stream} {}/{} start {} rev {} task {}: {}",
                    w.window_s,
                    w.slide_s,
                    row_start(&w.batch, row),
                    w.revision,
                    w.owner,
                    row_text(&w.batch, row)
                ));
            }
        }
    }
    for d in &out.dead_letters {
        lines.push(format!(
            "dead letter {:?} {} {}",
            d.reason, d.topic, d.offset
        ));
    }
    lines
}

/// The window start of a row: a step's closed windows may hold several windows.
pub fn row_start(batch: &RecordBatch, row: usize) -> i64 {
    batch
        .column_by_name("window_start")
        .and_then(|c| {
            c.as_any()
                .downcast_ref::<PrimitiveArray<TimestampMillisecondType>>()
        })
        .map_or_else(
            || panic!("closed windows without window_start"),
            |a| a.value(row),
        )
}

pub fn row_text(batch: &RecordBatch, row: usize) -> String {
    let mut cells = Vec::new();
    for (field, column) in batch.schema().fields().iter().zip(batch.columns()) {
        let any = column.as_any();
        let cell = if column.is_null(row) {
            "null".to_owned()
        } else if let Some(a) = any.downcast_ref::<StringArray>() {
            a.value(row).to_owned()
        } else if let Some(a) = any.downcast_ref::<Float64Array>() {
            format!("{:?}", a.value(row))
        } else if let Some(a) = any.downcast_ref::<UInt64Array>() {
            a.value(row).to_string()
        } else if let Some(a) = any.downcast_ref::<UInt32Array>() {
            a.value(row).to_string()
        } else if let Some(a) = any.downcast_ref::<UInt8Array>() {
            a.value(row).to_string()
        } else if let Some(a) = any.downcast_ref::<BooleanArray>() {
            a.value(row).to_string()
        } else if let Some(a) = any.downcast_ref::<PrimitiveArray<TimestampMillisecondType>>() {
            a.value(row).to_string()
        } else {
            panic!("column {} of an unexpected type", field.name())
        };
        cells.push(format!("{}={cell}", field.name()));
    }
    cells.join(" ")
}

/// The rows of one batch of closed windows as lines (see [`lines`]).
pub fn window_lines(stream: &str, w: &ClosedWindows) -> Vec<String> {
    (0..w.batch.num_rows())
        .map(|row| {
            format!(
                "{stream} {}/{} start {} rev {}: {}",
                w.window_s,
                w.slide_s,
                row_start(&w.batch, row),
                w.revision,
                row_text(&w.batch, row)
            )
        })
        .collect()
}

/// Fails with the first differing windows unless `got` holds exactly `expected`'s.
pub fn assert_same_latest(
    expected: &std::collections::BTreeMap<String, String>,
    got: &std::collections::BTreeMap<String, String>,
    case: std::fmt::Arguments<'_>,
) {
    let differ: Vec<_> = expected
        .iter()
        .filter(|(k, v)| got.get(*k) != Some(*v))
        .take(3)
        .map(|(k, v)| (k, v, got.get(k)))
        .collect();
    assert!(
        differ.is_empty() && got.len() == expected.len(),
        "{case}: {} windows vs {}; differ: {differ:#?}",
        got.len(),
        expected.len()
    );
}
