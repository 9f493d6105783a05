//! A slow sink behind the real Kafka source: the runner reads 200 000 events from a real
//! broker while every commit of the window sinks (the real Parquet history behind a one
//! second delay) holds it up.
//!
//! Promised (`docs/guarantees.md`): memory stays bounded — the sinks never hold more than
//! `checkpoint.max_staged_rows` plus one batch's closed windows, and backpressure reaches
//! the consumer: while a commit is slow the runner does not read, librdkafka's prefetch
//! queue stays at its configured bound (`queued.min.messages`,
//! `queued.max.messages.kbytes`) and the rest of the backlog stays in the broker — and
//! nothing is lost: the history equals that of a run with a fast sink.

mod common;

#[path = "../../tests/support/broker.rs"]
mod broker;
mod slow_sink_support;

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use rdkafka::ClientConfig;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::producer::{BaseRecord, Producer, ThreadedProducer};
use stadtpuls_config::{HistoryConfig, KafkaConfig};
use stadtpuls_ingest::checkpoint::CheckpointStore;
use stadtpuls_ingest::demo::LogDeadLetters;
use stadtpuls_ingest::history::HistorySink;
use stadtpuls_ingest::kafka::{KafkaSource, ensure_topics};
use stadtpuls_ingest::pipeline::{Limits, Pipeline, PipelineOptions, StepOutput};
use stadtpuls_ingest::runner::{self, Checkpointing, Readiness};
use stadtpuls_ingest::sink::WindowSink;
use stadtpuls_processing::catalog::{Catalog, UnknownSensors};
use stadtpuls_processing::live::LiveState;
use stadtpuls_processing::window::parking::ParkingSpec;
use stadtpuls_processing::window::{TimestampSemantics, WindowShape, WindowSpec};
use tokio::sync::watch;

use common::{MIN, T0};
use slow_sink_support::{Counted, Ends, Probe, SlowSink, history_rows, rss_kib};

/// Events produced: 22 MiB of JSON, far more than librdkafka's queue bound below.
const EVENTS: i64 = 200_000;
/// One partition: the watermark follows it evenly, so windows close (and the sink is
/// committed) all through the run. (Tried with three: the partitions were not read
/// evenly, and as the watermark is the minimum over partitions the first windows closed
/// only after 135 000 of 300 000 events, too late for a mid-run look.)
const PARTITIONS: i32 = 1;
const SENSORS: u64 = 60;
/// Five hours of event time: 300 one-minute windows × 60 sensors × (1 + 2 lanes).
const SPAN_MS: i64 = 5 * 60 * MIN;

/// The prefetch bound the consumer is given (`[kafka.librdkafka]`); librdkafka's
/// defaults (100 000 messages, 64 MiB) would hold half the input.
const QUEUED_MIN_MESSAGES: i64 = 1000;
const QUEUED_MAX_KBYTES: i64 = 256;
/// Shortest payload produced (bytes), for the bound in messages.
const MIN_PAYLOAD: i64 = 100;
/// What librdkafka may hold fetched but not handed on, in messages of the shortest
/// payload: it stops fetching once its queue holds `queued.min.messages` or
/// `queued.max.messages.kbytes`, overshot by the one fetch response in flight, at most
/// `fetch.max.bytes`, which librdkafka clamps to max(`queued.max.messages.kbytes`,
/// `message.max.bytes`), plus one record batch.
const PREFETCH_BOUND: i64 = max(QUEUED_MIN_MESSAGES, QUEUED_MAX_KBYTES * 1024 / MIN_PAYLOAD)
    + (max(QUEUED_MAX_KBYTES * 1024, MESSAGE_MAX_BYTES) + RECORD_BATCH_BYTES) / MIN_PAYLOAD;
/// librdkafka's producer `batch.size` (default): a broker answers a fetch with whole
/// record batches, so a response may exceed its limit by one.
const RECORD_BATCH_BYTES: i64 = 1_000_000;
/// librdkafka's `message.max.bytes` (default): a fetch response may be this large even
/// when `queued.max.messages.kbytes` is smaller (librdkafka clamps `fetch.max.bytes` to
/// the larger of the two).
const MESSAGE_MAX_BYTES: i64 = 1_000_000;

const fn max(a: i64, b: i64) -> i64 {
    if a > b { a } else { b }
}

/// The slow run checkpoints early above this many staged rows (the interval is an hour).
const MAX_STAGED_ROWS: usize = 3000;
/// Every commit of one task's epoch takes this long in the slow run: the reader pauses
/// for a second each time, long enough for librdkafka to fill its queue to the bound.
const SLOW_COMMIT: Duration = Duration::from_secs(1);
/// How much the resident set may grow from the start of the slow run: a coarse check
/// that nothing holds the input. Measured here: about 22 MiB of fixed costs (consumer and
/// pipeline threads, open windows, Parquet writers) with the bounded queue, about 70 MiB
/// with librdkafka's default queue bounds; the input is 22 MiB of payload.
const MAX_RSS_GROWTH: u64 = 48 << 20;
/// Set (to anything) to run the consumer with librdkafka's default queue bounds
/// (100 000 messages, 64 MiB): the backpressure assertions then fail, as they should.
const LIBRDKAFKA_DEFAULTS: &str = "STADTPULS_TEST_LIBRDKAFKA_QUEUE_DEFAULTS";
/// A run that has not read every event by then failed (lost or stuck).
const RUN_TIMEOUT: Duration = Duration::from_secs(300);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_sink_bounds_memory_pauses_the_consumer_and_loses_nothing() {
    let _broker = broker::ensure_broker();
    let brokers = broker::brokers();
    let run = run_id();
    let topic = format!("slow-sink-{run}");
    let (produced, input_bytes) = produce(&brokers, &topic).await;
    let total: u64 = produced.values().map(|&end| end as u64).sum();
    assert_eq!(total, EVENTS as u64, "every event delivered: {produced:?}");

    let dir = tempfile::tempdir().expect("tempdir");
    // The slow run first, so the heap the fast run grows does not hide the slow run's.
    let slow = run_once(
        &brokers,
        &topic,
        &format!("slow-{run}"),
        dir.path(),
        total,
        Some(MAX_STAGED_ROWS),
    )
    .await;
    let fast = run_once(
        &brokers,
        &topic,
        &format!("fast-{run}"),
        dir.path(),
        total,
        None,
    )
    .await;
    let probe = slow.probe;
    eprintln!(
        "fast run: {:.1} s, {} commits; slow run: {:.1} s, {} commits, most staged {} \
         (before a batch {}), most prefetched {}, most lag {}, rss {} -> {} MiB",
        fast.elapsed.as_secs_f64(),
        fast.probe.commits,
        slow.elapsed.as_secs_f64(),
        probe.commits,
        probe.max_staged,
        probe.max_staged_before_batch,
        probe.max_prefetched,
        probe.max_lag,
        probe.rss_start_kib / 1024,
        probe.rss_max_kib / 1024,
    );
    eprintln!(
        "(read, prefetched) at the slow commits: {:?}",
        probe.samples
    );

    // (1) Bounded staging: before each batch's closed windows are staged, the sinks hold
    // at most `max_staged_rows` (else a checkpoint would have emptied them).
    assert!(
        probe.max_staged_before_batch <= MAX_STAGED_ROWS,
        "staged rows before a batch reached {} > max_staged_rows {MAX_STAGED_ROWS}",
        probe.max_staged_before_batch
    );
    assert!(
        probe.commits >= 10,
        "early checkpoints on max_staged_rows: only {} commits",
        probe.commits
    );

    // (2) Backpressure: at the first commit after a third of the input was read, librdkafka
    // held no more than its bound and the rest of the backlog was still in the broker; no
    // commit let the runner read, and the prefetch gauge was live but never above the bound.
    let mid = probe
        .mid
        .unwrap_or_else(|| panic!("no commit in the middle of the run: {probe:?}"));
    let in_broker = total as i64 - mid.read as i64 - mid.prefetched;
    assert!(
        in_broker > 3 * PREFETCH_BOUND,
        "mid-run the consumer had fetched almost everything: read {}, prefetched {}, \
         in the broker {in_broker} of {total}",
        mid.read,
        mid.prefetched
    );
    assert_eq!(
        probe.read_while_committing, 0,
        "the runner read messages while a sink commit was pending"
    );
    // The statistics behind the gauges are live (the prefetch gauge may read 0 at every
    // commit: the statistics served last before one were taken while the runner read,
    // and on a loaded broker the consumer drains its queue faster than it fills).
    assert!(
        probe.max_prefetched > 0 || probe.max_lag > 0,
        "neither stadtpuls_consumer_prefetched_messages nor stadtpuls_consumer_lag_messages rose above 0: the probe saw nothing"
    );
    assert!(
        probe.max_prefetched <= PREFETCH_BOUND,
        "librdkafka prefetched {} messages while the sink was slow, more than its bound {PREFETCH_BOUND}",
        probe.max_prefetched
    );

    // ... and the process did not grow by anything like the input it read.
    let growth = probe.rss_max_kib.saturating_sub(probe.rss_start_kib) * 1024;
    assert!(
        growth < MAX_RSS_GROWTH,
        "resident memory grew by {} MiB during the slow run (input {} MiB, bound {} MiB)",
        growth >> 20,
        input_bytes >> 20,
        MAX_RSS_GROWTH >> 20
    );

    // (3) Nothing lost, nothing doubled: the same rows reached the sink, and the same
    // Parquet history was written, as with a fast sink.
    assert_eq!(fast.read, total, "the fast run read every event once");
    assert_eq!(slow.read, total, "the slow run read every event once");
    assert!(fast.committed > 0, "the fast run closed windows");
    assert_eq!(
        fast.committed, slow.committed,
        "rows committed by the fast and the slow run"
    );
    let (fast_history, slow_history) = (history_rows(&fast.history), history_rows(&slow.history));
    assert_eq!(
        fast_history.len(),
        fast.committed,
        "rows in the fast run's history"
    );
    assert_eq!(
        slow_history.len(),
        slow.committed,
        "rows in the slow run's history"
    );
    assert!(
        fast_history == slow_history,
        "the slow run's Parquet history differs from the fast run's"
    );
}

/// What one run left behind.
struct Outcome {
    /// Messages the runner read.
    read: u64,
    /// Rows committed.
    committed: usize,
    history: PathBuf,
    probe: Probe,
    elapsed: Duration,
}

/// One run of the runner over the whole topic with its own group, checkpoint and history
/// directories; `slow` = Some(max_staged_rows) makes every commit slow and checkpoints
/// early, `None` commits fast and only at the end.
async fn run_once(
    brokers: &str,
    topic: &str,
    label: &str,
    dir: &Path,
    total: u64,
    slow: Option<usize>,
) -> Outcome {
    let rss_start_kib = rss_kib();
    let state = dir.join(label).join("state");
    let history = dir.join(label).join("history");
    let kafka = KafkaConfig {
        brokers: brokers.to_owned(),
        group_id: format!("stadtpuls-{label}"),
        topic_pattern: topic.to_owned(),
        batch_max_messages: 5000,
        batch_max_wait: Duration::from_millis(50),
        librdkafka: [
            ("queued.min.messages", QUEUED_MIN_MESSAGES),
            ("queued.max.messages.kbytes", QUEUED_MAX_KBYTES),
            ("statistics.interval.ms", 100),
        ]
        .into_iter()
        // The fast run keeps librdkafka's default queue bounds (on Tansu the small queue
        // costs a fetch round trip per 256 KiB: ten times slower); so does the slow run
        // when asked to, to see the test fail: the default bounds hold half the input.
        .filter(|(k, _)| {
            *k == "statistics.interval.ms"
                || (slow.is_some() && std::env::var_os(LIBRDKAFKA_DEFAULTS).is_none())
        })
        .map(|(k, v)| (k.to_owned(), v.to_string()))
        .collect(),
        ..KafkaConfig::default()
    };
    let store = CheckpointStore::new(&state);
    let read = Arc::new(AtomicU64::new(0));
    let mut source = Counted {
        inner: KafkaSource::new(&kafka, Readiness::default(), Some(store.clone()))
            .expect("kafka source"),
        total,
        read: read.clone(),
        deadline: Instant::now() + RUN_TIMEOUT,
    };
    let staged = Arc::new(AtomicUsize::new(0));
    let probe = Arc::new(Mutex::new(Probe {
        rss_start_kib,
        ..Probe::default()
    }));
    let mut sink = SlowSink {
        inner: HistorySink::new(&HistoryConfig {
            dir: history.clone(),
            ..HistoryConfig::default()
        }),
        staged: HashMap::new(),
        committed: 0,
        delay: slow.map_or(Duration::ZERO, |_| SLOW_COMMIT),
        staged_rows: staged.clone(),
        read: read.clone(),
        total,
        topic: topic.to_owned(),
        probe: probe.clone(),
    };
    let checkpointing = Checkpointing {
        store: Some(store),
        interval: Duration::from_secs(3600),
        max_staged_rows: slow.unwrap_or(usize::MAX / 2),
    };
    let mut pipeline = pipeline();
    let (_stop, stop_rx) = watch::channel(false);
    let started = Instant::now();
    let on_probe = probe.clone();
    let summary = runner::run(
        &mut pipeline,
        &mut source,
        &mut LogDeadLetters::default(),
        &mut sink,
        &checkpointing,
        stop_rx,
        |out: &StepOutput| {
            // Called right after the runner staged this step's closed windows: what was
            // staged before them is what the bound applies to.
            let closed = rows(out);
            let now = staged.load(Ordering::Acquire);
            let mut p = on_probe.lock().unwrap_or_else(PoisonError::into_inner);
            p.max_staged = p.max_staged.max(now);
            p.max_staged_before_batch = p.max_staged_before_batch.max(now.saturating_sub(closed));
        },
    )
    .await
    .unwrap_or_else(|e| panic!("{label} run failed: {e}"));
    let elapsed = started.elapsed();
    assert_eq!(summary.rejected, 0, "{label}: no event rejected");
    assert_eq!(summary.late, 0, "{label}: no event late");
    assert_eq!(
        sink.staged_rows(),
        0,
        "{label}: everything committed at the end"
    );
    let committed = sink.committed;
    let probe = probe.lock().unwrap_or_else(PoisonError::into_inner).clone();
    Outcome {
        read: read.load(Ordering::Acquire),
        committed,
        history,
        probe,
        elapsed,
    }
}

fn rows(out: &StepOutput) -> usize {
    [&out.traffic, &out.traffic_lanes, &out.parking]
        .into_iter()
        .flatten()
        .map(|w| w.batch.num_rows())
        .sum()
}

/// One city of [`SENSORS`] two-lane sensors; 1 min and 15 min windows.
fn pipeline() -> Pipeline {
    let mut catalog = Catalog::with_cities(&["ulm"], UnknownSensors::Reject);
    for s in 0..SENSORS {
        catalog.add_traffic(0, &format!("v{s}"), 2, 50.0);
    }
    let spec = WindowSpec {
        shapes: vec![WindowShape::tumbling(MIN), WindowShape::tumbling(15 * MIN)],
        out_of_orderness_ms: 30_000,
        idle_timeout_ms: 3_600_000,
        allowed_lateness_ms: 2 * MIN,
        timestamps: TimestampSemantics::IntervalEnd,
    };
    Pipeline::from_parts(
        catalog,
        &spec,
        &ParkingSpec::default(),
        Limits {
            max_message_bytes: 4096,
            max_future_ms: 300_000,
            max_clock_jump_ms: 150_000,
        },
        Arc::new(LiveState::new(3_600_000)),
        PipelineOptions::default(),
    )
}

/// Produces [`EVENTS`] traffic events in event-time order (each up to 20 s early, within
/// the 30 s out-of-orderness, so no run sees a late event and both close the same
/// windows), keyed by sensor; returns the next offset of every partition.
async fn produce(brokers: &str, topic: &str) -> (BTreeMap<i32, i64>, u64) {
    let kafka = KafkaConfig {
        brokers: brokers.to_owned(),
        ..KafkaConfig::default()
    };
    ensure_topics(&kafka, &[topic.to_owned()], PARTITIONS)
        .await
        .expect("create the input topic");
    let ends = Arc::new(Mutex::new(BTreeMap::new()));
    let producer: ThreadedProducer<Ends> = ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .set("linger.ms", "5")
        .set("acks", "all")
        // a small local queue: the producer's buffers do not pad the memory measured later
        .set("queue.buffering.max.kbytes", "4096")
        .create_with_context(Ends(ends.clone()))
        .expect("producer");
    let mut rng = common::Rng(0x5105_51DE);
    let started = Instant::now();
    let mut bytes = 0;
    for i in 0..EVENTS {
        let sensor = format!("v{}", rng.below(SENSORS));
        let ts = T0 + i * SPAN_MS / EVENTS - rng.below(20_000) as i64;
        let payload = format!(
            r#"{{"city":"ulm","sensor_id":"{sensor}","lane":{},"ts":{},"interval_s":60,"vehicle_count":{},"avg_speed_kmh":{}.{}}}"#,
            rng.below(2),
            ts.max(T0),
            rng.below(15),
            20 + rng.below(40),
            rng.below(10),
        );
        assert!(payload.len() as i64 >= MIN_PAYLOAD, "payload {payload}");
        bytes += (payload.len() + sensor.len()) as u64;
        let mut record = BaseRecord::to(topic).key(&sensor).payload(&payload);
        loop {
            match producer.send(record) {
                Ok(()) => break,
                Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), back)) => {
                    record = back;
                    tokio::time::sleep(Duration::from_millis(2)).await;
                }
                Err((e, _)) => panic!("produce: {e}"),
            }
        }
    }
    producer
        .flush(Duration::from_secs(120))
        .expect("flush the producer");
    eprintln!(
        "produced {EVENTS} events ({} MiB) in {:.1} s",
        bytes >> 20,
        started.elapsed().as_secs_f64()
    );
    let ends = ends.lock().unwrap_or_else(PoisonError::into_inner).clone();
    (ends, bytes)
}

fn run_id() -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or_default();
    format!("{}-{}", std::process::id(), nanos % 1_000_000)
}
