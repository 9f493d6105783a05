//! The current level of every facility and the state of every spot: what a parking row
//! changes before it is folded into its windows, and what the live view shows.
//!
//! Kept apart from the windows (`crate::engine::parking` holds both) because a level is
//! not windowed: it is the newest reading, with its status hysteresis and trend, and each
//! row's fold needs the level the row left (the time-weighted mean steps with it).

use arrow_array::{Array, TimestampMillisecondArray, UInt32Array};

use super::acc::{LevelStep, RowFold};
use super::spots::{EndedSession, SpotState};
use super::trend::TrendSamples;
use super::{FacilityLive, ParkingSpec, next_status};
use crate::Result;
use crate::catalog::{Catalog, EntityKey};
use crate::error::column;
use crate::model::parking::{OpeningStatus, ParkingBatch, SpotStatus, col};
use crate::time::EventTime;
use crate::window::restore::{EntityId, IdTable, RestoreStats};

/// One facility's level and the counts of its spots behind it.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub(crate) struct FacilityState {
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

/// The levels of the catalog's facilities and the states of its spots, by key.
#[derive(Debug)]
pub(crate) struct Levels {
    spec: ParkingSpec,
    spots: Vec<SpotState>,
    facilities: Vec<FacilityState>,
    changed: Vec<EntityKey>,
}

/// A task's levels as its snapshot keeps them: (index into the snapshot's facilities,
/// state), and the spots that reported by (city, spot id).
pub(crate) type LevelsExport = (Vec<(u32, FacilityState)>, Vec<(EntityId, SpotState)>);

impl Levels {
    /// No level yet for any facility or spot of `catalog`.
    pub(crate) fn new(spec: &ParkingSpec, catalog: &Catalog) -> Self {
        Self {
            spec: *spec,
            spots: vec![SpotState::default(); catalog.spots().len()],
            facilities: vec![FacilityState::default(); catalog.facilities().len()],
            changed: Vec::new(),
        }
    }

    /// Makes room for facilities and spots added to `catalog` since (facilities admitted
    /// at run time, `Catalog::admit_facility`): they start without a level.
    pub(crate) fn grow(&mut self, catalog: &Catalog) {
        let facilities = catalog.facilities().len();
        if self.facilities.len() < facilities {
            self.facilities.resize(facilities, FacilityState::default());
        }
        let spots = catalog.spots().len();
        if self.spots.len() < spots {
            self.spots.resize(spots, SpotState::default());
        }
    }

    /// Number of facilities (the key space of the parking windows).
    pub(crate) fn facility_count(&self) -> usize {
        self.facilities.len()
    }

    /// Whether facility `key` has a level (state a second partition would conflict with).
    pub(crate) fn has_level(&self, key: EntityKey) -> bool {
        self.facilities
            .get(key as usize)
            .is_some_and(|f| f.live.is_some())
    }

    /// Applies every row of `batch` in order to its facility's level and returns, per
    /// row, what its windows fold: the level after it and the step it made.
    ///
    /// # Errors
    /// [`ProcessingError::Schema`](crate::ProcessingError::Schema) if the batch is not a
    /// parking batch (a bug); nothing is changed then.
    pub(crate) fn apply(
        &mut self,
        batch: &ParkingBatch,
        catalog: &Catalog,
    ) -> Result<Vec<RowFold>> {
        let rb = batch.record_batch();
        let ts: &TimestampMillisecondArray = column(rb, col::TS)?;
        let free_col: &UInt32Array = column(rb, col::FREE_SPACES)?;
        let total_col: &UInt32Array = column(rb, col::TOTAL_SPACES)?;
        let entries_col: &UInt32Array = column(rb, col::ENTRIES)?;
        let exits_col: &UInt32Array = column(rb, col::EXITS)?;
        let facility_keys = batch.facility_keys().values();
        let spot_keys = batch.spot_keys();
        let status = batch.status_codes();
        let opening_col = batch.opening_codes();
        let optional = |a: &UInt32Array, row: usize| a.is_valid(row).then(|| a.value(row));
        let mut rows = Vec::with_capacity(rb.num_rows());
        for row in 0..rb.num_rows() {
            let t = ts.value(row);
            let facility = facility_keys[row];
            let opening = opening_col
                .is_valid(row)
                .then(|| OpeningStatus::from_code(opening_col.value(row)));
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
                self.set_live(facility, t, level, opening, source)
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
                opening,
                entries: optional(entries_col, row),
                exits: optional(exits_col, row),
                ended,
            });
        }
        Ok(rows)
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
    /// A count stating `closed` makes a closed level ([`FacilityLive::with_opening`]):
    /// status `closed`, no occupancy, so the trend starts afresh when it reopens and the
    /// time-weighted mean covers only the time it was open.
    ///
    /// A spot roll-up is always current — it is the sum of every spot's newest state — so
    /// a spot report older than the zone's newest one still updates the level, at the
    /// newest time, which keeps the level's timeline (and the trend samples) ordered.
    fn set_live(
        &mut self,
        facility: EntityKey,
        ts: EventTime,
        (free, total): (u32, Option<u32>),
        opening: Option<OpeningStatus>,
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
        let mut live = FacilityLive::new(free, total, at).with_opening(opening);
        if !live.is_closed() {
            live.status = next_status(
                before.and_then(|b| b.status),
                live.total,
                live.occupancy_pct,
                &spec.thresholds,
            );
        }
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

    /// The current level of a facility, if it has reported.
    pub(crate) fn facility(&self, key: EntityKey) -> Option<FacilityLive> {
        self.facilities.get(key as usize).and_then(|f| f.live)
    }

    /// The facilities whose level changed since the last call, each once, by key.
    pub(crate) fn take_changed(&mut self) -> Vec<EntityKey> {
        let mut changed = std::mem::take(&mut self.changed);
        changed.sort_unstable();
        changed.dedup();
        changed
    }

    /// The levels and spots of the facilities `owned` accepts, their facilities interned
    /// in `ids`.
    pub(crate) fn export(
        &self,
        owned: impl Fn(EntityKey) -> bool,
        ids: &mut IdTable,
        catalog: &Catalog,
    ) -> LevelsExport {
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
        (states, spots)
    }

    /// Puts a snapshot's levels and spots back; `keys` are its facilities resolved in
    /// `catalog`. Restored levels count as changed, so the live view gets them with the
    /// next step.
    pub(crate) fn import(
        &mut self,
        keys: &[Option<EntityKey>],
        states: &[(u32, FacilityState)],
        spots: &[(EntityId, SpotState)],
        catalog: &Catalog,
    ) -> RestoreStats {
        let mut stats = RestoreStats::default();
        for (i, state) in states {
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
        for (id, spot) in spots {
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
        stats
    }

    /// Forgets the levels and spots of the facilities `owned` accepts (a revoked task's).
    pub(crate) fn revoke(&mut self, owned: impl Fn(EntityKey) -> bool, catalog: &Catalog) {
        for (key, state) in self.facilities.iter_mut().enumerate() {
            if owned(key as EntityKey) {
                *state = FacilityState::default();
            }
        }
        for (spot, info) in self.spots.iter_mut().zip(catalog.spots()) {
            if owned(info.facility) {
                *spot = SpotState::default();
            }
        }
    }
}

/// A facility's capacity from the registry: its configured capacity, else its spots.
fn registered_total(catalog: &Catalog, facility: EntityKey) -> Option<u32> {
    let info = catalog.facilities().get(facility as usize)?;
    info.capacity.or((info.spots > 0).then_some(info.spots))
}
