//! What every operator's snapshot shares: entities by id (city id + sensor or facility
//! id) instead of dense keys, interned per snapshot ([`IdTable`]), resolved again through
//! the restoring instance's catalog (facilities admitted at run time admitted again first,
//! from what the snapshot carries of them), and the count of what a restore did. The per-task
//! snapshot that holds the operators' parts is `crate::engine::TaskState`; it sits above the
//! operators, this below them.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

use crate::catalog::{AdmittedFacility, Catalog, EntityKey};

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

/// The facilities among `ids` that joined at run time, as a snapshot carries them so that
/// [`readmit`] can add them again where they are unknown (another instance, a restart):
/// without them their levels and open windows would be dropped as of an unknown facility.
pub(crate) fn admitted(catalog: &Catalog, ids: &[EntityId]) -> Vec<AdmittedFacility> {
    ids.iter()
        .filter_map(|e| {
            let city = catalog.city(&e.city)?;
            let key = catalog.facility_key(city, &e.id)?;
            let info = catalog.facilities().get(key as usize)?;
            info.admitted.as_deref().cloned()
        })
        .collect()
}

/// Admits a snapshot's run-time facilities into `catalog` before its ids are resolved;
/// a city that no longer admits them (its option turned off) drops their state as it
/// drops any unknown facility's (counted in [`RestoreStats::dropped`]).
pub(crate) fn readmit(catalog: &mut Catalog, sites: &[AdmittedFacility]) {
    for site in sites {
        catalog.admit_facility(site.clone());
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
