//! Topic creation for `stadtpuls produce`, the output topics and the tests.

use std::time::Duration;

use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::error::KafkaError;
use rdkafka::types::RDKafkaErrorCode;
use stadtpuls_config::KafkaConfig;
use tracing::warn;

use crate::{IngestError, Result};

/// Creates the topics that do not exist yet, with `partitions` partitions each.
///
/// # Errors
/// When the broker cannot be reached or refuses for another reason than "already exists".
pub async fn ensure_topics(kafka: &KafkaConfig, topics: &[String], partitions: i32) -> Result<()> {
    ensure_topics_with(kafka, topics, partitions, 1, &[]).await
}

/// Creates the topics that do not exist yet, with `partitions` partitions and
/// `replication` replicas each (-1: the broker's defaults, `num.partitions` and
/// `default.replication.factor`) and the topic `configs` (e.g. `cleanup.policy=compact`).
///
/// Not every Kafka-protocol broker implements every topic config: a topic the broker
/// refuses to create *with* the configs is created without them, with a warning, so the
/// pipeline still runs (an uncompacted output topic keeps every revision instead of the
/// latest, which consumers that upsert by key do not notice). A broker that silently
/// ignores the configs (Tansu 0.6) is not detected.
///
/// # Errors
/// When the broker cannot be reached or refuses a topic even without the configs.
pub(crate) async fn ensure_topics_with(
    kafka: &KafkaConfig,
    topics: &[String],
    partitions: i32,
    replication: i32,
    configs: &[(&str, &str)],
) -> Result<()> {
    let admin: AdminClient<DefaultClientContext> = super::client_config(kafka, super::Role::Admin)
        .create()
        .map_err(|e| IngestError::kafka("create admin client", e))?;
    let options = AdminOptions::new().operation_timeout(Some(Duration::from_secs(10)));
    let shape = (partitions, replication);
    let refused = create(&admin, &options, topics, shape, configs).await?;
    if refused.is_empty() {
        return Ok(());
    }
    if configs.is_empty() {
        return Err(refused_error(&refused[0]));
    }
    for (topic, code) in &refused {
        warn!(topic = %topic, error = %code, ?configs, "broker refused the topic configs, creating the topic without them");
    }
    let names: Vec<String> = refused.into_iter().map(|(topic, _)| topic).collect();
    let still_refused = create(&admin, &options, &names, shape, &[]).await?;
    match still_refused.first() {
        Some(first) => Err(refused_error(first)),
        None => Ok(()),
    }
}

/// Creates `topics`; returns those the broker refused (other than "already exists").
async fn create(
    admin: &AdminClient<DefaultClientContext>,
    options: &AdminOptions,
    topics: &[String],
    (partitions, replication): (i32, i32),
    configs: &[(&str, &str)],
) -> Result<Vec<(String, RDKafkaErrorCode)>> {
    let new: Vec<NewTopic<'_>> = topics
        .iter()
        .map(|t| {
            configs.iter().fold(
                NewTopic::new(t, partitions, TopicReplication::Fixed(replication)),
                |topic, (key, value)| topic.set(key, value),
            )
        })
        .collect();
    let results = admin
        .create_topics(&new, options)
        .await
        .map_err(|e| IngestError::kafka("create topics", e))?;
    Ok(results
        .into_iter()
        .filter_map(|result| match result {
            Err((topic, code)) if code != RDKafkaErrorCode::TopicAlreadyExists => {
                Some((topic, code))
            }
            _ => None,
        })
        .collect())
}

fn refused_error((topic, code): &(String, RDKafkaErrorCode)) -> IngestError {
    IngestError::kafka(
        format!("create topic `{topic}`"),
        KafkaError::AdminOp(*code),
    )
}
