//! Topic creation for `stadtpuls produce` and the tests.

use std::time::Duration;

use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::types::RDKafkaErrorCode;
use stadtpuls_config::KafkaConfig;

use crate::{IngestError, Result};

/// Creates the topics that do not exist yet, with `partitions` partitions each.
///
/// # Errors
/// When the broker cannot be reached or refuses for another reason than "already exists".
pub async fn ensure_topics(kafka: &KafkaConfig, topics: &[String], partitions: i32) -> Result<()> {
    let admin: AdminClient<DefaultClientContext> = super::client_config(kafka)
        .create()
        .map_err(|e| IngestError::kafka("create admin client", e))?;
    let new: Vec<NewTopic<'_>> = topics
        .iter()
        .map(|t| NewTopic::new(t, partitions, TopicReplication::Fixed(1)))
        .collect();
    let options = AdminOptions::new().operation_timeout(Some(Duration::from_secs(10)));
    let results = admin
        .create_topics(&new, &options)
        .await
        .map_err(|e| IngestError::kafka("create topics", e))?;
    for result in results {
        if let Err((topic, code)) = result
            && code != RDKafkaErrorCode::TopicAlreadyExists
        {
            return Err(IngestError::kafka(
                format!("create topic `{topic}`"),
                rdkafka::error::KafkaError::AdminOp(code),
            ));
        }
    }
    Ok(())
}
