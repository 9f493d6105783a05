//! `stadtpuls sql "SELECT …"`: the SQL engine of `POST /v1/sql` on the local history.
//!
//! It reads the config for the history directory, tables and registries (the built-in
//! demo's when no `--config` is given) and runs as the local user, who can read the
//! files anyway: every city is visible, no key is needed. With `--key` it runs as that
//! key's principal instead, under the same sharing policy as the network doors (to check
//! what a partner's key sees, or to hand a shell on the server to someone who must see
//! only their cities' rows through this command). The live tables are empty
//! here (the live view is in the running server's memory). The `[sql]` limits apply
//! (`STADTPULS_SQL__MAX_ROWS` raises the row cap for a large export); `sql.enabled` does
//! not, it switches the network doors.

use std::io::Write;
use std::path::PathBuf;

use anyhow::{Context, bail};
use clap::{Args, ValueEnum};
use stadtpuls_api::SqlEngine;
use stadtpuls_api::sql::{Principal, format};

/// Output formats of `stadtpuls sql`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum OutputFormat {
    /// A text table (the default on a terminal).
    Table,
    /// CSV with a header line.
    Csv,
    /// A JSON array of row objects.
    Json,
    /// A Parquet file (needs --output).
    Parquet,
}

/// Arguments of `stadtpuls sql`.
#[derive(Debug, Args)]
pub struct SqlArgs {
    /// One read-only statement, e.g. "SELECT city, count(*) FROM traffic_1m GROUP BY city".
    pub query: String,
    /// Config file (history directory, tables, registries); default: the built-in demo.
    #[arg(long, short, env = "STADTPULS_CONFIG")]
    pub config: Option<PathBuf>,
    /// Output format.
    #[arg(long, short, value_enum, default_value_t = OutputFormat::Table)]
    pub format: OutputFormat,
    /// Write the result to this file instead of standard output.
    #[arg(long, short)]
    pub output: Option<PathBuf>,
    /// Run as the principal of this API key (`[[api_keys]]`), seeing only what the
    /// sharing policy shows it; default: every city.
    #[arg(long)]
    pub key: Option<String>,
}

impl SqlArgs {
    /// Runs the query and writes its result.
    pub async fn run(self) -> anyhow::Result<()> {
        let mut config = super::config_or_demo(self.config.as_deref())?;
        // `sql.enabled` switches the network doors; whoever runs this reads the files anyway.
        config.sql.enabled = true;
        if self.format == OutputFormat::Parquet && self.output.is_none() {
            bail!("--format parquet writes a binary file: give --output FILE");
        }
        let registries = config
            .load_registries()
            .map_err(|e| anyhow::anyhow!("{e}"))
            .context("invalid sensor registry")?;
        let engine = SqlEngine::new(&config, &registries, None)?;
        let principal = match &self.key {
            Some(key) => engine
                .authenticate(key)
                .context("--key is not a configured API key")?,
            None => Principal::local(),
        };
        let result = engine.query(&principal, &self.query).await?;
        let bytes = match self.format {
            OutputFormat::Table => format::to_table(&result)?.into_bytes(),
            OutputFormat::Csv => format::to_csv(&result)?,
            OutputFormat::Json => format::to_json_rows(&result)?,
            OutputFormat::Parquet => format::to_parquet(&result)?,
        };
        match &self.output {
            Some(path) => {
                std::fs::write(path, &bytes)
                    .with_context(|| format!("cannot write {}", path.display()))?;
                eprintln!("{} rows written to {}", result.num_rows(), path.display());
            }
            None => {
                let mut stdout = std::io::stdout().lock();
                stdout.write_all(&bytes)?;
                stdout.flush()?;
            }
        }
        Ok(())
    }
}
