//! Merging a partition's small files, crash-safely and without duplicates.
//!
//! Every commit writes one small file per partition it touches, so a day of 1-minute
//! windows would be thousands of files. Files are merged in size tiers: a task's commit
//! files are level 0; once a partition holds `compact_after` files of one level they are
//! read, reduced to the highest `revision` per (entity, window), and rewritten as level
//! `+1` (rolled at `max_file_rows`). Each row is thus rewritten about log_n(files) times.
//!
//! **Which files.** Compacted files mix tasks, so recovery could not take one task's rows
//! back out of them. Only files of epochs no recovery can roll back are merged: a task's
//! epoch once two later ones are committed (the checkpoint store keeps two snapshots and
//! may restore the older one), and only tasks this instance owns.
//!
//! **Crash safety.** A journal `_compaction/<partition>.json` listing inputs and outputs is
//! created (atomically, failing if one exists: it is also the partition's lock) before
//! the outputs are written; then the outputs are written and renamed, the inputs deleted,
//! the journal removed. Recovery [`roll_all`] finishes a journal whose outputs all exist
//! (deleting the inputs left) and undoes one whose outputs do not (deleting those written),
//! so after recovery every row is in exactly one file. Between the rename of the outputs
//! and the deletion of the inputs a reader may see both for a moment; readers that keep the
//! highest revision per window see the same result either way.

use std::collections::BTreeMap;
use std::path::{Component, Path};

use arrow_array::{RecordBatch, UInt32Array};
use arrow_schema::SchemaRef;
use arrow_select::concat::concat_batches;
use arrow_select::take::take_record_batch;
use parquet::file::metadata::KeyValue;
use serde::{Deserialize, Serialize};
use stadtpuls_processing::ProcessingError;

use super::layout::{self, COMPACTION_DIR, Partition};
use super::{files, rows};
use crate::sink::Stream;
use crate::{IngestError, Result};

/// Parquet key-value metadata of a compacted file: the files it replaced, comma separated.
pub const COMPACTED_FROM: &str = "stadtpuls.compacted_from";

/// What a compaction in flight will do; the file is the partition's lock.
#[derive(Debug, Serialize, Deserialize)]
struct Journal {
    /// The partition directory, relative to the history root.
    partition: String,
    /// Files merged, deleted once every output is in place.
    inputs: Vec<String>,
    /// Files written.
    outputs: Vec<String>,
}

/// The settings and the table a compaction works on.
pub(crate) struct Compaction<'a> {
    pub root: &'a Path,
    pub stream: Stream,
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
            // A compaction that failed or crashed half-way (or runs elsewhere: then this
            // completes or undoes it exactly as that one would).
            roll(self.root, &journal_dir, &journal_name)?;
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
        finish(&dir, &journal)?;
        files::remove_if_present(&journal_dir.join(&journal_name))?;
        files::sync_dir(&journal_dir)?;
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
        let keep = rows::latest_revisions(&all, self.stream)?;
        Ok(take_record_batch(&all, &UInt32Array::from(keep)).map_err(ProcessingError::from)?)
    }
}

/// `batch` in slices of at most `max_rows` rows (none for an empty batch).
pub(crate) fn chunks(batch: &RecordBatch, max_rows: usize) -> Vec<RecordBatch> {
    let max_rows = max_rows.max(1);
    (0..batch.num_rows())
        .step_by(max_rows)
        .map(|offset| batch.slice(offset, max_rows.min(batch.num_rows() - offset)))
        .collect()
}

/// Completes or undoes every compaction journal left by a crash or a failure; returns how
/// many there were.
pub(crate) fn roll_all(root: &Path) -> Result<usize> {
    let journal_dir = root.join(COMPACTION_DIR);
    let mut count = 0;
    for name in files::list(&journal_dir)? {
        if layout::is_temp(&name) {
            files::remove_if_present(&journal_dir.join(&name))?;
        } else if name.ends_with(".json") {
            roll(root, &journal_dir, &name)?;
            count += 1;
        }
    }
    Ok(count)
}

fn roll(root: &Path, journal_dir: &Path, name: &str) -> Result<()> {
    let path = journal_dir.join(name);
    let text =
        std::fs::read_to_string(&path).map_err(|e| IngestError::history("read", &path, e))?;
    let journal: Journal = serde_json::from_str(&text).map_err(|e| {
        IngestError::history(
            "parse",
            &path,
            std::io::Error::new(std::io::ErrorKind::InvalidData, e),
        )
    })?;
    let relative = Path::new(&journal.partition);
    if !relative
        .components()
        .all(|c| matches!(c, Component::Normal(_)))
    {
        return Err(IngestError::history(
            "parse",
            &path,
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
            finish(&dir, &journal)?;
        } else {
            undo(&dir, &journal)?;
        }
    }
    files::remove_if_present(&path)?;
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
