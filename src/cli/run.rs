//! `stadtpuls run`: consume from Kafka, serve the API.

use std::path::PathBuf;

use anyhow::Context;
use clap::Args;
use stadtpuls_config::{Config, env_from_process};
use stadtpuls_ingest::history::HistorySink;
use stadtpuls_ingest::kafka::{
    KafkaDeadLetters, KafkaSource, OutputTopics, ensure_deadletter_topic, ensure_output_topics,
};
use stadtpuls_ingest::runner::Checkpointing;
use stadtpuls_ingest::sink::SinkPair;

use crate::app::{App, Io};

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
        // Before anything is consumed: a missing dead-letter topic would hold every input
        // topic at the first refused message.
        ensure_deadletter_topic(&config.kafka)
            .await
            .context("cannot make sure of the dead-letter topic")?;
        if config.output.enabled {
            ensure_output_topics(&config.kafka, &config.output)
                .await
                .context("cannot create the output topics")?;
        }
        let app = App::new(config)?;
        app.serve(|config, ready| {
            let checkpointing = Checkpointing::from_config(&config.checkpoint);
            // One broker health for the three clients: an outage is logged once and shown
            // by `/readyz` and `stadtpuls_kafka_broker_up`.
            let health = ready.broker().clone();
            let source = KafkaSource::new(&config.kafka, ready, checkpointing.store.clone())?;
            let dead_letters = KafkaDeadLetters::with_health(&config.kafka, health.clone())?;
            // History first: a window is in the output topics only once it is in history.
            let history = HistorySink::from_config(&config.history);
            let output = if config.output.enabled {
                Some(OutputTopics::with_health(
                    &config.kafka,
                    &config.output,
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
