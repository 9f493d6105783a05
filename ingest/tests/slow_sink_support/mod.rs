//! Helpers of the slow sink test (`slow_sink.rs`): the history sink behind a slow commit
//! and the probe it fills, the Kafka source that counts what the runner read, the
//! producer context that records partition ends, and readers of the history written and
//! of the process's resident set.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use rdkafka::ClientContext;
use rdkafka::message::Message;
use rdkafka::producer::{DeliveryResult, ProducerContext};
use stadtpuls_ingest::history::HistorySink;
use stadtpuls_ingest::kafka::KafkaSource;
use stadtpuls_ingest::metrics;
use stadtpuls_ingest::pipeline::RawMessage;
use stadtpuls_ingest::runner::{Assignment, Source};
use stadtpuls_ingest::sink::{Stream, Task, WindowSink};
use stadtpuls_ingest::{IngestError, Result};
use stadtpuls_processing::window::ClosedWindows;
use stadtpuls_processing::window::watermark::SourceId;

use crate::RUN_TIMEOUT;
use crate::common::row_text;

/// What the slow sink saw at its commits and the runner after each batch.
#[derive(Debug, Clone, Default)]
pub struct Probe {
    pub commits: usize,
    pub max_staged: usize,
    pub max_staged_before_batch: usize,
    pub max_prefetched: i64,
    /// The highest consumer lag seen (`stadtpuls_consumer_lag_messages`): proof that the
    /// consumer's statistics reached the gauges at all.
    pub max_lag: i64,
    /// The first commit after a third of the input was read.
    pub mid: Option<Sample>,
    /// Messages the runner read while a commit was pending (must stay 0).
    pub read_while_committing: u64,
    /// (read, prefetched) at every commit, for the log.
    pub samples: Vec<(u64, i64)>,
    pub rss_start_kib: u64,
    pub rss_max_kib: u64,
}

#[derive(Debug, Clone, Copy)]
pub struct Sample {
    pub read: u64,
    pub prefetched: i64,
}

/// The real history sink behind a commit that takes [`SLOW_COMMIT`](crate::SLOW_COMMIT) (a
/// disk or object store that is slow to take writes); it counts the rows committed and
/// samples the consumer while the runner waits for it.
pub struct SlowSink {
    pub inner: HistorySink,
    /// Rows staged per task.
    pub staged: HashMap<Task, usize>,
    pub committed: usize,
    pub delay: Duration,
    pub staged_rows: Arc<AtomicUsize>,
    pub read: Arc<AtomicU64>,
    pub total: u64,
    pub topic: String,
    pub probe: Arc<Mutex<Probe>>,
}

impl SlowSink {
    fn sample(&self, read_before: u64) {
        let read = self.read.load(Ordering::Acquire);
        let prefetched = metrics::CONSUMER_PREFETCHED
            .with_label_values(&[&self.topic])
            .get();
        let lag = metrics::CONSUMER_LAG
            .with_label_values(&[&self.topic])
            .get();
        let rss = rss_kib();
        let mut p = self.probe.lock().unwrap_or_else(PoisonError::into_inner);
        p.commits += 1;
        p.read_while_committing += read - read_before;
        p.samples.push((read, prefetched));
        p.rss_max_kib = p.rss_max_kib.max(rss);
        p.max_prefetched = p.max_prefetched.max(prefetched);
        p.max_lag = p.max_lag.max(lag);
        if p.mid.is_none() && read >= self.total / 3 {
            p.mid = Some(Sample { read, prefetched });
        }
    }
}

impl WindowSink for SlowSink {
    fn name(&self) -> &'static str {
        "slow"
    }

    fn stage(&mut self, task: &Task, stream: Stream, closed: &ClosedWindows) -> Result<()> {
        self.inner.stage(task, stream, closed)?;
        *self.staged.entry(task.clone()).or_default() += closed.batch.num_rows();
        self.staged_rows
            .store(self.staged_rows(), Ordering::Release);
        Ok(())
    }

    fn staged_rows(&self) -> usize {
        self.staged.values().sum()
    }

    async fn commit(&mut self, task: &Task, epoch: u64) -> Result<()> {
        if !self.delay.is_zero() {
            let read_before = self.read.load(Ordering::Acquire);
            tokio::time::sleep(self.delay).await;
            // librdkafka's statistics (every 100 ms) have seen the paused consumer by now.
            self.sample(read_before);
        }
        self.inner.commit(task, epoch).await?;
        self.committed += self.staged.remove(task).unwrap_or(0);
        self.staged_rows
            .store(self.staged_rows(), Ordering::Release);
        Ok(())
    }

    fn recover(&mut self, task: &Task, committed_epoch: u64) -> Result<()> {
        self.staged.remove(task);
        self.inner.recover(task, committed_epoch)
    }

    fn discard(&mut self, task: &Task) {
        self.staged.remove(task);
        self.inner.discard(task);
    }
}

/// The Kafka source, counting what the runner read; ends the input once every produced
/// event was read (a Kafka topic has no end of its own).
pub struct Counted {
    pub inner: KafkaSource,
    pub total: u64,
    pub read: Arc<AtomicU64>,
    pub deadline: Instant,
}

impl Source for Counted {
    async fn next_batch(&mut self) -> Result<Option<Vec<RawMessage>>> {
        if self.read.load(Ordering::Acquire) >= self.total {
            return Ok(None);
        }
        if Instant::now() > self.deadline {
            return Err(IngestError::Io(std::io::Error::other(format!(
                "only {} of {} events read within {RUN_TIMEOUT:?}",
                self.read.load(Ordering::Acquire),
                self.total
            ))));
        }
        let batch = self.inner.next_batch().await?;
        if let Some(messages) = &batch {
            self.read.fetch_add(messages.len() as u64, Ordering::AcqRel);
        }
        Ok(batch)
    }

    fn commit(&mut self, batch: &[RawMessage]) -> Result<()> {
        self.inner.commit(batch)
    }

    fn commit_offsets(&mut self, offsets: &[(SourceId, i64)]) -> Result<()> {
        self.inner.commit_offsets(offsets)
    }

    fn assigned(&mut self) -> Vec<Assignment> {
        self.inner.assigned()
    }

    fn revoked(&mut self) -> Vec<SourceId> {
        self.inner.revoked()
    }

    fn close(&mut self) -> Result<()> {
        self.inner.close()
    }
}

/// Records the next offset of every partition written to, from the delivery reports.
pub struct Ends(pub Arc<Mutex<BTreeMap<i32, i64>>>);

impl ClientContext for Ends {}

impl ProducerContext for Ends {
    type DeliveryOpaque = ();

    fn delivery(&self, result: &DeliveryResult<'_>, _opaque: ()) {
        let message = result
            .as_ref()
            .unwrap_or_else(|(e, _)| panic!("delivery: {e}"));
        let mut ends = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        let end = ends.entry(message.partition()).or_default();
        *end = (*end).max(message.offset() + 1);
    }
}

/// Every row of every Parquet file under `history`, as `table: cells` lines, sorted
/// (files and their names differ between runs that committed different epochs).
pub fn history_rows(history: &Path) -> Vec<String> {
    let mut files = Vec::new();
    let mut dirs = vec![history.to_path_buf()];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).expect("read history dir") {
            let path = entry.expect("dir entry").path();
            if path.is_dir() {
                dirs.push(path);
            } else if path.extension().is_some_and(|e| e == "parquet") {
                files.push(path);
            }
        }
    }
    let mut lines = Vec::new();
    for file in files {
        let relative = file.strip_prefix(history).expect("under history");
        // table/city=…/date=…/file.parquet: keep the table and partitions, not the file
        let partition = relative
            .parent()
            .map(|p| p.display().to_string())
            .unwrap_or_default();
        let reader = ParquetRecordBatchReaderBuilder::try_new(
            std::fs::File::open(&file).expect("open parquet"),
        )
        .expect("parquet reader")
        .build()
        .expect("parquet batches");
        for batch in reader {
            let batch = batch.expect("parquet batch");
            for row in 0..batch.num_rows() {
                lines.push(format!("{partition}: {}", row_text(&batch, row)));
            }
        }
    }
    lines.sort();
    lines
}

/// The process's resident set size, KiB (`/proc/self/status`; 0 where unknown).
pub fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            status
                .lines()
                .find_map(|l| l.strip_prefix("VmRSS:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        })
        .unwrap_or(0)
}
