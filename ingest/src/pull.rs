//! `[[cities.pull]]`: polling a partner's HTTP endpoint (many DATEX II and ParkAPI
//! publishers, Mobilithek among them, offer nothing else) and writing each new document
//! unchanged to the city's topic of its format, through the push gateway's producer
//! ([`KafkaPush`]: acks=all, idempotent), with the format's `content-type`.
//!
//! Each source is one task ([`Poller::run`]): a conditional GET every `every`
//! (`If-None-Match` / `If-Modified-Since` from the last document written); a 304, or a
//! 200 whose body hashes like the last one, writes nothing; anything else is written and
//! the broker's acknowledgement awaited before the validators move on, so a document is
//! never skipped. Failures (DNS, connect, TLS, 4xx/5xx, timeout, oversized body, broker)
//! are logged with the source, counted, and retried with backoff; they never stop the
//! pipeline. Only the configured URL is fetched: no redirect is followed, and nothing in a
//! document names anything Stadtpuls would fetch.

mod client;
mod fetch;

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use reqwest::{Client, Url};
use sha2::{Digest, Sha256};
use stadtpuls_config::{Config, FeedFormat, PullConfig};
use tokio::sync::watch;
use tokio::time::Instant;
use tracing::{Instrument, debug, info, warn};

pub use client::PullSetupError;
pub use fetch::ErrorKind;

use crate::kafka::{KafkaPush, PushWriteError};
use crate::metrics::{PULL_BYTES, PULL_LAST_SUCCESS, PULL_REQUESTS};
use fetch::{Failure, Fetched, Validators};

/// The longest wait between two fetches of a failing source (unless `every` is longer).
pub const MAX_BACKOFF: Duration = Duration::from_secs(600);

/// What one fetch came to (the `outcome` label).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// A new document, written and acknowledged.
    Changed,
    /// 304 Not Modified: nothing written.
    NotModified,
    /// 200 with the same body as the last document written: nothing written.
    Unchanged,
    /// Failed; retried at the next tick, with backoff while it keeps failing.
    Failed(ErrorKind),
}

impl Outcome {
    /// The `outcome` label of `stadtpuls_pull_requests_total`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Changed => "changed",
            Self::NotModified => "not_modified",
            Self::Unchanged => "unchanged",
            Self::Failed(kind) => kind.as_str(),
        }
    }
}

/// One `[[cities.pull]]` source with its client and what it last wrote.
pub struct Poller {
    city: String,
    format: FeedFormat,
    key: String,
    /// The record key: one source's documents stay in one partition, in order.
    record_key: String,
    url: Url,
    shown_url: String,
    every: Duration,
    client: Client,
    writer: Arc<KafkaPush>,
    max_bytes: usize,
    validators: Validators,
    last_hash: Option<[u8; 32]>,
    failures: u32,
}

impl Poller {
    /// Sets up `pull` of `city`; bodies over `max_bytes` (`kafka.max_message_bytes`: the
    /// consumer would refuse them) are refused.
    ///
    /// # Errors
    /// A certificate, key or CA file that cannot be read or is not PEM.
    pub fn new(
        city: &str,
        pull: &PullConfig,
        max_bytes: usize,
        writer: Arc<KafkaPush>,
    ) -> Result<Self, PullSetupError> {
        let (url, client) = client::build(pull)?;
        Ok(Self {
            city: city.to_owned(),
            format: pull.format,
            key: pull.key.clone(),
            record_key: format!("pull:{}", pull.key),
            shown_url: client::for_logs(&url),
            url,
            every: pull.every,
            client,
            writer,
            max_bytes,
            validators: Validators::default(),
            last_hash: None,
            failures: 0,
        })
    }

    /// Every `[[cities.pull]]` source of `config`, writing through `writer`.
    ///
    /// # Errors
    /// The first source that cannot be set up.
    pub fn from_config(
        config: &Config,
        writer: &Arc<KafkaPush>,
    ) -> Result<Vec<Self>, PullSetupError> {
        config
            .pulls()
            .map(|(city, pull)| {
                Self::new(
                    &city.id,
                    pull,
                    config.kafka.max_message_bytes,
                    writer.clone(),
                )
            })
            .collect()
    }

    /// Fetches until `stop` turns true (or its sender is gone): at once, then every
    /// `every`, further apart while failing ([`backoff`]). A fetch in flight at the stop
    /// is abandoned: its document is fetched again after the restart.
    pub async fn run(mut self, mut stop: watch::Receiver<bool>) {
        info!(source = %self.key, city = %self.city, format = %self.format, url = %self.shown_url, every_s = self.every.as_secs_f64(), "pulling");
        let mut next = Instant::now();
        loop {
            tokio::select! {
                _ = stop.wait_for(|stop| *stop) => break,
                () = tokio::time::sleep_until(next) => {}
            }
            let started = Instant::now();
            tokio::select! {
                _ = stop.wait_for(|stop| *stop) => break,
                _ = self.poll_once() => {}
            }
            next = started + backoff(self.every, self.failures);
        }
        debug!(source = %self.key, "pull stopped");
    }

    /// One fetch: counted, logged, and written when it is a new document.
    pub async fn poll_once(&mut self) -> Outcome {
        let span = tracing::info_span!("pull", source = %self.key, city = %self.city, format = %self.format);
        async {
            let outcome = match self.fetch_and_write().await {
                Ok(outcome) => outcome,
                Err(failure) => {
                    self.failures = self.failures.saturating_add(1);
                    warn!(url = %self.shown_url, outcome = failure.kind.as_str(), failures = self.failures, error = %failure.detail, "pull failed; retried at the next tick");
                    Outcome::Failed(failure.kind)
                }
            };
            if !matches!(outcome, Outcome::Failed(_)) {
                if self.failures > 0 {
                    info!(url = %self.shown_url, after = self.failures, "pull recovered");
                }
                self.failures = 0;
                let now = SystemTime::now()
                    .duration_since(SystemTime::UNIX_EPOCH)
                    .map_or(0, |d| d.as_secs() as i64);
                PULL_LAST_SUCCESS
                    .with_label_values(&[&self.city, self.format.as_str()])
                    .set(now);
            }
            PULL_REQUESTS
                .with_label_values(&[&self.city, self.format.as_str(), outcome.as_str()])
                .inc();
            outcome
        }
        .instrument(span)
        .await
    }

    async fn fetch_and_write(&mut self) -> Result<Outcome, Failure> {
        let fetched =
            fetch::fetch(&self.client, &self.url, &self.validators, self.max_bytes).await?;
        let Fetched::Document { body, validators } = fetched else {
            debug!("not modified");
            return Ok(Outcome::NotModified);
        };
        PULL_BYTES
            .with_label_values(&[&self.city, self.format.as_str()])
            .inc_by(body.len() as u64);
        let hash: [u8; 32] = Sha256::digest(&body).into();
        if self.last_hash == Some(hash) {
            debug!(bytes = body.len(), "unchanged");
            self.validators = validators;
            return Ok(Outcome::Unchanged);
        }
        let bytes = body.len();
        let written = self
            .writer
            .write(
                &self.city,
                self.format,
                self.format.media_type(),
                &self.record_key,
                body,
            )
            .await
            .map_err(|error| {
                let kind = match error {
                    PushWriteError::Unavailable(_) => ErrorKind::Kafka,
                    _ => ErrorKind::Refused,
                };
                Failure::new(kind, error.to_string())
            })?;
        debug!(bytes, topic = %written.topic, partition = written.partition, offset = written.offset, "document written");
        self.validators = validators;
        self.last_hash = Some(hash);
        Ok(Outcome::Changed)
    }
}

/// The wait before the next fetch after `failures` failures in a row: `every`, then
/// doubling per further failure up to [`MAX_BACKOFF`] (never below `every`), so a source
/// that is down is not hammered and one that is back is read again soon.
pub fn backoff(every: Duration, failures: u32) -> Duration {
    if failures <= 1 {
        return every;
    }
    let doubled = every.saturating_mul(1 << (failures - 1).min(16));
    doubled.min(MAX_BACKOFF.max(every))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_its_cap() {
        let minute = Duration::from_secs(60);
        assert_eq!(backoff(minute, 0), minute);
        assert_eq!(backoff(minute, 1), minute, "retried at the next tick");
        assert_eq!(backoff(minute, 2), 2 * minute);
        assert_eq!(backoff(minute, 4), 8 * minute);
        assert_eq!(backoff(minute, 5), MAX_BACKOFF);
        assert_eq!(backoff(minute, u32::MAX), MAX_BACKOFF);
        let hour = Duration::from_secs(3600);
        assert_eq!(backoff(hour, 3), hour, "never below every");
    }
}
