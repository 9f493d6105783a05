//! Which topic-partition each source is, and when each facility's partition conflict was
//! last warned about: the state behind the rate-limited warnings of `conflicts.rs`.

use std::collections::HashMap;
use std::sync::Arc;

use stadtpuls_processing::catalog::EntityKey;
use stadtpuls_processing::time::ProcessingTime;
use stadtpuls_processing::window::watermark::SourceId;

/// A facility's conflicts are logged at most once per this much processing time.
pub(super) const WARN_EVERY_MS: i64 = 600_000;

/// The sources' partitions (for the warning) and when each facility was last warned about.
#[derive(Debug, Default)]
pub(super) struct ConflictLog {
    partitions: HashMap<SourceId, (Arc<str>, i32)>,
    warned: HashMap<EntityKey, Warned>,
}

#[derive(Debug, Clone, Copy)]
struct Warned {
    at: ProcessingTime,
    /// Conflicting observations since that warning.
    since: u64,
}

impl ConflictLog {
    /// Remembers which topic-partition `source` is (once per run of its messages).
    pub(super) fn source_seen(&mut self, source: SourceId, topic: &Arc<str>, partition: i32) {
        match self.partitions.get(&source) {
            Some((t, p)) if *p == partition && t == topic => {}
            _ => {
                self.partitions.insert(source, (topic.clone(), partition));
            }
        }
    }

    /// Adds `rows` conflicting observations of `entity`; when a warning about it is due
    /// (none in the last [`WARN_EVERY_MS`]), returns the observations since the last one.
    pub(super) fn warn_due(
        &mut self,
        entity: EntityKey,
        rows: u64,
        now: ProcessingTime,
    ) -> Option<u64> {
        let warned = self.warned.entry(entity).or_insert(Warned {
            at: now - WARN_EVERY_MS,
            since: 0,
        });
        warned.since += rows;
        if now - warned.at < WARN_EVERY_MS {
            return None;
        }
        let events = warned.since;
        *warned = Warned { at: now, since: 0 };
        Some(events)
    }

    /// The partition `source` was last seen as.
    pub(super) fn partition(&self, source: SourceId) -> Option<i32> {
        self.partitions.get(&source).map(|(_, p)| *p)
    }
}
