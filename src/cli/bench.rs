//! `stadtpuls bench`: the reference workload through the real streaming engine.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::Context;
use clap::Args;
use serde_json::json;
use stadtpuls_benches::{Checksum, FileSource, Network, reference_pipeline_with};
use stadtpuls_config::{Config, env_from_process};
use stadtpuls_ingest::demo::LogDeadLetters;
use stadtpuls_ingest::pipeline::{Limits, Pipeline};
use stadtpuls_ingest::runner;
use stadtpuls_processing::window::WindowShape;
use tokio::sync::watch;

/// The cargo profile this binary was built with (`build.rs`): `dist` for published
/// figures, `release` for the demo's quick build, `dev` for tests. Every report says it.
pub const BUILD_PROFILE: &str = env!("STADTPULS_BUILD_PROFILE");

/// Arguments of `stadtpuls bench`.
#[derive(Debug, Args)]
pub struct BenchArgs {
    /// NDJSON file of the reference workload (`shared/bench/gen.py`); each line is one message.
    #[arg(long, required_unless_present_any = ["sql", "sse", "network"])]
    pub input: Option<PathBuf>,
    /// Instead of `--input`: a synthetic network of CITIESxSENSORS (e.g. `50x200000`), every
    /// sensor reporting once a minute for `--network-minutes` (the cost curve,
    /// `perf/cost_curve.py`); written to a temporary file first, not timed.
    #[arg(long, conflicts_with = "input")]
    pub network: Option<String>,
    /// Minutes the `--network` reports.
    #[arg(long, default_value_t = 5)]
    pub network_minutes: u32,
    /// Tumbling window sizes, comma-separated (the reference query's is 1m).
    #[arg(long, value_delimiter = ',', default_value = "1m", value_parser = humantime::parse_duration)]
    pub windows: Vec<Duration>,
    /// A hopping window family as SIZE/SLIDE (e.g. `15m/5m`) besides the tumbling sizes.
    #[arg(long)]
    pub hopping: Option<String>,
    /// Allowed out-of-orderness of the watermark.
    #[arg(long, default_value = "30s", value_parser = humantime::parse_duration)]
    pub out_of_orderness: Duration,
    /// Messages per batch, as a Kafka fetch of `kafka.batch_max_messages`.
    #[arg(long, default_value_t = 10_000)]
    pub batch: usize,
    /// Also run the workload end to end through this broker (`host:port`): produce the
    /// first `--limit` lines to per-city topics, time the pipeline from its first fetch to
    /// its last window, and time a bare consumer draining the same topics. With `--sse`:
    /// time parking messages from this broker to the push stream instead.
    #[arg(long)]
    pub kafka: Option<String>,
    /// Lines used by the `--kafka` run (a Kafka-protocol broker holds them all).
    #[arg(long, default_value_t = 1_000_000)]
    pub limit: u64,
    /// With `--kafka`: observations per message — 1 sends each line as its own message,
    /// N > 1 sends a city's lines as JSON arrays of N (the last of each city shorter). The
    /// figures are then given per observation and per message; `--batch` still counts
    /// observations (a fetch takes `batch / N` messages).
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u64).range(1..))]
    pub per_message: u64,
    /// Benchmark SQL instead: generate one day of 1-minute history for the demo cities,
    /// laid out as compaction writes a day (sorted by sensor, then window start), and
    /// time typical analyst queries here and in DuckDB (from the test venv), and the
    /// REST history's query (sensor 42 of ulm, the day in 1-hour buckets).
    #[arg(long)]
    pub sql: bool,
    /// Where the SQL benchmark's history goes (kept and reused); default: a temporary
    /// directory, removed afterwards.
    #[arg(long)]
    pub sql_dir: Option<PathBuf>,
    /// Synthetic traffic sensors per city (2000 × 9 cities × 1440 minutes ≈ 26 M rows).
    #[arg(long, default_value_t = 2000)]
    pub sql_sensors_per_city: u32,
    /// Minutes of the day generated.
    #[arg(long, default_value_t = 1440)]
    pub sql_minutes: u32,
    /// Runs per query; the median is reported.
    #[arg(long, default_value_t = 3)]
    pub sql_runs: usize,
    /// Benchmark the push stream instead: latency from publishing closed windows to the
    /// event on each subscriber's socket (`GET /v1/stream`, loopback).
    #[arg(long)]
    pub sse: bool,
    /// Subscribers connected at once.
    #[arg(long, default_value_t = 1000)]
    pub sse_clients: usize,
    /// Rounds of closed windows published.
    #[arg(long, default_value_t = 30)]
    pub sse_rounds: usize,
    /// Closed windows (events) per round, all matching every subscriber.
    #[arg(long, default_value_t = 20)]
    pub sse_events: usize,
    /// Pause between rounds, milliseconds (with `--kafka`: between produced messages).
    #[arg(long, default_value_t = 250)]
    pub sse_interval_ms: u64,
    /// With `--sse --kafka BROKERS`: facility counts produced to the broker, each timed
    /// from the producer to its `parking` event on a subscriber's socket.
    #[arg(long, default_value_t = 300)]
    pub sse_kafka_messages: usize,
}

impl BenchArgs {
    /// Runs the workload and prints the summary and the harness's `RESULT {…}` line.
    pub async fn run(self) -> anyhow::Result<()> {
        if BUILD_PROFILE != "dist" {
            eprintln!(
                "stadtpuls bench: built with the `{BUILD_PROFILE}` profile; published figures \
                 come from `cargo build --profile dist` (thin LTO, docs/performance.md)"
            );
        }
        if self.sql {
            return super::bench_sql::run(&self).await;
        }
        if self.sse {
            return match self.kafka.clone() {
                Some(brokers) => super::bench_sse_kafka::run(&self, &brokers).await,
                None => super::bench_sse::run(&self).await,
            };
        }
        match self.kafka.clone() {
            Some(brokers) => super::bench_kafka::run(&self, &brokers).await,
            None => self.run_file().await,
        }
    }

    /// The reference workload's file (clap requires it unless `--sql`).
    pub fn input(&self) -> anyhow::Result<&std::path::Path> {
        self.input
            .as_deref()
            .context("--input FILE is required (or --sql)")
    }

    /// The engine set up for the reference workload: the given cities, sensors admitted on
    /// first sight, the `--windows` (1 minute unless given) over instants, the given
    /// out-of-orderness, no lateness.
    pub fn pipeline(&self, config: &Config, cities: &[&str]) -> anyhow::Result<Pipeline> {
        let limits = Limits {
            max_message_bytes: config.kafka.max_message_bytes,
            max_future_ms: config.windows.max_future.as_millis() as i64,
            max_clock_jump_ms: config.windows.max_clock_jump.as_millis() as i64,
        };
        Ok(reference_pipeline_with(
            cities,
            &self.shapes()?,
            self.out_of_orderness.as_millis() as i64,
            config.windows.idle_timeout.as_millis() as i64,
            limits,
        ))
    }

    /// `--windows` and `--hopping` as window families.
    fn shapes(&self) -> anyhow::Result<Vec<WindowShape>> {
        let ms = |d: &Duration| d.as_millis() as i64;
        let mut shapes: Vec<WindowShape> = self
            .windows
            .iter()
            .map(|d| WindowShape::tumbling(ms(d)))
            .collect();
        if let Some(text) = &self.hopping {
            let (size, slide) = text
                .split_once('/')
                .context("--hopping is SIZE/SLIDE, e.g. 15m/5m")?;
            let parse = |part: &str| {
                humantime::parse_duration(part.trim())
                    .with_context(|| format!("--hopping `{text}`: `{part}` is not a duration"))
            };
            let (size, slide) = (ms(&parse(size)?), ms(&parse(slide)?));
            anyhow::ensure!(
                slide > 0 && slide < size && size % slide == 0,
                "--hopping `{text}`: the slide must divide the size and be shorter"
            );
            shapes.push(WindowShape {
                size_ms: size,
                slide_ms: slide,
            });
        }
        anyhow::ensure!(
            shapes.iter().all(|s| s.size_ms > 0),
            "window sizes must be positive"
        );
        Ok(shapes)
    }

    async fn run_file(&self) -> anyhow::Result<()> {
        // The reference workload's cities are the demo's; its sensors are not in a registry.
        let config = Config::demo(&env_from_process()).map_err(|e| anyhow::anyhow!("{e}"))?;
        let network = match &self.network {
            Some(text) => {
                Some(Network::parse(text, self.network_minutes).map_err(|e| anyhow::anyhow!(e))?)
            }
            None => None,
        };
        let (cities, generated) = match &network {
            Some(network) => {
                let cities: Vec<String> = network.cities().into_iter().map(|(id, _)| id).collect();
                (cities, Some(write_network(network)?))
            }
            None => (config.cities.iter().map(|c| c.id.clone()).collect(), None),
        };
        let city_ids: Vec<&str> = cities.iter().map(String::as_str).collect();
        let mut pipeline = self.pipeline(&config, &city_ids)?;
        let input = match &generated {
            Some(file) => file.path(),
            None => self.input()?,
        };
        let mut source = FileSource::open(input, self.batch)
            .with_context(|| format!("cannot open {}", input.display()))?;
        let m = measure(&mut pipeline, &mut source).await?;
        drop(generated);
        let (summary, checksum, elapsed) = (m.summary, m.checksum, m.elapsed_s);
        let (open_max, bytes_at_max) = (m.open_max, m.bytes_at_max);
        let events = summary.messages;
        let rate = events as f64 / elapsed.max(1e-9);
        let peak_rss = peak_rss_bytes().unwrap_or_default();
        let bytes_per_state = if open_max > 0 {
            bytes_at_max as f64 / open_max as f64
        } else {
            0.0
        };
        eprintln!(
            "stadtpuls bench: {events} events in {elapsed:.2} s = {rate:.0} events/s; {} result rows, checksum {}; \
             {} rejected, {} late; peak RSS {:.0} MB; window state {:.0} B per open (sensor, window) at peak ({open_max} open); \
             profile {BUILD_PROFILE}",
            checksum.rows,
            checksum.value(),
            summary.rejected,
            summary.late,
            peak_rss as f64 / 1e6,
            bytes_per_state
        );
        let result = json!({
            "peer": "stadtpuls",
            "version": env!("CARGO_PKG_VERSION"),
            "profile": BUILD_PROFILE,
            "rows": checksum.rows,
            "checksum": checksum.value(),
            "cnt_total": checksum.cnt_total,
            "sum_vc": checksum.sum_vc,
            "sum_heavy": checksum.sum_heavy,
            "sum_occ10": checksum.sum_occ10,
            "sum_speed10": checksum.sum_speed10,
            "late_events": summary.late,
            "dropped_events": summary.rejected,
            "engine_s": (elapsed * 1000.0).round() / 1000.0,
            "events_per_s": rate.round(),
            "peak_rss_bytes": peak_rss,
            "open_states_max": open_max,
            "state_bytes_per_open": bytes_per_state.round(),
            "network": network.map(|n| json!({
                "cities": n.cities,
                "sensors_per_city": n.sensors_per_city,
                "minutes": n.minutes,
            })),
            "windows": self.shapes()?.iter().map(|s| s.label()).collect::<Vec<_>>(),
        });
        println!("RESULT {result}");
        Ok(())
    }
}

/// What one run of the workload through the pipeline produced.
pub struct Measured {
    pub summary: runner::RunSummary,
    pub checksum: Checksum,
    pub elapsed_s: f64,
    pub open_max: usize,
    pub bytes_at_max: usize,
}

/// Runs `source` to its end through `pipeline`, checksumming every closed window.
pub async fn measure<S: runner::Source>(
    pipeline: &mut Pipeline,
    source: &mut S,
) -> anyhow::Result<Measured> {
    let mut sink = LogDeadLetters::default();
    let (_stop_tx, stop_rx) = watch::channel(false);
    let mut checksum = Checksum::default();
    let mut checksum_error = None;
    let (mut open_max, mut bytes_at_max) = (0usize, 0usize);
    let started = Instant::now();
    let checkpointing = runner::Checkpointing::disabled();
    let summary = runner::run(
        pipeline,
        source,
        &mut sink,
        &mut (),
        &checkpointing,
        stop_rx,
        |out| {
            for closed in &out.traffic {
                if let Err(e) = checksum.add(closed) {
                    checksum_error = Some(e);
                }
            }
            if out.open_states > open_max {
                (open_max, bytes_at_max) = (out.open_states, out.state_bytes);
            }
        },
    )
    .await?;
    let elapsed_s = started.elapsed().as_secs_f64();
    if let Some(e) = checksum_error {
        return Err(e.into());
    }
    Ok(Measured {
        summary,
        checksum,
        elapsed_s,
        open_max,
        bytes_at_max,
    })
}

/// The network's reports in a temporary file, removed when dropped.
struct Generated(PathBuf);

impl Generated {
    fn path(&self) -> &std::path::Path {
        &self.0
    }
}

impl Drop for Generated {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// Writes `network`'s reports to a temporary file.
fn write_network(network: &Network) -> anyhow::Result<Generated> {
    let path = std::env::temp_dir().join(format!(
        "stadtpuls-network-{}x{}-{}.ndjson",
        network.cities,
        network.sensors_per_city,
        std::process::id()
    ));
    let generated = Generated(path);
    let file = std::fs::File::create(generated.path())
        .with_context(|| format!("cannot create {}", generated.path().display()))?;
    let mut out = std::io::BufWriter::with_capacity(1 << 20, file);
    network
        .write_ndjson(&mut out)
        .and_then(|()| std::io::Write::flush(&mut out))
        .with_context(|| format!("cannot write {}", generated.path().display()))?;
    Ok(generated)
}

/// Peak resident memory of this process in bytes (Linux `VmHWM`), if known.
fn peak_rss_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}
