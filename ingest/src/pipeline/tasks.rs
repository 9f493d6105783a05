//! Tasks (topic-partitions) coming and going: registering a source, its checkpoint
//! snapshot and restore, and dropping it when its partition is revoked — the engine's, by
//! the streams the topic's name says it feeds.

use std::sync::Arc;

use stadtpuls_processing::engine::{Feed, RestoreStats, TaskState};
use stadtpuls_processing::time::ProcessingTime;
use stadtpuls_processing::window::watermark::SourceId;

use super::Pipeline;
use crate::decode::{StreamKind, parse_topic};

impl Pipeline {
    /// Registers a newly assigned topic-partition with the operators of its kind (all,
    /// when the topic does not follow the naming convention), so its backlog is not taken
    /// as late.
    pub fn add_source(&mut self, source: SourceId, topic: &str, now: ProcessingTime) {
        self.engine.add_source(source, feed(topic), now);
    }

    /// Forgets a source whose partition was revoked, so it no longer holds the watermark.
    pub fn remove_source(&mut self, source: SourceId) {
        self.engine.remove_source(source);
    }

    /// The open state task `source` owns (windows, hysteresis, parking, its watermark
    /// clock), for its checkpoint.
    pub fn snapshot(&self, source: SourceId) -> TaskState {
        self.engine.snapshot(source, &self.catalog)
    }

    /// Registers task `source` (a newly assigned partition of `topic`) with the state of
    /// its last checkpoint; entities are resolved by id in this pipeline's catalog.
    pub fn restore(
        &mut self,
        source: SourceId,
        topic: &str,
        state: &TaskState,
        now: ProcessingTime,
    ) -> RestoreStats {
        // Copies the catalog only if a preparer still holds it (see `Preparer`).
        let catalog = Arc::make_mut(&mut self.catalog);
        let stats = self
            .engine
            .restore(source, feed(topic), state, catalog, now);
        // Facilities the snapshot admitted again are listed at once, not with the next step.
        self.publish_admitted();
        stats
    }

    /// Drops everything task `source` owns and forgets the source (partition revoked,
    /// after its checkpoint).
    pub fn revoke(&mut self, source: SourceId) {
        self.engine.revoke(source, &self.catalog);
    }
}

/// The streams a partition of `topic` feeds, by the topic naming convention.
fn feed(topic: &str) -> Feed {
    match parse_topic(topic).map(|r| r.kind) {
        Some(StreamKind::Traffic) => Feed::Traffic,
        Some(StreamKind::Parking) => Feed::Parking,
        None => Feed::Both,
    }
}
