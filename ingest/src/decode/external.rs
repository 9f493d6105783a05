//! Feed ids → registry entities: the `external_id` column of each city's registry
//! (an NGSI entity id, a ParkAPI `uid`, later a DATEX II record id or a TTN `dev_eui`).

use std::collections::HashMap;

use stadtpuls_config::CityRegistry;
use stadtpuls_processing::catalog::{Catalog, CityKey};

/// One mapped id: the registry entity and, for an `id#lane` entry, its lane.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mapped {
    /// The registry id of the sensor, facility or spot.
    pub id: String,
    /// The lane an `id#lane` entry names.
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
                        lane: external.lane,
                    });
                }
            }
        }
        Self { by_city }
    }

    /// Maps one id by hand (tests, tools).
    pub fn insert(&mut self, city: CityKey, external: &str, id: &str, lane: Option<u8>) {
        self.by_city
            .entry(city)
            .or_default()
            .entry(external.to_owned())
            .or_default()
            .push(Mapped {
                id: id.to_owned(),
                lane,
            });
    }

    /// The entity `external` names in `city`: the entry for its `lane` if there is one,
    /// else the entry without a lane.
    pub fn resolve(&self, city: CityKey, external: &str, lane: Option<i64>) -> Option<&Mapped> {
        let entries = self.by_city.get(&city)?.get(external)?;
        let wanted = lane.and_then(|lane| u8::try_from(lane).ok());
        entries
            .iter()
            .find(|m| wanted.is_some() && m.lane == wanted)
            .or_else(|| entries.iter().find(|m| m.lane.is_none()))
    }

    /// Whether no id is mapped at all.
    pub fn is_empty(&self) -> bool {
        self.by_city.is_empty()
    }
}
