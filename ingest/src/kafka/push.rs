//! The push gateway's Kafka side: writes a pushed body unchanged to the city's topic for
//! its format (`crate::push::PushTopics`), with its `content-type` header, and resolves
//! only once every in-sync replica has it (`acks=all`, idempotent), because the gateway
//! answers 202 on that. The record key is the push key's principal, so one sender's
//! pushes stay in one partition, in order.

use std::time::Duration;

use bytes::Bytes;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::producer::{FutureProducer, FutureRecord};
use stadtpuls_config::{Config, FeedFormat};

use super::HealthContext;
use crate::health::BrokerHealth;
use crate::push::{PushTopics, PushWriteError, PushWritten};
use crate::{IngestError, Result};

/// How long a push may wait for the broker's acknowledgement before it is answered 503.
pub const PUSH_ACK_TIMEOUT: Duration = Duration::from_secs(10);

/// librdkafka's `message.timeout.ms` is not a hard bound: with idempotence a message whose
/// request is already in flight waits for that request's own timeout. The gateway promises
/// its answer within the acknowledgement timeout, so it stops waiting itself a little after
/// librdkafka should have answered.
const PUSH_ANSWER_DEADLINE: Duration = PUSH_ACK_TIMEOUT.saturating_add(Duration::from_millis(500));

/// The idempotent producer of pushed bodies.
pub struct KafkaPush {
    producer: FutureProducer<HealthContext>,
    health: BrokerHealth,
    topics: PushTopics,
}

impl KafkaPush {
    /// Creates the producer; `message.max.bytes` follows the larger of
    /// `push.max_body_bytes` and `kafka.max_message_bytes` (the limit of pulled documents,
    /// `[[cities.pull]]`), plus room for the headers, so the topic's own limit is the only
    /// other one.
    ///
    /// # Errors
    /// When the client cannot be created.
    pub fn with_health(config: &Config, health: BrokerHealth) -> Result<Self> {
        let largest = config
            .push
            .max_body_bytes
            .max(config.kafka.max_message_bytes);
        let max_bytes = (largest + 64 * 1024).min(1_000_000_000);
        let producer = super::client_config(&config.kafka, super::Role::Producer)
            .set("acks", "all")
            .set("enable.idempotence", "true")
            .set("linger.ms", "0")
            .set(
                "message.timeout.ms",
                PUSH_ACK_TIMEOUT.as_millis().to_string(),
            )
            .set("message.max.bytes", max_bytes.to_string())
            .create_with_context(HealthContext {
                client: "push producer",
                health: health.clone(),
            })
            .map_err(|e| IngestError::kafka("create push producer", e))?;
        Ok(Self {
            producer,
            health,
            topics: PushTopics::new(config),
        })
    }

    /// Writes `body` for `city` in `format`, keyed by `principal`; resolves once the
    /// broker acknowledged it.
    ///
    /// # Errors
    /// [`PushWriteError`]: the body, the city's topics or the broker.
    pub async fn write(
        &self,
        city: &str,
        format: FeedFormat,
        content_type: &str,
        principal: &str,
        body: Bytes,
    ) -> std::result::Result<PushWritten, PushWriteError> {
        let topic = self.topics.topic(city, format, &body)?;
        if self.health.is_down() {
            return Err(PushWriteError::Unavailable(
                "the broker is unreachable; retry later".into(),
            ));
        }
        let headers = OwnedHeaders::new().insert(Header {
            key: "content-type",
            value: Some(content_type),
        });
        let record: FutureRecord<'_, str, [u8]> = FutureRecord::to(&topic)
            .payload(&body[..])
            .key(principal)
            .headers(headers);
        let sent = self.producer.send(record, PUSH_ACK_TIMEOUT);
        match tokio::time::timeout(PUSH_ANSWER_DEADLINE, sent).await {
            Ok(Ok(delivery)) => Ok(PushWritten {
                topic,
                partition: delivery.partition,
                offset: delivery.offset,
            }),
            Ok(Err((error, _))) => Err(classify(&error)),
            Err(_) => Err(PushWriteError::Unavailable(format!(
                "the broker did not acknowledge the record within {} s; it may still be \
                 written, so a retry may deliver it twice",
                PUSH_ACK_TIMEOUT.as_secs()
            ))),
        }
    }
}

fn classify(error: &KafkaError) -> PushWriteError {
    match error {
        KafkaError::MessageProduction(
            RDKafkaErrorCode::MessageSizeTooLarge | RDKafkaErrorCode::MessageBatchTooLarge,
        ) => PushWriteError::TooLarge(error.to_string()),
        other => PushWriteError::Unavailable(format!(
            "the broker did not acknowledge the record: {other}"
        )),
    }
}
