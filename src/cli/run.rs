//! `stadtpuls run`: consume from Kafka, serve the API.

use std::path::PathBuf;

use anyhow::Context;
use clap::Args;
use stadtpuls_config::{Config, env_from_process};
use stadtpuls_ingest::kafka::{KafkaDeadLetters, KafkaSource};
use stadtpuls_ingest::runner::Checkpointing;

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
        let app = App::new(config)?;
        app.serve(|config, ready| {
            let checkpointing = Checkpointing::from_config(&config.checkpoint);
            let source = KafkaSource::new(&config.kafka, ready, checkpointing.store.clone())?;
            let dead_letters = KafkaDeadLetters::new(&config.kafka)?;
            Ok(Io {
                source,
                dead_letters,
                sinks: (),
                checkpointing,
            })
        })
        .await?;
        Ok(())
    }
}
