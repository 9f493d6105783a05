//! The pipeline step without Kafka: bad input around good input, late rows dead-lettered
//! with their origin, and the parallel pre-check giving exactly the serial path's results.

use std::sync::Arc;

use arrow_array::cast::AsArray;
use arrow_array::types::{TimestampMillisecondType, UInt64Type};

use stadtpuls_ingest::pipeline::{
    DeadLetter, Limits, Pipeline, PipelineOptions, RawMessage, StepOutput,
};
use stadtpuls_processing::RejectReason;
use stadtpuls_processing::catalog::{Catalog, UnknownSensors};
use stadtpuls_processing::live::LiveState;
use stadtpuls_processing::time::to_rfc3339_seconds;
use stadtpuls_processing::window::parking::ParkingSpec;
use stadtpuls_processing::window::{ClosedWindows, TimestampSemantics, WindowSpec};

const T0: i64 = 1_795_478_400_000;
const NOW: i64 = T0 + 3_600_000;

fn pipeline(unknown: UnknownSensors, parallel_decode: bool, max_message_bytes: usize) -> Pipeline {
    let mut catalog = Catalog::with_cities(&["ulm", "ka"], unknown);
    for id in ["s1", "s2", "s3"] {
        catalog.add_traffic(0, id, 2, 50.0);
    }
    let spec = WindowSpec::tumbling(
        &[60_000, 900_000],
        30_000,
        600_000,
        TimestampSemantics::IntervalEnd,
    );
    let limits = Limits {
        max_message_bytes,
        max_future_ms: 300_000,
        max_clock_jump_ms: 150_000,
    };
    let options = PipelineOptions {
        unknown_sensors: unknown,
        parallel_decode,
        update_live: false,
        ..PipelineOptions::default()
    };
    Pipeline::from_parts(
        catalog,
        &spec,
        &ParkingSpec::default(),
        limits,
        Arc::new(LiveState::new(0)),
        options,
    )
}

fn message(topic: &str, offset: i64, payload: String) -> RawMessage {
    RawMessage {
        source: 0,
        topic: Arc::from(topic),
        partition: 0,
        offset,
        key: None,
        payload: payload.into_bytes().into(),
        format: None,
    }
}

fn traffic(sensor: &str, ts: i64, n: i64) -> String {
    format!(
        r#"{{"city":"ulm","sensor_id":"{sensor}","lane":1,"ts":{ts},"interval_s":60,"vehicle_count":{n},"avg_speed_kmh":50.0}}"#
    )
}

fn reasons(letters: &[DeadLetter]) -> Vec<(RejectReason, i64, Option<usize>)> {
    letters
        .iter()
        .map(|d| (d.reason, d.offset, d.index))
        .collect()
}

#[test]
fn bad_messages_are_dead_lettered_and_their_neighbours_go_on() {
    let mut p = pipeline(UnknownSensors::Reject, true, 1024);
    let topic = "sensors.ulm.traffic";
    let batch = vec![
        message(topic, 0, traffic("s1", T0 + 60_000, 5)),
        message(
            topic,
            1,
            format!(r#"{{"city":"ulm","pad":"{}"}}"#, "x".repeat(2000)),
        ),
        message(topic, 2, traffic("s9", T0 + 60_000, 5)),
        message("sensors.atlantis.traffic", 3, traffic("s1", T0 + 60_000, 5)),
        message(
            topic,
            4,
            format!(
                "[{},{}]",
                traffic("s2", T0 + 60_000, 7),
                traffic("s2", T0 + 60_000, -1)
            ),
        ),
        message(topic, 5, traffic("s3", T0 + 60_000, 9)),
    ];
    let out = p.process(&batch, NOW).expect("process");
    assert_eq!(out.accepted, 3);
    assert_eq!(
        reasons(&out.dead_letters),
        vec![
            (RejectReason::Oversized, 1, None),
            (RejectReason::UnknownSensor, 2, None),
            (RejectReason::UnknownCity, 3, None),
            (RejectReason::NegativeCount, 4, Some(1)),
        ]
    );
    let oversized = &out.dead_letters[0];
    assert!(oversized.original_bytes.is_some());
    assert_eq!(oversized.payload.len(), 1024);
}

#[test]
fn late_rows_are_dead_lettered_with_their_message() {
    let mut p = pipeline(UnknownSensors::Reject, true, 1 << 20);
    let topic = "sensors.ulm.traffic";
    let first = p
        .process(
            &[
                message(topic, 0, traffic("s1", T0 + 60_000, 1)),
                message(topic, 1, traffic("s1", T0 + 180_000, 1)),
                message(topic, 2, traffic("s1", T0 + 300_000, 1)),
            ],
            NOW,
        )
        .expect("process");
    assert_eq!(
        reasons(&first.dead_letters),
        vec![],
        "steps within max_clock_jump"
    );
    // watermark T0+270s: the first minute closed and the default lateness here is 0
    let late = message(
        topic,
        3,
        format!(
            "[{},{}]",
            traffic("s2", T0 + 280_000, 1),
            traffic("s2", T0 + 30_000, 1)
        ),
    );
    let out = p.process(&[late], NOW).expect("process");
    assert_eq!(out.late, 1);
    assert_eq!(
        reasons(&out.dead_letters),
        vec![(RejectReason::Late, 3, None)]
    );
    assert!(
        out.dead_letters[0].detail.contains("1m"),
        "{}",
        out.dead_letters[0].detail
    );
    // Issue #12: the letter names the one window that dropped the row; the 15-minute
    // window, not named, counted it (all five vehicles), the first minute only s1's.
    assert_eq!(
        out.dead_letters[0].late_windows,
        vec![format!("{}/1m", to_rfc3339_seconds(T0))]
    );
    let last = p.finish().expect("finish");
    let emitted: Vec<&ClosedWindows> = [&first, &out, &last]
        .iter()
        .flat_map(|o| &o.traffic)
        .collect();
    assert_eq!(vehicles(&emitted, 60, T0), 1);
    assert_eq!(vehicles(&emitted, 900, T0), 5);
    // every row here is a lane-1 report: its lane windows dropped and counted it alike
    let lanes: Vec<&ClosedWindows> = [&first, &out, &last]
        .iter()
        .flat_map(|o| &o.traffic_lanes)
        .collect();
    assert_eq!(vehicles(&lanes, 60, T0), 1);
    assert_eq!(vehicles(&lanes, 900, T0), 5);
}

/// Vehicles of every row emitted for the window of `window_s` starting at `start` (a batch
/// of one step may hold several windows of a family: each row has its own start).
fn vehicles(emitted: &[&ClosedWindows], window_s: u32, start: i64) -> u64 {
    emitted
        .iter()
        .filter(|c| c.window_s == window_s)
        .map(|c| {
            let vehicles = c.batch.column_by_name("vehicles").expect("vehicles");
            let starts = c
                .batch
                .column_by_name("window_start")
                .expect("window_start");
            let starts = starts.as_primitive::<TimestampMillisecondType>();
            vehicles
                .as_primitive::<UInt64Type>()
                .iter()
                .zip(starts.iter())
                .filter(|(_, s)| *s == Some(start))
                .filter_map(|(v, _)| v)
                .sum::<u64>()
        })
        .sum()
}

#[test]
fn one_sensors_clock_glitch_makes_no_other_row_late() {
    // A replay: three sensors report each minute of an hour long gone; s1's clock jumps
    // an hour ahead once. Without the screen the partition's watermark would jump with
    // it and every later row of s2 and s3 (and s1) would be late.
    let topic = "sensors.ulm.traffic";
    let now = T0 + 3 * 3_600_000;
    let run = |glitch: bool| {
        let mut p = pipeline(UnknownSensors::Reject, true, 1 << 20);
        let mut offset = 0;
        let mut windows = Vec::new();
        let mut letters = Vec::new();
        let (mut accepted, mut late) = (0, 0);
        for minute in 1..=30i64 {
            let ts = T0 + minute * 60_000;
            let mut batch = Vec::new();
            for sensor in ["s1", "s2", "s3"] {
                batch.push(message(topic, offset, traffic(sensor, ts, minute)));
                offset += 1;
                if glitch && minute == 10 && sensor == "s1" {
                    batch.push(message(topic, offset, traffic("s1", ts + 3_600_000, 9)));
                }
                // The glitch takes an offset in both runs, so the others keep theirs.
                offset += 1;
            }
            let out = p.process(&batch, now).expect("process");
            accepted += out.accepted;
            late += out.late;
            letters.extend(reasons(&out.dead_letters));
            windows.extend(observe(&out).3);
        }
        windows.extend(observe(&p.finish().expect("finish")).3);
        (accepted, late, letters, windows)
    };
    let clean = run(false);
    let glitched = run(true);
    assert_eq!(glitched.1, 0, "no row late");
    assert_eq!(
        glitched.2,
        vec![(RejectReason::ClockJump, 55, None)],
        "the glitch alone is refused"
    );
    assert_eq!(glitched.0, clean.0);
    assert_eq!(
        glitched.3, clean.3,
        "the same windows as without the glitch"
    );
    assert!(clean.3.len() >= 30);
}

/// Everything observable of a step, for comparing two runs.
/// Accepted, late, dead letters (reason, offset, index, detail), closed windows as text.
type Observed = (
    usize,
    u64,
    Vec<(RejectReason, i64, Option<usize>, String)>,
    Vec<String>,
);

fn observe(out: &StepOutput) -> Observed {
    let letters = out
        .dead_letters
        .iter()
        .map(|d| (d.reason, d.offset, d.index, d.detail.clone()))
        .collect();
    let windows = out
        .traffic
        .iter()
        .map(|c| format!("{} {} {:?}", c.window_s, c.window_start, c.batch))
        .collect();
    (out.accepted, out.late, letters, windows)
}

#[test]
fn parallel_pre_check_equals_the_serial_path() {
    // Enough messages for several threads, with every kind of message mixed in.
    let topic = "sensors.ulm.traffic";
    let mut batches = Vec::new();
    let mut offset = 0;
    for b in 0..4 {
        let mut batch = Vec::new();
        for i in 0..3000i64 {
            let ts = T0 + 60_000 * (b * 3 + i % 3 + 1);
            let payload = match i % 50 {
                0 => traffic("new-sensor", ts, 3),
                1 => format!("[{},{}]", traffic("s1", ts, 2), traffic("s2", ts, 99)),
                2 => r#"{"city":"ulm","sensor_id":"s1","ts":"#.to_owned(),
                3 => traffic("s3", ts - 400_000, 4),
                4 => traffic("s2", ts, 61),
                5 => traffic("s1", T0 + 2 * 3_600_000, 1),
                _ => traffic(["s1", "s2", "s3"][(i % 3) as usize], ts, i % 40),
            };
            batch.push(message(topic, offset, payload));
            offset += 1;
        }
        batches.push(batch);
    }
    for unknown in [UnknownSensors::Reject, UnknownSensors::Admit] {
        let mut parallel = pipeline(unknown, true, 1 << 20);
        let mut serial = pipeline(unknown, false, 1 << 20);
        for batch in &batches {
            let a = parallel.process(batch, NOW).expect("parallel");
            let b = serial.process(batch, NOW).expect("serial");
            assert_eq!(observe(&a), observe(&b), "{unknown:?}");
            assert!(a.accepted > 2500);
        }
        let a = parallel.finish().expect("finish");
        let b = serial.finish().expect("finish");
        assert_eq!(observe(&a), observe(&b));
        assert!(!a.traffic.is_empty());
    }
}

/// Batches from memory, as a source.
struct VecSource(std::vec::IntoIter<Vec<RawMessage>>);

impl stadtpuls_ingest::runner::Source for VecSource {
    async fn next_batch(&mut self) -> stadtpuls_ingest::Result<Option<Vec<RawMessage>>> {
        Ok(self.0.next())
    }

    fn commit(&mut self, _batch: &[RawMessage]) -> stadtpuls_ingest::Result<()> {
        Ok(())
    }
}

/// Runs `batches` through the runner and returns every step's observation.
fn run_all(batches: Vec<Vec<RawMessage>>, parallel: bool) -> Vec<Observed> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("runtime");
    let mut p = pipeline(UnknownSensors::Admit, parallel, 1 << 20);
    let mut source = VecSource(batches.into_iter());
    let mut sink = stadtpuls_ingest::demo::LogDeadLetters::default();
    let (_stop, stop_rx) = tokio::sync::watch::channel(false);
    let mut seen = Vec::new();
    runtime
        .block_on(stadtpuls_ingest::runner::run(
            &mut p,
            &mut source,
            &mut sink,
            &mut (),
            &stadtpuls_ingest::runner::Checkpointing::disabled(),
            stop_rx,
            |out| seen.push(observe(out)),
        ))
        .expect("run");
    seen
}

#[test]
fn runner_overlapping_batches_equals_the_serial_path() {
    // Large batches take the read-ahead path: each is applied while the next is checked,
    // except after a batch that admitted sensors (here the even ones), which the next
    // applies before checking ahead: both paths are taken.
    let topic = "sensors.ulm.traffic";
    let batches: Vec<Vec<RawMessage>> = (0..5i64)
        .map(|b| {
            (0..2500i64)
                .map(|i| {
                    let ts = T0 + 60_000 * (b * 2 + i % 2 + 1);
                    let payload = match i % 40 {
                        0 if b % 2 == 0 => traffic(&format!("new-{b}-{}", i % 7), ts, 3),
                        1 => r#"{"city":"ulm""#.to_owned(),
                        2 => traffic("s1", ts - 600_000, 2),
                        _ => traffic(["s1", "s2", "s3"][(i % 3) as usize], ts, i % 30),
                    };
                    message(topic, b * 2500 + i, payload)
                })
                .collect()
        })
        .collect();
    let overlapped = run_all(batches.clone(), true);
    let serial = run_all(batches, false);
    assert_eq!(overlapped.len(), serial.len());
    assert_eq!(overlapped, serial);
    assert!(
        overlapped.iter().any(|o| !o.3.is_empty()),
        "windows were emitted"
    );
    assert!(
        overlapped.iter().any(|o| !o.2.is_empty()),
        "dead letters were produced"
    );
}

#[test]
fn admitting_tells_whether_the_last_step_registered_sensors() {
    let topic = "sensors.ulm.traffic";
    let mut p = pipeline(UnknownSensors::Admit, true, 1 << 20);
    assert!(!p.admitting());
    let first = [message(topic, 0, traffic("new-1", T0 + 60_000, 4))];
    p.process(&first, NOW).expect("step");
    assert!(p.admitting(), "new-1 was admitted");
    let known = [
        message(topic, 1, traffic("new-1", T0 + 120_000, 4)),
        message(topic, 2, traffic("s1", T0 + 120_000, 4)),
    ];
    p.process(&known, NOW).expect("step");
    assert!(!p.admitting(), "only known sensors");
    p.tick(NOW).expect("tick");
    assert!(!p.admitting());

    let mut refusing = pipeline(UnknownSensors::Reject, true, 1 << 20);
    let out = refusing
        .process(&[message(topic, 0, traffic("new-2", T0 + 60_000, 4))], NOW)
        .expect("step");
    assert_eq!(out.dead_letters.len(), 1, "refused as unknown");
    assert!(!refusing.admitting());
}
