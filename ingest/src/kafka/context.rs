//! The librdkafka client context of the producers: routes their errors, logs and
//! statistics into the shared [`BrokerHealth`].

use rdkafka::ClientContext;
use rdkafka::config::RDKafkaLogLevel;
use rdkafka::error::KafkaError;
use rdkafka::statistics::Statistics;

use crate::health::BrokerHealth;

/// The context of the producers (output topics, dead letters): routes their errors and
/// logs through the shared [`BrokerHealth`].
#[derive(Debug, Clone)]
pub struct HealthContext {
    /// Names the client in logs.
    pub client: &'static str,
    /// The shared state.
    pub health: BrokerHealth,
}

impl ClientContext for HealthContext {
    fn log(&self, level: RDKafkaLogLevel, fac: &str, log_message: &str) {
        self.health.client_log(self.client, level, fac, log_message);
    }

    fn stats(&self, statistics: Statistics) {
        self.health.producer_stats(&statistics);
    }

    fn error(&self, error: KafkaError, reason: &str) {
        self.health.client_error(self.client, &error, reason);
    }
}
