//! Feed ids → registry entities: the `external_id` column of each city's registry
//! (an NGSI entity id, a ParkAPI `uid`, later a DATEX II record id or a TTN `dev_eui`).

use std::collections::HashMap;

use stadtpuls_config::CityRegistry;
use stadtpuls_processing::catalog::{Catalog, CityKey};

/// One mapped id: the registry entity and, for an `id#lane` / `id#index=lane` entry,
/// the feed's index and the lane it belongs to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mapped {
    /// The registry id of the sensor, facility or spot.
    pub id: String,
    /// The feed's index the entry names (`#n`: `n`; `#i=l`: `i`).
    pub index: Option<u16>,
    /// The lane of that index.
    pub lane: Option<u8>,
}

/// Every city's external ids, built once at start-up (ids change with the registry only).
#[derive(Debug, Clone, Default)]
pub struct ExternalIds {
    /// (city, external id) → the entries for that id (one without a lane, and/or per lane).
    by_city: HashMap<CityKey, HashMap<String, Vec<Mapped>>>,
}

impl ExternalIds {
    /// Collects the `external_id`s of `registries`; cities unknown to `catalog` are skipped.
    pub fn from_registries(registries: &[CityRegistry], catalog: &Catalog) -> Self {
        let mut by_city: HashMap<CityKey, HashMap<String, Vec<Mapped>>> = HashMap::new();
        for registry in registries {
            let Some(city) = catalog.city(&registry.city.id) else {
                continue;
            };
            let ids = by_city.entry(city).or_default();
            for sensor in &registry.sensors {
                for external in &sensor.external_ids {
                    ids.entry(external.id.clone()).or_default().push(Mapped {
                        id: sensor.id.clone(),
                        index: external.index,
                        lane: external.lane,
                    });
                }
            }
        }
        Self { by_city }
    }

    /// Maps one id by hand (tests, tools): `lane` as an `id#lane` entry (index = lane).
    pub fn insert(&mut self, city: CityKey, external: &str, id: &str, lane: Option<u8>) {
        self.insert_index(city, external, lane.map(u16::from), id, lane);
    }

    /// Maps one id's `index` to `lane` of `id` by hand, as an `id#index=lane` entry does.
    pub fn insert_index(
        &mut self,
        city: CityKey,
        external: &str,
        index: Option<u16>,
        id: &str,
        lane: Option<u8>,
    ) {
        self.by_city
            .entry(city)
            .or_default()
            .entry(external.to_owned())
            .or_default()
            .push(Mapped {
                id: id.to_owned(),
                index,
                lane,
            });
    }

    /// The entity `external` names in `city`: the entry for its `index` (a lane, a DATEX
    /// II value index) if there is one, else the entry without an index.
    pub fn resolve(&self, city: CityKey, external: &str, index: Option<i64>) -> Option<&Mapped> {
        let entries = self.by_city.get(&city)?.get(external)?;
        let wanted = index.and_then(|index| u16::try_from(index).ok());
        entries
            .iter()
            .find(|m| wanted.is_some() && m.index == wanted)
            .or_else(|| entries.iter().find(|m| m.index.is_none()))
    }

    /// Every entry of `external` in `city` (`None`: the registry does not map it).
    pub fn entries(&self, city: CityKey, external: &str) -> Option<&[Mapped]> {
        self.by_city.get(&city)?.get(external).map(Vec::as_slice)
    }

    /// Whether no id is mapped at all.
    pub fn is_empty(&self) -> bool {
        self.by_city.is_empty()
    }
}
