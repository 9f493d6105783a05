//! The push gateway's Kafka side: writes a pushed body unchanged to the city's topic for
//! its format, with its `content-type` header, and resolves only once every in-sync
//! replica has it (`acks=all`, idempotent), because the gateway answers 202 on that.
//!
//! Topics: a format's first `[[cities.feeds]]` topic of the city; native bodies go to
//! `sensors.<city>.<kind>`, the kind read from the body (a cheap parse: a body of both
//! kinds, or of none, is refused). The record key is the push key's principal, so one
//! sender's pushes stay in one partition, in order.

use std::collections::HashMap;
use std::time::Duration;

use bytes::Bytes;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::producer::{FutureProducer, FutureRecord};
use serde_json::Value;
use stadtpuls_config::{Config, FeedFormat};

use super::HealthContext;
use crate::health::BrokerHealth;
use crate::{IngestError, Result};

/// How long a push may wait for the broker's acknowledgement before it is answered 503.
pub const PUSH_ACK_TIMEOUT: Duration = Duration::from_secs(10);

/// Where a push was stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PushWritten {
    /// Topic.
    pub topic: String,
    /// Partition.
    pub partition: i32,
    /// Offset.
    pub offset: i64,
}

/// Why a push was not written.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PushWriteError {
    /// Not JSON where the format is JSON, or a native body of no single kind.
    #[error("{0}")]
    Unparseable(String),
    /// The city has no topic of the format.
    #[error("city `{city}` has no topic of format `{format}` ([[cities.feeds]])")]
    NoTopic {
        /// City id.
        city: String,
        /// The format.
        format: FeedFormat,
    },
    /// The broker (or librdkafka) refused the record for its size.
    #[error("the broker refused the record as too large ({0})")]
    TooLarge(String),
    /// Broker unreachable or no acknowledgement within [`PUSH_ACK_TIMEOUT`].
    #[error("the broker did not acknowledge the record: {0}")]
    Unavailable(String),
}

/// The idempotent producer of pushed bodies.
pub struct KafkaPush {
    producer: FutureProducer<HealthContext>,
    health: BrokerHealth,
    topics: HashMap<(String, FeedFormat), String>,
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
        let mut topics = HashMap::new();
        for (city, feed) in config.feeds() {
            topics
                .entry((city.id.clone(), feed.format))
                .or_insert_with(|| feed.topic.clone());
        }
        Ok(Self {
            producer,
            health,
            topics,
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
        let topic = self.topic(city, format, &body)?;
        if self.health.is_down() {
            return Err(PushWriteError::Unavailable("broker unreachable".into()));
        }
        let headers = OwnedHeaders::new().insert(Header {
            key: "content-type",
            value: Some(content_type),
        });
        let record: FutureRecord<'_, str, [u8]> = FutureRecord::to(&topic)
            .payload(&body[..])
            .key(principal)
            .headers(headers);
        match self.producer.send(record, PUSH_ACK_TIMEOUT).await {
            Ok(delivery) => Ok(PushWritten {
                topic,
                partition: delivery.partition,
                offset: delivery.offset,
            }),
            Err((error, _)) => Err(classify(&error)),
        }
    }

    fn topic(
        &self,
        city: &str,
        format: FeedFormat,
        body: &[u8],
    ) -> std::result::Result<String, PushWriteError> {
        if format == FeedFormat::Native {
            return Ok(format!("sensors.{city}.{}", native_kind(body)?));
        }
        check_json(body)?;
        self.topics
            .get(&(city.to_owned(), format))
            .cloned()
            .ok_or_else(|| PushWriteError::NoTopic {
                city: city.to_owned(),
                format,
            })
    }
}

fn classify(error: &KafkaError) -> PushWriteError {
    match error {
        KafkaError::MessageProduction(
            RDKafkaErrorCode::MessageSizeTooLarge | RDKafkaErrorCode::MessageBatchTooLarge,
        ) => PushWriteError::TooLarge(error.to_string()),
        other => PushWriteError::Unavailable(other.to_string()),
    }
}

/// A body that opens like JSON must be JSON (a syntax check, no values kept); others (a
/// format that is not JSON) are left to their decoder.
fn check_json(body: &[u8]) -> std::result::Result<(), PushWriteError> {
    let opens_json = body
        .iter()
        .find(|b| !b.is_ascii_whitespace())
        .is_some_and(|b| matches!(b, b'{' | b'['));
    if opens_json {
        serde_json::from_slice::<serde::de::IgnoredAny>(body)
            .map_err(|e| PushWriteError::Unparseable(format!("not JSON: {e}")))?;
    }
    Ok(())
}

/// `traffic` or `parking`: a native body's stream, from each observation's `kind`
/// (`facility`/`spot` are parking; none or anything else, traffic, as on the wire).
fn native_kind(body: &[u8]) -> std::result::Result<&'static str, PushWriteError> {
    let value: Value = serde_json::from_slice(body)
        .map_err(|e| PushWriteError::Unparseable(format!("not JSON: {e}")))?;
    let items: Vec<&Value> = match &value {
        Value::Array(items) => items.iter().collect(),
        other => vec![other],
    };
    let mut kinds = items
        .iter()
        .map(|item| match item.get("kind").and_then(Value::as_str) {
            Some("facility" | "spot") => "parking",
            _ => "traffic",
        });
    let Some(first) = kinds.next() else {
        return Err(PushWriteError::Unparseable("an empty array".into()));
    };
    if kinds.any(|kind| kind != first) {
        return Err(PushWriteError::Unparseable(
            "a native push carries one stream: traffic or parking observations, not both".into(),
        ));
    }
    Ok(first)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn native_bodies_name_their_stream() {
        let parking = br#"[{"kind":"facility","id":"a"},{"kind":"spot","id":"b"}]"#;
        assert_eq!(native_kind(parking), Ok("parking"));
        assert_eq!(native_kind(br#"{"id":"t","speed_kmh":40}"#), Ok("traffic"));
        assert!(matches!(
            native_kind(br#"[{"kind":"facility"},{"id":"t"}]"#),
            Err(PushWriteError::Unparseable(_))
        ));
        assert!(matches!(
            native_kind(b"[]"),
            Err(PushWriteError::Unparseable(_))
        ));
        assert!(matches!(
            native_kind(b"{"),
            Err(PushWriteError::Unparseable(_))
        ));
    }

    #[test]
    fn json_bodies_are_checked_others_left_to_their_decoder() {
        assert!(check_json(b" {\"a\": 1}").is_ok());
        assert!(check_json(b"[1, 2").is_err());
        assert!(check_json(b"<?xml version=\"1.0\"?><d/>").is_ok());
    }
}
