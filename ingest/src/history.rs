//! Parquet history of closed windows, committed per task and epoch (decision 002).
//!
//! # Layout
//!
//! One table per stream and window family — `traffic_1m`, `traffic_lanes_15m`,
//! `parking_15m`, `traffic_1h_15m` (hopping) — each Hive-partitioned by city and by the UTC
//! date of `window_start`, zstd-compressed (file names and bookkeeping: [`layout`]):
//!
//! ```text
//! <dir>/traffic_1m/city=ulm/date=2026-11-25/part-sensors.ulm.traffic-0-e000000000042-0000.parquet
//! ```
//!
//! Columns: those of the closed windows without `city` (the partition), plus `window_s`
//! and `revision` ([`rows`]). A window re-emitted after late data is a new row with a
//! higher `revision`; readers keep the highest per entity and window.
//!
//! # Commit protocol
//!
//! [`WindowSink::stage`] keeps a task's rows in memory, by partition. `commit(task, E)`
//! records the names of the files it will write in the task's epoch log
//! (`history/epochs.rs`), then writes each partition's rows (rolled at `max_file_rows`) to
//! a temporary file, syncs it, renames it to `part-<topic>-<partition>-e<E>-<n>.parquet`
//! and syncs the directory. The names depend only on task, epoch and the staged rows, so a
//! retried commit replaces what a failed one left. `recover(task, E)` deletes the files of
//! the task's epochs after `E` listed in those logs. After a successful commit, retention
//! (`history/retention.rs`) and compaction (`history/compaction.rs`) run on the partitions
//! it touched; their failures are logged and counted, never fail the commit (its rows are
//! already durable).
//!
//! # Failure
//!
//! An unwritable directory or a full disk fails the commit with
//! [`IngestError::History`](crate::IngestError::History); the staged rows stay, the runner
//! retries, and the next attempt writes the same files. Writing blocks the calling thread
//! (the pipeline's own): a slow disk slows consumption instead of growing memory.

mod compaction;
mod epochs;
mod files;
pub mod layout;
pub mod raw;
mod retention;
pub mod rows;

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use arrow_array::RecordBatch;
use arrow_array::cast::AsArray;
use arrow_array::types::TimestampMillisecondType;
use arrow_schema::SchemaRef;
use stadtpuls_config::HistoryConfig;
use stadtpuls_processing::ProcessingError;
use stadtpuls_processing::window::ClosedWindows;
use tracing::{debug, info, info_span, warn};

pub use compaction::COMPACTED_FROM;

use crate::Result;
use crate::merge::MergedBatches;
use crate::message::RawMessage;
use crate::metrics;
use crate::sink::{Stream, Task, WindowSink};
use layout::Partition;

/// A table the sink writes: which closed windows go in, under which name, in which schema.
#[derive(Debug, Clone)]
struct Table {
    name: String,
    /// `None`: the raw message archive ([`raw`]).
    stream: Option<Stream>,
    window_s: u32,
    slide_s: u32,
    schema: SchemaRef,
}

/// A task's rows not yet committed, by partition, merged as they come (`merge.rs`).
#[derive(Debug, Default)]
struct Staged {
    partitions: BTreeMap<Partition, MergedBatches>,
    rows: usize,
}

/// Closed windows → Parquet files under `history.dir`, per task and epoch.
#[derive(Debug)]
pub struct HistorySink {
    root: PathBuf,
    /// Whether input messages are archived (`history.archive_raw`).
    archive_raw: bool,
    tables: Vec<Table>,
    retention: Duration,
    max_file_rows: usize,
    compact_after: usize,
    staged: HashMap<Task, Staged>,
    staged_rows: usize,
    /// Per task, the newest epoch known committed (by a commit here or by recovery).
    committed: HashMap<Task, u64>,
    /// Newest `window_start` staged, epoch ms: the reference point of retention.
    newest_window_ms: Option<i64>,
    /// The retention cutoff last applied; retention runs again when it moves.
    applied_cutoff: Option<chrono::NaiveDate>,
}

impl HistorySink {
    /// Builds the sink for the configured tables (whether or not `enabled`, see
    /// [`Self::from_config`]); nothing is touched on disk until the first recovery or commit.
    pub fn new(config: &HistoryConfig) -> Self {
        metrics::register();
        let tables = config
            .tables
            .iter()
            .map(|table| {
                let stream = table.stream;
                Table {
                    name: table.name(),
                    stream: Some(stream),
                    window_s: table.window_s,
                    slide_s: table.slide_s,
                    schema: rows::file_schema(stream),
                }
            })
            .chain(config.archive_raw.then(|| Table {
                name: raw::TABLE.to_owned(),
                stream: None,
                window_s: 0,
                slide_s: 0,
                schema: raw::schema(),
            }))
            .collect();
        Self {
            root: config.dir.clone(),
            archive_raw: config.archive_raw,
            tables,
            retention: config.retention,
            max_file_rows: config.max_file_rows.max(1),
            compact_after: config.compact_after,
            staged: HashMap::new(),
            staged_rows: 0,
            committed: HashMap::new(),
            newest_window_ms: None,
            applied_cutoff: None,
        }
    }

    /// The sink for `config`, or `None` when history is switched off or lists no table.
    pub fn from_config(config: &HistoryConfig) -> Option<Self> {
        (config.enabled && (!config.tables.is_empty() || config.archive_raw))
            .then(|| Self::new(config))
    }

    /// The history root directory.
    pub fn dir(&self) -> &Path {
        &self.root
    }

    /// The names of the tables written, in configuration order.
    pub fn table_names(&self) -> impl Iterator<Item = &str> {
        self.tables.iter().map(|t| t.name.as_str())
    }

    fn table_of(&self, stream: Stream, closed: &ClosedWindows) -> Option<usize> {
        self.tables.iter().position(|t| {
            t.stream == Some(stream) && t.window_s == closed.window_s && t.slide_s == closed.slide_s
        })
    }

    fn set_staged_rows(&mut self, rows: usize) {
        self.staged_rows = rows;
        metrics::HISTORY_STAGED_ROWS.set(i64::try_from(rows).unwrap_or(i64::MAX));
    }

    /// Writes `staged` as `task`'s `epoch`; returns the partitions written.
    fn write(&self, task: &Task, epoch: u64, staged: &Staged) -> Result<Vec<Partition>> {
        let plan: Vec<PartitionFiles<'_>> = staged
            .partitions
            .iter()
            .map(|(partition, batches)| PartitionFiles {
                partition,
                relative: partition.relative(),
                files: roll(batches.batches(), self.max_file_rows)
                    .into_iter()
                    .enumerate()
                    .map(|(n, rows)| (layout::task_file_name(task, epoch, n), rows))
                    .collect(),
            })
            .collect();
        let names: Vec<String> = plan
            .iter()
            .flat_map(|p| {
                p.files
                    .iter()
                    .map(|(name, _)| p.relative.join(name).to_string_lossy().into_owned())
            })
            .collect();
        epochs::record(&self.root, task, epoch, &names)?;
        for planned in &plan {
            let table = self.table_named(&planned.partition.table)?;
            files::create_dirs(&self.root, &planned.relative)?;
            let dir = self.root.join(&planned.relative);
            for (name, rows) in &planned.files {
                files::write_parquet(
                    &dir,
                    name,
                    &table.schema,
                    rows,
                    files::Order::Arrival,
                    Vec::new(),
                )?;
            }
            files::sync_dir(&dir)?;
        }
        for planned in &plan {
            let rows: usize = planned
                .files
                .iter()
                .flat_map(|(_, batches)| batches)
                .map(RecordBatch::num_rows)
                .sum();
            let label = [planned.partition.table.as_str()];
            metrics::HISTORY_ROWS_WRITTEN
                .with_label_values(&label)
                .inc_by(rows as u64);
            metrics::HISTORY_FILES_WRITTEN
                .with_label_values(&label)
                .inc_by(planned.files.len() as u64);
        }
        Ok(plan.into_iter().map(|p| p.partition.clone()).collect())
    }

    fn table_named(&self, name: &str) -> Result<&Table> {
        self.tables.iter().find(|t| t.name == name).ok_or_else(|| {
            ProcessingError::Internal(format!("history table `{name}` is not configured")).into()
        })
    }

    /// Whether `name` is a task file whose epoch no recovery can roll back: at least two
    /// epochs behind its task's newest committed one (see `history/compaction.rs`).
    fn is_settled(&self, name: &str) -> bool {
        self.committed.iter().any(|(task, &committed)| {
            layout::task_file_epoch(name, task)
                .is_some_and(|epoch| epoch.saturating_add(2) <= committed)
        })
    }

    /// Retention and compaction after a commit; failures are logged and counted only.
    fn housekeeping(&mut self, touched: &[Partition]) {
        if let Err(error) = self.apply_retention() {
            metrics::HISTORY_WRITE_FAILURES
                .with_label_values(&["retention"])
                .inc();
            warn!(%error, "history retention failed, retried after the next commit");
        }
        for partition in touched {
            if self
                .applied_cutoff
                .is_some_and(|cutoff| partition.date < cutoff)
            {
                continue;
            }
            let Ok(table) = self.table_named(&partition.table) else {
                continue;
            };
            let compaction = compaction::Compaction {
                root: &self.root,
                stream: table.stream,
                schema: &table.schema,
                compact_after: self.compact_after,
                max_file_rows: self.max_file_rows,
            };
            match compaction.run(partition, |name| self.is_settled(name)) {
                Ok(None) => {}
                Ok(Some(done)) => {
                    metrics::HISTORY_COMPACTIONS
                        .with_label_values(&[partition.table.as_str()])
                        .inc();
                    debug!(
                        partition = %partition.relative().display(),
                        inputs = done.inputs,
                        outputs = done.outputs,
                        rows = done.rows,
                        "history partition compacted"
                    );
                }
                Err(error) => {
                    metrics::HISTORY_WRITE_FAILURES
                        .with_label_values(&["compaction"])
                        .inc();
                    warn!(%error, partition = %partition.relative().display(), "history compaction failed, the partition is left as it was");
                }
            }
        }
    }

    fn apply_retention(&mut self) -> Result<()> {
        let Some(cutoff) = self
            .newest_window_ms
            .and_then(|newest| retention::cutoff(newest, self.retention))
        else {
            return Ok(());
        };
        if self.applied_cutoff.is_some_and(|applied| applied >= cutoff) {
            return Ok(());
        }
        for table in &self.tables {
            let removed = retention::expire(&self.root, &table.name, cutoff)?;
            if removed > 0 {
                metrics::HISTORY_PARTITIONS_EXPIRED
                    .with_label_values(&[table.name.as_str()])
                    .inc_by(removed as u64);
                info!(table = %table.name, %cutoff, partitions = removed, "history partitions expired");
            }
        }
        self.applied_cutoff = Some(cutoff);
        Ok(())
    }

    fn commit_now(&mut self, task: &Task, epoch: u64) -> Result<()> {
        let _span = info_span!("history_commit", %task, epoch).entered();
        let started = Instant::now();
        let touched = match self.staged.get(task) {
            Some(staged) if staged.rows > 0 => match self.write(task, epoch, staged) {
                Ok(touched) => touched,
                Err(error) => {
                    metrics::HISTORY_WRITE_FAILURES
                        .with_label_values(&[files::failure_reason(&error)])
                        .inc();
                    warn!(%error, rows = staged.rows, "history commit failed, rows stay staged");
                    return Err(error);
                }
            },
            _ => Vec::new(),
        };
        if let Some(staged) = self.staged.remove(task) {
            self.set_staged_rows(self.staged_rows - staged.rows);
        }
        let known = self.committed.entry(task.clone()).or_insert(0);
        *known = (*known).max(epoch);
        let settled = known.saturating_sub(2);
        if let Err(error) = epochs::prune(&self.root, task, settled) {
            debug!(%error, "old epoch logs not pruned, retried after the next commit");
        }
        self.housekeeping(&touched);
        metrics::HISTORY_COMMIT_SECONDS.observe(started.elapsed().as_secs_f64());
        Ok(())
    }
}

/// The newest `window_start` of a closed-window batch.
fn newest_start(batch: &RecordBatch) -> Option<i64> {
    batch
        .column_by_name(stadtpuls_processing::window::traffic::out::WINDOW_START)?
        .as_primitive_opt::<TimestampMillisecondType>()?
        .values()
        .iter()
        .copied()
        .max()
}

/// The files one commit writes into one partition: (name, rows) each.
struct PartitionFiles<'a> {
    partition: &'a Partition,
    relative: PathBuf,
    files: Vec<(String, Vec<RecordBatch>)>,
}

/// Splits a partition's batches into files of at most `max_rows` rows, in order.
fn roll(batches: &[RecordBatch], max_rows: usize) -> Vec<Vec<RecordBatch>> {
    let mut files: Vec<Vec<RecordBatch>> = Vec::new();
    let mut current: Vec<RecordBatch> = Vec::new();
    let mut current_rows = 0;
    for batch in batches {
        let mut offset = 0;
        while offset < batch.num_rows() {
            let take = (max_rows - current_rows).min(batch.num_rows() - offset);
            current.push(batch.slice(offset, take));
            current_rows += take;
            offset += take;
            if current_rows == max_rows {
                files.push(std::mem::take(&mut current));
                current_rows = 0;
            }
        }
    }
    if current_rows > 0 {
        files.push(current);
    }
    files
}

impl WindowSink for HistorySink {
    fn name(&self) -> &'static str {
        "history"
    }

    fn stage(&mut self, task: &Task, stream: Stream, closed: &ClosedWindows) -> Result<()> {
        let Some(index) = self.table_of(stream, closed) else {
            return Ok(());
        };
        if closed.batch.num_rows() == 0 {
            return Ok(());
        }
        let table = &self.tables[index];
        let by_partition = rows::rows_by_partition(closed, stream, &table.schema)?;
        let (name, schema) = (table.name.clone(), table.schema.clone());
        let staged = self.staged.entry(task.clone()).or_default();
        let mut added = 0;
        for (city, date, batch) in by_partition {
            let rows = batch.num_rows();
            let partition = Partition {
                table: name.clone(),
                city,
                date,
            };
            staged
                .partitions
                .entry(partition)
                .or_insert_with(|| MergedBatches::new(schema.clone()))
                .push(batch)?;
            added += rows;
        }
        staged.rows += added;
        // The newest window of the batch: rows may span several windows.
        let newest = newest_start(&closed.batch).unwrap_or(closed.window_start);
        self.newest_window_ms = Some(self.newest_window_ms.map_or(newest, |n| n.max(newest)));
        self.set_staged_rows(self.staged_rows + added);
        Ok(())
    }

    fn staged_rows(&self) -> usize {
        self.staged_rows
    }

    fn staged_bytes(&self) -> usize {
        self.staged
            .values()
            .flat_map(|s| s.partitions.values())
            .map(MergedBatches::bytes)
            .sum()
    }

    fn wants_input(&self) -> bool {
        self.archive_raw
    }

    fn stage_input(&mut self, task: &Task, messages: &[RawMessage]) -> Result<()> {
        if !self.archive_raw || messages.is_empty() {
            return Ok(());
        }
        let now = crate::clock::now_ms();
        let date = layout::date_of(now).ok_or_else(|| {
            ProcessingError::Internal(format!("the clock ({now} ms) is outside the calendar"))
        })?;
        let schema = self.table_named(raw::TABLE)?.schema.clone();
        // A task reads one topic, so one city: one partition per batch.
        let batch = raw::rows(&schema, messages, now)?;
        let partition = Partition {
            table: raw::TABLE.to_owned(),
            city: raw::city_of(&task.topic).to_owned(),
            date,
        };
        let rows = batch.num_rows();
        let staged = self.staged.entry(task.clone()).or_default();
        staged
            .partitions
            .entry(partition)
            .or_insert_with(|| MergedBatches::new(schema))
            .push(batch)?;
        staged.rows += rows;
        self.set_staged_rows(self.staged_rows + messages.len());
        Ok(())
    }

    async fn commit(&mut self, task: &Task, epoch: u64) -> Result<()> {
        self.commit_now(task, epoch)
    }

    fn recover(&mut self, task: &Task, committed_epoch: u64) -> Result<()> {
        let _span = info_span!("history_recover", %task, committed_epoch).entered();
        self.recover_task(task, committed_epoch)
            .inspect_err(|error| {
                metrics::HISTORY_WRITE_FAILURES
                    .with_label_values(&[files::failure_reason(error)])
                    .inc();
            })
    }

    fn discard(&mut self, task: &Task) {
        if let Some(staged) = self.staged.remove(task) {
            self.set_staged_rows(self.staged_rows - staged.rows);
        }
        self.committed.remove(task);
    }
}

impl HistorySink {
    /// [`WindowSink::recover`] without the failure count.
    fn recover_task(&mut self, task: &Task, committed_epoch: u64) -> Result<()> {
        self.discard(task);
        let journals = compaction::roll_all(&self.root)?;
        let removed = epochs::roll_back(&self.root, task, committed_epoch)?;
        if removed > 0 || journals > 0 {
            info!(
                files_removed = removed,
                compactions_completed = journals,
                "history recovered"
            );
        }
        self.committed.insert(task.clone(), committed_epoch);
        Ok(())
    }
}

/// The task files of `task` present in a partition directory, with their epochs (tests,
/// tools).
///
/// # Errors
/// When the directory cannot be listed.
pub fn task_files(dir: &Path, task: &Task) -> Result<Vec<(String, u64)>> {
    Ok(files::list(dir)?
        .into_iter()
        .filter_map(|name| layout::task_file_epoch(&name, task).map(|epoch| (name, epoch)))
        .collect())
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use arrow_array::{ArrayRef, Int32Array};
    use arrow_schema::{DataType, Field, Schema};

    use super::*;

    fn batch(values: std::ops::Range<i32>) -> RecordBatch {
        let schema = Arc::new(Schema::new(vec![Field::new("v", DataType::Int32, false)]));
        let column: ArrayRef = Arc::new(Int32Array::from_iter_values(values));
        RecordBatch::try_new(schema, vec![column]).expect("batch")
    }

    fn sizes(files: &[Vec<RecordBatch>]) -> Vec<Vec<usize>> {
        files
            .iter()
            .map(|f| f.iter().map(RecordBatch::num_rows).collect())
            .collect()
    }

    #[test]
    fn files_roll_at_max_rows_keeping_row_order() {
        let files = roll(&[batch(0..3), batch(3..8)], 4);
        assert_eq!(sizes(&files), [vec![3, 1], vec![4]]);
        let second = files[1][0]
            .column(0)
            .as_any()
            .downcast_ref::<Int32Array>()
            .expect("ints")
            .values()
            .to_vec();
        assert_eq!(second, [4, 5, 6, 7]);
        assert_eq!(sizes(&roll(&[batch(0..4)], 4)), [vec![4]]);
        assert!(roll(&[batch(0..0)], 4).is_empty());
        let chunks = compaction::chunks(&batch(0..9), 4);
        let rows: Vec<usize> = chunks.iter().map(RecordBatch::num_rows).collect();
        assert_eq!(rows, [4, 4, 1]);
    }
}
