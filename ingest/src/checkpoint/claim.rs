//! Which instance owns a task: a claim file beside its checkpoints, so an instance the
//! group has already replaced (a *zombie*) stops writing the task's epochs.
//!
//! `dir/<topic>/<partition>/claim` holds `<generation> <instance>`: the instance that took
//! the task over last, and how many take-overs there have been. An instance claims a task
//! when it is assigned, *before* it loads the checkpoint, and checks that its claim still
//! stands before every sink commit (and each retry) and before writing the snapshot. Kafka
//! hands a partition to a new member only after the old one released it — or evicted it,
//! when it was stuck longer than `max.poll.interval.ms` (a commit retrying against a full
//! disk) or cut off from the group coordinator. Such an old owner finds the new claim at
//! its next commit attempt and drops the task instead of committing an epoch the new owner
//! writes too. See `docs/decisions/002-effectively-once.md` for what is left: an attempt
//! already under way when the claim changes.

use std::fs;
use std::path::Path;
use std::sync::Arc;

use crate::{IngestError, Result};

/// The claim file's name in a task directory.
const CLAIM_FILE: &str = "claim";

/// A task's claim as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Claim {
    /// Take-overs of the task so far (1 for the first owner).
    pub generation: u64,
    /// The claiming instance.
    pub instance: Arc<str>,
}

/// An id for this process's claims: unique across the instances sharing a store (process
/// id and start time in nanoseconds, and a per-process counter for stores made in one).
pub(super) fn new_instance_id() -> Arc<str> {
    use std::sync::atomic::{AtomicU64, Ordering};
    static STORES: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    let n = STORES.fetch_add(1, Ordering::Relaxed);
    Arc::from(format!("{}-{nanos:x}-{n}", std::process::id()))
}

/// Takes the task of `task_dir` over for `instance`: writes a claim of the next
/// generation (atomically: temp file, fsync, rename). Returns the generation.
///
/// # Errors
/// When the task directory or the claim cannot be written.
pub(super) fn take(task_dir: &Path, instance: &str) -> Result<u64> {
    fs::create_dir_all(task_dir).map_err(|e| IngestError::checkpoint(task_dir, e))?;
    let generation = read(task_dir)?.map_or(0, |c| c.generation) + 1;
    let path = task_dir.join(CLAIM_FILE);
    let temp = task_dir.join(format!(".{CLAIM_FILE}.{instance}.tmp"));
    let text = format!("{generation} {instance}\n");
    super::atomic::write(task_dir, &temp, &path, text.as_bytes())?;
    Ok(generation)
}

/// The current claim of the task of `task_dir`, `None` if it was never claimed.
///
/// # Errors
/// When the claim exists but cannot be read or parsed.
pub(super) fn read(task_dir: &Path) -> Result<Option<Claim>> {
    let path = task_dir.join(CLAIM_FILE);
    match fs::read_to_string(&path) {
        Ok(text) => parse(&text).map(Some).ok_or_else(|| {
            IngestError::checkpoint(&path, "not a claim (`<generation> <instance>`)")
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(IngestError::checkpoint(&path, e)),
    }
}

fn parse(text: &str) -> Option<Claim> {
    let (generation, instance) = text.trim().split_once(' ')?;
    let instance = instance.trim();
    (!instance.is_empty()).then_some(())?;
    Some(Claim {
        generation: generation.parse().ok()?,
        instance: Arc::from(instance),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_last_claim_wins_and_counts_generations() -> Result<()> {
        let dir = tempfile::tempdir().map_err(IngestError::Io)?;
        let task = dir.path().join("sensors.ulm.traffic").join("1");
        let (x, y) = (new_instance_id(), new_instance_id());
        assert_ne!(x, y);
        assert_eq!(read(&task)?, None, "unclaimed");
        assert_eq!(take(&task, &x)?, 1);
        assert_eq!(take(&task, &y)?, 2);
        assert_eq!(take(&task, &x)?, 3, "a task given back is claimed again");
        assert_eq!(
            read(&task)?.map(|c| (c.generation, c.instance)),
            Some((3, x))
        );
        let other = dir.path().join("sensors.ulm.traffic").join("2");
        assert_eq!(read(&other)?, None, "claims are per task");
        Ok(())
    }

    #[test]
    fn a_damaged_claim_is_an_error_not_ownership() -> Result<()> {
        let dir = tempfile::tempdir().map_err(IngestError::Io)?;
        take(dir.path(), "x")?;
        fs::write(dir.path().join(CLAIM_FILE), "garbage").map_err(IngestError::Io)?;
        assert!(read(dir.path()).is_err());
        Ok(())
    }
}
