//! Tasks (topic-partitions) coming and going: registering a source, its checkpoint
//! snapshot and restore, and dropping it when its partition is revoked.

use std::sync::Arc;

use stadtpuls_processing::snapshot::{RestoreStats, TaskState};
use stadtpuls_processing::time::ProcessingTime;
use stadtpuls_processing::window::watermark::SourceId;

use super::Pipeline;
use crate::decode::{StreamKind, parse_topic};

impl Pipeline {
    /// Registers a newly assigned topic-partition with the operator of its kind (both, when
    /// the topic does not follow the naming convention), so its backlog is not taken as late.
    pub fn add_source(&mut self, source: SourceId, topic: &str, now: ProcessingTime) {
        match parse_topic(topic).map(|r| r.kind) {
            Some(StreamKind::Traffic) => {
                self.traffic.add_source(source, now);
                self.lanes.add_source(source, now);
            }
            Some(StreamKind::Parking) => self.parking.add_source(source, now),
            None => {
                self.traffic.add_source(source, now);
                self.lanes.add_source(source, now);
                self.parking.add_source(source, now);
            }
        }
    }

    /// Forgets a source whose partition was revoked, so it no longer holds the watermark.
    pub fn remove_source(&mut self, source: SourceId) {
        self.traffic.remove_source(source);
        self.lanes.remove_source(source);
        self.parking.remove_source(source);
        self.clock.remove(source);
    }

    /// The open state task `source` owns (windows, hysteresis, parking, its watermark
    /// clock), for its checkpoint.
    pub fn snapshot(&self, source: SourceId) -> TaskState {
        let traffic = &self.traffic;
        TaskState {
            traffic: traffic.snapshot(source, &self.catalog),
            lanes: self.lanes.snapshot(source, &self.catalog),
            classifier: self
                .traffic_state
                .snapshot(|key| traffic.owner(key) == Some(source), &self.catalog),
            parking: self.parking.snapshot(source, &self.catalog),
            clock: self.clock.export(source),
        }
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
        self.add_source(source, topic, now);
        self.clock.import(source, state.clock.clone());
        // Copies the catalog only if a preparer still holds it (see `Preparer`).
        let catalog = Arc::make_mut(&mut self.catalog);
        let mut stats = self.traffic.restore(source, &state.traffic, catalog, now);
        stats += self.lanes.restore(source, &state.lanes, catalog, now);
        stats += self.traffic_state.restore(&state.classifier, catalog);
        stats += self.parking.restore(source, &state.parking, catalog, now);
        stats
    }

    /// Drops everything task `source` owns and forgets the source (partition revoked,
    /// after its checkpoint).
    pub fn revoke(&mut self, source: SourceId) {
        let traffic = &self.traffic;
        self.traffic_state
            .revoke(|key| traffic.owner(key) == Some(source));
        self.traffic.revoke(source);
        self.lanes.revoke(source);
        self.parking.revoke(source, &self.catalog);
        self.clock.remove(source);
    }
}
