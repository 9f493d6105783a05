//! Whether the pipeline can work: [`Readiness`] (what `/readyz` reads) and the brokers'
//! reachability it includes. Here, below the runner and the Kafka clients, because both
//! use it: the Kafka clients report to it, the runner's owner and the API read it.
//!
//! [`BrokerHealth`]: whether the Kafka brokers are reachable, as the clients (consumer,
//! output and dead-letter producers) see it: one state shared by all of them, so an outage is logged
//! once at `warn` — not once per client, per message or per reconnect attempt — and shown
//! by `/readyz` and `stadtpuls_kafka_broker_up`.
//!
//! librdkafka reconnects by itself; nothing here drives it. "Down" when a producer's
//! librdkafka raises `ALL_BROKERS_DOWN` (every connection lost) or fresh statistics of the
//! consumer show no broker connection up (not while it is still reconnecting after the
//! last outage); "up" when fresh statistics show one up, or
//! records sent during the outage are acknowledged. Not trusted as signs either way: the
//! consumer's errors and old statistics (served only when the runner polls it, possibly
//! after the outage ended), messages received (librdkafka prefetches them, so they keep
//! coming for a while after the broker went away), acknowledgements of records sent
//! before the outage. While down, librdkafka's repeated connection errors are logged at
//! `debug`.

use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use rdkafka::config::RDKafkaLogLevel;
use rdkafka::error::KafkaError;
use rdkafka::statistics::Statistics;
use rdkafka::types::RDKafkaErrorCode;
use tracing::{debug, error, info, warn};

use crate::metrics;

/// Statistics older than this describe a past state of the connections.
const STALE_STATISTICS: Duration = Duration::from_secs(3);

/// The shared reachability of the Kafka brokers; cheap to clone.
#[derive(Debug, Clone, Default)]
pub struct BrokerHealth(Arc<Inner>);

#[derive(Debug, Default)]
struct Inner {
    /// Fast path for [`BrokerHealth::up`], called for every batch received.
    down: AtomicBool,
    /// When the current outage began.
    since: Mutex<Option<Instant>>,
    /// The wall-clock second (Unix) of the last change between up and down. Statistics
    /// carry only their second: those from that second or before may describe the
    /// connections before the change, and are not taken as a sign of the opposite.
    changed_at: AtomicI64,
    /// The outage ended on another client's sign of life and the consumer's statistics
    /// have not shown a connection up since: the consumer is still in its reconnect
    /// backoff (up to `reconnect.backoff.max.ms`), which is no new outage.
    consumer_reconnecting: AtomicBool,
}

impl BrokerHealth {
    /// Publishes the state as `stadtpuls_kafka_broker_up` (called when a Kafka client is
    /// created; up until a client says otherwise).
    pub fn publish(&self) {
        metrics::KAFKA_BROKER_UP.set(i64::from(!self.is_down()));
    }

    /// Whether no broker is reachable.
    pub fn is_down(&self) -> bool {
        self.0.down.load(Ordering::Acquire)
    }

    /// How long no broker has been reachable; `None` while one is.
    pub fn unreachable_for(&self) -> Option<Duration> {
        self.since().map(|since| since.elapsed())
    }

    fn since(&self) -> std::sync::MutexGuard<'_, Option<Instant>> {
        self.0.since.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// A client lost every broker connection: starts an outage (logged once) unless one
    /// is already under way.
    pub fn down(&self, reason: &str) {
        let mut since = self.since();
        if since.is_some() {
            return;
        }
        *since = Some(Instant::now());
        self.mark_change();
        self.0.down.store(true, Ordering::Release);
        metrics::KAFKA_BROKER_UP.set(0);
        metrics::KAFKA_OUTAGES.inc();
        warn!(
            reason,
            "kafka broker unreachable; reading, output and offset commits wait until it is back (librdkafka reconnects)"
        );
    }

    /// A client heard from a broker: ends the outage, if any.
    pub fn up(&self) {
        if !self.is_down() {
            return;
        }
        let mut since = self.since();
        let Some(began) = since.take() else {
            return;
        };
        self.mark_change();
        self.0.consumer_reconnecting.store(true, Ordering::Release);
        self.0.down.store(false, Ordering::Release);
        metrics::KAFKA_BROKER_UP.set(1);
        info!(
            down_for_s = began.elapsed().as_secs_f64(),
            "kafka broker reachable again after {:.1} s",
            began.elapsed().as_secs_f64()
        );
    }

    fn mark_change(&self) {
        self.0
            .changed_at
            .store(chrono::Utc::now().timestamp(), Ordering::Release);
    }

    /// A global error of a producer (served at once by its own polling thread): all
    /// brokers down starts an outage; other errors are logged, see [`Self::log_error`].
    pub fn client_error(&self, client: &str, error: &KafkaError, reason: &str) {
        if matches!(
            error.rdkafka_error_code(),
            Some(RDKafkaErrorCode::AllBrokersDown)
        ) {
            self.down(reason);
        } else {
            self.log_error(client, error, reason);
        }
    }

    /// Logs a global client error without judging reachability: the consumer's errors are
    /// served only when the runner polls it, which it does not while a checkpoint round
    /// waits for the output — so they can arrive after the outage ended. Connection
    /// failures go to `debug` (an outage is reported by [`Self::down`]; one broker of
    /// several gone is none); other errors at `warn`, or `debug` during an outage.
    pub fn log_error(&self, client: &str, error: &KafkaError, reason: &str) {
        let connection = matches!(
            error.rdkafka_error_code(),
            Some(RDKafkaErrorCode::AllBrokersDown | RDKafkaErrorCode::BrokerTransportFailure)
        );
        if connection || self.is_down() {
            debug!(client, %error, reason, "kafka client error");
        } else {
            warn!(client, %error, reason, "kafka client error");
        }
    }

    /// A librdkafka log line: errors and warnings at their level, except connection
    /// failures and anything during an outage (librdkafka repeats its connection failures
    /// on every reconnect attempt), which go to `debug`.
    pub fn client_log(&self, client: &str, level: RDKafkaLogLevel, facility: &str, line: &str) {
        // `FAIL`: a connection lost or refused. One broker of several is no outage, and
        // when it is the last one, `down` says so at `warn`.
        let quiet = self.is_down() || facility == "FAIL";
        match level {
            RDKafkaLogLevel::Emerg
            | RDKafkaLogLevel::Alert
            | RDKafkaLogLevel::Critical
            | RDKafkaLogLevel::Error
                if !quiet =>
            {
                error!(target: "librdkafka", client, facility, "{line}");
            }
            RDKafkaLogLevel::Warning if !quiet => {
                warn!(target: "librdkafka", client, facility, "{line}");
            }
            RDKafkaLogLevel::Notice | RDKafkaLogLevel::Info if !quiet => {
                info!(target: "librdkafka", client, facility, "{line}");
            }
            _ => debug!(target: "librdkafka", client, facility, "{line}"),
        }
    }

    /// The consumer's statistics: up when any broker connection is up, down when none
    /// is — unless the consumer has not reconnected since another client ended the last
    /// outage. Statistics older than `STALE_STATISTICS` (3 s) are ignored: the consumer's
    /// wait in its queue while the runner does not poll it (see [`Self::log_error`]). So
    /// are those not taken after the last change of state: a client's statistics from
    /// just before a producer noticed the broker gone still show the connection up, and
    /// taking them as a sign of life would end the outage and start it again — two
    /// warnings for one.
    pub fn consumer_stats(&self, statistics: &Statistics) {
        if !self.fresh(statistics) {
            return;
        }
        if any_up(statistics) {
            self.up();
            self.0.consumer_reconnecting.store(false, Ordering::Release);
        } else if !self.0.consumer_reconnecting.load(Ordering::Acquire) {
            self.down("no broker connection is up (client statistics)");
        }
    }

    /// A producer's statistics, only as a sign of life: a producer connects when it has
    /// something to send, so an idle one (the dead-letter producer, mostly) shows no
    /// connection up while the broker is fine. Its outages come as `ALL_BROKERS_DOWN`
    /// errors.
    pub fn producer_stats(&self, statistics: &Statistics) {
        if self.fresh(statistics) && any_up(statistics) {
            self.up();
        }
    }

    fn fresh(&self, statistics: &Statistics) -> bool {
        let age_s = chrono::Utc::now().timestamp() - statistics.time;
        !statistics.brokers.is_empty()
            && age_s <= STALE_STATISTICS.as_secs() as i64
            && statistics.time > self.0.changed_at.load(Ordering::Acquire)
    }
}

fn any_up(statistics: &Statistics) -> bool {
    statistics.brokers.values().any(|b| b.state == "UP")
}

/// What the API's `/readyz` reads: whether the pipeline consumes — it has taken part in a
/// Kafka rebalance (or the demo has backfilled) and the brokers are reachable.
#[derive(Debug, Clone, Default)]
pub struct Readiness {
    assigned: Arc<AtomicBool>,
    broker: BrokerHealth,
}

impl Readiness {
    /// Sets the flag.
    pub fn set(&self, ready: bool) {
        self.assigned.store(ready, Ordering::Release);
    }

    /// Reads the flag: assigned and no broker outage.
    pub fn is_ready(&self) -> bool {
        self.check().is_ok()
    }

    /// Why the pipeline does not consume, if it does not.
    ///
    /// # Errors
    /// The reason, for `/readyz`'s 503 body.
    pub fn check(&self) -> std::result::Result<(), String> {
        if let Some(down) = self.broker.unreachable_for() {
            return Err(format!(
                "kafka broker unreachable for {} s; waiting for it to come back",
                down.as_secs()
            ));
        }
        if self.assigned.load(Ordering::Acquire) {
            Ok(())
        } else {
            Err("pipeline has no partition assignment yet".into())
        }
    }

    /// The brokers' reachability, shared with the Kafka clients.
    pub fn broker(&self) -> &BrokerHealth {
        &self.broker
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_outage_starts_once_and_ends_on_the_first_sign_of_life() {
        let health = BrokerHealth::default();
        assert!(!health.is_down());
        assert_eq!(health.unreachable_for(), None);
        health.up(); // no outage: nothing to end
        health.down("all brokers down");
        let first = health.unreachable_for().expect("down");
        std::thread::sleep(Duration::from_millis(5));
        health.down("again, from another client");
        assert!(
            health.unreachable_for().expect("still down") > first,
            "the outage keeps its start"
        );
        let clone = health.clone();
        clone.up();
        assert!(!health.is_down(), "clones share the state");
        assert_eq!(health.unreachable_for(), None);
    }

    #[test]
    fn old_statistics_are_ignored() {
        let health = BrokerHealth::default();
        let mut stats = Statistics::default();
        stats.brokers.insert(
            "b/0".into(),
            rdkafka::statistics::Broker {
                state: "DOWN".into(),
                ..Default::default()
            },
        );
        health.consumer_stats(&stats);
        assert!(
            !health.is_down(),
            "statistics of 1970 say nothing about now"
        );
        stats.time = chrono::Utc::now().timestamp();
        health.consumer_stats(&stats);
        assert!(health.is_down(), "fresh statistics without a connection up");
        if let Some(broker) = stats.brokers.get_mut("b/0") {
            broker.state = "UP".into();
        }
        stats.time += 1;
        health.consumer_stats(&stats);
        assert!(!health.is_down());
    }

    #[test]
    fn statistics_from_before_a_change_do_not_undo_it() {
        let health = BrokerHealth::default();
        let mut stats = Statistics::default();
        stats.brokers.insert(
            "b/0".into(),
            rdkafka::statistics::Broker {
                state: "UP".into(),
                ..Default::default()
            },
        );
        health.down("1/1 brokers are down");
        // Taken in the second the producer noticed: the consumer's connection may not
        // have been closed yet.
        stats.time = health.0.changed_at.load(Ordering::Acquire);
        health.consumer_stats(&stats);
        assert!(health.is_down(), "the outage goes on");
        stats.time += 1;
        health.consumer_stats(&stats);
        assert!(!health.is_down(), "statistics of a later second end it");
        if let Some(broker) = stats.brokers.get_mut("b/0") {
            broker.state = "DOWN".into();
        }
        stats.time -= 1;
        health.consumer_stats(&stats);
        assert!(!health.is_down(), "nor do old ones start one");
    }

    #[test]
    fn a_consumer_still_reconnecting_after_an_outage_starts_no_new_one() {
        let health = BrokerHealth::default();
        let mut stats = Statistics::default();
        stats.brokers.insert(
            "b/0".into(),
            rdkafka::statistics::Broker {
                state: "TRY_CONNECT".into(),
                ..Default::default()
            },
        );
        health.down("1/1 brokers are down");
        // The output producer's delivery ends it; the consumer waits out its backoff.
        health.up();
        stats.time = health.0.changed_at.load(Ordering::Acquire) + 1;
        health.consumer_stats(&stats);
        assert!(!health.is_down(), "no second outage while reconnecting");
        if let Some(broker) = stats.brokers.get_mut("b/0") {
            broker.state = "UP".into();
        }
        stats.time += 1;
        health.consumer_stats(&stats);
        if let Some(broker) = stats.brokers.get_mut("b/0") {
            broker.state = "DOWN".into();
        }
        stats.time += 1;
        health.consumer_stats(&stats);
        assert!(
            health.is_down(),
            "once reconnected, losing it again is an outage"
        );
    }

    #[test]
    fn an_idle_producer_without_connections_says_nothing() {
        let health = BrokerHealth::default();
        let mut stats = Statistics::default();
        stats.brokers.insert(
            "b/0".into(),
            rdkafka::statistics::Broker {
                state: "INIT".into(),
                ..Default::default()
            },
        );
        stats.time = chrono::Utc::now().timestamp();
        health.producer_stats(&stats);
        assert!(!health.is_down());
        health.down("1/1 brokers are down");
        stats.time = health.0.changed_at.load(Ordering::Acquire) + 1;
        health.producer_stats(&stats);
        assert!(health.is_down(), "no connection up is no sign of life");
        if let Some(broker) = stats.brokers.get_mut("b/0") {
            broker.state = "UP".into();
        }
        health.producer_stats(&stats);
        assert!(!health.is_down());
    }

    #[test]
    fn only_all_brokers_down_starts_an_outage() {
        let health = BrokerHealth::default();
        health.client_error(
            "test",
            &KafkaError::Global(RDKafkaErrorCode::BrokerTransportFailure),
            "one connection lost",
        );
        assert!(!health.is_down());
        health.client_error(
            "test",
            &KafkaError::Global(RDKafkaErrorCode::AllBrokersDown),
            "3/3 brokers are down",
        );
        assert!(health.is_down());
    }
}
