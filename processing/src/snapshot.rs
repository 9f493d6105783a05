//! Per-task snapshots of the operators' open state, for checkpoints and handover.
//!
//! A task is one input topic-partition (`docs/decisions/002-effectively-once.md`). Its
//! snapshot holds the state of every entity the task owns — open traffic windows per
//! sensor and per lane, the traffic-state hysteresis, facility levels, spots and parking
//! windows — and the task's watermark clock. Entities are stored by id (city id + sensor,
//! facility or spot id), never by dense key: keys of sensors admitted at run time differ
//! between instances, so a restore resolves the ids through its own catalog (admitting
//! them again). Encoded with `postcard`, compact and versioned by the checkpoint file.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

use crate::catalog::{Catalog, EntityKey};
use crate::window::clock_guard::ClockState;
use crate::window::parking::ParkingSnapshot;
use crate::window::traffic::TrafficSnapshot;
use crate::window::traffic_state::ClassifierSnapshot;
use crate::{ProcessingError, Result};

/// An entity by id: city id and sensor, facility or spot id.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub(crate) struct EntityId {
    pub(crate) city: String,
    pub(crate) id: String,
}

/// Interns the ids of the entities a snapshot refers to: entries carry a small index.
#[derive(Debug, Default)]
pub(crate) struct IdTable {
    ids: Vec<EntityId>,
    index: HashMap<EntityKey, u32>,
}

impl IdTable {
    /// The index of traffic sensor `key`, `None` if the catalog does not know it.
    pub(crate) fn traffic(&mut self, catalog: &Catalog, key: EntityKey) -> Option<u32> {
        self.intern(key, || {
            let info = catalog.traffic_sensors().get(key as usize)?;
            Some((catalog.city_id(info.city), info.id.as_ref()))
        })
    }

    /// The index of facility `key`, `None` if the catalog does not know it.
    pub(crate) fn facility(&mut self, catalog: &Catalog, key: EntityKey) -> Option<u32> {
        self.intern(key, || {
            let info = catalog.facilities().get(key as usize)?;
            Some((catalog.city_id(info.city), info.id.as_ref()))
        })
    }

    fn intern<'a>(
        &mut self,
        key: EntityKey,
        id: impl FnOnce() -> Option<(&'a str, &'a str)>,
    ) -> Option<u32> {
        if let Some(&i) = self.index.get(&key) {
            return Some(i);
        }
        let (city, id) = id()?;
        let i = self.ids.len() as u32;
        self.ids.push(EntityId {
            city: city.to_owned(),
            id: id.to_owned(),
        });
        self.index.insert(key, i);
        Some(i)
    }

    pub(crate) fn into_ids(self) -> Vec<EntityId> {
        self.ids
    }
}

/// Resolves the traffic sensors of a snapshot in `catalog`, admitting them again where
/// unknown sensors are admitted; `None` for a sensor this catalog refuses.
pub(crate) fn resolve_traffic(catalog: &mut Catalog, ids: &[EntityId]) -> Vec<Option<EntityKey>> {
    ids.iter()
        .map(|e| {
            let city = catalog.city(&e.city)?;
            catalog.resolve_traffic(city, &e.id)
        })
        .collect()
}

/// Resolves the facilities of a snapshot in `catalog` (registry entities only).
pub(crate) fn resolve_facilities(catalog: &Catalog, ids: &[EntityId]) -> Vec<Option<EntityKey>> {
    ids.iter()
        .map(|e| {
            let city = catalog.city(&e.city)?;
            catalog.facility_key(city, &e.id)
        })
        .collect()
}

/// Everything one task owns in the pipeline's operators.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TaskState {
    /// Traffic windows per sensor.
    pub traffic: TrafficSnapshot,
    /// Traffic windows per sensor and lane.
    pub lanes: TrafficSnapshot,
    /// The traffic-state hysteresis.
    pub classifier: ClassifierSnapshot,
    /// Facility levels, spots and parking windows.
    pub parking: ParkingSnapshot,
    /// The source's progress as the clock-jump screen knows it.
    pub clock: ClockState,
}

impl TaskState {
    /// Encodes the state compactly (the checkpoint file adds header and checksum).
    ///
    /// # Errors
    /// [`ProcessingError::Snapshot`] if the state cannot be encoded (a bug).
    pub fn encode(&self) -> Result<Vec<u8>> {
        postcard::to_allocvec(self).map_err(|e| ProcessingError::Snapshot(e.to_string()))
    }

    /// Decodes a state written by [`Self::encode`] of the same format version.
    ///
    /// # Errors
    /// [`ProcessingError::Snapshot`] for bytes that are not such a state.
    pub fn decode(bytes: &[u8]) -> Result<Self> {
        postcard::from_bytes(bytes).map_err(|e| ProcessingError::Snapshot(e.to_string()))
    }

    /// Entities in the snapshot (sensors, lanes and facilities with open state), for logs.
    pub fn entities(&self) -> usize {
        self.traffic.entities() + self.parking.entities()
    }
}

/// What a restore did, for logs.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RestoreStats {
    /// Entity states restored.
    pub restored: usize,
    /// Entity states dropped because this instance's catalog refuses their entity.
    pub dropped: usize,
}

impl std::ops::AddAssign for RestoreStats {
    fn add_assign(&mut self, other: Self) {
        self.restored += other.restored;
        self.dropped += other.dropped;
    }
}
