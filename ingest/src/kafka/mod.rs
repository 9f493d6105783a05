//! Kafka: the consumer source, the dead-letter sink, the output topics and producers for
//! the simulated feed.

mod admin;
mod consumer;
mod deadletter;
mod drain;
mod health;
pub mod output;
mod produce;

pub use admin::ensure_topics;
pub use consumer::KafkaSource;
pub use deadletter::{KafkaDeadLetters, header};
pub use drain::drain;
pub use health::{BrokerHealth, HealthContext};
pub use output::{OutputTopics, ensure_output_topics};
pub use produce::{FeedProducer, ProduceStats};

use rdkafka::ClientConfig;
use stadtpuls_config::KafkaConfig;

/// Common client settings: brokers plus the operator's extra librdkafka settings.
pub(crate) fn client_config(kafka: &KafkaConfig) -> ClientConfig {
    let mut cfg = ClientConfig::new();
    cfg.set("bootstrap.servers", &kafka.brokers);
    for (key, value) in &kafka.librdkafka {
        cfg.set(key, value);
    }
    cfg
}
