//! A producer for `stadtpuls produce` and `stadtpuls replay`: writes feed messages as fast
//! as the rate allows.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use rdkafka::ClientContext;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::producer::{BaseRecord, DeliveryResult, Producer, ProducerContext, ThreadedProducer};
use stadtpuls_config::KafkaConfig;

use crate::{IngestError, Result};

/// Delivery counts, updated from librdkafka's delivery callbacks.
#[derive(Debug, Default)]
pub struct ProduceStats {
    /// Messages acknowledged by the broker.
    pub delivered: AtomicU64,
    /// Messages that failed after librdkafka's retries.
    pub failed: AtomicU64,
}

struct Counting(Arc<ProduceStats>);

impl ClientContext for Counting {}

impl ProducerContext for Counting {
    type DeliveryOpaque = ();

    fn delivery(&self, result: &DeliveryResult<'_>, _opaque: ()) {
        let counter = if result.is_ok() {
            &self.0.delivered
        } else {
            &self.0.failed
        };
        counter.fetch_add(1, Ordering::Relaxed);
    }
}

/// A batching, background-delivering producer.
pub struct FeedProducer {
    producer: ThreadedProducer<Counting>,
    stats: Arc<ProduceStats>,
}

impl FeedProducer {
    /// Creates the producer (lz4-free, gzip-free: plain batches with a short linger).
    ///
    /// # Errors
    /// When the client cannot be created.
    pub fn new(kafka: &KafkaConfig) -> Result<Self> {
        let stats = Arc::new(ProduceStats::default());
        let producer = super::client_config(kafka, super::Role::Producer)
            .set("linger.ms", "5")
            .set("acks", "all")
            .set("queue.buffering.max.messages", "200000")
            .create_with_context(Counting(stats.clone()))
            .map_err(|e| IngestError::kafka("create producer", e))?;
        Ok(Self { producer, stats })
    }

    /// Delivery counts so far.
    pub fn stats(&self) -> &ProduceStats {
        &self.stats
    }

    /// Enqueues one message, waiting while the local queue is full.
    ///
    /// # Errors
    /// When librdkafka refuses the message for another reason than a full queue.
    pub async fn send(&self, topic: &str, key: &str, payload: &[u8]) -> Result<()> {
        self.send_to(topic, None, Some(key.as_bytes()), payload)
            .await
    }

    /// Enqueues one message to `partition` (`None`: the partitioner's choice by key),
    /// waiting while the local queue is full.
    ///
    /// # Errors
    /// When librdkafka refuses the message for another reason than a full queue (e.g. a
    /// partition the topic does not have).
    pub async fn send_to(
        &self,
        topic: &str,
        partition: Option<i32>,
        key: Option<&[u8]>,
        payload: &[u8],
    ) -> Result<()> {
        loop {
            let mut record = BaseRecord::<[u8], [u8]>::to(topic).payload(payload);
            if let Some(key) = key {
                record = record.key(key);
            }
            if let Some(partition) = partition {
                record = record.partition(partition);
            }
            match self.producer.send(record) {
                Ok(()) => return Ok(()),
                Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), _)) => {
                    tokio::time::sleep(Duration::from_millis(5)).await;
                }
                Err((e, _)) => return Err(IngestError::kafka(format!("produce to `{topic}`"), e)),
            }
        }
    }

    /// Waits until every enqueued message is delivered or `timeout` passes.
    ///
    /// # Errors
    /// When messages are still in flight at the timeout.
    pub fn flush(&self, timeout: Duration) -> Result<()> {
        self.producer
            .flush(timeout)
            .map_err(|e| IngestError::kafka("flush producer", e))
    }
}
