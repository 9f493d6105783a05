//! The output topics: closed windows produced to Kafka for downstream systems and partner
//! cities, committed per task and epoch (`docs/decisions/002-effectively-once.md`).
//!
//! Each closed (entity, window) becomes one record keyed
//! `city/entity/window_start/window[/lane]` whose value is one JSON object
//! (`docs/formats.md`, "Output topics"). Closed windows are staged per task in memory, as
//! Arrow rows merged as they come (`merge.rs`: a JSON record is three times the size of
//! its row), and encoded and produced only when the runner commits that task's epoch, one
//! staged batch at a time; the commit waits for every delivery report. A failed commit
//! keeps the rows staged and the runner retries it, so nothing staged is lost; records
//! acknowledged before the failure are produced again by the retry (or by the replay
//! after a crash) with the same key and value, so a compacted topic — or any consumer
//! keeping the latest value per key — sees each window once. No Kafka
//! transactions: Tansu's support for them is partial (decision 002, rejected alternatives).
//!
//! Topics: per-sensor traffic windows (with their MARZ state), per-lane traffic windows
//! and parking windows each have a topic of their own (`[output]` in the config): the
//! streams differ in shape and volume, and a consumer of per-sensor results should not
//! have to filter out lanes. Each may be split per city or per sharing audience
//! (`route.rs`), so that Kafka ACLs keep a city's data from readers it does not share
//! with; a task's epoch then spans several topics, and its commit still waits for every
//! delivery report of all of them.

mod encode;
mod route;

use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant};

use rdkafka::ClientConfig;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::producer::{DeliveryFuture, FutureProducer, FutureRecord, Producer};
use stadtpuls_config::{CityConfig, KafkaConfig, OutputConfig};
use stadtpuls_processing::window::{ClosedWindows, window_family_label};
use tracing::{Instrument, debug, info_span, warn};

use super::HealthContext;
use crate::health::BrokerHealth;
use crate::history::rows::input_schema;
use crate::merge::MergedBatches;
use crate::metrics;
use crate::sink::{Stream, Task, WindowSink};
use crate::{IngestError, Result};

pub use encode::{REVISION, WINDOW};
use encode::{Span, check, encode_rows};
use route::{Routes, TopicId};

/// The topic config that makes a topic keep only the latest record per key.
pub const COMPACT: (&str, &str) = ("cleanup.policy", "compact");

/// How long a commit waits when librdkafka's local queue is full before enqueuing again.
const QUEUE_FULL_BACKOFF: Duration = Duration::from_millis(5);

/// Defaults an operator may change through `[kafka.librdkafka]`.
const TUNABLE_DEFAULTS: [(&str, &str); 4] = [
    // zstd: the records are repetitive JSON; librdkafka is built with zstd.
    ("compression.type", "zstd"),
    ("linger.ms", "20"),
    // A delivery not acknowledged within 30 s fails the commit, which the runner retries,
    // instead of librdkafka retrying silently for its default of five minutes.
    ("message.timeout.ms", "30000"),
    // The Java client's default partitioner: the same key lands in the same partition
    // whichever client produced it, which compaction needs.
    ("partitioner", "murmur2_random"),
];

/// What the delivery guarantee rests on; set after the operator's settings.
const REQUIRED: [(&str, &str); 2] = [("enable.idempotence", "true"), ("acks", "all")];

/// Creates the output topics of `cities` that do not exist yet (every city's, when a
/// topic is split per city or audience), compacted where the broker supports it, with the
/// broker's default partition count and replication factor.
///
/// # Errors
/// When the broker cannot be reached or refuses to create a topic even without configs.
pub async fn ensure_output_topics(
    kafka: &KafkaConfig,
    output: &OutputConfig,
    cities: &[CityConfig],
) -> Result<()> {
    let topics = output.window_topics(cities);
    super::admin::ensure_topics_with(kafka, &topics, -1, -1, &[COMPACT]).await
}

/// Staged rows that encode alike: of one stream, window family and revision. Ordered by
/// revision first, so a window's re-emission is produced after its first emission within
/// a commit, as the compacted topics' latest-record-per-key needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
struct Group {
    revision: u32,
    stream: Stream,
    window_s: u32,
    slide_s: u32,
}

/// A task's staged closed windows, by group.
#[derive(Debug, Default)]
struct Staged {
    groups: BTreeMap<Group, MergedBatches>,
    rows: usize,
}

/// Produces closed windows to the output topics: a [`WindowSink`].
pub struct OutputTopics {
    producer: FutureProducer<HealthContext>,
    health: BrokerHealth,
    /// Kept to build a new producer after a fatal (idempotence) error.
    client: ClientConfig,
    topics: Routes,
    staged: HashMap<Task, Staged>,
    staged_rows: usize,
}

impl std::fmt::Debug for OutputTopics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OutputTopics")
            .field("topics", &self.topics)
            .field("tasks_staged", &self.staged.len())
            .field("staged_rows", &self.staged_rows)
            .finish_non_exhaustive()
    }
}

impl OutputTopics {
    /// Creates the idempotent producer (no I/O yet; see [`ensure_output_topics`]) with
    /// a broker health of its own.
    ///
    /// # Errors
    /// When librdkafka refuses the settings.
    pub fn new(kafka: &KafkaConfig, output: &OutputConfig, cities: &[CityConfig]) -> Result<Self> {
        Self::with_health(kafka, output, cities, BrokerHealth::default())
    }

    /// Creates the producer reporting broker outages to `health` (shared with the other
    /// Kafka clients of the run, so an outage is logged once and shown by `/readyz`).
    /// Topics split per city or audience are those of `cities`; a window of another city
    /// is refused when staged.
    ///
    /// # Errors
    /// When librdkafka refuses the settings.
    pub fn with_health(
        kafka: &KafkaConfig,
        output: &OutputConfig,
        cities: &[CityConfig],
        health: BrokerHealth,
    ) -> Result<Self> {
        let client = producer_config(kafka);
        let producer = create_producer(&client, &health)?;
        let topics = Routes::from_config(output, cities);
        for topic in topics.names() {
            // Registered at zero so dashboards see the series before the first window.
            metrics::OUTPUT_RECORDS.with_label_values(&[topic]);
            metrics::OUTPUT_FAILURES.with_label_values(&[topic]);
        }
        Ok(Self {
            producer,
            health,
            client,
            topics,
            staged: HashMap::new(),
            staged_rows: 0,
        })
    }

    /// The topic `stream`'s windows of `city` are produced to; `None` for a city
    /// without one (not among the cities the sink was made for, under a split topic).
    pub fn topic(&self, stream: Stream, city: &str) -> Option<&str> {
        self.topics
            .topic(stream, city)
            .map(|id| self.topics.name(id))
    }

    /// Rows staged for `task` (not yet committed).
    pub fn staged_rows_of(&self, task: &Task) -> usize {
        self.staged.get(task).map_or(0, |s| s.rows)
    }

    fn remove(&mut self, task: &Task) {
        if let Some(staged) = self.staged.remove(task) {
            self.staged_rows -= staged.rows;
        }
    }
}

fn producer_config(kafka: &KafkaConfig) -> ClientConfig {
    let mut client = ClientConfig::new();
    client.set("bootstrap.servers", &kafka.brokers);
    for (key, value) in TUNABLE_DEFAULTS {
        client.set(key, value);
    }
    super::settings::apply(kafka, super::Role::Producer, &mut client);
    for (key, value) in REQUIRED {
        client.set(key, value);
    }
    client
}

fn create_producer(
    client: &ClientConfig,
    health: &BrokerHealth,
) -> Result<FutureProducer<HealthContext>> {
    client
        .create_with_context(HealthContext {
            client: "output producer",
            health: health.clone(),
        })
        .map_err(|e| IngestError::kafka("create output producer", e))
}

/// Per-stream totals of one commit.
#[derive(Debug, Default, Clone, Copy)]
struct Tally {
    records: u64,
    acknowledged: u64,
}

/// What producing a task's records came to.
struct Produced {
    /// By topic id.
    tallies: Vec<Tally>,
    first_error: Option<KafkaError>,
}

impl Produced {
    fn not_acknowledged(&self) -> u64 {
        self.tallies
            .iter()
            .map(|t| t.records - t.acknowledged)
            .sum()
    }
}

/// Encodes and enqueues every staged record, one staged batch at a time (librdkafka copies
/// each record, so only one batch's JSON is held here), then awaits every delivery report.
async fn produce(
    producer: &FutureProducer<HealthContext>,
    topics: &Routes,
    staged: &Staged,
) -> Produced {
    let mut produced = Produced {
        tallies: vec![Tally::default(); topics.names().len()],
        first_error: None,
    };
    // Counted before anything is sent, so records never enqueued count as failed.
    let mut rows: Vec<TopicId> = Vec::new();
    for (group, batches) in &staged.groups {
        if let Some(topic) = topics.shared(group.stream) {
            produced.tallies[topic].records += batches.rows() as u64;
            continue;
        }
        for batch in batches.batches() {
            rows.clear();
            if topics.rows(group.stream, batch, &mut rows).is_err() {
                // Checked when staged: only a bug gets here; the enqueue loop reports it.
                continue;
            }
            for &topic in &rows {
                produced.tallies[topic].records += 1;
            }
        }
    }
    let mut pending: Vec<(TopicId, DeliveryFuture)> = Vec::with_capacity(staged.rows);
    let mut buf = Vec::new();
    let mut spans: Vec<Span> = Vec::new();
    'enqueue: for (group, batches) in &staged.groups {
        let label = window_family_label(group.window_s, group.slide_s);
        for batch in batches.batches() {
            buf.clear();
            spans.clear();
            rows.clear();
            let routed = topics.rows(group.stream, batch, &mut rows);
            if let Err(error) = routed.and_then(|()| {
                encode_rows(
                    group.stream,
                    &label,
                    group.revision,
                    batch,
                    &mut buf,
                    &mut spans,
                )
            }) {
                // Checked when staged: only a bug gets here.
                warn!(%error, "output records cannot be encoded");
                produced.first_error = Some(KafkaError::MessageProduction(
                    RDKafkaErrorCode::InvalidRecord,
                ));
                break 'enqueue;
            }
            // One span per row, in row order.
            for (span, &topic) in spans.iter().zip(&rows) {
                let mut record = FutureRecord::to(topics.name(topic))
                    .key(&buf[span.key.clone()])
                    .payload(&buf[span.value.clone()]);
                loop {
                    match producer.send_result(record) {
                        Ok(delivery) => {
                            pending.push((topic, delivery));
                            break;
                        }
                        Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), back)) => {
                            // librdkafka's thread drains the queue meanwhile.
                            record = back;
                            tokio::time::sleep(QUEUE_FULL_BACKOFF).await;
                        }
                        Err((error, _)) => {
                            produced.first_error = Some(error);
                            break 'enqueue;
                        }
                    }
                }
            }
        }
    }
    for (topic, delivery) in pending {
        match delivery.await {
            Ok(Ok(_)) => produced.tallies[topic].acknowledged += 1,
            Ok(Err((error, _))) => {
                produced.first_error.get_or_insert(error);
            }
            Err(_canceled) => {
                produced.first_error.get_or_insert(KafkaError::Canceled);
            }
        }
    }
    produced
}

impl WindowSink for OutputTopics {
    fn name(&self) -> &'static str {
        "output_topics"
    }

    fn stage(&mut self, task: &Task, stream: Stream, closed: &ClosedWindows) -> Result<()> {
        // All rows of the batch or none.
        check(stream, &closed.batch)?;
        self.topics.check(stream, &closed.batch)?;
        let rows = closed.batch.num_rows();
        let group = Group {
            revision: closed.revision,
            stream,
            window_s: closed.window_s,
            slide_s: closed.slide_s,
        };
        let staged = self.staged.entry(task.clone()).or_default();
        staged
            .groups
            .entry(group)
            .or_insert_with(|| MergedBatches::new(input_schema(stream)))
            .push(closed.batch.clone())?;
        staged.rows += rows;
        self.staged_rows += rows;
        Ok(())
    }

    fn staged_rows(&self) -> usize {
        self.staged_rows
    }

    fn staged_bytes(&self) -> usize {
        self.staged
            .values()
            .flat_map(|s| s.groups.values())
            .map(MergedBatches::bytes)
            .sum()
    }

    async fn commit(&mut self, task: &Task, epoch: u64) -> Result<()> {
        let Some(staged) = self.staged.get(task) else {
            return Ok(());
        };
        let records = staged.rows;
        if records == 0 {
            self.remove(task);
            return Ok(());
        }
        let started = Instant::now();
        // Acknowledgements of records sent during an outage prove the broker is back;
        // those of records sent before it do not (they may be served after it began).
        let down_at_start = self.health.is_down();
        let span = info_span!("output_commit", task = %task, epoch, records);
        let produced = produce(&self.producer, &self.topics, staged)
            .instrument(span.clone())
            .await;
        metrics::OUTPUT_COMMIT_DURATION.observe(started.elapsed().as_secs_f64());
        for (id, tally) in produced.tallies.iter().enumerate() {
            let topic = self.topics.name(id);
            metrics::OUTPUT_RECORDS
                .with_label_values(&[topic])
                .inc_by(tally.acknowledged);
            metrics::OUTPUT_FAILURES
                .with_label_values(&[topic])
                .inc_by(tally.records - tally.acknowledged);
        }
        let _entered = span.enter();
        let failed = produced.not_acknowledged();
        if failed == 0 {
            if down_at_start {
                self.health.up();
            }
            debug!(
                elapsed_ms = started.elapsed().as_millis() as u64,
                "output committed"
            );
            self.remove(task);
            return Ok(());
        }
        let error = produced.first_error.unwrap_or(KafkaError::Canceled);
        warn!(failed, %error, "output commit failed, records stay staged for the retry");
        if let Some((code, reason)) = self.producer.client().fatal_error() {
            // An idempotent producer is unusable after a fatal error.
            warn!(error = %code, reason, "output producer failed fatally, creating a new one");
        }
        // The retry starts a new producer (a new producer id, sequences from 0), not only
        // after a fatal error: deliveries that timed out leave sequence numbers the broker
        // may never have seen, and the next batch then arrives with a gap. Kafka answers
        // that with an error librdkafka recovers from by an epoch bump the broker must
        // support; Tansu 0.6 (SQLite storage) panicked on it and stopped serving produce
        // requests (tests/e2e_broker_outage.rs). Duplicates this may cause carry the same
        // key and value.
        self.producer = create_producer(&self.client, &self.health)?;
        Err(IngestError::kafka(
            format!(
                "output of task `{task}` epoch {epoch}: {failed} of {records} records not acknowledged"
            ),
            error,
        ))
    }

    fn recover(&mut self, task: &Task, _committed_epoch: u64) -> Result<()> {
        // Records produced for a checkpoint that never completed cannot be taken back from
        // Kafka; the replay produces the same windows again under the same keys.
        self.remove(task);
        Ok(())
    }

    fn discard(&mut self, task: &Task) {
        self.remove(task);
    }
}
