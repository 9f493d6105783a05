//! Topic creation for `stadtpuls produce`, the dead-letter and output topics and the tests.

use std::time::Duration;

use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::error::KafkaError;
use rdkafka::metadata::Metadata;
use rdkafka::types::RDKafkaErrorCode;
use stadtpuls_config::KafkaConfig;
use tracing::{info, warn};

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

/// Creates `kafka.deadletter_topic` if it does not exist, with the broker's default
/// partition count and replication factor.
///
/// Without the topic every dead-letter write fails, and the runner — which retries dead
/// letters before it reads on — would stall every input topic at the first refused
/// message. So `stadtpuls run` makes sure of it before it consumes: created like the
/// output topics, or found to exist when the broker refuses to create it (a client
/// without the right to create topics is refused even for a topic that exists).
///
/// # Errors
/// When the broker cannot be reached, or refuses to create the topic and it does not
/// exist; the message names the topic and `kafka.deadletter_topic`.
pub async fn ensure_deadletter_topic(kafka: &KafkaConfig) -> Result<()> {
    let topic = &kafka.deadletter_topic;
    let admin: AdminClient<DefaultClientContext> = super::client_config(kafka, super::Role::Admin)
        .create()
        .map_err(|e| IngestError::kafka("create admin client", e))?;
    let options = AdminOptions::new().operation_timeout(Some(Duration::from_secs(10)));
    let refused = create(&admin, &options, std::slice::from_ref(topic), (-1, -1), &[])
        .await
        .map_err(|e| match e {
            IngestError::Kafka { source, .. } => IngestError::kafka(
                format!("cannot create the dead-letter topic `{topic}` (kafka.deadletter_topic)"),
                source,
            ),
            other => other,
        })?;
    let Some((_, code)) = refused.first() else {
        return Ok(());
    };
    // Refused: maybe only the creation is not allowed, and the topic is there.
    let name = topic.clone();
    let metadata = tokio::task::spawn_blocking(move || {
        admin
            .inner()
            .fetch_metadata(Some(&name), Duration::from_secs(10))
    })
    .await
    .map_err(|e| IngestError::Sink {
        sink: "kafka admin",
        detail: format!("metadata lookup of `{topic}` did not finish: {e}"),
    })?;
    if metadata.as_ref().is_ok_and(|m| exists(m, topic)) {
        info!(topic = %topic, refused = %code, "the broker refused to create the dead-letter topic, but it exists");
        return Ok(());
    }
    Err(IngestError::kafka(
        format!(
            "the dead-letter topic `{topic}` (kafka.deadletter_topic) does not exist and the broker \
             refused to create it; create it, allow this client to create topics, or set \
             kafka.deadletter_topic to an existing topic"
        ),
        KafkaError::AdminOp(*code),
    ))
}

/// Whether `metadata` lists `topic` without an error (an unknown topic is listed with one).
fn exists(metadata: &Metadata, topic: &str) -> bool {
    metadata
        .topics()
        .iter()
        .any(|t| t.name() == topic && t.error().is_none() && !t.partitions().is_empty())
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
