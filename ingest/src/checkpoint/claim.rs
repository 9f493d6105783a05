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
use std::sync::Arc;

use super::CheckpointStore;
use crate::sink::Task;
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

impl CheckpointStore {
    /// This store's instance id, as written in its claims.
    pub fn instance(&self) -> &str {
        &self.instance
    }

    /// Takes `task` over: writes a claim of the next generation naming this instance
    /// (atomically: temp file, fsync, rename). Returns the generation.
    ///
    /// # Errors
    /// When the task directory or the claim cannot be written.
    pub fn claim(&self, task: &Task) -> Result<u64> {
        let dir = self.task_dir(task)?;
        fs::create_dir_all(&dir).map_err(|e| IngestError::checkpoint(&dir, e))?;
        let generation = self.read_claim(task)?.map_or(0, |c| c.generation) + 1;
        let path = dir.join(CLAIM_FILE);
        let temp = dir.join(format!(".{CLAIM_FILE}.{}.tmp", self.instance));
        let text = format!("{generation} {}\n", self.instance);
        super::write_atomically(&dir, &temp, &path, text.as_bytes())?;
        Ok(generation)
    }

    /// The current claim of `task`, `None` if it was never claimed.
    ///
    /// # Errors
    /// When the claim exists but cannot be read or parsed.
    pub fn read_claim(&self, task: &Task) -> Result<Option<Claim>> {
        let path = self.task_dir(task)?.join(CLAIM_FILE);
        match fs::read_to_string(&path) {
            Ok(text) => parse(&text).map(Some).ok_or_else(|| {
                IngestError::checkpoint(&path, "not a claim (`<generation> <instance>`)")
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(IngestError::checkpoint(&path, e)),
        }
    }

    /// Whether this instance still owns `task`: its claim stands, or nobody ever claimed
    /// the task (a source without assignments, whose tasks are learnt from messages).
    ///
    /// # Errors
    /// When the claim cannot be read: ownership is unknown, the caller retries.
    pub fn holds(&self, task: &Task) -> Result<bool> {
        Ok(self
            .read_claim(task)?
            .is_none_or(|claim| *claim.instance == *self.instance))
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

    fn task() -> Task {
        Task {
            topic: Arc::from("sensors.ulm.traffic"),
            partition: 1,
        }
    }

    #[test]
    fn the_last_claim_wins_and_counts_generations() -> Result<()> {
        let dir = tempfile::tempdir().map_err(IngestError::Io)?;
        let (x, y) = (
            CheckpointStore::new(dir.path()),
            CheckpointStore::new(dir.path()),
        );
        assert_ne!(x.instance(), y.instance());
        assert!(
            x.holds(&task())? && y.holds(&task())?,
            "unclaimed: anyone's"
        );
        assert_eq!(x.claim(&task())?, 1);
        assert!(x.holds(&task())? && !y.holds(&task())?);
        assert_eq!(y.claim(&task())?, 2);
        assert!(!x.holds(&task())? && y.holds(&task())?, "x is fenced");
        assert_eq!(x.claim(&task())?, 3, "a task given back is claimed again");
        let claim = y.read_claim(&task())?;
        assert_eq!(
            claim.map(|c| (c.generation, c.instance)),
            Some((3, Arc::from(x.instance())))
        );
        let other = Task {
            partition: 2,
            ..task()
        };
        assert!(y.holds(&other)?, "claims are per task");
        Ok(())
    }

    #[test]
    fn a_damaged_claim_is_an_error_not_ownership() -> Result<()> {
        let dir = tempfile::tempdir().map_err(IngestError::Io)?;
        let store = CheckpointStore::new(dir.path());
        store.claim(&task())?;
        let path = store.task_dir(&task())?.join(CLAIM_FILE);
        fs::write(&path, "garbage").map_err(IngestError::Io)?;
        assert!(store.holds(&task()).is_err());
        Ok(())
    }
}
