//! `stadtpuls demo`: the whole product on the built-in simulated feed, no broker.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use clap::Args;
use stadtpuls_config::{DEMO_PUSH_KEY, DEMO_PUSH_KEY_SHA256, DEMO_SQL_KEY, DEMO_SQL_ULM_KEY};
use stadtpuls_ingest::demo::push::demo_push;
use stadtpuls_ingest::demo::{LogDeadLetters, SimulatedSource};
use stadtpuls_ingest::history::HistorySink;
use stadtpuls_ingest::runner::{Checkpointing, now_ms};
use stadtpuls_ingest::simulate::SimulatedFeed;

use crate::app::{App, Io};
use crate::push::DemoPushSink;

/// Arguments of `stadtpuls demo`.
#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Config file; default: the built-in nine-city demo.
    #[arg(long, short, env = "STADTPULS_CONFIG")]
    pub config: Option<PathBuf>,
    /// Event time to replay before going live, so the API has history at once.
    #[arg(long, default_value = "30m", value_parser = humantime::parse_duration)]
    pub backfill: Duration,
    /// Share of deliberately bad messages (0–1), to show rejections and dead letters.
    #[arg(long, default_value_t = 0.001)]
    pub bad_ratio: f64,
    /// Seed of the simulated feed.
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
}

impl DemoArgs {
    /// Runs until SIGINT/SIGTERM.
    pub async fn run(self) -> anyhow::Result<()> {
        let config = super::config_or_demo(self.config.as_deref())?;
        anyhow::ensure!(
            (0.0..=1.0).contains(&self.bad_ratio),
            "--bad-ratio must be within 0–1"
        );
        let app = App::new(config)?;
        if app.config.pulls().next().is_some() {
            tracing::warn!(
                "[[cities.pull]] sources are not polled by `stadtpuls demo` (it has no Kafka to write to); `stadtpuls run` polls them"
            );
        }
        // The push gateway feeds the embedded pipeline: pushes join the simulated batches.
        let (push, pushes) = demo_push(&app.config, app.ready.clone());
        let app = app.with_push(Arc::new(DemoPushSink(push)));
        let bind = app.config.api.bind;
        let start = now_ms() - self.backfill.as_millis() as i64;
        let feed = SimulatedFeed::new(&app.registries, self.seed, start, 60)
            .with_bad_ratio(self.bad_ratio);
        println!(
            "Stadtpuls demo: {} cities, simulated feed from {} ago",
            app.registries.len(),
            humantime::format_duration(self.backfill)
        );
        println!("  map:      http://{bind}/ (the live map in a browser)");
        println!("  API:      http://{bind}/v1/cities");
        println!("  parking:  http://{bind}/v1/cities/ulm/parking");
        println!("  metrics:  http://{bind}/metrics");
        if app.config.sql.enabled && !app.config.api_keys.is_empty() {
            println!(
                "  SQL:      curl -H 'Authorization: Bearer {DEMO_SQL_KEY}' -d '{{\"sql\": \"SHOW TABLES\"}}' http://{bind}/v1/sql"
            );
            println!(
                "            demo keys: {DEMO_SQL_KEY} (every city), {DEMO_SQL_ULM_KEY} (ulm and open data);"
            );
            println!(
                "            typed into the map's \"API key\" field, they show those cities there too"
            );
            if let Some(flight) = app.config.sql.flight_bind {
                println!("  Flight SQL: grpc://{flight} (the key as bearer token or password)");
            }
        }
        if app
            .config
            .push_keys
            .iter()
            .any(|key| key.key_sha256 == DEMO_PUSH_KEY_SHA256)
        {
            println!(
                "  push:     curl -H 'X-Push-Key: {DEMO_PUSH_KEY}' -H 'Content-Type: application/json' -d @report.json http://{bind}/v1/ingest/ulm"
            );
            println!("            (native JSON for ulm; docs/api.md, \"Push gateway\")");
        }
        println!("Press Ctrl-C to stop.");
        let cities: Vec<String> = app.registries.iter().map(|r| r.city.id.clone()).collect();
        app.serve(move |config, ready| {
            let ids: Vec<&str> = cities.iter().map(String::as_str).collect();
            Ok(Io {
                source: SimulatedSource::new(feed, ready, &ids).with_pushes(pushes),
                dead_letters: LogDeadLetters::default(),
                // The demo has no Kafka: history only, committed every 10 s.
                sinks: HistorySink::from_config(&config.history),
                checkpointing: Checkpointing::disabled(),
            })
        })
        .await?;
        Ok(())
    }
}
