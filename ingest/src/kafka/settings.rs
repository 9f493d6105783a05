//! The operator's `[kafka.librdkafka]` settings, given to each client they apply to.
//!
//! One table serves the consumer, the producers (dead letters, output topics, the feed)
//! and the admin client. librdkafka warns at start-up about every property of the other
//! role ("... is a consumer property and will be ignored by this producer instance"):
//! `session.timeout.ms` in the table gave six such warnings per start. Properties
//! librdkafka documents as consumer-only or producer-only (its `CONFIGURATION.md`, column
//! C/P) go to that role's clients only; the rest go to all.

use rdkafka::ClientConfig;
use stadtpuls_config::KafkaConfig;

/// What a client does, for the settings it takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Role {
    Consumer,
    Producer,
    /// The admin client: neither role's properties.
    Admin,
}

/// librdkafka properties only a consumer takes (global and topic level).
const CONSUMER_ONLY: &[&str] = &[
    "group.id",
    "group.instance.id",
    "partition.assignment.strategy",
    "session.timeout.ms",
    "heartbeat.interval.ms",
    "group.protocol.type",
    "group.protocol",
    "group.remote.assignor",
    "coordinator.query.interval.ms",
    "max.poll.interval.ms",
    "enable.auto.commit",
    "auto.commit.interval.ms",
    "enable.auto.offset.store",
    "queued.min.messages",
    "queued.max.messages.kbytes",
    "fetch.wait.max.ms",
    "fetch.queue.backoff.ms",
    "fetch.message.max.bytes",
    "max.partition.fetch.bytes",
    "fetch.max.bytes",
    "fetch.min.bytes",
    "fetch.error.backoff.ms",
    "isolation.level",
    "enable.partition.eof",
    "check.crcs",
    "auto.offset.reset",
    "consume.callback.max.messages",
];

/// librdkafka properties only a producer takes (global and topic level).
const PRODUCER_ONLY: &[&str] = &[
    "transactional.id",
    "transaction.timeout.ms",
    "enable.idempotence",
    "enable.gapless.guarantee",
    "queue.buffering.max.messages",
    "queue.buffering.max.kbytes",
    "queue.buffering.max.ms",
    "linger.ms",
    "message.send.max.retries",
    "retries",
    "queue.buffering.backpressure.threshold",
    "compression.codec",
    "compression.type",
    "compression.level",
    "batch.num.messages",
    "batch.size",
    "delivery.report.only.error",
    "sticky.partitioning.linger.ms",
    "request.required.acks",
    "acks",
    "request.timeout.ms",
    "message.timeout.ms",
    "delivery.timeout.ms",
    "partitioner",
    "queuing.strategy",
];

/// Whether a client of `role` takes the librdkafka property `key`.
pub(crate) fn applies(role: Role, key: &str) -> bool {
    let consumer_only = CONSUMER_ONLY.contains(&key);
    let producer_only = PRODUCER_ONLY.contains(&key);
    match role {
        Role::Consumer => !producer_only,
        Role::Producer => !consumer_only,
        Role::Admin => !consumer_only && !producer_only,
    }
}

/// Writes the operator's settings that apply to `role` into `config`.
pub(crate) fn apply(kafka: &KafkaConfig, role: Role, config: &mut ClientConfig) {
    for (key, value) in &kafka.librdkafka {
        if applies(role, key) {
            config.set(key, value);
        }
    }
}

/// Common client settings: brokers plus the operator's settings for `role`.
pub(crate) fn client_config(kafka: &KafkaConfig, role: Role) -> ClientConfig {
    let mut config = ClientConfig::new();
    config.set("bootstrap.servers", &kafka.brokers);
    apply(kafka, role, &mut config);
    config
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_role_gets_its_own_and_the_common_settings() {
        let mut kafka = KafkaConfig::default();
        for (key, value) in [
            ("session.timeout.ms", "6000"),
            ("linger.ms", "20"),
            ("security.protocol", "ssl"),
        ] {
            kafka.librdkafka.insert(key.to_owned(), value.to_owned());
        }
        let consumer = client_config(&kafka, Role::Consumer);
        let producer = client_config(&kafka, Role::Producer);
        let admin = client_config(&kafka, Role::Admin);
        assert_eq!(consumer.get("session.timeout.ms"), Some("6000"));
        assert_eq!(consumer.get("linger.ms"), None);
        assert_eq!(producer.get("linger.ms"), Some("20"));
        assert_eq!(producer.get("session.timeout.ms"), None);
        assert_eq!(admin.get("session.timeout.ms"), None);
        assert_eq!(admin.get("linger.ms"), None);
        for config in [&consumer, &producer, &admin] {
            assert_eq!(config.get("security.protocol"), Some("ssl"));
            assert_eq!(
                config.get("bootstrap.servers"),
                Some(kafka.brokers.as_str())
            );
        }
    }
}
