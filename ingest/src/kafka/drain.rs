//! A bare consumer that only reads: the yardstick for `stadtpuls bench --kafka`.

use std::time::{Duration, Instant};

use rdkafka::consumer::{Consumer, StreamConsumer};
use stadtpuls_config::KafkaConfig;

use super::consumer::FETCH_WAIT_MAX_MS;
use crate::{IngestError, Result};

/// Reads `count` messages from topics matching `kafka.topic_pattern` in a fresh group and
/// returns the time from the first message to the last, doing nothing with them.
///
/// # Errors
/// When the consumer cannot be created, or fewer than `count` messages arrive within
/// `timeout` of quiet.
pub async fn drain(kafka: &KafkaConfig, count: u64, timeout: Duration) -> Result<Duration> {
    let mut cfg = super::client_config(kafka, super::Role::Consumer);
    // The pipeline's own fetch settings, so the drain rate is the ceiling it can reach.
    cfg.set("group.id", &kafka.group_id)
        .set("enable.auto.commit", "false")
        .set("auto.offset.reset", "earliest")
        .set("fetch.wait.max.ms", FETCH_WAIT_MAX_MS);
    super::settings::apply(kafka, super::Role::Consumer, &mut cfg);
    let consumer: StreamConsumer = cfg
        .create()
        .map_err(|e| IngestError::kafka("create drain consumer", e))?;
    consumer
        .subscribe(&[&kafka.topic_pattern])
        .map_err(|e| IngestError::kafka("subscribe drain consumer", e))?;
    let mut seen = 0u64;
    let mut first: Option<Instant> = None;
    while seen < count {
        match tokio::time::timeout(timeout, consumer.recv()).await {
            Ok(Ok(_message)) => {
                first.get_or_insert_with(Instant::now);
                seen += 1;
            }
            Ok(Err(e)) => return Err(IngestError::kafka("drain", e)),
            Err(_) => {
                return Err(IngestError::kafka(
                    format!("drain stalled after {seen} of {count} messages"),
                    rdkafka::error::KafkaError::NoMessageReceived,
                ));
            }
        }
    }
    Ok(first.map_or(Duration::ZERO, |t| t.elapsed()))
}
