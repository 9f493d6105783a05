//! Dense keys for cities, traffic sensors, parking facilities and spots.
//!
//! The window operators keep their state in arrays indexed by these keys, so the hot path
//! never hashes a string more than once per event (at decode time, to resolve the id).
//! The key of a sensor is also the dictionary key of its id in decoded batches, which lets
//! the operators read sensor identity straight from an Arrow `DictionaryArray`.

use std::collections::HashMap;
use std::sync::Arc;

use arrow_array::StringArray;
use stadtpuls_config::{CityRegistry, SensorKind, SiteClass, TrafficConfig, derived_site_class};

/// Dense index of a city in the catalog.
pub type CityKey = u16;
/// Dense index of a traffic sensor, facility or spot within its kind.
pub type EntityKey = u32;
/// Dense index of a site class in [`Catalog::site_classes`].
pub type SiteClassKey = u16;

/// What to do with an event from a sensor that is not in the registry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UnknownSensors {
    /// Reject it with reason `unknown_sensor` (production default: a typo must not create
    /// phantom sensors).
    Reject,
    /// Register it on first sight (benchmarks and feeds without a registry).
    Admit,
}

/// Static description of a traffic sensor, as the metrics need it.
#[derive(Debug, Clone, PartialEq)]
pub struct TrafficSensorInfo {
    /// City the sensor belongs to.
    pub city: CityKey,
    /// Sensor id as in the registry.
    pub id: Arc<str>,
    /// Number of lanes the cross-section covers.
    pub lanes: u8,
    /// Free-flow speed of the site in km/h.
    pub free_flow_kmh: f64,
    /// Site class, whose thresholds decide the traffic state.
    pub site_class: SiteClassKey,
}

/// Static description of a parking facility (car park, P+R or on-street zone).
#[derive(Debug, Clone, PartialEq)]
pub struct FacilityInfo {
    /// City the facility belongs to.
    pub city: CityKey,
    /// Facility id as in the registry.
    pub id: Arc<str>,
    /// Registered capacity; a real-time `total_spaces` overrides it.
    pub capacity: Option<u32>,
    /// Number of registered spot sensors in the facility (0 for counted car parks).
    pub spots: u32,
    /// What its feed told of it, if it is not in the registry but was admitted at run
    /// time ([`Catalog::admit_facility`]).
    pub admitted: Option<Arc<AdmittedFacility>>,
}

/// Static description of a single parking spot sensor.
#[derive(Debug, Clone, PartialEq)]
pub struct SpotInfo {
    /// Spot id as in the registry.
    pub id: Arc<str>,
    /// Facility (zone) the spot rolls up into.
    pub facility: EntityKey,
}

/// A fast non-cryptographic hasher: ids come from our own registries and partner feeds,
/// and SipHash cost as much as the rest of the lookup on the hot path.
type FastMap<K, V> = HashMap<K, V, foldhash::fast::RandomState>;

mod admitted;
mod append_only;
mod growing_ids;
mod id_table;

pub use admitted::AdmittedFacility;
use append_only::AppendOnly;
use growing_ids::GrowingIds;
use id_table::{IdTable, InlineId};

/// One interning table: ids of one kind, per city, resolved to dense keys. Short ids (the
/// norm) live inline in an [`IdTable`]; longer ones in a second map.
#[derive(Debug, Default, Clone)]
struct Interner {
    short: IdTable,
    long: FastMap<(CityKey, Arc<str>), EntityKey>,
}

impl Interner {
    fn get(&self, city: CityKey, id: &str) -> Option<EntityKey> {
        match InlineId::new(city, id) {
            Some(inline) => self.short.get(&inline),
            None => self.long.get(&(city, Arc::from(id))).copied(),
        }
    }

    fn prefetch(&self, city: CityKey, id: &str) {
        if let Some(inline) = InlineId::new(city, id) {
            self.short.prefetch(&inline);
        }
    }

    fn insert(&mut self, city: CityKey, id: Arc<str>, key: EntityKey) {
        match InlineId::new(city, &id) {
            Some(inline) => self.short.insert(inline, key),
            None => {
                self.long.insert((city, id), key);
            }
        }
    }
}

/// Up to this many cities are looked up by a linear scan of [`CityProbe`]s.
const CITY_SCAN_MAX: usize = 32;

/// A city id's length and first 16 bytes: equal probes of ids of at most 16 bytes mean
/// equal ids.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct CityProbe {
    len: usize,
    head: [u8; 16],
    /// Whether `head` holds the whole id (no further comparison needed).
    complete: bool,
}

impl CityProbe {
    fn new(id: &str) -> Self {
        let raw = id.as_bytes();
        let n = raw.len().min(16);
        let mut head = [0u8; 16];
        head[..n].copy_from_slice(&raw[..n]);
        Self {
            len: raw.len(),
            head,
            complete: raw.len() <= 16,
        }
    }
}

/// Every city and entity the engine knows, with dense keys.
#[derive(Debug, Clone)]
pub struct Catalog {
    city_ids: Vec<Arc<str>>,
    city_index: FastMap<Arc<str>, CityKey>,
    /// Length and first bytes of each city id, in key order.
    city_probes: Vec<CityProbe>,
    traffic: AppendOnly<TrafficSensorInfo>,
    traffic_index: Interner,
    site_classes: Vec<SiteClass>,
    facilities: AppendOnly<FacilityInfo>,
    facility_index: Interner,
    spots: AppendOnly<SpotInfo>,
    spot_index: Interner,
    unknown: UnknownSensors,
    /// Per city key: whether facilities no registry lists may be admitted
    /// ([`Catalog::admit_facility`]).
    admitting: Vec<bool>,
    /// The ids of each kind in key order, as the values of the batches' dictionaries.
    traffic_ids: GrowingIds,
    city_values: Arc<StringArray>,
    facility_ids: GrowingIds,
    spot_ids: GrowingIds,
}

/// Free-flow speed assumed for admitted sensors without a registry entry, in km/h
/// (the German urban speed limit).
pub const DEFAULT_FREE_FLOW_KMH: f64 = 50.0;

impl Catalog {
    /// Builds the catalog from validated city registries and the site classes they name.
    pub fn from_registries(
        registries: &[CityRegistry],
        traffic: &TrafficConfig,
        unknown: UnknownSensors,
    ) -> Self {
        let ids: Vec<&str> = registries.iter().map(|r| r.city.id.as_str()).collect();
        let mut catalog = Self::with_cities(&ids, unknown);
        catalog.site_classes = class_table(traffic);
        for (city, registry) in registries.iter().enumerate() {
            let city = city as CityKey;
            for sensor in &registry.sensors {
                match sensor.kind {
                    SensorKind::Traffic => {
                        let free_flow_kmh = sensor.free_flow_kmh.unwrap_or(DEFAULT_FREE_FLOW_KMH);
                        let class = sensor
                            .site_class
                            .as_deref()
                            .and_then(|name| catalog.site_class_key(name))
                            .unwrap_or_else(|| catalog.derived_class(free_flow_kmh));
                        catalog.add_traffic_in_class(
                            city,
                            &sensor.id,
                            sensor.lanes.max(1),
                            free_flow_kmh,
                            class,
                        );
                    }
                    SensorKind::ParkingFacility => {
                        catalog.add_facility(city, &sensor.id, sensor.capacity);
                    }
                    SensorKind::ParkingSpot => {}
                }
            }
            // Spots second: they refer to facilities of the same registry.
            for sensor in &registry.sensors {
                if sensor.kind != SensorKind::ParkingSpot {
                    continue;
                }
                let facility = sensor
                    .facility_id
                    .as_deref()
                    .and_then(|f| catalog.facility_index.get(city, f));
                if let Some(facility) = facility {
                    catalog.add_spot(city, &sensor.id, facility);
                }
            }
        }
        catalog
    }

    /// Builds an empty catalog of the given cities (ids in key order), with the built-in
    /// site classes.
    pub fn with_cities(city_ids: &[&str], unknown: UnknownSensors) -> Self {
        let city_ids: Vec<Arc<str>> = city_ids.iter().map(|c| Arc::from(*c)).collect();
        let city_index = city_ids
            .iter()
            .enumerate()
            .map(|(i, c)| (c.clone(), i as CityKey))
            .collect();
        let city_probes = city_ids.iter().map(|c| CityProbe::new(c)).collect();
        let city_values = Arc::new(StringArray::from_iter_values(
            city_ids.iter().map(|c| c.as_ref()),
        ));
        Self {
            city_ids,
            city_index,
            city_probes,
            traffic: AppendOnly::default(),
            traffic_index: Interner::default(),
            site_classes: class_table(&TrafficConfig::default()),
            facilities: AppendOnly::default(),
            facility_index: Interner::default(),
            spots: AppendOnly::default(),
            spot_index: Interner::default(),
            unknown,
            admitting: Vec::new(),
            traffic_ids: GrowingIds::default(),
            city_values,
            facility_ids: GrowingIds::default(),
            spot_ids: GrowingIds::default(),
        }
    }

    /// Registers a traffic sensor in the site class its free-flow speed implies and
    /// returns its key.
    pub fn add_traffic(
        &mut self,
        city: CityKey,
        id: &str,
        lanes: u8,
        free_flow_kmh: f64,
    ) -> EntityKey {
        let class = self.derived_class(free_flow_kmh);
        self.add_traffic_in_class(city, id, lanes, free_flow_kmh, class)
    }

    /// Registers a traffic sensor of site class `site_class` and returns its key.
    pub fn add_traffic_in_class(
        &mut self,
        city: CityKey,
        id: &str,
        lanes: u8,
        free_flow_kmh: f64,
        site_class: SiteClassKey,
    ) -> EntityKey {
        let key = self.traffic.len() as EntityKey;
        self.traffic_ids.push(id);
        let id: Arc<str> = Arc::from(id);
        self.traffic_index.insert(city, id.clone(), key);
        self.traffic.push(TrafficSensorInfo {
            city,
            id,
            lanes,
            free_flow_kmh,
            site_class,
        });
        key
    }

    /// Registers a parking facility and returns its key.
    pub fn add_facility(&mut self, city: CityKey, id: &str, capacity: Option<u32>) -> EntityKey {
        let key = self.facilities.len() as EntityKey;
        let id: Arc<str> = Arc::from(id);
        self.facility_index.insert(city, id.clone(), key);
        self.facility_ids.push(&id);
        self.facilities.push(FacilityInfo {
            city,
            id,
            capacity,
            spots: 0,
            admitted: None,
        });
        key
    }

    /// Lets `city` admit facilities its registry does not list (its
    /// `admit_unmapped_facilities`); no city does unless told.
    pub fn set_admitting(&mut self, city: CityKey, admitting: bool) {
        let index = usize::from(city);
        if self.admitting.len() <= index {
            self.admitting.resize(index + 1, false);
        }
        self.admitting[index] = admitting;
    }

    /// Whether `city` admits facilities its registry does not list.
    pub fn admits_facilities(&self, city: CityKey) -> bool {
        self.admitting
            .get(usize::from(city))
            .copied()
            .unwrap_or(false)
    }

    /// Adds a facility a feed named but no registry lists, if its city admits such
    /// facilities; returns its key (the existing one if the id is already known, so a
    /// restore admitting it again changes nothing). `None`: unknown city, or a city that
    /// does not admit.
    pub fn admit_facility(&mut self, site: AdmittedFacility) -> Option<EntityKey> {
        let city = self.city(&site.city)?;
        if let Some(key) = self.facility_key(city, &site.id) {
            return Some(key);
        }
        if !self.admits_facilities(city) || !self.facility_ids.has_room(&site.id) {
            return None;
        }
        let key = self.add_facility(city, &site.id, Some(site.capacity));
        if let Some(info) = self.facilities.get_mut(key as usize) {
            info.admitted = Some(Arc::new(site));
        }
        Some(key)
    }

    /// Registers a parking spot of `facility` and returns its key.
    pub fn add_spot(&mut self, city: CityKey, id: &str, facility: EntityKey) -> EntityKey {
        let key = self.spots.len() as EntityKey;
        let id: Arc<str> = Arc::from(id);
        self.spot_index.insert(city, id.clone(), key);
        self.spot_ids.push(&id);
        self.spots.push(SpotInfo { id, facility });
        if let Some(f) = self.facilities.get_mut(facility as usize) {
            f.spots += 1;
        }
        key
    }

    /// Returns the key of a city id.
    pub fn city(&self, id: &str) -> Option<CityKey> {
        // Every event names its city: a scan of a few words beats hashing the name.
        if self.city_ids.len() <= CITY_SCAN_MAX {
            // Ids longer than the probe may share it (`district-north-1`, `…-2`): the
            // full comparison belongs inside the search, not after the first match.
            let probe = CityProbe::new(id);
            // Ids longer than the probe may share its 16 bytes (`…-nord`, `…-sued`): every
            // equal probe is a candidate until the whole id matches.
            return self
                .city_probes
                .iter()
                .enumerate()
                .filter(|(_, c)| **c == probe)
                .find(|&(i, _)| probe.complete || self.city_ids[i].as_ref() == id)
                .map(|(i, _)| i as CityKey);
        }
        self.city_index.get(id).copied()
    }

    /// Returns the id of a city key.
    pub fn city_id(&self, city: CityKey) -> &str {
        self.city_ids.get(city as usize).map_or("", |c| c.as_ref())
    }

    /// Number of cities.
    pub fn city_count(&self) -> usize {
        self.city_ids.len()
    }

    /// Resolves a traffic sensor, registering it first if unknown sensors are admitted.
    pub fn resolve_traffic(&mut self, city: CityKey, id: &str) -> Option<EntityKey> {
        if let Some(key) = self.traffic_index.get(city, id) {
            return Some(key);
        }
        match self.unknown {
            // An Arrow string column holds at most 2 GiB of ids: past that (some 100
            // million sensors), unknown ids are refused like unknown sensors.
            UnknownSensors::Admit if self.traffic_ids.has_room(id) => {
                Some(self.add_traffic(city, id, 1, DEFAULT_FREE_FLOW_KMH))
            }
            UnknownSensors::Reject | UnknownSensors::Admit => None,
        }
    }

    /// Whether an unknown sensor is registered on first sight ([`UnknownSensors::Admit`])
    /// rather than refused.
    pub fn admits_unknown(&self) -> bool {
        matches!(self.unknown, UnknownSensors::Admit)
    }

    /// Looks a traffic sensor up without registering it.
    pub fn traffic_key(&self, city: CityKey, id: &str) -> Option<EntityKey> {
        self.traffic_index.get(city, id)
    }

    /// Starts loading what [`Self::traffic_key`] will read for this sensor: a decoder that
    /// calls it a few messages ahead finds the lookup cached.
    pub fn prefetch_traffic(&self, city: CityKey, id: &str) {
        self.traffic_index.prefetch(city, id);
    }

    /// Looks a facility up.
    pub fn facility_key(&self, city: CityKey, id: &str) -> Option<EntityKey> {
        self.facility_index.get(city, id)
    }

    /// Looks a parking spot up.
    pub fn spot_key(&self, city: CityKey, id: &str) -> Option<EntityKey> {
        self.spot_index.get(city, id)
    }

    /// All traffic sensors, indexed by key.
    pub fn traffic_sensors(&self) -> &[TrafficSensorInfo] {
        &self.traffic
    }

    /// Site classes, indexed by [`SiteClassKey`]; always includes the built-in ones.
    pub fn site_classes(&self) -> &[SiteClass] {
        &self.site_classes
    }

    /// Returns the key of the site class called `name`.
    pub fn site_class_key(&self, name: &str) -> Option<SiteClassKey> {
        self.site_classes
            .iter()
            .position(|class| class.name == name)
            .and_then(|index| SiteClassKey::try_from(index).ok())
    }

    /// The built-in class a free-flow speed implies; the table always has it.
    fn derived_class(&self, free_flow_kmh: f64) -> SiteClassKey {
        self.site_class_key(derived_site_class(free_flow_kmh))
            .unwrap_or_default()
    }

    /// All facilities, indexed by key.
    pub fn facilities(&self) -> &[FacilityInfo] {
        &self.facilities
    }

    /// All spots, indexed by key.
    pub fn spots(&self) -> &[SpotInfo] {
        &self.spots
    }

    /// City ids in key order, as the values of the `city` dictionary column.
    pub fn city_values(&self) -> Arc<StringArray> {
        self.city_values.clone()
    }

    /// Traffic sensor ids in key order, as the values of the `sensor_id` dictionary column.
    ///
    /// A view of the ids so far, made without copying them (`catalog/growing_ids.rs`).
    pub fn traffic_values(&self) -> Arc<StringArray> {
        Arc::new(self.traffic_ids.array())
    }

    /// Facility ids in key order, as the values of the `facility_id` dictionary column.
    pub fn facility_values(&self) -> Arc<StringArray> {
        Arc::new(self.facility_ids.array())
    }

    /// Spot ids in key order, as the values of the `spot_id` dictionary column.
    pub fn spot_values(&self) -> Arc<StringArray> {
        Arc::new(self.spot_ids.array())
    }
}

/// The configured classes plus any built-in one missing from them, so that a class
/// derived from a free-flow speed always resolves (validated configs have them all).
fn class_table(traffic: &TrafficConfig) -> Vec<SiteClass> {
    let mut classes = traffic.site_classes.clone();
    for built_in in SiteClass::built_in() {
        if traffic.site_class(&built_in.name).is_none() {
            classes.push(built_in);
        }
    }
    classes
}

#[cfg(test)]
mod tests;
