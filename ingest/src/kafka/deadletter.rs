//! The dead-letter sink: refused observations with their reason and origin in headers.

use std::time::Duration;

use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::producer::{FutureProducer, FutureRecord};
use stadtpuls_config::KafkaConfig;

use super::{BrokerHealth, HealthContext};
use crate::pipeline::DeadLetter;
use crate::runner::DeadLetterSink;
use crate::{IngestError, Result};

/// Header names of a dead-letter message.
pub mod header {
    /// Reject reason, e.g. `speed_out_of_range`.
    pub const REASON: &str = "stadtpuls.reason";
    /// Human-readable detail.
    pub const DETAIL: &str = "stadtpuls.detail";
    /// Topic the message was read from.
    pub const TOPIC: &str = "stadtpuls.source.topic";
    /// Partition it was read from.
    pub const PARTITION: &str = "stadtpuls.source.partition";
    /// Offset it was read at.
    pub const OFFSET: &str = "stadtpuls.source.offset";
    /// Index of the refused element in a JSON array message.
    pub const INDEX: &str = "stadtpuls.source.index";
    /// `true` when the payload was cut (oversized messages).
    pub const TRUNCATED: &str = "stadtpuls.truncated";
}

/// Writes dead letters to a Kafka topic.
pub struct KafkaDeadLetters {
    producer: FutureProducer<HealthContext>,
    health: BrokerHealth,
    topic: String,
}

impl KafkaDeadLetters {
    /// Creates the producer for `kafka.deadletter_topic`.
    ///
    /// # Errors
    /// When the client cannot be created.
    pub fn new(kafka: &KafkaConfig) -> Result<Self> {
        Self::with_health(kafka, BrokerHealth::default())
    }

    /// Creates the producer reporting broker outages to `health` (shared with the other
    /// Kafka clients of the run).
    ///
    /// # Errors
    /// When the client cannot be created.
    pub fn with_health(kafka: &KafkaConfig, health: BrokerHealth) -> Result<Self> {
        let producer = super::client_config(kafka, super::Role::Producer)
            .set("acks", "all")
            .set("message.timeout.ms", "30000")
            .create_with_context(HealthContext {
                client: "dead-letter producer",
                health: health.clone(),
            })
            .map_err(|e| IngestError::kafka("create dead-letter producer", e))?;
        Ok(Self {
            producer,
            health,
            topic: kafka.deadletter_topic.clone(),
        })
    }
}

fn headers(letter: &DeadLetter) -> OwnedHeaders {
    let partition = letter.partition.to_string();
    let offset = letter.offset.to_string();
    let mut headers = OwnedHeaders::new()
        .insert(Header {
            key: header::REASON,
            value: Some(letter.reason.as_str()),
        })
        .insert(Header {
            key: header::DETAIL,
            value: Some(letter.detail.as_str()),
        })
        .insert(Header {
            key: header::TOPIC,
            value: Some(letter.topic.as_ref()),
        })
        .insert(Header {
            key: header::PARTITION,
            value: Some(partition.as_str()),
        })
        .insert(Header {
            key: header::OFFSET,
            value: Some(offset.as_str()),
        });
    if let Some(index) = letter.index {
        let index = index.to_string();
        headers = headers.insert(Header {
            key: header::INDEX,
            value: Some(index.as_str()),
        });
    }
    if letter.truncated {
        headers = headers.insert(Header {
            key: header::TRUNCATED,
            value: Some("true"),
        });
    }
    headers
}

impl DeadLetterSink for KafkaDeadLetters {
    async fn send(&mut self, letters: &[DeadLetter]) -> Result<()> {
        // Enqueue all, then wait for every delivery: one round trip for the batch. (`send`
        // is lazy — it enqueues only when awaited — so it would cost a round trip each.)
        // Acknowledged letters sent during an outage prove the broker is back.
        let down_at_start = self.health.is_down();
        let mut pending = Vec::with_capacity(letters.len());
        for letter in letters {
            let mut record: FutureRecord<'_, [u8], [u8]> = FutureRecord::to(&self.topic)
                .payload(letter.payload.as_ref())
                .headers(headers(letter));
            if let Some(key) = &letter.key {
                record = record.key(key.as_ref());
            }
            loop {
                match self.producer.send_result(record) {
                    Ok(delivery) => {
                        pending.push(delivery);
                        break;
                    }
                    Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), back)) => {
                        // librdkafka's thread drains the queue meanwhile.
                        record = back;
                        tokio::time::sleep(Duration::from_millis(5)).await;
                    }
                    Err((e, _)) => return Err(IngestError::kafka("write dead letter", e)),
                }
            }
        }
        for delivery in pending {
            match delivery.await {
                Ok(Ok(_)) => {}
                Ok(Err((e, _))) => return Err(IngestError::kafka("write dead letter", e)),
                Err(_canceled) => {
                    return Err(IngestError::kafka(
                        "write dead letter",
                        KafkaError::Canceled,
                    ));
                }
            }
        }
        if down_at_start {
            self.health.up();
        }
        Ok(())
    }

    fn name(&self) -> &'static str {
        "kafka"
    }
}
