//! Command-line interface: one subcommand per module under `cli/`.

mod bench;
mod bench_kafka;
mod bench_sql;
mod bench_sse;
mod bench_sse_kafka;
mod config_check;
mod demo;
mod pace;
mod produce;
mod registry_import;
mod replay;
mod run;
mod sql;

use std::ffi::OsStr;
use std::io::IsTerminal;
use std::path::{Path, PathBuf};

use anyhow::Context;
use clap::{Parser, Subcommand, ValueEnum};
use stadtpuls_config::{Config, env_from_process};
use tracing_subscriber::EnvFilter;

/// Stadtpuls: live traffic-flow and parking metrics for cooperating cities, from Kafka.
#[derive(Debug, Parser)]
#[command(name = "stadtpuls", version, about, long_about = None)]
pub struct Cli {
    /// Log format on stderr (level via RUST_LOG, default info). Text is coloured only on
    /// a terminal, and not when NO_COLOR is set.
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Text, env = "STADTPULS_LOG_FORMAT")]
    pub log_format: LogFormat,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// Log output format.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line, for log shippers.
    Json,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Consume sensor topics from Kafka and serve live metrics over HTTP.
    Run(run::RunArgs),
    /// Run on the built-in simulated feed of nine cities: no broker needed.
    Demo(demo::DemoArgs),
    /// Write the simulated feed to Kafka at a chosen rate.
    Produce(produce::ProduceArgs),
    /// Write NDJSON files or the raw archive back into topics (a backfill, a re-feed of a day).
    Replay(replay::ReplayArgs),
    /// Run the reference workload through the engine and print events/s and the checksum.
    Bench(bench::BenchArgs),
    /// Run one read-only SQL query on the Parquet history and the registries.
    Sql(sql::SqlArgs),
    /// Configuration tools.
    #[command(subcommand)]
    Config(ConfigCommand),
    /// API key tools.
    #[command(subcommand)]
    Key(KeyCommand),
    /// Sensor registry tools.
    #[command(subcommand)]
    Registry(RegistryCommand),
}

/// `stadtpuls registry …`
#[derive(Debug, Subcommand)]
pub enum RegistryCommand {
    // The help text is `ImportArgs`' own doc comment.
    Import(registry_import::ImportArgs),
}

/// `stadtpuls key …`
#[derive(Debug, Subcommand)]
pub enum KeyCommand {
    /// Print the SHA-256 of an API key, for `api_keys[].key_sha256` in the config.
    Hash {
        /// The key (read from standard input when omitted, so it stays out of the shell
        /// history).
        key: Option<String>,
    },
}

/// `stadtpuls config …`
#[derive(Debug, Subcommand)]
pub enum ConfigCommand {
    /// Validate a config file and its sensor registries; report every problem at once.
    Check {
        /// The TOML file to check.
        file: PathBuf,
    },
}

impl Command {
    /// Runs the subcommand.
    pub async fn run(self) -> anyhow::Result<()> {
        match self {
            Command::Run(args) => args.run().await,
            Command::Demo(args) => args.run().await,
            Command::Produce(args) => args.run().await,
            Command::Replay(args) => args.run().await,
            Command::Bench(args) => args.run().await,
            Command::Sql(args) => args.run().await,
            Command::Config(ConfigCommand::Check { file }) => config_check::run(&file),
            Command::Registry(RegistryCommand::Import(args)) => args.run(),
            Command::Key(KeyCommand::Hash { key }) => {
                let key = match key {
                    Some(key) => key,
                    None => {
                        let mut line = String::new();
                        std::io::stdin().read_line(&mut line)?;
                        line.trim_end_matches(['\r', '\n']).to_owned()
                    }
                };
                anyhow::ensure!(!key.is_empty(), "the key must not be empty");
                println!("{}", stadtpuls_api::sql::hash_key(&key));
                Ok(())
            }
        }
    }
}

/// Installs the tracing subscriber.
pub fn init_tracing(format: LogFormat) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let ansi = matches!(format, LogFormat::Text)
        && colour(
            std::io::stderr().is_terminal(),
            std::env::var_os("NO_COLOR").as_deref(),
        );
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(ansi);
    match format {
        LogFormat::Text => builder.init(),
        LogFormat::Json => builder.json().init(),
    }
}

/// Whether log lines get ANSI colours: only on a terminal (escape codes in a file, a
/// pipe or journald are noise to grep and log shippers), and not when `NO_COLOR` is set
/// to anything but the empty string (<https://no-color.org>).
fn colour(stderr_is_terminal: bool, no_color: Option<&OsStr>) -> bool {
    stderr_is_terminal && no_color.is_none_or(OsStr::is_empty)
}

/// The config of a command that takes `--config FILE` and otherwise runs on the built-in
/// nine-city demo; `STADTPULS_*` environment variables apply to both.
fn config_or_demo(file: Option<&Path>) -> anyhow::Result<Config> {
    let env = env_from_process();
    match file {
        Some(file) => Config::load(file, &env),
        None => Config::demo(&env),
    }
    .map_err(|e| anyhow::anyhow!("{e}"))
    .context("invalid configuration")
}

#[cfg(test)]
mod tests {
    use std::ffi::OsStr;

    use super::colour;

    #[test]
    fn colour_only_on_a_terminal_without_no_color() {
        assert!(colour(true, None));
        assert!(
            colour(true, Some(OsStr::new(""))),
            "an empty NO_COLOR is unset"
        );
        assert!(!colour(true, Some(OsStr::new("1"))));
        assert!(!colour(false, None), "a file or pipe");
    }
}
