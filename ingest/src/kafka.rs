//! Kafka: the consumer source, the dead-letter sink, the output topics (closed windows;
//! the standard outputs in `standard.rs`) and producers for the simulated feed.

mod admin;
mod consumer;
mod context;
mod deadletter;
mod drain;
pub mod output;
mod produce;
mod push;
mod settings;
mod standard;

pub use crate::push::{PushWriteError, PushWritten};
pub use admin::{ensure_deadletter_topic, ensure_topics};
pub use consumer::KafkaSource;
pub use context::HealthContext;
pub use deadletter::{KafkaDeadLetters, header};
pub use drain::drain;
pub use output::{OutputTopics, ensure_output_topics};
pub use produce::{FeedProducer, ProduceStats};
pub use push::{KafkaPush, PUSH_ACK_TIMEOUT};
pub use standard::{Published, StandardTopics, ensure_standard_topics};

pub(crate) use settings::{Role, client_config};
