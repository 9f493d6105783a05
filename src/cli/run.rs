//! `stadtpuls run`: consume from Kafka, serve the API.

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context;
use clap::Args;
use stadtpuls_config::{Config, InstanceId, env_from_process};
use stadtpuls_ingest::history::HistorySink;
use stadtpuls_ingest::kafka::{
    KafkaDeadLetters, KafkaPush, KafkaSource, OutputTopics, StandardTopics,
    ensure_deadletter_topic, ensure_output_topics, ensure_standard_topics,
};
use stadtpuls_ingest::pull::Poller;
use stadtpuls_ingest::runner::Checkpointing;
use stadtpuls_ingest::sink::SinkPair;

use crate::app::{App, Io};
use crate::push::KafkaPushSink;

/// Arguments of `stadtpuls run`.
#[derive(Debug, Args)]
pub struct RunArgs {
    /// Config file (TOML); `STADTPULS_<SECTION>__<KEY>` variables override it.
    #[arg(
        long,
        short,
        env = "STADTPULS_CONFIG",
        default_value = "stadtpuls.toml"
    )]
    pub config: PathBuf,
}

impl RunArgs {
    /// Runs until SIGINT/SIGTERM.
    pub async fn run(self) -> anyhow::Result<()> {
        let config = Config::load(&self.config, &env_from_process())
            .map_err(|e| anyhow::anyhow!("{e}"))
            .with_context(|| format!("invalid configuration {}", self.config.display()))?;
        run_config(config, &self.config.display().to_string()).await
    }
}

/// `stadtpuls run` on a loaded `config` (from `origin`, named in errors) until
/// SIGINT/SIGTERM; `stadtpuls bench --sse --kafka` runs it in-process.
pub(crate) async fn run_config(mut config: Config, origin: &str) -> anyhow::Result<()> {
    {
        // Before anything is consumed: a missing dead-letter topic would hold every input
        // topic at the first refused message.
        ensure_deadletter_topic(&config.kafka)
            .await
            .context("cannot make sure of the dead-letter topic")?;
        config.kafka.instance_id = resolve_instance_id(&config);
        if config.output.enabled {
            ensure_output_topics(&config.kafka, &config.output, &config.cities)
                .await
                .context("cannot create the output topics")?;
            ensure_standard_topics(&config.kafka, &config.output, &config.cities)
                .await
                .context("cannot create the standard outputs' topics")?;
        }
        let app = App::new(config)?;
        // The push gateway's producer shares the pipeline's broker health, so a push
        // during an outage is answered 503 at once.
        let push = Arc::new(
            KafkaPush::with_health(&app.config, app.ready.broker().clone())
                .context("cannot create the push producer")?,
        );
        // `[[cities.pull]]` writes what it fetches through the same producer; a certificate
        // that cannot be read stops the start here, naming its key and file.
        let pollers = Poller::from_config(&app.config, &push)
            .map_err(|e| anyhow::anyhow!("{e}"))
            .with_context(|| format!("invalid pull source in {origin}"))?;
        let standard = StandardTopics::from_config(
            &app.config,
            &app.registries,
            app.live.clone(),
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_millis() as i64),
            app.ready.broker().clone(),
        )
        .context("cannot create the standard outputs' producer")?;
        let app = app
            .with_push(Arc::new(KafkaPushSink(push)))
            .with_pull(pollers)
            .with_standard_outputs(standard);
        app.serve(|config, ready| {
            let checkpointing = Checkpointing::from_config(&config.checkpoint);
            // One broker health for the three clients: an outage is logged once and shown
            // by `/readyz` and `stadtpuls_kafka_broker_up`.
            let health = ready.broker().clone();
            let feed_topics: Vec<&str> = config
                .feeds()
                .map(|(_, feed)| feed.topic.as_str())
                .collect();
            let source = KafkaSource::with_feeds(
                &config.kafka,
                &feed_topics,
                ready,
                checkpointing.store.clone(),
            )?;
            let dead_letters = KafkaDeadLetters::with_health(&config.kafka, health.clone())?;
            // History first: a window is in the output topics only once it is in history.
            let history = HistorySink::from_config(&config.history);
            let output = if config.output.enabled {
                Some(OutputTopics::with_health(
                    &config.kafka,
                    &config.output,
                    &config.cities,
                    health,
                )?)
            } else {
                None
            };
            Ok(Io {
                source,
                dead_letters,
                sinks: SinkPair::new(history, output),
                checkpointing,
            })
        })
        .await?;
        Ok(())
    }
}

/// `kafka.instance_id` as the consumer uses it: when unset, `<hostname>-<API port>`
/// (stable across restarts on one host or of one StatefulSet pod, distinct for two
/// instances on one host); dynamic membership when no stable id can be derived.
pub(crate) fn resolve_instance_id(config: &Config) -> InstanceId {
    if config.kafka.instance_id != InstanceId::FromHost {
        return config.kafka.instance_id.clone();
    }
    let port = config.api.bind.port();
    match derived_instance_id(config) {
        Some(id) => {
            tracing::info!(instance = %id, "kafka.instance_id not set: static group membership as `{id}` (hostname and API port)");
            InstanceId::Fixed(id)
        }
        None => {
            tracing::warn!(
                port,
                "kafka.instance_id not set and no stable id to derive (no hostname, or API port 0): dynamic group membership, so a restart after a crash waits session.timeout.ms for the old member; set kafka.instance_id"
            );
            InstanceId::Dynamic
        }
    }
}

/// `<hostname>-<API port>`, or `None` without a hostname or with API port 0.
pub(crate) fn derived_instance_id(config: &Config) -> Option<String> {
    hostname().and_then(|host| InstanceId::derive(&host, config.api.bind.port()))
}

/// The host's name (gethostname(2)); `None` when it cannot be read or is not UTF-8.
fn hostname() -> Option<String> {
    let mut buf = [0u8; 256];
    // SAFETY: the pointer and length describe `buf`, which outlives the call; gethostname
    // writes at most `len` bytes into it.
    let rc = unsafe { libc::gethostname(buf.as_mut_ptr().cast(), buf.len()) };
    if rc != 0 {
        return None;
    }
    let end = buf.iter().position(|&b| b == 0).unwrap_or(buf.len());
    String::from_utf8(buf[..end].to_vec())
        .ok()
        .filter(|host| !host.trim().is_empty())
}
