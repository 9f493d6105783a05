//! What `stadtpuls replay` reads back into topics: NDJSON files (one message per line, e.g.
//! an export or the reference workload) and the raw archive (`raw_messages` Parquet files
//! written with `history.archive_raw`), in the order their messages must be written again.
//!
//! Order is the point of a replay: windows are computed per partition and entity, so every
//! entity's records must arrive in the order they were first read. NDJSON is replayed line
//! by line, keyed by the entity like `stadtpuls produce` ([`ndjson::key`]); the archive is
//! replayed one Hive partition (`city=…/date=…` directory) at a time, dates ascending, each
//! sorted by (topic, partition, offset), so a message archived twice — which the history
//! sink's epochs rule out, but a copied file would not — is written once.

pub mod archive;
mod message;
pub mod ndjson;

pub use message::Replayed;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::error::ReplayError;

/// One input of a replay.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Input {
    /// An NDJSON file with its number of non-blank lines.
    Ndjson {
        /// The file.
        path: PathBuf,
        /// Messages it holds.
        lines: u64,
    },
    /// The Parquet files of one raw-archive directory, replayed together (sorted).
    Archive {
        /// The files.
        files: Vec<PathBuf>,
        /// Rows they hold (from the Parquet footers).
        rows: u64,
    },
}

/// What a replay of `paths` reads, in order; `messages` is the total for a progress bar.
#[derive(Debug, Clone, Default)]
pub struct Plan {
    /// The inputs in replay order.
    pub inputs: Vec<Input>,
    /// Messages (NDJSON lines and archived rows) over all inputs.
    pub messages: u64,
}

impl Plan {
    /// Whether any input is NDJSON (which needs a target topic).
    pub fn has_ndjson(&self) -> bool {
        self.inputs
            .iter()
            .any(|i| matches!(i, Input::Ndjson { .. }))
    }
}

/// Plans a replay of `paths`: NDJSON files in the order given, then the archive's Parquet
/// files (given, or found under given directories; `_`/`.`-prefixed entries are the
/// history's bookkeeping and skipped) grouped by directory, dates ascending.
///
/// # Errors
/// A path that cannot be read, is neither NDJSON nor Parquet, or a Parquet file that is
/// not a raw archive file.
pub fn plan(paths: &[PathBuf]) -> Result<Plan, ReplayError> {
    let mut plan = Plan::default();
    let mut parquet = Vec::new();
    for path in paths {
        let meta = std::fs::metadata(path).map_err(|source| ReplayError::Read {
            path: path.clone(),
            source,
        })?;
        if meta.is_dir() {
            walk(path, &mut parquet)?;
        } else if has_extension(path, &["parquet"]) {
            parquet.push(path.clone());
        } else if has_extension(path, &["ndjson", "jsonl", "json"]) {
            let lines = ndjson::count(path)?;
            plan.messages += lines;
            plan.inputs.push(Input::Ndjson {
                path: path.clone(),
                lines,
            });
        } else {
            return Err(ReplayError::Unrecognised { path: path.clone() });
        }
    }
    let mut groups: BTreeMap<(String, PathBuf), Vec<PathBuf>> = BTreeMap::new();
    for file in parquet {
        let dir = file.parent().map(Path::to_path_buf).unwrap_or_default();
        groups
            .entry((date_of_dir(&dir), dir))
            .or_default()
            .push(file);
    }
    for (_, mut files) in groups {
        files.sort();
        files.dedup();
        let rows = archive::rows(&files)?;
        plan.messages += rows;
        plan.inputs.push(Input::Archive { files, rows });
    }
    Ok(plan)
}

fn has_extension(path: &Path, extensions: &[&str]) -> bool {
    path.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| extensions.iter().any(|x| e.eq_ignore_ascii_case(x)))
}

/// The `YYYY-MM-DD` of a `…/date=YYYY-MM-DD` directory, so dates order the groups before
/// cities do; empty for other directories (they sort first, by path).
fn date_of_dir(dir: &Path) -> String {
    dir.file_name()
        .and_then(|n| n.to_str())
        .and_then(|n| n.strip_prefix("date="))
        .unwrap_or_default()
        .to_owned()
}

fn walk(dir: &Path, out: &mut Vec<PathBuf>) -> Result<(), ReplayError> {
    let read = |source| ReplayError::Read {
        path: dir.to_path_buf(),
        source,
    };
    for entry in std::fs::read_dir(dir).map_err(read)? {
        let entry = entry.map_err(read)?;
        let name = entry.file_name();
        if name.to_string_lossy().starts_with(['_', '.']) {
            continue;
        }
        let path = entry.path();
        if entry.file_type().map_err(read)?.is_dir() {
            walk(&path, out)?;
        } else if has_extension(&path, &["parquet"]) {
            out.push(path);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn archive_directories_replay_by_date_before_city() {
        let dir = tempfile::tempdir().expect("tempdir");
        let ulm_7 = dir.path().join("city=ulm/date=2026-12-07");
        let aalen_7 = dir.path().join("city=aalen/date=2026-12-07");
        let ulm_6 = dir.path().join("city=ulm/date=2026-12-06");
        assert!(date_of_dir(&ulm_6) < date_of_dir(&aalen_7));
        assert_eq!(date_of_dir(&ulm_7), "2026-12-07");
        assert_eq!(date_of_dir(dir.path()), "");
    }

    #[test]
    fn unknown_extensions_and_missing_paths_are_refused_by_name() {
        let dir = tempfile::tempdir().expect("tempdir");
        let csv = dir.path().join("feed.csv");
        std::fs::write(&csv, "a,b\n").expect("write");
        let err = plan(std::slice::from_ref(&csv)).expect_err("csv is refused");
        assert!(err.to_string().contains("feed.csv"), "{err}");
        let missing = dir.path().join("nope.ndjson");
        let err = plan(&[missing]).expect_err("missing file");
        assert!(err.to_string().contains("nope.ndjson"), "{err}");
    }

    #[test]
    fn bookkeeping_directories_are_skipped() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::create_dir_all(dir.path().join("_epochs/x")).expect("mkdir");
        std::fs::write(dir.path().join("_epochs/x/e1.parquet"), b"not parquet").expect("write");
        let plan = plan(&[dir.path().to_path_buf()]).expect("an empty archive plans");
        assert!(plan.inputs.is_empty());
        assert_eq!(plan.messages, 0);
    }
}
