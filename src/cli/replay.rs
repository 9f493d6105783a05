//! `stadtpuls replay`: write NDJSON files or the raw archive back into topics, so an
//! operator can re-feed a day (after a lost topic, into a new cluster, into a test stack).

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::time::Duration;

use anyhow::{Context, bail};
use clap::{Args, ValueEnum};
use indicatif::{ProgressBar, ProgressStyle};
use stadtpuls_config::KafkaConfig;
use stadtpuls_ingest::kafka::{FeedProducer, ensure_topics};
use stadtpuls_ingest::replay::{self, Input, Replayed, archive, ndjson};

use super::pace::Pace;

/// Arguments of `stadtpuls replay`.
#[derive(Debug, Args)]
pub struct ReplayArgs {
    /// NDJSON files (one message per line: .ndjson, .jsonl, .json) and the raw archive's
    /// Parquet files or directories (`<history>/raw_messages`, or one `city=…/date=…`
    /// directory of it: a city's day), replayed in the order given, the archive by date.
    #[arg(required = true)]
    pub files: Vec<PathBuf>,
    /// Topic every message is written to. Required for NDJSON; archived messages go back
    /// to the topic they were read from unless this is given.
    #[arg(long)]
    pub to_topic: Option<String>,
    /// Config file for the brokers; default: the built-in demo's.
    #[arg(long, short, env = "STADTPULS_CONFIG")]
    pub config: Option<PathBuf>,
    /// Brokers, overriding the config (`host:port,…`).
    #[arg(long, env = "STADTPULS_KAFKA__BROKERS")]
    pub brokers: Option<String>,
    /// Messages per second; 0 = as fast as the broker takes them.
    #[arg(long, default_value_t = 0)]
    pub rate: u64,
    /// Where archived messages go within their topic.
    #[arg(long, value_enum, default_value_t = Partitioning::Archived)]
    pub partitioning: Partitioning,
    /// Partitions of the topics this command creates; default: as many as the archived
    /// messages name (1 for NDJSON). Existing topics are left as they are.
    #[arg(long)]
    pub partitions: Option<i32>,
}

/// How archived messages are spread over a topic's partitions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Partitioning {
    /// To the partition each was read from: every partition's order is kept exactly, so
    /// the windows come out as they did; the topic needs as many partitions.
    Archived,
    /// By the record key, like NDJSON: for a topic with another partition count.
    Key,
}

/// What a replay wrote.
#[derive(Debug, Default)]
struct Tally {
    ndjson: u64,
    archived: u64,
    duplicates: u64,
    topics: BTreeSet<String>,
}

impl ReplayArgs {
    /// Replays every input and waits for every delivery.
    pub async fn run(self) -> anyhow::Result<()> {
        let mut config = super::config_or_demo(self.config.as_deref())?;
        if let Some(brokers) = &self.brokers {
            config.kafka.brokers.clone_from(brokers);
        }
        if let Some(topic) = &self.to_topic {
            check_topic_name(topic)?;
        }
        if let Some(p) = self.partitions {
            anyhow::ensure!(p >= 1, "--partitions must be at least 1, not {p}");
        }
        let plan = replay::plan(&self.files)?;
        if plan.has_ndjson() && self.to_topic.is_none() {
            bail!("NDJSON names no topic: give --to-topic TOPIC");
        }
        let producer = FeedProducer::new(&config.kafka)?;
        let bar = ProgressBar::new(plan.messages);
        bar.set_style(
            ProgressStyle::with_template("{bar:40} {pos}/{len} messages  {msg}")
                .unwrap_or_else(|_| ProgressStyle::default_bar()),
        );
        let mut writer = Writer {
            args: &self,
            kafka: &config.kafka,
            producer: &producer,
            pace: Pace::new(self.rate),
            bar: &bar,
            tally: Tally::default(),
        };
        let _span = tracing::info_span!("replay", inputs = plan.inputs.len()).entered();
        for input in &plan.inputs {
            writer.input(input).await?;
        }
        producer.flush(Duration::from_secs(300))?;
        bar.finish();
        let tally = writer.tally;
        let stats = producer.stats();
        let failed = stats.failed.load(Ordering::Relaxed);
        println!(
            "replayed {} messages ({} from NDJSON, {} from the archive, {} archived twice skipped) to {} topic(s) in {:.1} s ({} delivered, {failed} failed)",
            tally.ndjson + tally.archived,
            tally.ndjson,
            tally.archived,
            tally.duplicates,
            tally.topics.len(),
            writer.pace.elapsed().as_secs_f64(),
            stats.delivered.load(Ordering::Relaxed),
        );
        anyhow::ensure!(
            failed == 0,
            "{failed} messages were not delivered (a topic with fewer partitions than the archive names? try --partitioning key)"
        );
        Ok(())
    }
}

/// Writes the inputs, creating the topics as they come up.
struct Writer<'a> {
    args: &'a ReplayArgs,
    kafka: &'a KafkaConfig,
    producer: &'a FeedProducer,
    pace: Pace,
    bar: &'a ProgressBar,
    tally: Tally,
}

impl Writer<'_> {
    async fn input(&mut self, input: &Input) -> anyhow::Result<()> {
        match input {
            Input::Ndjson { path, .. } => {
                let topic = self.args.to_topic.clone().unwrap_or_default();
                self.ensure(&BTreeMap::from([(topic.clone(), 1)])).await?;
                let mut lines = ndjson::Lines::open(path)?;
                while let Some(message) = lines.next_message()? {
                    self.send(&topic, &message).await?;
                    self.tally.ndjson += 1;
                }
            }
            Input::Archive { files, .. } => {
                let loaded = archive::load(files)?;
                self.tally.duplicates += loaded.duplicates;
                let mut partitions: BTreeMap<String, i32> = BTreeMap::new();
                for m in &loaded.messages {
                    let wanted = m.partition.unwrap_or(0).saturating_add(1);
                    let entry = partitions.entry(self.topic_of(m).to_owned()).or_insert(1);
                    *entry = (*entry).max(wanted);
                }
                self.ensure(&partitions).await?;
                for message in &loaded.messages {
                    let topic = self.topic_of(message).to_owned();
                    self.send(&topic, message).await?;
                    self.tally.archived += 1;
                }
            }
        }
        Ok(())
    }

    fn topic_of<'m>(&'m self, message: &'m Replayed) -> &'m str {
        self.args
            .to_topic
            .as_deref()
            .or(message.topic.as_deref())
            .unwrap_or_default()
    }

    /// Creates the topics not seen yet: `--partitions`, else the count the archive names.
    async fn ensure(&mut self, topics: &BTreeMap<String, i32>) -> anyhow::Result<()> {
        for (topic, wanted) in topics {
            if self.tally.topics.insert(topic.clone()) {
                let partitions = self.args.partitions.unwrap_or(*wanted);
                ensure_topics(self.kafka, std::slice::from_ref(topic), partitions)
                    .await
                    .with_context(|| format!("create topic `{topic}`"))?;
            }
        }
        Ok(())
    }

    async fn send(&mut self, topic: &str, message: &Replayed) -> anyhow::Result<()> {
        let partition = match self.args.partitioning {
            Partitioning::Archived => message.partition,
            Partitioning::Key => None,
        };
        self.producer
            .send_to(topic, partition, message.key.as_deref(), &message.payload)
            .await?;
        self.pace.sent_one().await;
        self.bar.inc(1);
        if self.pace.sent().is_multiple_of(4096) {
            self.bar
                .set_message(format!("{:.0}/s", self.pace.per_second()));
        }
        Ok(())
    }
}

/// Kafka's rule for topic names: 1–249 of `[a-zA-Z0-9._-]`, not `.` or `..`.
fn check_topic_name(topic: &str) -> anyhow::Result<()> {
    let legal = topic
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
    anyhow::ensure!(
        legal && (1..=249).contains(&topic.len()) && topic != "." && topic != "..",
        "--to-topic `{topic}` is not a Kafka topic name (1–249 of a-z A-Z 0-9 . _ -)"
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::check_topic_name;

    #[test]
    fn topic_names_follow_kafka_rules() {
        assert!(check_topic_name("sensors.ulm.traffic").is_ok());
        assert!(check_topic_name("a_b-C.9").is_ok());
        for bad in ["", ".", "..", "with space", "ümlaut", &"x".repeat(250)] {
            assert!(check_topic_name(bad).is_err(), "{bad:?} is refused");
        }
    }
}
