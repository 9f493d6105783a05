//! The Kafka source: a consumer-group member subscribed by topic pattern, reading batches.

mod stats;

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use bytes::BytesMut;
use rdkafka::bindings::rd_kafka_resp_err_t as RDKafkaRespErr;
use rdkafka::config::RDKafkaLogLevel;
use rdkafka::consumer::{
    BaseConsumer, Consumer, ConsumerContext, RebalanceProtocol, StreamConsumer,
};
use rdkafka::error::KafkaError;
use rdkafka::statistics::Statistics;
use rdkafka::types::RDKafkaErrorCode;
use rdkafka::{ClientContext, Offset, TopicPartitionList};
use stadtpuls_config::{InstanceId, KafkaConfig};
use stadtpuls_processing::window::watermark::SourceId;
use tokio::time::Instant;
use tracing::{debug, info, warn};

use crate::checkpoint::{Checkpoint, CheckpointStore};
use crate::health::Readiness;
use crate::message::RawMessage;
use crate::runner::{Assignment, Source};
use crate::sink::Task;
use crate::{IngestError, Result, metrics};

mod close;
mod feeds;
mod raw;

use raw::{SourceIds, to_raw};

/// How long to wait for a first message before returning an empty batch, so the pipeline
/// can advance watermarks of idle sources.
const IDLE_POLL: Duration = Duration::from_secs(1);

/// A batch closes early once no further message arrives within this gap: under load the
/// read-ahead queue holds the next message already (batches fill to `batch_max_messages`),
/// while a trickle — a car park's count every few seconds — is processed at once instead
/// of waiting out `batch_max_wait`, which would be a floor under every live latency.
const BATCH_GAP: Duration = Duration::from_millis(5);

/// librdkafka's `fetch.wait.max.ms` unless `[kafka.librdkafka]` sets it: how long the
/// broker may hold a fetch with no new data. Apache Kafka and Redpanda answer as soon as
/// data arrives, so this only bounds idle polling there; a broker that does not wake a
/// waiting fetch (Tansu 0.6) delivers a trickle this late — librdkafka's default of 500 ms
/// was a 500 ms floor under a parking update's way to the push stream.
pub(super) const FETCH_WAIT_MAX_MS: &str = "100";

/// How long a seek back to a checkpoint may take.
const SEEK_TIMEOUT: Duration = Duration::from_secs(10);

/// Names the consumer in logs.
const CLIENT: &str = "consumer";

/// A partition assigned in a rebalance, with the checkpoint it was positioned at.
type Assigned = (String, i32, std::result::Result<Option<Checkpoint>, String>);

/// Consumer callbacks: checkpoint positions and readiness on assignment, revoked
/// partitions, lag from statistics.
struct SourceContext {
    ready: Readiness,
    /// Where task checkpoints are; `None`: start at the group's committed offsets.
    store: Option<CheckpointStore>,
    assigned: Mutex<Vec<Assigned>>,
    /// Partitions revoked by the group but not yet given up: the runner checkpoints their
    /// tasks first, then [`Source::release`] unassigns them.
    revoked: Mutex<Vec<(String, i32)>>,
    /// Set by every rebalance, so a batch never holds messages from both sides of one.
    rebalanced: AtomicBool,
    /// Set by every rebalance, read by [`Source::rebalanced`].
    repositioned: AtomicBool,
    /// Set when the consumer closes: the runner has checkpointed every task (or failed and
    /// will not), so a revoke is answered at once instead of waiting for the runner.
    closing: AtomicBool,
    /// A revoke was delegated to the runner (even one of no partitions: the eager protocol
    /// still waits for the unassign).
    unassign_due: AtomicBool,
}

impl SourceContext {
    /// Loads each partition's newest valid checkpoint and sets the partition's start offset
    /// to it, so the consumer reads from the snapshot's position, never from the group's
    /// committed offset (which only serves lag monitoring).
    fn position(&self, tpl: &mut TopicPartitionList) -> Vec<Assigned> {
        let partitions: Vec<(String, i32)> = tpl
            .elements()
            .iter()
            .map(|e| (e.topic().to_owned(), e.partition()))
            .collect();
        let mut assigned = Vec::with_capacity(partitions.len());
        for (topic, partition) in partitions {
            let loaded = match &self.store {
                None => Ok(None),
                Some(store) => {
                    let task = Task {
                        topic: Arc::from(topic.as_str()),
                        partition,
                    };
                    store.load(&task).map_err(|e| e.to_string())
                }
            };
            if let Ok(Some(checkpoint)) = &loaded
                && let Err(error) =
                    tpl.set_partition_offset(&topic, partition, Offset::Offset(checkpoint.offset))
            {
                warn!(%error, topic, partition, "cannot position the partition at its checkpoint");
            }
            assigned.push((topic, partition, loaded));
        }
        assigned
    }
}

impl ClientContext for SourceContext {
    fn log(&self, level: RDKafkaLogLevel, fac: &str, log_message: &str) {
        self.ready
            .broker()
            .client_log(CLIENT, level, fac, log_message);
    }

    fn error(&self, error: KafkaError, reason: &str) {
        // Logged only: served when the runner polls, possibly after the outage ended.
        self.ready.broker().log_error(CLIENT, &error, reason);
    }

    fn stats(&self, statistics: Statistics) {
        self.ready.broker().consumer_stats(&statistics);
        for (topic, stats) in &statistics.topics {
            let lag: i64 = stats
                .partitions
                .values()
                .filter(|p| p.partition >= 0 && p.consumer_lag >= 0)
                .map(|p| p.consumer_lag)
                .sum();
            metrics::CONSUMER_LAG.with_label_values(&[topic]).set(lag);
            metrics::CONSUMER_PREFETCHED
                .with_label_values(&[topic])
                .set(stats::prefetched(stats.partitions.values()));
        }
        metrics::CONSUMER_PREFETCHED_BYTES.set(stats::queued_bytes(&statistics));
    }
}

impl ConsumerContext for SourceContext {
    /// librdkafka's rebalance with the assigned partitions positioned at their checkpoints
    /// before they are assigned, so no message before a snapshot's offset is fetched.
    fn rebalance(
        &self,
        consumer: &BaseConsumer<Self>,
        err: RDKafkaRespErr,
        tpl: &mut TopicPartitionList,
    ) {
        self.rebalanced.store(true, Ordering::Release);
        self.repositioned.store(true, Ordering::Release);
        let cooperative = matches!(
            consumer.rebalance_protocol(),
            RebalanceProtocol::Cooperative
        );
        match err {
            RDKafkaRespErr::RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS => {
                let positioned = self.position(tpl);
                let result = if cooperative {
                    consumer.incremental_assign(tpl)
                } else {
                    consumer.assign(tpl)
                };
                if let Err(error) = result {
                    warn!(%error, "assigning partitions failed");
                }
                info!(partitions = tpl.count(), "partitions assigned");
                self.assigned
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .extend(positioned);
            }
            RDKafkaRespErr::RD_KAFKA_RESP_ERR__REVOKE_PARTITIONS => {
                info!(partitions = tpl.count(), "partitions revoked");
                if self.closing.load(Ordering::Acquire) {
                    unassign(consumer, cooperative, tpl);
                } else {
                    // Not unassigned here: the group waits (state wait-unassign-call, the
                    // partitions paused) until `release` after the runner's checkpoint, so
                    // the new owner reads the final epoch, never an older one.
                    self.unassign_due.store(true, Ordering::Release);
                    self.revoked
                        .lock()
                        .unwrap_or_else(PoisonError::into_inner)
                        .extend(
                            tpl.elements()
                                .iter()
                                .map(|e| (e.topic().to_owned(), e.partition())),
                        );
                }
            }
            other => {
                let code: RDKafkaErrorCode = other.into();
                warn!(error = %code, "rebalance failed");
                if let Err(error) = consumer.unassign() {
                    warn!(%error, "unassigning partitions failed");
                }
            }
        }
        // Ready once we take part in the group, even with zero partitions of a pattern that
        // matches nothing yet: then there is simply nothing to wait for.
        self.ready.set(true);
    }
}

/// Gives partitions back to the group: all of them (eager protocol) or `tpl` (cooperative).
fn unassign<C: ConsumerContext>(
    consumer: &impl Consumer<C>,
    cooperative: bool,
    tpl: &TopicPartitionList,
) {
    let result = if cooperative {
        consumer.incremental_unassign(tpl)
    } else {
        consumer.unassign()
    };
    match result {
        Ok(()) => info!(partitions = tpl.count(), "partitions released"),
        Err(error) => warn!(%error, "unassigning partitions failed"),
    }
}

/// Reads sensor topics matching the configured pattern as a consumer-group member.
pub struct KafkaSource {
    /// Shared only to be able to leak it at exit (see `Drop`).
    consumer: Arc<StreamConsumer<SourceContext>>,
    /// The first message after a rebalance, held for the next batch.
    pending: Option<RawMessage>,
    /// Partitions reported revoked to the runner and not yet released to the group.
    releasing: Vec<(String, i32)>,
    /// Whether the group waits for this member's unassign (a revoke was reported).
    release_due: bool,
    /// The final offset commit got no answer in time: the broker does not answer, so the
    /// consumer must not try to leave its group either (see `Drop`).
    unanswered: bool,
    sources: SourceIds,
    arena: BytesMut,
    max_messages: usize,
    max_wait: Duration,
    /// The group and this member's `group.instance.id` (empty: dynamic), for errors.
    group: String,
    instance: String,
}

impl KafkaSource {
    /// Creates the consumer and subscribes to `kafka.topic_pattern`.
    ///
    /// With [`InstanceId::Fixed`] the consumer is a static member (`group.instance.id`):
    /// restarted after a crash it takes its old place and partitions back at once, where
    /// a dynamic member waits for the crashed one's session to time out. Static members
    /// do not leave the group when they close (KIP-345): a stopped instance's partitions
    /// wait `session.timeout.ms` for it to come back. [`InstanceId::FromHost`] is resolved
    /// by the binary, which knows the host and the API port; unresolved it means dynamic.
    ///
    /// With `checkpoints`, each assigned partition starts at its newest checkpoint's offset
    /// and offsets are stored with checkpoints only; without, offsets are stored after each
    /// processed batch. Stored offsets are auto-committed, so a crash re-reads at most the
    /// uncommitted tail (at-least-once).
    ///
    /// # Errors
    /// When the client cannot be created or the subscription is refused.
    pub fn new(
        kafka: &KafkaConfig,
        ready: Readiness,
        checkpoints: Option<CheckpointStore>,
    ) -> Result<Self> {
        Self::with_feeds(kafka, &[], ready, checkpoints)
    }

    /// [`Self::new`], also subscribed to the `[[cities.feeds]]` topics.
    ///
    /// # Errors
    /// As [`Self::new`].
    pub fn with_feeds(
        kafka: &KafkaConfig,
        feed_topics: &[&str],
        ready: Readiness,
        checkpoints: Option<CheckpointStore>,
    ) -> Result<Self> {
        ready.broker().publish();
        let context = SourceContext {
            ready,
            store: checkpoints,
            assigned: Mutex::new(Vec::new()),
            revoked: Mutex::new(Vec::new()),
            rebalanced: AtomicBool::new(false),
            repositioned: AtomicBool::new(false),
            closing: AtomicBool::new(false),
            unassign_due: AtomicBool::new(false),
        };
        let mut cfg = super::client_config(kafka, super::Role::Consumer);
        let instance = match &kafka.instance_id {
            InstanceId::Fixed(id) => id.clone(),
            InstanceId::FromHost | InstanceId::Dynamic => String::new(),
        };
        if !instance.is_empty() {
            cfg.set("group.instance.id", &instance);
        }
        cfg.set("group.id", &kafka.group_id)
            .set("enable.auto.commit", "true")
            .set("auto.commit.interval.ms", "1000")
            .set("enable.auto.offset.store", "false")
            .set("auto.offset.reset", "earliest")
            .set("statistics.interval.ms", "5000")
            .set("topic.metadata.refresh.interval.ms", "10000")
            .set("fetch.wait.max.ms", FETCH_WAIT_MAX_MS);
        super::settings::apply(kafka, super::Role::Consumer, &mut cfg);
        let consumer: StreamConsumer<SourceContext> = cfg
            .create_with_context(context)
            .map_err(|e| IngestError::kafka("create consumer", e))?;
        feeds::subscribe(&consumer, &kafka.topic_pattern, feed_topics)?;
        let membership = if instance.is_empty() {
            "dynamic"
        } else {
            "static"
        };
        info!(pattern = %kafka.topic_pattern, feeds = ?feed_topics, group = %kafka.group_id, instance = %instance, membership, brokers = %kafka.brokers, "kafka consumer subscribed");
        Ok(Self {
            consumer: Arc::new(consumer),
            pending: None,
            releasing: Vec::new(),
            release_due: false,
            unanswered: false,
            sources: SourceIds::default(),
            arena: BytesMut::new(),
            max_messages: kafka.batch_max_messages,
            max_wait: kafka.batch_max_wait,
            group: kafka.group_id.clone(),
            instance,
        })
    }
}

impl KafkaSource {
    /// Logs a failed receive: at `warn`, but at `debug` for lost connections and during
    /// a broker outage, when every poll fails the same way (an outage is logged once, by
    /// `health.rs`; these errors may also be old ones, served after it ended).
    ///
    /// # Errors
    /// When the consumer hit a fatal error (fenced by a member with the same instance id):
    /// it would fail every poll from now on.
    fn receive_failed(&self, error: &KafkaError) -> Result<()> {
        if let Some((code, reason)) = self.consumer.client().fatal_error() {
            return Err(IngestError::ConsumerFenced {
                group: self.group.clone(),
                instance: self.instance.clone(),
                detail: format!("{reason} ({code})"),
            });
        }
        let connection = matches!(
            error.rdkafka_error_code(),
            Some(RDKafkaErrorCode::AllBrokersDown | RDKafkaErrorCode::BrokerTransportFailure)
        );
        if connection || self.consumer.context().ready.broker().is_down() {
            debug!(%error, "kafka receive failed");
        } else {
            warn!(%error, "kafka receive failed");
        }
        Ok(())
    }
}

impl Source for KafkaSource {
    /// A batch ends at a rebalance: the runner checkpoints revoked partitions at what it
    /// processed before it and restores assigned ones before their first message (the
    /// rebalance callbacks run inside `recv`, before the messages that follow them).
    async fn next_batch(&mut self) -> Result<Option<Vec<RawMessage>>> {
        let mut batch = Vec::new();
        let rebalanced = &self.consumer.context().rebalanced;
        rebalanced.store(false, Ordering::Release);
        let first = match self.pending.take() {
            Some(message) => message,
            None => match tokio::time::timeout(IDLE_POLL, self.consumer.recv()).await {
                Err(_elapsed) => return Ok(Some(batch)),
                Ok(Err(error)) => {
                    self.receive_failed(&error)?;
                    return Ok(Some(batch));
                }
                Ok(Ok(message)) => to_raw(&mut self.sources, &mut self.arena, &message),
            },
        };
        rebalanced.store(false, Ordering::Release);
        batch.push(first);
        let deadline = Instant::now() + self.max_wait;
        while batch.len() < self.max_messages {
            let until = deadline.min(Instant::now() + BATCH_GAP);
            match tokio::time::timeout_at(until, self.consumer.recv()).await {
                Err(_elapsed) => break,
                Ok(Err(error)) => {
                    self.receive_failed(&error)?;
                    break;
                }
                Ok(Ok(message)) => {
                    let raw = to_raw(&mut self.sources, &mut self.arena, &message);
                    if self
                        .consumer
                        .context()
                        .rebalanced
                        .swap(false, Ordering::AcqRel)
                    {
                        self.pending = Some(raw);
                        break;
                    }
                    batch.push(raw);
                }
            }
        }
        Ok(Some(batch))
    }

    fn commit(&mut self, batch: &[RawMessage]) -> Result<()> {
        let mut next: HashMap<(&str, i32), i64> = HashMap::new();
        for m in batch {
            let entry = next.entry((&m.topic, m.partition)).or_insert(m.offset + 1);
            *entry = (*entry).max(m.offset + 1);
        }
        let mut tpl = TopicPartitionList::new();
        for ((topic, partition), offset) in next {
            tpl.add_partition_offset(topic, partition, Offset::Offset(offset))
                .map_err(|e| IngestError::kafka("build offset list", e))?;
        }
        if let Err(error) = self.consumer.store_offsets(&tpl) {
            // A partition revoked mid-batch: its new owner re-reads from the last commit.
            warn!(%error, "storing offsets failed; the batch may be read again");
        }
        Ok(())
    }

    fn commit_offsets(&mut self, offsets: &[(SourceId, i64)]) -> Result<()> {
        let mut tpl = TopicPartitionList::new();
        for &(source, offset) in offsets {
            let Some((topic, partition)) = self.sources.name(source) else {
                continue;
            };
            tpl.add_partition_offset(&topic, partition, Offset::Offset(offset))
                .map_err(|e| IngestError::kafka("build offset list", e))?;
        }
        self.consumer
            .store_offsets(&tpl)
            .map_err(|e| IngestError::kafka("store checkpointed offsets", e))
    }

    fn assigned(&mut self) -> Vec<Assignment> {
        let assigned: Vec<Assigned> = {
            let mut guard = self
                .consumer
                .context()
                .assigned
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            std::mem::take(&mut *guard)
        };
        assigned
            .into_iter()
            .map(|(topic, partition, checkpoint)| {
                let (source, topic) = self.sources.get(&topic, partition);
                Assignment {
                    source,
                    task: Task { topic, partition },
                    checkpoint,
                }
            })
            .collect()
    }

    fn rewind(&mut self, source: SourceId, offset: i64) -> Result<()> {
        let Some((topic, partition)) = self.sources.name(source) else {
            return Ok(());
        };
        if self.pending.as_ref().is_some_and(|m| m.source == source) {
            self.pending = None;
        }
        self.consumer
            .seek(&topic, partition, Offset::Offset(offset), SEEK_TIMEOUT)
            .map_err(|e| IngestError::kafka(format!("seek {topic}-{partition} to {offset}"), e))
    }

    fn revoked(&mut self) -> Vec<SourceId> {
        let revoked: Vec<(String, i32)> = {
            let mut guard = self
                .consumer
                .context()
                .revoked
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            std::mem::take(&mut *guard)
        };
        let ids = revoked
            .iter()
            .filter_map(|(t, p)| self.sources.lookup(t, *p))
            .collect();
        self.release_due |= self
            .consumer
            .context()
            .unassign_due
            .swap(false, Ordering::AcqRel);
        self.releasing.extend(revoked);
        ids
    }

    /// Unassigns the partitions reported by [`Source::revoked`]: only now may the group
    /// hand them to another member, which then loads the checkpoints just written.
    fn release(&mut self, revoked: &[SourceId]) -> Result<()> {
        if !self.release_due {
            return Ok(());
        }
        self.release_due = false;
        // A message read past the rebalance belongs to the partition's new owner.
        if self
            .pending
            .as_ref()
            .is_some_and(|m| revoked.contains(&m.source))
        {
            self.pending = None;
        }
        let mut tpl = TopicPartitionList::new();
        for (topic, partition) in self.releasing.drain(..) {
            tpl.add_partition(&topic, partition);
        }
        let cooperative = matches!(
            self.consumer.rebalance_protocol(),
            RebalanceProtocol::Cooperative
        );
        // On failure the group evicts this member after `max.poll.interval.ms` and
        // rebalances without it; the tasks are checkpointed and dropped already.
        unassign(self.consumer.as_ref(), cooperative, &tpl);
        Ok(())
    }

    fn rebalanced(&mut self) -> bool {
        self.consumer
            .context()
            .repositioned
            .swap(false, Ordering::AcqRel)
    }

    fn close(&mut self) -> Result<()> {
        self.close_bounded()
    }
}
