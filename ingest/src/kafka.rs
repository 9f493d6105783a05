//! Kafka: the consumer source, the dead-letter sink, the output topics and producers for
//! the simulated feed.

mod admin;
mod consumer;
mod context;
mod deadletter;
mod drain;
pub mod output;
mod produce;
mod push;
mod settings;

pub use crate::push::{PushWriteError, PushWritten};
pub use admin::{ensure_deadletter_topic, ensure_topics};
pub use consumer::KafkaSource;
pub use context::HealthContext;
pub use deadletter::{KafkaDeadLetters, header};
pub use drain::drain;
pub use output::{OutputTopics, ensure_output_topics};
pub use produce::{FeedProducer, ProduceStats};
pub use push::{KafkaPush, PUSH_ACK_TIMEOUT};

pub(crate) use settings::{Role, client_config};
