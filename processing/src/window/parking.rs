//! The parking operator: current state per facility, spot roll-ups, windowed summaries.
//!
//! Parking is a level, not a count: what matters is the latest free/total per facility,
//! its status (with hysteresis) and trend, and, per window, the last value, the minimum
//! free, the time-weighted mean occupancy, entries/exits and the parking sessions that
//! ended. Spot sensors roll up into their facility (an on-street zone): free = spots
//! reporting `free`; total = spots not `closed`. A spot that never reported, or reports
//! `unknown`, is counted in the total but not as free — the guidance sign must not
//! promise a space nobody has seen.

mod acc;
mod emit;
mod spots;
mod status;
mod trend;

use arrow_array::{Array, TimestampMillisecondArray, UInt32Array};
use stadtpuls_config::{ParkingConfig, ParkingThresholds};

use crate::Result;
use crate::catalog::{Catalog, EntityKey};
use crate::error::column;
use crate::formulas;
use crate::model::parking::{ParkingBatch, SpotStatus, col};
use crate::time::{EventTime, ProcessingTime, Watermark};
use crate::window::owners::Owners;
use crate::window::restore::{EntityId, IdTable, RestoreStats, resolve_facilities};
use crate::window::slab::{ShapeWindows, Windows};
use crate::window::watermark::{SourceId, WatermarkState, WatermarkTracker};
use crate::window::{ClosedWindows, ProcessStats, WindowShape, WindowSpec};
use acc::{LevelStep, ParkingAcc, RowFold};
pub use emit::{out, parking_window_schema};
use spots::{EndedSession, SpotState};
pub use status::{ParkingStatus, next_status};
pub use trend::Trend;
use trend::TrendSamples;

/// Validated parking settings of the operator.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ParkingSpec {
    /// Event time over which the occupancy trend is fitted, ms.
    pub trend_window_ms: i64,
    /// Slope beyond which the trend is not `stable`, percentage points per hour.
    pub trend_threshold_pct_per_h: f64,
    /// Status thresholds.
    pub thresholds: ParkingThresholds,
}

impl ParkingSpec {
    /// Builds the spec from the validated config section.
    pub fn from_config(config: &ParkingConfig) -> Self {
        Self {
            trend_window_ms: config.trend_window.as_millis() as i64,
            trend_threshold_pct_per_h: config.trend_threshold_pct_per_h,
            thresholds: config.thresholds,
        }
    }
}

impl Default for ParkingSpec {
    fn default() -> Self {
        Self::from_config(&ParkingConfig::default())
    }
}

/// The current state of one facility.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct FacilityLive {
    /// Free spaces.
    pub free: u32,
    /// Usable capacity, when known.
    pub total: Option<u32>,
    /// Occupied spaces, `total − min(free, total)`, when the capacity is known.
    pub occupied: Option<u32>,
    /// Occupancy, percent, when the capacity is known and not zero.
    pub occupancy_pct: Option<f64>,
    /// Status with hysteresis; `None` while the occupancy is unknown.
    pub status: Option<ParkingStatus>,
    /// Occupancy trend; `None` until the readings span half the trend window.
    pub trend: Option<Trend>,
    /// Least-squares slope behind `trend`, percentage points per hour.
    pub trend_pct_per_h: Option<f64>,
    /// Event time of the newest observation, epoch ms UTC.
    pub updated_at: EventTime,
}

impl FacilityLive {
    /// A level with its derived occupancy; no status or trend yet.
    pub fn new(free: u32, total: Option<u32>, updated_at: EventTime) -> Self {
        Self {
            free,
            total,
            occupied: total.map(|t| formulas::parking_occupied(free, t)),
            occupancy_pct: total.and_then(|t| formulas::parking_occupancy_pct(free, t)),
            status: None,
            trend: None,
            trend_pct_per_h: None,
            updated_at,
        }
    }

    /// Whether the level is older than `stale_after_ms` at wall-clock time `now`.
    pub fn is_stale(&self, now: ProcessingTime, stale_after_ms: i64) -> bool {
        now - self.updated_at > stale_after_ms
    }
}

#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
struct FacilityState {
    live: Option<FacilityLive>,
    spots_free: u32,
    spots_closed: u32,
    trend: TrendSamples,
}

/// Where a level came from: one facility count, or the roll-up of its spots.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum LevelSource {
    Count,
    Spots,
}

/// Tracks facility levels and aggregates them into event-time windows.
#[derive(Debug)]
pub struct ParkingOperator {
    shapes: Vec<WindowShape>,
    spec: ParkingSpec,
    windows: Windows<ParkingAcc>,
    watermarks: WatermarkTracker,
    spots: Vec<SpotState>,
    facilities: Vec<FacilityState>,
    changed: Vec<EntityKey>,
    /// The task owning each facility's state (and its spots').
    owners: Owners,
}

/// The state one task owns in a [`ParkingOperator`] (see [`crate::snapshot`]).
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
}

impl ParkingOperator {
    /// Creates the operator for the facilities and spots of `catalog`.
    pub fn new(windows: &WindowSpec, spec: &ParkingSpec, catalog: &Catalog) -> Self {
        Self {
            shapes: windows.shapes.clone(),
            spec: *spec,
            // Parking observations are instants, not interval ends: offset 0.
            windows: Windows::new(
                &windows.shapes.iter().map(|s| s.slab()).collect::<Vec<_>>(),
                0,
                windows.allowed_lateness_ms,
            ),
            watermarks: WatermarkTracker::new(windows.out_of_orderness_ms, windows.idle_timeout_ms),
            spots: vec![SpotState::default(); catalog.spots().len()],
            facilities: vec![FacilityState::default(); catalog.facilities().len()],
            changed: Vec::new(),
            owners: Owners::default(),
        }
    }

    /// Applies a batch from one source: updates facility levels, then folds them into windows.
    ///
    /// # Errors
    /// [`ProcessingError::Schema`](crate::ProcessingError::Schema) if the batch is not a parking batch (a bug).
    pub fn process(
        &mut self,
        source: SourceId,
        now: ProcessingTime,
        batch: &ParkingBatch,
        catalog: &Catalog,
    ) -> Result<ProcessStats> {
        let rb = batch.record_batch();
        let ts: &TimestampMillisecondArray = column(rb, col::TS)?;
        let free_col: &UInt32Array = column(rb, col::FREE_SPACES)?;
        let total_col: &UInt32Array = column(rb, col::TOTAL_SPACES)?;
        let entries_col: &UInt32Array = column(rb, col::ENTRIES)?;
        let exits_col: &UInt32Array = column(rb, col::EXITS)?;
        let facility_keys = batch.facility_keys().values();
        let spot_keys = batch.spot_keys();
        let status = batch.status_codes();
        let n = rb.num_rows();
        // A facility already fed by another partition (spots of one zone keyed by spot
        // id, say) is reported, not refused: see `Owners::conflicts` and
        // `docs/guarantees.md`, "Conditions".
        let facilities = &self.facilities;
        let conflicts = self.owners.conflicts(facility_keys, source, |key| {
            facilities
                .get(key as usize)
                .is_some_and(|f| f.live.is_some())
        });
        self.owners
            .record(facility_keys, self.facilities.len(), source);
        let optional = |a: &UInt32Array, row: usize| a.is_valid(row).then(|| a.value(row));
        let mut rows = Vec::with_capacity(n);
        for row in 0..n {
            let t = ts.value(row);
            let facility = facility_keys[row];
            let (level, source, changed, ended) = if spot_keys.is_valid(row) {
                let new = SpotStatus::from_code(status.value(row));
                let (level, change) =
                    self.apply_spot(spot_keys.value(row), facility, t, new, catalog);
                (
                    level,
                    LevelSource::Spots,
                    change.is_some(),
                    change.flatten(),
                )
            } else {
                let total =
                    optional(total_col, row).or_else(|| registered_total(catalog, facility));
                ((free_col.value(row), total), LevelSource::Count, true, None)
            };
            let step = if changed {
                self.set_live(facility, t, level, source)
            } else {
                None
            };
            let current = step.and_then(|_| self.facility(facility));
            rows.push(RowFold {
                free: level.0,
                total: level.1,
                status: current.and_then(|l| l.status),
                trend: current.and_then(|l| l.trend),
                step,
                entries: optional(entries_col, row),
                exits: optional(exits_col, row),
                ended,
            });
        }
        self.watermarks.settle();
        let update = self.windows.update(
            ts.values(),
            facility_keys,
            self.facilities.len(),
            self.watermarks.lateness(source),
            |acc, row| acc.fold(ts.value(row), &rows[row]),
        );
        if let Some(max) = ts.values().iter().copied().max() {
            self.watermarks.observe(source, max, now);
        }
        let mut stats = ProcessStats::from_update(n, &self.shapes, update);
        stats.partition_conflicts = conflicts;
        Ok(stats)
    }

    /// Updates one spot and returns its facility's level (free, total) afterwards, and
    /// whether the report changed the spot (`Some`, with the session it ended, if any).
    fn apply_spot(
        &mut self,
        spot: EntityKey,
        facility: EntityKey,
        ts: EventTime,
        status: SpotStatus,
        catalog: &Catalog,
    ) -> ((u32, Option<u32>), Option<Option<EndedSession>>) {
        let spots_total = catalog
            .facilities()
            .get(facility as usize)
            .map_or(0, |f| f.spots);
        let (Some(spot_state), Some(fac)) = (
            self.spots.get_mut(spot as usize),
            self.facilities.get_mut(facility as usize),
        ) else {
            return ((0, None), None);
        };
        let change = spot_state.apply(ts, status);
        if let Some(change) = change {
            match change.previous {
                Some(SpotStatus::Free) => fac.spots_free -= 1,
                Some(SpotStatus::Closed) => fac.spots_closed -= 1,
                _ => {}
            }
            match status {
                SpotStatus::Free => fac.spots_free += 1,
                SpotStatus::Closed => fac.spots_closed += 1,
                SpotStatus::Occupied | SpotStatus::Unknown => {}
            }
        }
        let level = (
            fac.spots_free,
            Some(spots_total.saturating_sub(fac.spots_closed)),
        );
        (level, change.map(|c| c.ended))
    }

    /// Makes a reading the facility's current level, with status and trend, unless a
    /// newer count is already held. Returns the step for the time-weighted mean.
    ///
    /// A spot roll-up is always current — it is the sum of every spot's newest state — so
    /// a spot report older than the zone's newest one still updates the level, at the
    /// newest time, which keeps the level's timeline (and the trend samples) ordered.
    fn set_live(
        &mut self,
        facility: EntityKey,
        ts: EventTime,
        (free, total): (u32, Option<u32>),
        source: LevelSource,
    ) -> Option<LevelStep> {
        let spec = self.spec;
        let state = self.facilities.get_mut(facility as usize)?;
        let before = state.live;
        let at = match (before, source) {
            (Some(b), LevelSource::Count) if b.updated_at > ts => return None,
            (Some(b), LevelSource::Spots) => ts.max(b.updated_at),
            _ => ts,
        };
        let mut live = FacilityLive::new(free, total, at);
        live.status = next_status(
            before.and_then(|b| b.status),
            live.total,
            live.occupancy_pct,
            &spec.thresholds,
        );
        match live.occupancy_pct {
            Some(occupancy) => state.trend.push(at, occupancy, spec.trend_window_ms),
            None => state.trend.clear(),
        }
        if let Some((trend, slope)) = state
            .trend
            .estimate(spec.trend_window_ms, spec.trend_threshold_pct_per_h)
        {
            live.trend = Some(trend);
            live.trend_pct_per_h = Some(slope);
        }
        state.live = Some(live);
        self.changed.push(facility);
        Some(LevelStep {
            ts: at,
            occupancy_pct: live.occupancy_pct,
            before: before.map(|b| (b.updated_at, b.occupancy_pct)),
        })
    }

    /// Returns the current level of a facility, if it has reported.
    pub fn facility(&self, key: EntityKey) -> Option<FacilityLive> {
        self.facilities.get(key as usize).and_then(|f| f.live)
    }

    /// Returns and clears the facilities whose level changed since the last call.
    pub fn take_changed(&mut self) -> Vec<EntityKey> {
        let mut changed = std::mem::take(&mut self.changed);
        changed.sort_unstable();
        changed.dedup();
        changed
    }

    /// Registers a source (partition) as soon as it is assigned, so it holds the watermark
    /// until it delivers or turns idle.
    pub fn add_source(&mut self, source: SourceId, now: ProcessingTime) {
        self.watermarks.register(source, now);
    }

    /// Marks a source alive without data (empty fetch).
    pub fn heartbeat(&mut self, source: SourceId, now: ProcessingTime) {
        self.watermarks.heartbeat(source, now);
    }

    /// Forgets a source (partition revoked).
    pub fn remove_source(&mut self, source: SourceId) {
        self.watermarks.remove(source);
    }

    /// The operator watermark.
    pub fn watermark(&self) -> Watermark {
        self.watermarks.current()
    }

    /// The state `source` owns: its facilities' levels, spots and windows, and its clock.
    pub fn snapshot(&self, source: SourceId, catalog: &Catalog) -> ParkingSnapshot {
        let mut ids = IdTable::default();
        let owned = |key: EntityKey| self.owners.get(key) == source;
        let mut states = Vec::new();
        for (key, state) in self.facilities.iter().enumerate() {
            let key = key as EntityKey;
            if owned(key)
                && *state != FacilityState::default()
                && let Some(i) = ids.facility(catalog, key)
            {
                states.push((i, state.clone()));
            }
        }
        let mut spots = Vec::new();
        for (spot, info) in self.spots.iter().zip(catalog.spots()) {
            let Some(facility) = catalog.facilities().get(info.facility as usize) else {
                continue;
            };
            if spot.reported() && owned(info.facility) {
                let id = EntityId {
                    city: catalog.city_id(facility.city).to_owned(),
                    id: info.id.to_string(),
                };
                spots.push((id, *spot));
            }
        }
        let windows = self.windows.export(|key, acc| {
            if !owned(key) {
                return None;
            }
            Some((ids.facility(catalog, key)?, *acc))
        });
        ParkingSnapshot {
            facilities: ids.into_ids(),
            states,
            spots,
            windows,
            watermark: self.watermarks.export(source),
        }
    }

    /// Merges a snapshot of task `source` back at processing time `now`. Restored levels
    /// count as changed, so the live view gets them with the next step.
    pub fn restore(
        &mut self,
        source: SourceId,
        snapshot: &ParkingSnapshot,
        catalog: &Catalog,
        now: ProcessingTime,
    ) -> RestoreStats {
        let keys = resolve_facilities(catalog, &snapshot.facilities);
        let mut stats = RestoreStats::default();
        for key in keys.iter().flatten() {
            self.owners.set(*key, source);
        }
        for (i, state) in &snapshot.states {
            let key = keys.get(*i as usize).copied().flatten();
            match key.and_then(|k| Some((k, self.facilities.get_mut(k as usize)?))) {
                Some((key, slot)) => {
                    *slot = state.clone();
                    self.changed.push(key);
                    stats.restored += 1;
                }
                None => stats.dropped += 1,
            }
        }
        for (id, spot) in &snapshot.spots {
            let slot = catalog
                .city(&id.city)
                .and_then(|city| catalog.spot_key(city, &id.id))
                .and_then(|key| self.spots.get_mut(key as usize));
            match slot {
                Some(slot) => {
                    *slot = *spot;
                    stats.restored += 1;
                }
                None => stats.dropped += 1,
            }
        }
        let total: usize = snapshot
            .windows
            .iter()
            .flat_map(|s| &s.windows)
            .map(|w| w.entries.len())
            .sum();
        let restored =
            self.windows
                .import(&snapshot.windows, self.facilities.len(), |&(i, acc)| {
                    Some((keys.get(i as usize).copied().flatten()?, acc))
                });
        stats.restored += restored;
        stats.dropped += total - restored;
        self.watermarks.import(source, &snapshot.watermark, now);
        stats
    }

    /// Drops everything `source` owns (partition revoked, after its checkpoint).
    pub fn revoke(&mut self, source: SourceId, catalog: &Catalog) {
        let owners = &self.owners;
        self.windows.retain(|key| owners.get(key) != source);
        for (key, state) in self.facilities.iter_mut().enumerate() {
            if owners.get(key as EntityKey) == source {
                *state = FacilityState::default();
            }
        }
        for (spot, info) in self.spots.iter_mut().zip(catalog.spots()) {
            if owners.get(info.facility) == source {
                *spot = SpotState::default();
            }
        }
        self.owners.forget(source);
        self.watermarks.remove(source);
    }

    /// Recomputes the watermark and returns every window it closed.
    ///
    /// # Errors
    /// Only if Arrow refuses the output columns (a bug).
    pub fn advance(
        &mut self,
        now: ProcessingTime,
        catalog: &Catalog,
    ) -> Result<Vec<ClosedWindows>> {
        let mut closed = Vec::new();
        self.advance_into(now, catalog, |c| {
            closed.push(c);
            Ok(())
        })?;
        Ok(closed)
    }

    /// Closes every open window (end of input).
    ///
    /// # Errors
    /// Only if Arrow refuses the output columns (a bug).
    pub fn finish(&mut self, catalog: &Catalog) -> Result<Vec<ClosedWindows>> {
        let mut closed = Vec::new();
        self.finish_into(catalog, |c| {
            closed.push(c);
            Ok(())
        })?;
        Ok(closed)
    }

    /// [`Self::advance`], handing each window to `sink` as soon as it is emitted: a replay
    /// closes thousands of small windows in one step, which the caller can merge as they
    /// come instead of holding them all (`ingest/src/pipeline/windows.rs`).
    ///
    /// # Errors
    /// Only if Arrow refuses the output columns (a bug), or `sink`'s error; the windows
    /// closed after it are dropped.
    pub fn advance_into(
        &mut self,
        now: ProcessingTime,
        catalog: &Catalog,
        sink: impl FnMut(ClosedWindows) -> Result<()>,
    ) -> Result<()> {
        let wm = self.watermarks.advance(now);
        self.close(wm, catalog, sink)
    }

    /// [`Self::finish`], handing each window to `sink` (see [`Self::advance_into`]).
    ///
    /// # Errors
    /// As [`Self::advance_into`].
    pub fn finish_into(
        &mut self,
        catalog: &Catalog,
        sink: impl FnMut(ClosedWindows) -> Result<()>,
    ) -> Result<()> {
        let wm = self.watermarks.finish();
        self.close(wm, catalog, sink)
    }

    fn close(
        &mut self,
        wm: Watermark,
        catalog: &Catalog,
        mut sink: impl FnMut(ClosedWindows) -> Result<()>,
    ) -> Result<()> {
        let Some(t) = wm.time() else {
            return Ok(());
        };
        let owners = &self.owners;
        let mut result = Ok(());
        self.windows.emit(t, |shape, start, revision, entries| {
            if result.is_ok() {
                result = emit::emit(shape, start, revision, entries, catalog, owners)
                    .and_then(|closed| closed.into_iter().try_for_each(&mut sink));
            }
        });
        result
    }
}

fn registered_total(catalog: &Catalog, facility: EntityKey) -> Option<u32> {
    let info = catalog.facilities().get(facility as usize)?;
    info.capacity.or((info.spots > 0).then_some(info.spots))
}
