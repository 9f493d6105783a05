//! The whole pipeline step over fuzzed batches: valid, broken and arbitrary messages on
//! good, unknown-city, wrong-kind and unconventional topics, some oversized, with event
//! times spread over an hour so windows close and rows turn late. Nothing panics, every
//! observation ends accepted or dead-lettered (never silently lost), and the parallel
//! pre-check gives exactly the serial path's results. The simulated feed with its injected
//! faults goes through the same checks.
//!
//! Cases: `PROPTEST_CASES` (default 48 batch sequences), as in `src/decode/fuzz.rs`.

#[path = "../src/decode/fuzz/messages.rs"]
mod messages;

use std::collections::HashMap;
use std::sync::Arc;

use proptest::collection::vec;
use proptest::prelude::*;
use proptest::test_runner::{Config, FileFailurePersistence};
use stadtpuls_config::Config as StadtpulsConfig;
use stadtpuls_ingest::decode::parse_topic;
use stadtpuls_ingest::pipeline::{Limits, Pipeline, PipelineOptions, RawMessage, StepOutput};
use stadtpuls_ingest::simulate::SimulatedFeed;
use stadtpuls_processing::RejectReason;
use stadtpuls_processing::catalog::{Catalog, UnknownSensors};
use stadtpuls_processing::live::LiveState;
use stadtpuls_processing::window::parking::ParkingSpec;
use stadtpuls_processing::window::{TimestampSemantics, WindowSpec};

use messages::NOW;

/// Larger messages are refused as `oversized`.
const MAX_MESSAGE_BYTES: usize = 600;

fn cases(default: u32) -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Failing seeds go to `tests/fuzz_pipeline.proptest-regressions`.
fn config(default_cases: u32) -> Config {
    Config {
        cases: cases(default_cases),
        failure_persistence: Some(Box::new(FileFailurePersistence::WithSource(
            "proptest-regressions",
        ))),
        ..Config::default()
    }
}

fn pipeline(unknown: UnknownSensors, parallel_decode: bool) -> Pipeline {
    let mut catalog = Catalog::with_cities(&["ulm", "ka"], unknown);
    for id in ["s1", "s2", "s3"] {
        catalog.add_traffic(0, id, 2, 50.0);
    }
    catalog.add_facility(0, "p1", Some(100));
    let zone = catalog.add_facility(0, "p2", None);
    for id in ["sp1", "sp2"] {
        catalog.add_spot(0, id, zone);
    }
    let mut spec = WindowSpec::tumbling(
        &[60_000, 900_000],
        30_000,
        600_000,
        TimestampSemantics::IntervalEnd,
    );
    spec.allowed_lateness_ms = 120_000;
    let limits = Limits {
        max_message_bytes: MAX_MESSAGE_BYTES,
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

/// Topics a message may arrive on; the payload generator follows the topic's kind except
/// on the last two.
const TOPICS: [&str; 6] = [
    "sensors.ulm.traffic",
    "sensors.ulm.parking",
    "sensors.ka.traffic",
    "sensors.atlantis.traffic",
    "feed.raw",
    "sensors.ulm.parking",
];

fn message() -> impl Strategy<Value = (usize, Vec<u8>)> {
    let padded = messages::object(messages::traffic()).prop_map(|mut payload| {
        // Past `MAX_MESSAGE_BYTES`, whatever it holds.
        payload.extend(std::iter::repeat_n(b' ', MAX_MESSAGE_BYTES));
        payload
    });
    prop_oneof![
        6 => messages::traffic_payload().prop_map(|p| (0, p)),
        3 => messages::parking_payload().prop_map(|p| (1, p)),
        1 => messages::traffic_payload().prop_map(|p| (2, p)),
        1 => messages::traffic_payload().prop_map(|p| (3, p)),
        1 => prop_oneof![messages::traffic_payload(), messages::parking_payload()].prop_map(|p| (4, p)),
        1 => messages::traffic_payload().prop_map(|p| (5, p)),
        1 => padded.prop_map(|p| (0, p)),
    ]
}

/// Turns generated messages into one source batch per topic run, offsets counting up.
fn raw(batch: &[(usize, Vec<u8>)], offsets: &mut [i64; 6]) -> Vec<RawMessage> {
    batch
        .iter()
        .map(|(topic, payload)| {
            // the two `sensors.ulm.parking` entries are one topic-partition
            let source = if *topic == 5 { 1 } else { *topic };
            offsets[source] += 1;
            RawMessage {
                source: source as u32,
                topic: Arc::from(TOPICS[*topic]),
                partition: 0,
                offset: offsets[source],
                key: Some(b"k".to_vec().into()),
                payload: payload.clone().into(),
                format: None,
            }
        })
        .collect()
}

/// Accepted rows plus refusals each message must give: 1 when refused as a whole (too
/// large, or on the topic of an unconfigured city), else one per observation in it.
fn units(message: &RawMessage, cities: &[&str]) -> usize {
    let unknown_city = parse_topic(&message.topic).is_some_and(|r| !cities.contains(&r.city));
    if message.payload.len() > MAX_MESSAGE_BYTES || unknown_city {
        1
    } else {
        messages::observations_in(&message.payload)
    }
}

/// Checks that nothing of `batch` is lost in `out`; `cities` are the configured ones.
fn check_accounting(
    batch: &[RawMessage],
    out: &StepOutput,
    cities: &[&str],
) -> Result<(), TestCaseError> {
    let expected: usize = batch.iter().map(|m| units(m, cities)).sum();
    // Late and clock-jump rows are counted per row, dead-lettered per message.
    let refused = out
        .dead_letters
        .iter()
        .filter(|d| !matches!(d.reason, RejectReason::Late | RejectReason::ClockJump))
        .count()
        + out.clock_jumps as usize;
    prop_assert_eq!(
        out.accepted + refused,
        expected,
        "accepted {} + refused {}",
        out.accepted,
        refused
    );
    let mut per_message: HashMap<(&str, i64), usize> = HashMap::new();
    for letter in &out.dead_letters {
        let origin = batch
            .iter()
            .find(|m| m.topic == letter.topic && m.offset == letter.offset);
        prop_assert!(origin.is_some(), "dead letter of no message: {:?}", letter);
        let Some(origin) = origin else { unreachable!() };
        prop_assert!(!letter.detail.is_empty());
        if matches!(letter.reason, RejectReason::Late | RejectReason::ClockJump) {
            prop_assert_eq!(
                &letter.payload,
                &origin.payload,
                "a late or clock-jump letter keeps its message"
            );
            continue;
        }
        let count = per_message
            .entry((&letter.topic, letter.offset))
            .or_default();
        *count += 1;
        prop_assert!(
            *count <= units(origin, cities),
            "more refusals than observations: {:?}",
            origin
        );
        if letter.reason == RejectReason::Oversized {
            prop_assert!(letter.original_bytes.is_some() || letter.payload.len() <= 1024);
            prop_assert!(letter.payload.len() <= 1024);
        }
    }
    prop_assert!(
        out.late as usize
            >= out
                .dead_letters
                .iter()
                .filter(|d| d.reason == RejectReason::Late)
                .count()
    );
    Ok(())
}

/// Everything observable of a step, for comparing two runs.
fn observe(out: &StepOutput) -> (usize, u64, Vec<String>, Vec<String>) {
    let letters = out
        .dead_letters
        .iter()
        .map(|d| {
            format!(
                "{} {} {} {:?} {}",
                d.reason, d.topic, d.offset, d.index, d.detail
            )
        })
        .collect();
    let windows = out
        .traffic
        .iter()
        .chain(&out.traffic_lanes)
        .chain(&out.parking)
        .map(|c| {
            format!(
                "{} {} {} {:?}",
                c.window_s, c.window_start, c.revision, c.batch
            )
        })
        .collect();
    (out.accepted, out.late, letters, windows)
}

proptest! {
    #![proptest_config(config(48))]

    #[test]
    fn fuzzed_batches_are_accounted_for_and_parallel_equals_serial(
        batches in vec(vec(message(), 1..60), 1..5),
        admit in any::<bool>(),
    ) {
        let unknown = if admit { UnknownSensors::Admit } else { UnknownSensors::Reject };
        let mut parallel = pipeline(unknown, true);
        let mut serial = pipeline(unknown, false);
        let mut offsets = [0i64; 6];
        for (step, batch) in batches.iter().enumerate() {
            let batch = raw(batch, &mut offsets);
            // The clock moves a quarter of an hour per batch: windows close, rows turn late.
            let now = NOW + step as i64 * 900_000;
            let a = parallel.process(&batch, now).map_err(|e| TestCaseError::fail(e.to_string()))?;
            let b = serial.process(&batch, now).map_err(|e| TestCaseError::fail(e.to_string()))?;
            check_accounting(&batch, &a, &["ulm", "ka"])?;
            prop_assert_eq!(observe(&a), observe(&b));
        }
        let a = parallel.finish().map_err(|e| TestCaseError::fail(e.to_string()))?;
        let b = serial.finish().map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(observe(&a), observe(&b));
    }
}

proptest! {
    #![proptest_config(config(4))]

    /// The simulated feed with a third of its messages broken (truncated, speed 999,
    /// occupancy 140, negative counts, unknown city, an hour in the future) and some
    /// delivered out of order.
    #[test]
    fn the_faulty_simulated_feed_is_accounted_for(seed in any::<u64>()) {
        let config = StadtpulsConfig::demo(&HashMap::new()).map_err(|e| TestCaseError::fail(e.to_string()))?;
        let registries = config.load_registries().map_err(|e| TestCaseError::fail(e.to_string()))?;
        let registries = &registries[..2];
        let cities: Vec<&str> = registries.iter().map(|r| r.city.id.as_str()).collect();
        let options = |parallel_decode| PipelineOptions {
            parallel_decode,
            update_live: false,
            ..PipelineOptions::default()
        };
        let mut parallel = Pipeline::new(&config, registries, Arc::new(LiveState::new(0)), options(true));
        let mut serial = Pipeline::new(&config, registries, Arc::new(LiveState::new(0)), options(false));
        let start = NOW;
        let mut feed = SimulatedFeed::new(registries, seed, start, 60)
            .with_bad_ratio(0.3)
            .with_out_of_order_ratio(0.05);
        let mut sources: HashMap<String, u32> = HashMap::new();
        let mut offset = 0;
        let mut refused = 0;
        for minute in 1..=20 {
            let now = start + minute * 60_000;
            let batch: Vec<RawMessage> = feed
                .advance_to(now)
                .into_iter()
                .map(|m| {
                    let next = sources.len() as u32;
                    let source = *sources.entry(m.topic.clone()).or_insert(next);
                    offset += 1;
                    RawMessage {
                        source,
                        topic: Arc::from(m.topic.as_str()),
                        partition: 0,
                        offset,
                        key: Some(m.key.into_bytes().into()),
                        payload: m.payload.into(),
                        format: None,
                    }
                })
                .collect();
            let a = parallel.process(&batch, now).map_err(|e| TestCaseError::fail(e.to_string()))?;
            let b = serial.process(&batch, now).map_err(|e| TestCaseError::fail(e.to_string()))?;
            check_accounting(&batch, &a, &cities)?;
            prop_assert_eq!(observe(&a), observe(&b));
            refused += a.dead_letters.len();
        }
        prop_assert!(refused > 100, "the faults were injected and refused: {}", refused);
    }
}

/// The batch generator is worth its cases: over a fixed seed it makes windows close,
/// rows turn late, and the pipeline-level refusals (oversized, unknown topic city) happen.
#[test]
fn the_fuzzed_batches_reach_the_pipeline_refusals() {
    use proptest::strategy::ValueTree;
    let mut runner = proptest::test_runner::TestRunner::deterministic();
    let strategy = vec(vec(message(), 40..60), 4..5);
    let mut reasons: HashMap<RejectReason, usize> = HashMap::new();
    let (mut accepted, mut windows) = (0, 0);
    for _ in 0..8 {
        let Ok(tree) = strategy.new_tree(&mut runner) else {
            continue;
        };
        let mut p = pipeline(UnknownSensors::Reject, true);
        let mut offsets = [0i64; 6];
        for (step, batch) in tree.current().iter().enumerate() {
            let out = p
                .process(&raw(batch, &mut offsets), NOW + step as i64 * 900_000)
                .expect("process");
            accepted += out.accepted;
            windows += out.traffic.len() + out.parking.len();
            for letter in &out.dead_letters {
                *reasons.entry(letter.reason).or_default() += 1;
            }
        }
    }
    for reason in [
        RejectReason::Late,
        RejectReason::Oversized,
        RejectReason::UnknownCity,
        RejectReason::Malformed,
    ] {
        assert!(reasons.contains_key(&reason), "never {reason}: {reasons:?}");
    }
    assert!(accepted > 200, "{accepted} accepted");
    assert!(windows > 10, "{windows} windows closed");
}
