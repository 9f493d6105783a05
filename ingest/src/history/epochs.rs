//! Per-task epoch logs: which files an epoch writes, recorded before it writes them.
//!
//! `recover(task, E)` must delete every file of the task's epochs after `E`, wherever in
//! the history they landed (replays of old data write old date partitions). Scanning every
//! partition of every table on each assignment would cost seconds on a year of history;
//! instead a commit first records its file names in `_epochs/<task>/e<epoch>.log` (synced),
//! then writes the files. Recovery reads the logs after `E` and deletes what they list —
//! files and their temporary names, whether or not the commit got that far.

use std::path::Path;

use super::files;
use super::layout;
use crate::sink::Task;
use crate::{IngestError, Result};

/// Records that `task`'s `epoch` writes `files` (paths relative to the history root).
pub(crate) fn record(root: &Path, task: &Task, epoch: u64, files: &[String]) -> Result<()> {
    let dir = layout::epoch_dir(root, task);
    files::create_dirs(root, dir.strip_prefix(root).unwrap_or(&dir))?;
    let mut text = String::with_capacity(files.iter().map(|f| f.len() + 1).sum());
    for file in files {
        text.push_str(file);
        text.push('\n');
    }
    files::write_small(&dir, &layout::epoch_log_name(epoch), text.as_bytes())
}

/// Deletes the files of `task`'s epochs after `committed` and their logs; returns how
/// many files were removed.
pub(crate) fn roll_back(root: &Path, task: &Task, committed: u64) -> Result<usize> {
    let dir = layout::epoch_dir(root, task);
    let mut removed = 0;
    for name in files::list(&dir)? {
        if layout::is_temp(&name) {
            files::remove_if_present(&dir.join(&name))?;
            continue;
        }
        let Some(epoch) = layout::epoch_log_epoch(&name) else {
            continue;
        };
        if epoch <= committed {
            continue;
        }
        let log = dir.join(&name);
        let text = std::fs::read_to_string(&log)
            .map_err(|error| IngestError::history("read", &log, error))?;
        let mut touched = Vec::new();
        for relative in text.lines().filter(|line| !line.is_empty()) {
            let path = root.join(relative);
            let Some((parent, file)) = path.parent().zip(path.file_name()) else {
                continue;
            };
            let file = file.to_string_lossy();
            if files::remove_if_present(&path)? {
                removed += 1;
            }
            files::remove_if_present(&parent.join(layout::temp_name(&file)))?;
            if parent.is_dir() && !touched.iter().any(|t: &std::path::PathBuf| t == parent) {
                touched.push(parent.to_path_buf());
            }
        }
        for parent in &touched {
            files::sync_dir(parent)?;
        }
        // Only once its files are gone for good: a crash before this repeats the above.
        files::remove_if_present(&log)?;
        files::sync_dir(&dir)?;
    }
    Ok(removed)
}

/// Forgets the logs of epochs up to `up_to`: no recovery will go back that far.
pub(crate) fn prune(root: &Path, task: &Task, up_to: u64) -> Result<()> {
    let dir = layout::epoch_dir(root, task);
    let mut any = false;
    for name in files::list(&dir)? {
        if layout::epoch_log_epoch(&name).is_some_and(|epoch| epoch <= up_to) {
            any |= files::remove_if_present(&dir.join(&name))?;
        }
    }
    if any {
        files::sync_dir(&dir)?;
    }
    Ok(())
}
