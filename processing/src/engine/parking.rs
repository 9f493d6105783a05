//! The parking operator: each row first updates its facility's level
//! ([`Levels`](crate::window::parking::levels::Levels)), then folds that level into the
//! facility's windows ([`ParkingAcc`]).

use arrow_array::TimestampMillisecondArray;

use super::operator::{Close, Operator};
use super::windowed::Windowed;
use crate::Result;
use crate::catalog::{Catalog, EntityKey};
use crate::error::column;
use crate::model::parking::{ParkingBatch, col};
use crate::time::ProcessingTime;
use crate::window::parking::acc::ParkingAcc;
use crate::window::parking::emit::emit_rows;
use crate::window::parking::levels::{FacilityState, Levels};
use crate::window::parking::spots::SpotState;
use crate::window::parking::{FacilityLive, ParkingSpec};
use crate::window::restore::{EntityId, IdTable, RestoreStats, resolve_facilities};
use crate::window::slab::snapshot::ShapeWindows;
use crate::window::watermark::{SourceId, WatermarkState, WatermarkTracker};
use crate::window::{ClosedWindows, ProcessStats, WindowSpec};

/// Tracks facility levels and aggregates them into event-time windows.
#[derive(Debug)]
pub struct ParkingOperator {
    /// Keyed by facility; a spot's state belongs to its facility's owner.
    windowed: Windowed<ParkingAcc>,
    levels: Levels,
}

/// The state one task owns in a [`ParkingOperator`] (see [`TaskState`](super::TaskState)).
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ParkingSnapshot {
    facilities: Vec<EntityId>,
    /// (index into `facilities`, state).
    states: Vec<(u32, FacilityState)>,
    /// Spots that reported, by (city, spot id).
    spots: Vec<(EntityId, SpotState)>,
    /// Entries: (index into `facilities`, accumulator).
    windows: Vec<ShapeWindows<(u32, ParkingAcc)>>,
    watermark: WatermarkState,
}

impl ParkingSnapshot {
    /// Facilities with state.
    pub fn entities(&self) -> usize {
        self.facilities.len()
    }

    /// The facilities the snapshot holds state of, by id.
    pub(crate) fn facility_ids(&self) -> &[EntityId] {
        &self.facilities
    }
}

impl ParkingOperator {
    /// Creates the operator for the facilities and spots of `catalog`.
    pub fn new(windows: &WindowSpec, spec: &ParkingSpec, catalog: &Catalog) -> Self {
        Self {
            // Parking observations are instants, not interval ends: offset 0.
            windowed: Windowed::new(windows, 0, |key| key),
            levels: Levels::new(spec, catalog),
        }
    }

    /// Returns the current level of a facility, if it has reported.
    pub fn facility(&self, key: EntityKey) -> Option<FacilityLive> {
        self.levels.facility(key)
    }

    /// Returns and clears the facilities whose level changed since the last call.
    pub fn take_changed(&mut self) -> Vec<EntityKey> {
        self.levels.take_changed()
    }
}

impl Operator for ParkingOperator {
    type Batch = ParkingBatch;
    type Snapshot = ParkingSnapshot;

    fn fold(
        &mut self,
        source: SourceId,
        now: ProcessingTime,
        batch: &ParkingBatch,
        catalog: &Catalog,
    ) -> Result<ProcessStats> {
        let ts: &TimestampMillisecondArray = column(batch.record_batch(), col::TS)?;
        let facility_keys = batch.facility_keys().values();
        // Facilities admitted since the last batch get their slots first.
        self.levels.grow(catalog);
        let facilities = self.levels.facility_count();
        // A facility already fed by another partition (spots of one zone keyed by spot
        // id, say) is reported, not refused: see `Owners::conflicts` and
        // `docs/guarantees.md`, "Conditions". Judged before this batch's levels.
        let levels = &self.levels;
        let conflicts = self
            .windowed
            .owners()
            .conflicts(facility_keys, source, |key| levels.has_level(key));
        let rows = self.levels.apply(batch, catalog)?;
        self.windowed
            .owners_mut()
            .record(facility_keys, facilities, source);
        let mut stats = self.windowed.fold(
            source,
            now,
            ts.values(),
            facility_keys,
            facilities,
            |acc, row| {
                acc.fold(ts.value(row), &rows[row]);
            },
        );
        stats.partition_conflicts = conflicts;
        Ok(stats)
    }

    fn close(
        &mut self,
        until: Close,
        catalog: &Catalog,
        sink: &mut dyn FnMut(ClosedWindows) -> Result<()>,
    ) -> Result<()> {
        self.windowed.close(until, sink, |window, entries| {
            emit_rows(window, catalog, entries)
        })
    }

    fn snapshot(&self, source: SourceId, catalog: &Catalog) -> ParkingSnapshot {
        let mut ids = IdTable::default();
        let owned = |key: EntityKey| self.windowed.owner_of(key) == source;
        let (states, spots) = self.levels.export(owned, &mut ids, catalog);
        let (windows, watermark) = self
            .windowed
            .export(source, |key, acc| Some((ids.facility(catalog, key)?, *acc)));
        ParkingSnapshot {
            facilities: ids.into_ids(),
            states,
            spots,
            windows,
            watermark,
        }
    }

    /// Restored levels count as changed, so the live view gets them with the next step.
    fn restore(
        &mut self,
        source: SourceId,
        snapshot: &ParkingSnapshot,
        catalog: &mut Catalog,
        now: ProcessingTime,
    ) -> RestoreStats {
        let keys = resolve_facilities(catalog, &snapshot.facilities);
        self.levels.grow(catalog);
        for key in keys.iter().flatten() {
            self.windowed.set_owner(*key, source);
        }
        let mut stats = self
            .levels
            .import(&keys, &snapshot.states, &snapshot.spots, catalog);
        stats += self.windowed.import(
            source,
            (&snapshot.windows, &snapshot.watermark),
            self.levels.facility_count(),
            now,
            |&(i, acc)| Some((keys.get(i as usize).copied().flatten()?, acc)),
        );
        stats
    }

    fn revoke(&mut self, source: SourceId, catalog: &Catalog) {
        let windowed = &self.windowed;
        self.levels
            .revoke(|key| windowed.owner_of(key) == source, catalog);
        self.windowed.revoke(source);
    }

    fn clocks(&self) -> &WatermarkTracker {
        self.windowed.clocks()
    }

    fn clocks_mut(&mut self) -> &mut WatermarkTracker {
        self.windowed.clocks_mut()
    }
}
