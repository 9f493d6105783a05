//! The dead-letter sink: refused observations with their reason and origin in headers.
//!
//! Every letter is cut to `kafka.deadletter_max_bytes` before it is sent (`fit.rs`), and
//! a letter the broker refuses for the record itself is given up instead of retried:
//! without both, one message near `kafka.max_message_bytes` held every topic.

mod fit;
pub mod header;

use std::time::Duration;

use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::producer::{DeliveryFuture, FutureProducer, FutureRecord};
use stadtpuls_config::KafkaConfig;
use tracing::warn;

use super::HealthContext;
use crate::health::BrokerHealth;
use crate::message::DeadLetter;
use crate::runner::DeadLetterSink;
use crate::{IngestError, Result, metrics};

/// Writes dead letters to a Kafka topic.
pub struct KafkaDeadLetters {
    producer: FutureProducer<HealthContext>,
    health: BrokerHealth,
    topic: String,
    max_bytes: usize,
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
    /// Its `message.max.bytes` is `kafka.deadletter_max_bytes`: librdkafka then packs no
    /// more letters into one request than the limit (plus one letter, which it allows), so
    /// a batch of many small letters does not exceed what the topic takes either.
    ///
    /// # Errors
    /// When the client cannot be created.
    pub fn with_health(kafka: &KafkaConfig, health: BrokerHealth) -> Result<Self> {
        let producer = super::client_config(kafka, super::Role::Producer)
            .set("acks", "all")
            .set("message.timeout.ms", "30000")
            .set("message.max.bytes", kafka.deadletter_max_bytes.to_string())
            .create_with_context(HealthContext {
                client: "dead-letter producer",
                health: health.clone(),
            })
            .map_err(|e| IngestError::kafka("create dead-letter producer", e))?;
        Ok(Self {
            producer,
            health,
            topic: kafka.deadletter_topic.clone(),
            max_bytes: kafka.deadletter_max_bytes,
        })
    }
}

/// Why the broker (or librdkafka, before sending) can never take this record, as the
/// `reason` label of `stadtpuls_deadletters_dropped_total`; `None` for errors that
/// retrying can fix.
///
/// Only errors about the record itself are listed: sending the same record again gets the
/// same answer, so retrying would hold the pipeline forever for one letter. Errors about
/// the topic or the connection — broker down, timeouts, unknown topic, not authorized,
/// policy violations — are retried: they hit every letter alike, an operator or the broker
/// coming back fixes them, and giving up would silently drop every dead letter meanwhile.
pub(crate) fn unwritable(error: &KafkaError) -> Option<&'static str> {
    let KafkaError::MessageProduction(code) = error else {
        return None;
    };
    Some(match code {
        // larger than the topic's `max.message.bytes` (or librdkafka's `message.max.bytes`)
        RDKafkaErrorCode::MessageSizeTooLarge => "message_size_too_large",
        // a batch larger than the broker's segment size
        RDKafkaErrorCode::MessageBatchTooLarge => "message_batch_too_large",
        RDKafkaErrorCode::InvalidMessageSize => "invalid_message_size",
        // CRC or framing refused
        RDKafkaErrorCode::InvalidMessage => "invalid_message",
        RDKafkaErrorCode::BadMessage => "invalid_message",
        // refused by a broker-side record validator
        RDKafkaErrorCode::InvalidRecord => "invalid_record",
        // the record's timestamp is outside `message.timestamp.*.max.ms`
        RDKafkaErrorCode::InvalidTimestamp => "invalid_timestamp",
        RDKafkaErrorCode::UnsupportedForMessageFormat => "unsupported_message_format",
        _ => return None,
    })
}

/// A letter the broker can never take: given up, logged and counted.
struct GivenUp<'a> {
    letter: &'a DeadLetter,
    bytes: usize,
    reason: &'static str,
    error: KafkaError,
}

impl DeadLetterSink for KafkaDeadLetters {
    /// Writes every letter, cut to the limit. A letter refused for the record itself
    /// (`unwritable`) is given up once the rest of the batch is acknowledged: logged at
    /// `warn` and counted in `stadtpuls_deadletters_dropped_total{reason}`. Any other
    /// failure fails the call and the runner retries the whole batch, which classifies
    /// the letters again: each one is counted once, in the attempt that ends the batch.
    async fn send(&mut self, letters: &[DeadLetter]) -> Result<()> {
        // Enqueue all, then wait for every delivery: one round trip for the batch. (`send`
        // is lazy — it enqueues only when awaited — so it would cost a round trip each.)
        // Acknowledged letters sent during an outage prove the broker is back.
        let down_at_start = self.health.is_down();
        let mut pending: Vec<(&DeadLetter, usize, DeliveryFuture)> =
            Vec::with_capacity(letters.len());
        let mut given_up = Vec::new();
        for letter in letters {
            let fitted = fit::fit(letter, self.max_bytes);
            let bytes = fitted.bytes();
            let mut record: FutureRecord<'_, [u8], [u8]> = FutureRecord::to(&self.topic)
                .payload(fitted.payload)
                .headers(fitted.owned_headers());
            if let Some(key) = fitted.key {
                record = record.key(key);
            }
            loop {
                match self.producer.send_result(record) {
                    Ok(delivery) => {
                        pending.push((letter, bytes, delivery));
                        break;
                    }
                    Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), back)) => {
                        // librdkafka's thread drains the queue meanwhile.
                        record = back;
                        tokio::time::sleep(Duration::from_millis(5)).await;
                    }
                    Err((error, _)) => match unwritable(&error) {
                        Some(reason) => {
                            given_up.push(GivenUp {
                                letter,
                                bytes,
                                reason,
                                error,
                            });
                            break;
                        }
                        None => return Err(IngestError::kafka("write dead letter", error)),
                    },
                }
            }
        }
        // Every delivery is awaited, so that the letters given up are known completely
        // before the batch is passed or failed.
        let mut failed = None;
        for (letter, bytes, delivery) in pending {
            let error = match delivery.await {
                Ok(Ok(_)) => continue,
                Ok(Err((error, _))) => error,
                Err(_canceled) => KafkaError::Canceled,
            };
            match unwritable(&error) {
                Some(reason) => given_up.push(GivenUp {
                    letter,
                    bytes,
                    reason,
                    error,
                }),
                None => {
                    failed.get_or_insert(error);
                }
            }
        }
        if let Some(error) = failed {
            return Err(IngestError::kafka("write dead letter", error));
        }
        for dropped in given_up {
            self.give_up(&dropped);
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

impl KafkaDeadLetters {
    fn give_up(&self, dropped: &GivenUp<'_>) {
        let letter = dropped.letter;
        metrics::DEADLETTERS_DROPPED
            .with_label_values(&[dropped.reason])
            .inc();
        warn!(
            error = %dropped.error,
            reason = dropped.reason,
            deadletter_topic = %self.topic,
            bytes = dropped.bytes,
            rejected_as = letter.reason.as_str(),
            topic = %letter.topic,
            partition = letter.partition,
            offset = letter.offset,
            index = ?letter.index,
            "dead letter given up: the broker refuses the record itself, retrying cannot help \
             (is kafka.deadletter_max_bytes above the topic's max.message.bytes?); \
             the message is in the raw archive if history.archive_raw is on"
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn produce(code: RDKafkaErrorCode) -> KafkaError {
        KafkaError::MessageProduction(code)
    }

    #[test]
    fn only_errors_about_the_record_itself_are_given_up() {
        for (code, reason) in [
            (
                RDKafkaErrorCode::MessageSizeTooLarge,
                "message_size_too_large",
            ),
            (
                RDKafkaErrorCode::MessageBatchTooLarge,
                "message_batch_too_large",
            ),
            (RDKafkaErrorCode::InvalidMessageSize, "invalid_message_size"),
            (RDKafkaErrorCode::InvalidMessage, "invalid_message"),
            (RDKafkaErrorCode::InvalidRecord, "invalid_record"),
            (RDKafkaErrorCode::InvalidTimestamp, "invalid_timestamp"),
        ] {
            assert_eq!(unwritable(&produce(code)), Some(reason), "{code:?}");
        }
        // Broker down, timeouts, a missing or forbidden topic: retried.
        for code in [
            RDKafkaErrorCode::MessageTimedOut,
            RDKafkaErrorCode::AllBrokersDown,
            RDKafkaErrorCode::BrokerTransportFailure,
            RDKafkaErrorCode::RequestTimedOut,
            RDKafkaErrorCode::NotLeaderForPartition,
            RDKafkaErrorCode::NotEnoughReplicas,
            RDKafkaErrorCode::UnknownTopicOrPartition,
            RDKafkaErrorCode::UnknownTopic,
            RDKafkaErrorCode::TopicAuthorizationFailed,
            RDKafkaErrorCode::QueueFull,
        ] {
            assert_eq!(unwritable(&produce(code)), None, "{code:?}");
        }
        assert_eq!(unwritable(&KafkaError::Canceled), None);
    }
}
