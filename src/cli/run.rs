//! `stadtpuls run`: consume from Kafka, serve the API.

use std::path::PathBuf;

use anyhow::Context;
use clap::Args;
use stadtpuls_config::{Config, env_from_process};
use stadtpuls_ingest::kafka::{KafkaDeadLetters, KafkaSource};

use crate::app::App;

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
            let source = KafkaSource::new(&config.kafka, ready)?;
            let sink = KafkaDeadLetters::new(&config.kafka)?;
            Ok((source, sink))
        })
        .await?;
        Ok(())
    }
}
