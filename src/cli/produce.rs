//! `stadtpuls produce`: write the simulated feed to Kafka.

use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::time::Duration;

use anyhow::Context;
use clap::{Args, ValueEnum};
use indicatif::{ProgressBar, ProgressStyle};
use stadtpuls_ingest::kafka::{FeedProducer, ensure_topics};
use stadtpuls_ingest::runner::now_ms;
use stadtpuls_ingest::simulate::SimulatedFeed;
use stadtpuls_processing::time::parse_rfc3339;

use super::pace::Pace;

/// Arguments of `stadtpuls produce`.
#[derive(Debug, Args)]
pub struct ProduceArgs {
    /// Config file for brokers and cities; default: the built-in nine-city demo.
    #[arg(long, short, env = "STADTPULS_CONFIG")]
    pub config: Option<PathBuf>,
    /// Brokers, overriding the config (`host:port,…`).
    #[arg(long, env = "STADTPULS_KAFKA__BROKERS")]
    pub brokers: Option<String>,
    /// Event time span to generate.
    #[arg(long, default_value = "1h", value_parser = humantime::parse_duration)]
    pub duration: Duration,
    /// First event time (RFC 3339); default: now minus --duration.
    #[arg(long)]
    pub start: Option<String>,
    /// Messages per second; 0 = as fast as the broker takes them.
    #[arg(long, default_value_t = 0)]
    pub rate: u64,
    /// Share of deliberately bad messages (0–1).
    #[arg(long, default_value_t = 0.0)]
    pub bad_ratio: f64,
    /// Seed of the simulated feed.
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// Partitions of topics this command creates.
    #[arg(long, default_value_t = 1)]
    pub partitions: i32,
    /// Key of spot records: `zone` keeps all spots of a zone on one partition (what
    /// Stadtpuls requires); `spot` keys by spot id, as a wrongly keying gateway would,
    /// to try the pipeline's detection (`stadtpuls_partition_conflicts_total`).
    #[arg(long, value_enum, default_value_t = SpotKeys::Zone)]
    pub spot_keys: SpotKeys,
}

/// The record key of spot sensor messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum SpotKeys {
    /// The zone (facility) id: one zone, one partition.
    Zone,
    /// The spot's own id: a zone's spots spread over the partitions (a fault).
    Spot,
}

impl ProduceArgs {
    /// Produces the feed and waits for every delivery.
    pub async fn run(self) -> anyhow::Result<()> {
        let mut config = super::config_or_demo(self.config.as_deref())?;
        if let Some(brokers) = &self.brokers {
            config.kafka.brokers.clone_from(brokers);
        }
        anyhow::ensure!(
            (0.0..=1.0).contains(&self.bad_ratio),
            "--bad-ratio must be within 0–1"
        );
        let registries = config
            .load_registries()
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        let span = self.duration.as_millis() as i64;
        let start = match &self.start {
            Some(text) => {
                parse_rfc3339(text).with_context(|| format!("--start `{text}` is not RFC 3339"))?
            }
            None => now_ms() - span,
        };
        let mut topics: Vec<String> = registries
            .iter()
            .flat_map(|r| {
                [
                    format!("sensors.{}.traffic", r.city.id),
                    format!("sensors.{}.parking", r.city.id),
                ]
            })
            .collect();
        topics.push(config.kafka.deadletter_topic.clone());
        ensure_topics(&config.kafka, &topics, self.partitions).await?;
        let producer = FeedProducer::new(&config.kafka)?;
        let mut feed = SimulatedFeed::new(&registries, self.seed, start, 60)
            .with_bad_ratio(self.bad_ratio)
            .with_spot_keys_by_spot(self.spot_keys == SpotKeys::Spot);
        let bar = ProgressBar::new(span as u64 / 1000);
        bar.set_style(
            ProgressStyle::with_template("{bar:40} {pos}/{len} s of event time  {msg}")
                .unwrap_or_else(|_| ProgressStyle::default_bar()),
        );
        let mut pace = Pace::new(self.rate);
        let end = start + span;
        while feed.now_ms() < end {
            let to = (feed.now_ms() + 60_000).min(end);
            for message in feed.advance_to(to) {
                producer
                    .send(&message.topic, &message.key, &message.payload)
                    .await?;
                pace.sent_one().await;
            }
            bar.set_position(((to - start) / 1000) as u64);
            bar.set_message(format!(
                "{} messages, {:.0}/s",
                pace.sent(),
                pace.per_second()
            ));
        }
        producer.flush(Duration::from_secs(60))?;
        bar.finish();
        let stats = producer.stats();
        let failed = stats.failed.load(Ordering::Relaxed);
        println!(
            "produced {} messages to {} topics in {:.1} s ({} delivered, {failed} failed)",
            pace.sent(),
            topics.len() - 1,
            pace.elapsed().as_secs_f64(),
            stats.delivered.load(Ordering::Relaxed)
        );
        anyhow::ensure!(failed == 0, "{failed} messages were not delivered");
        Ok(())
    }
}
