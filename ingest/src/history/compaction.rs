//! Merging a partition's small files, crash-safely and without duplicates.
//!
//! Every commit writes one small file per partition it touches, so a day of 1-minute
//! windows would be thousands of files. Files are merged in size tiers: a task's commit
//! files are level 0; once a partition holds `compact_after` files of one level they are
//! read, reduced to the highest `revision` per (entity, window), and rewritten as level
//! `+1` (rolled at `max_file_rows`). Each row is thus rewritten about log_n(files) times.
//!
//! **Order.** A compacted file of windows is sorted by entity, then window start (then
//! lane), in small row groups ([`layout::SORTED_ROW_GROUP_ROWS`]): a query for one sensor
//! (the REST history) reads the row groups whose `sensor_id` statistics hold it instead of
//! the whole day, which a commit's files, written as the windows close (all sensors of a
//! minute together), cannot offer. Raw messages keep their order.
//!
//! **Which files.** Compacted files mix tasks, so recovery could not take one task's rows
//! back out of them. Only files of epochs no recovery can roll back are merged: a task's
//! epoch once two later ones are committed (the checkpoint store keeps two snapshots and
//! may restore the older one), and only tasks this instance owns.
//!
//! **Crash safety.** A journal `_compaction/<partition>.json` listing inputs, outputs and its
//! owner (host, pid, a per-process nonce) is created — atomically, failing if one exists: it
//! is also the partition's lock — before the outputs are written; then the outputs are
//! written and renamed, the inputs deleted, the journal removed. A journal whose owner is
//! gone is *rolled*: finished if all its outputs exist (the inputs left are deleted), undone
//! if not (the outputs written are deleted), so afterwards every row is in exactly one file.
//! Recovery ([`roll_all`]) and later compactions roll such journals. The owner is gone when
//! it is this process's previous incarnation (same host and pid, another nonce: a restarted
//! container), a dead pid on this host, or — for another host, which cannot be asked — when
//! the journal is older than [`ABANDONED_AFTER`]; a live owner's journal is left alone, and
//! the owner checks that its journal is still its own before deleting inputs. Between the
//! rename of the outputs and the deletion of the inputs a reader may see both for a moment;
//! readers that keep the highest revision per window see the same result either way.

use std::collections::BTreeMap;
use std::path::{Component, Path};
use std::sync::OnceLock;
use std::time::{Duration, SystemTime};

use arrow_array::{RecordBatch, UInt32Array};
use arrow_schema::SchemaRef;
use arrow_select::concat::concat_batches;
use arrow_select::take::take_record_batch;
use parquet::file::metadata::KeyValue;
use serde::{Deserialize, Serialize};
use stadtpuls_processing::ProcessingError;
use stadtpuls_processing::model::contract::{self, WINDOW_START, traffic::out::LANE};

use super::layout::{self, COMPACTION_DIR, Partition};
use super::{files, rows};
use crate::sink::Stream;
use crate::{IngestError, Result};

/// Parquet key-value metadata of a compacted file: the files it replaced, comma separated.
pub const COMPACTED_FROM: &str = "stadtpuls.compacted_from";

/// A journal of another host older than this belongs to a compaction that died: a
/// compaction takes seconds.
pub const ABANDONED_AFTER: Duration = Duration::from_secs(10 * 60);

/// What a compaction in flight will do; the file is the partition's lock.
#[derive(Debug, Serialize, Deserialize)]
struct Journal {
    /// The partition directory, relative to the history root.
    partition: String,
    /// Files merged, deleted once every output is in place.
    inputs: Vec<String>,
    /// Files written.
    outputs: Vec<String>,
    /// Who runs it; a journal without one (written by hand or a tool) counts as abandoned.
    #[serde(default)]
    owner: Option<Owner>,
}

/// The process running a compaction.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct Owner {
    host: String,
    pid: u32,
    /// Tells this process from an earlier one with the same pid (a restarted container).
    nonce: u64,
}

impl Owner {
    /// This process.
    fn me() -> &'static Owner {
        static ME: OnceLock<Owner> = OnceLock::new();
        ME.get_or_init(|| {
            let pid = std::process::id();
            let nanos = SystemTime::now()
                .duration_since(SystemTime::UNIX_EPOCH)
                .map_or(0, |d| d.as_nanos());
            Owner {
                host: host_name(),
                pid,
                nonce: layout::fnv1a([nanos.to_string().as_str(), pid.to_string().as_str()]),
            }
        })
    }

    /// Whether the process that wrote a journal `age` old can no longer be running it.
    fn is_gone(&self, age: Duration) -> bool {
        let me = Owner::me();
        if self == me {
            // Only a compaction of ours that failed and could not clean up leaves one.
            return true;
        }
        if self.host == me.host {
            return self.pid == me.pid || !Path::new(&format!("/proc/{}", self.pid)).exists();
        }
        age > ABANDONED_AFTER
    }
}

fn host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .or_else(|_| std::fs::read_to_string("/etc/hostname"))
        .map(|name| name.trim().to_owned())
        .unwrap_or_default()
}

/// The settings and the table a compaction works on.
pub(crate) struct Compaction<'a> {
    pub root: &'a Path,
    /// The windows' stream, whose latest revisions are kept; `None` (raw messages): every
    /// row is kept.
    pub stream: Option<Stream>,
    pub schema: &'a SchemaRef,
    pub compact_after: usize,
    pub max_file_rows: usize,
}

/// What one compaction did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Compacted {
    pub inputs: usize,
    pub outputs: usize,
    pub rows: usize,
}

impl Compaction<'_> {
    /// Merges the lowest tier of `partition` that holds `compact_after` files, if any;
    /// `safe` says whether a task file (level 0) may be merged.
    ///
    /// # Errors
    /// I/O and decoding failures; the partition is left as it was or as the journal
    /// recovery of [`roll_all`] will complete it.
    pub fn run(
        &self,
        partition: &Partition,
        safe: impl Fn(&str) -> bool,
    ) -> Result<Option<Compacted>> {
        if self.compact_after < 2 {
            return Ok(None);
        }
        let journal_dir = self.root.join(COMPACTION_DIR);
        let journal_name = partition.journal_name();
        if journal_dir.join(&journal_name).exists() {
            // Another compaction holds the partition, or one died half-way: roll that.
            roll_if_abandoned(self.root, &journal_dir, &journal_name)?;
            return Ok(None);
        }
        let dir = self.root.join(partition.relative());
        let mut tiers: BTreeMap<u32, Vec<String>> = BTreeMap::new();
        for name in files::list(&dir)? {
            let level = match layout::compacted_level(&name) {
                Some(level) => level,
                None if layout::is_task_file(&name) && safe(&name) => 0,
                None => continue,
            };
            tiers.entry(level).or_default().push(name);
        }
        let Some((level, inputs)) = tiers
            .into_iter()
            .find(|(_, names)| names.len() >= self.compact_after)
        else {
            return Ok(None);
        };
        let merged = self.merge(&dir, &inputs)?;
        let hash = layout::fnv1a(inputs.iter().map(String::as_str));
        let chunks = chunks(&merged, self.max_file_rows);
        let outputs: Vec<String> = (0..chunks.len())
            .map(|n| layout::compacted_file_name(level + 1, hash, n))
            .collect();
        let journal = Journal {
            partition: partition.relative().to_string_lossy().into_owned(),
            inputs,
            outputs,
            owner: Some(Owner::me().clone()),
        };
        let text = serde_json::to_vec(&journal)
            .map_err(|e| IngestError::history("encode", &journal_dir, std::io::Error::other(e)))?;
        files::create_dirs(self.root, Path::new(COMPACTION_DIR))?;
        if !files::create_small(&journal_dir, &journal_name, &text)? {
            return Ok(None);
        }
        let metadata = vec![KeyValue::new(
            COMPACTED_FROM.to_owned(),
            journal.inputs.join(","),
        )];
        let sort_key = self.stream.map(sort_key);
        let order = sort_key
            .as_ref()
            .map_or(files::Order::Arrival, |key| files::Order::Sorted(key));
        let written = journal
            .outputs
            .iter()
            .zip(&chunks)
            .try_for_each(|(name, chunk)| {
                files::write_parquet(
                    &dir,
                    name,
                    self.schema,
                    std::slice::from_ref(chunk),
                    order,
                    metadata.clone(),
                )
            })
            .and_then(|()| files::sync_dir(&dir));
        if let Err(error) = written {
            // Undo now if possible; if not, the journal stays and recovery undoes it.
            let _ = undo(&dir, &journal)
                .and_then(|()| files::remove_if_present(&journal_dir.join(&journal_name)))
                .and_then(|_| files::sync_dir(&journal_dir));
            return Err(error);
        }
        if !still_mine(&journal_dir.join(&journal_name)) {
            // Rolled back by another instance that took this one for dead: the inputs
            // are the truth, the outputs go.
            undo(&dir, &journal)?;
            return Err(IngestError::history(
                "compact",
                dir,
                std::io::Error::other("the compaction journal was taken over by another instance"),
            ));
        }
        finish(&dir, &journal)?;
        files::remove_if_present(&journal_dir.join(&journal_name))?;
        // Not synced: a journal that reappears after a crash is finished again, harmlessly.
        Ok(Some(Compacted {
            inputs: journal.inputs.len(),
            outputs: journal.outputs.len(),
            rows: merged.num_rows(),
        }))
    }

    fn merge(&self, dir: &Path, inputs: &[String]) -> Result<RecordBatch> {
        let mut batches = Vec::new();
        for name in inputs {
            batches.extend(files::read_parquet(&dir.join(name))?);
        }
        let all = concat_batches(self.schema, &batches).map_err(ProcessingError::from)?;
        let Some(stream) = self.stream else {
            return Ok(all);
        };
        let keep = rows::latest_revisions(&all, stream)?;
        Ok(take_record_batch(&all, &UInt32Array::from(keep)).map_err(ProcessingError::from)?)
    }
}

/// The order of a compacted file of `stream`'s windows, the one
/// [`rows::latest_revisions`] returns: entity, window start, lane.
fn sort_key(stream: Stream) -> Vec<&'static str> {
    let mut key = vec![contract::entity_column(stream), WINDOW_START];
    if stream == Stream::TrafficLanes {
        key.push(LANE);
    }
    key
}

/// `batch` in slices of at most `max_rows` rows (none for an empty batch).
pub(crate) fn chunks(batch: &RecordBatch, max_rows: usize) -> Vec<RecordBatch> {
    let max_rows = max_rows.max(1);
    (0..batch.num_rows())
        .step_by(max_rows)
        .map(|offset| batch.slice(offset, max_rows.min(batch.num_rows() - offset)))
        .collect()
}

/// Completes or undoes every compaction journal whose owner is gone (see the module
/// documentation); returns how many were rolled.
pub(crate) fn roll_all(root: &Path) -> Result<usize> {
    let journal_dir = root.join(COMPACTION_DIR);
    let mut count = 0;
    for name in files::list(&journal_dir)? {
        if layout::is_temp(&name) {
            // A journal never linked into place: its compaction never started.
            files::remove_if_present(&journal_dir.join(&name))?;
        } else if name.ends_with(".json") && roll_if_abandoned(root, &journal_dir, &name)? {
            count += 1;
        }
    }
    Ok(count)
}

/// Whether the journal at `path` is still this process's (not rolled by another).
fn still_mine(path: &Path) -> bool {
    read_journal(path).is_ok_and(|journal| journal.owner.as_ref() == Some(Owner::me()))
}

fn read_journal(path: &Path) -> Result<Journal> {
    let text = std::fs::read_to_string(path).map_err(|e| IngestError::history("read", path, e))?;
    serde_json::from_str(&text).map_err(|e| {
        IngestError::history(
            "parse",
            path,
            std::io::Error::new(std::io::ErrorKind::InvalidData, e),
        )
    })
}

/// Rolls the journal `name` if its owner is gone; returns whether it did.
fn roll_if_abandoned(root: &Path, journal_dir: &Path, name: &str) -> Result<bool> {
    let path = journal_dir.join(name);
    let journal = match read_journal(&path) {
        Ok(journal) => journal,
        // Removed meanwhile by its owner: nothing to do.
        Err(IngestError::History { source, .. })
            if source.kind() == std::io::ErrorKind::NotFound =>
        {
            return Ok(false);
        }
        Err(error) => return Err(error),
    };
    let age = std::fs::metadata(&path)
        .and_then(|m| m.modified())
        .ok()
        .and_then(|modified| SystemTime::now().duration_since(modified).ok())
        .unwrap_or_default();
    if journal
        .owner
        .as_ref()
        .is_some_and(|owner| !owner.is_gone(age))
    {
        return Ok(false);
    }
    roll(root, journal_dir, &path, &journal)?;
    Ok(true)
}

fn roll(root: &Path, journal_dir: &Path, path: &Path, journal: &Journal) -> Result<()> {
    let relative = Path::new(&journal.partition);
    if !relative
        .components()
        .all(|c| matches!(c, Component::Normal(_)))
    {
        return Err(IngestError::history(
            "parse",
            path,
            std::io::Error::new(std::io::ErrorKind::InvalidData, "partition is not relative"),
        ));
    }
    let dir = root.join(relative);
    if dir.is_dir() {
        if journal
            .outputs
            .iter()
            .all(|output| dir.join(output).exists())
        {
            finish(&dir, journal)?;
        } else {
            undo(&dir, journal)?;
        }
    }
    files::remove_if_present(path)?;
    files::sync_dir(journal_dir)
}

/// Every output is in place: the inputs go.
fn finish(dir: &Path, journal: &Journal) -> Result<()> {
    for input in &journal.inputs {
        files::remove_if_present(&dir.join(input))?;
    }
    files::sync_dir(dir)
}

/// Not every output made it: the outputs go, the inputs stay.
fn undo(dir: &Path, journal: &Journal) -> Result<()> {
    for output in &journal.outputs {
        files::remove_if_present(&dir.join(output))?;
        files::remove_if_present(&dir.join(layout::temp_name(output)))?;
    }
    files::sync_dir(dir)
}
