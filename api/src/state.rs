//! What handlers read: the live view, the registries, zones, regions and readiness.

mod region;

use std::collections::HashMap;
use std::sync::Arc;

use stadtpuls_config::{CityRegistry, CityZones, SensorKind};
use stadtpuls_processing::geo::CityZoneMap;
use stadtpuls_processing::geo::nearby::FacilityPlace;
use stadtpuls_processing::live::LiveState;

pub use region::RegionView;

use crate::access::Policy;
use crate::map::MapDoor;
use crate::push::PushGateway;
use crate::sql::SqlEngine;
use crate::stream::StreamDoor;

/// Static facts about a facility, from the registry (the outputs' own type).
pub use stadtpuls_processing::publish::FacilityFacts as FacilityView;

/// Static facts about a traffic sensor, from the registry (for the NGSI-LD entities).
#[derive(Debug, Clone)]
pub struct SensorPlace {
    /// Sensor id.
    pub id: String,
    /// Display name.
    pub name: Option<String>,
    /// Latitude.
    pub lat: f64,
    /// Longitude.
    pub lon: f64,
}

/// Static facts about a city, from its config and registry.
#[derive(Debug, Clone)]
pub struct CityView {
    /// City id.
    pub id: String,
    /// Display name.
    pub name: String,
    /// IANA time zone.
    pub timezone: String,
    /// Traffic sensor ids.
    pub traffic_sensors: Vec<String>,
    /// Traffic sensors with their names and positions, in registry order.
    pub traffic_places: Vec<SensorPlace>,
    /// Parking facilities.
    pub facilities: Vec<FacilityView>,
}

impl CityView {
    /// Builds the view of one registry.
    pub fn from_registry(registry: &CityRegistry) -> Self {
        Self {
            id: registry.city.id.clone(),
            name: registry.city.name.clone(),
            timezone: registry.city.timezone.name().to_owned(),
            traffic_sensors: registry
                .sensors
                .iter()
                .filter(|s| s.kind == SensorKind::Traffic)
                .map(|s| s.id.clone())
                .collect(),
            traffic_places: registry
                .traffic_sensors()
                .map(|s| SensorPlace {
                    id: s.id.clone(),
                    name: s.name.clone(),
                    lat: s.lat,
                    lon: s.lon,
                })
                .collect(),
            facilities: FacilityView::of_registry(registry),
        }
    }
}

/// Shared state of every handler.
#[derive(Clone)]
pub struct AppState {
    /// Recent results.
    pub live: Arc<LiveState>,
    /// Cities in config order.
    pub cities: Arc<Vec<CityView>>,
    /// City id → index in `cities`.
    pub city_index: Arc<HashMap<String, usize>>,
    /// Configured tumbling window sizes in seconds, ascending.
    pub window_sizes_s: Arc<Vec<u32>>,
    /// Configured hopping windows as (size, slide) in seconds.
    pub hopping_s: Arc<Vec<(u32, u32)>>,
    /// A facility without an update for this long is `stale`.
    pub stale_after_ms: i64,
    /// Whether the pipeline is consuming (Kafka assignment received, demo backfilled,
    /// broker reachable); `Err` says why not.
    pub ready: Arc<dyn Fn() -> Result<(), String> + Send + Sync>,
    /// Wall clock in epoch ms (injectable for tests).
    pub now_ms: Arc<dyn Fn() -> i64 + Send + Sync>,
    /// When the registries were loaded, epoch ms: the version time of the static records
    /// of the standard outputs (DATEX II tables, ParkAPI `static_data_updated_at`).
    pub static_since_ms: i64,
    /// Zones of each city with their sensors and facilities, aligned with `cities`;
    /// empty maps until [`AppState::with_zones`].
    pub zones: Arc<Vec<CityZoneMap>>,
    /// Every facility of every city with its position, for the nearby search.
    pub facility_places: Arc<Vec<FacilityPlace>>,
    /// The SQL engine behind `POST /v1/sql`; `None` until [`AppState::with_sql`] (the
    /// endpoint then answers 404).
    pub sql: Option<SqlEngine>,
    /// The push gateway behind `POST /v1/ingest/{city}` and the NGSI-LD upsert; `None`
    /// until [`AppState::with_push`] (they then answer 404: an embedder without one).
    pub push: Option<PushGateway>,
    /// The push stream behind `GET /v1/stream`; `None` until [`AppState::with_stream`]
    /// (it then answers 404).
    pub stream: Option<StreamDoor>,
    /// Who sees which city's data on the REST routes; [`Policy::open_to_everyone`] until
    /// [`AppState::with_policy`] (the servers always set the config's).
    pub policy: Arc<Policy>,
    /// The live map's base map and zone polygons; none until [`AppState::with_map`] (the
    /// page then draws sensors and facilities on a plain background).
    pub map: Arc<MapDoor>,
    /// The configured regions (`[[regions]]`); empty until [`AppState::with_regions`].
    pub regions: Arc<Vec<RegionView>>,
}

impl AppState {
    /// Builds the state from registries and settings.
    pub fn new(
        live: Arc<LiveState>,
        registries: &[CityRegistry],
        window_sizes_s: Vec<u32>,
        stale_after_ms: i64,
        ready: Arc<dyn Fn() -> bool + Send + Sync>,
    ) -> Self {
        let cities: Vec<CityView> = registries.iter().map(CityView::from_registry).collect();
        let city_index = cities
            .iter()
            .enumerate()
            .map(|(i, c)| (c.id.clone(), i))
            .collect();
        let zones = cities.iter().map(|c| CityZoneMap::empty(&c.id)).collect();
        let facility_places = registries
            .iter()
            .flat_map(|registry| {
                registry.facilities().map(|facility| FacilityPlace {
                    city: registry.city.id.clone(),
                    facility_id: facility.id.clone(),
                    name: facility.name.clone(),
                    lat: facility.lat,
                    lon: facility.lon,
                })
            })
            .collect();
        Self {
            live,
            cities: Arc::new(cities),
            city_index: Arc::new(city_index),
            window_sizes_s: Arc::new(window_sizes_s),
            hopping_s: Arc::new(Vec::new()),
            stale_after_ms,
            ready: Arc::new(move || {
                if ready() {
                    Ok(())
                } else {
                    Err("pipeline has no partition assignment yet".into())
                }
            }),
            now_ms: Arc::new(|| chrono::Utc::now().timestamp_millis()),
            static_since_ms: chrono::Utc::now().timestamp_millis(),
            zones: Arc::new(zones),
            facility_places: Arc::new(facility_places),
            sql: None,
            push: None,
            stream: None,
            policy: Arc::new(Policy::open_to_everyone()),
            map: Arc::new(MapDoor::default()),
            regions: Arc::new(Vec::new()),
        }
    }

    /// Serves `regions` (`config.regions`) on `/v1/regions/…`.
    #[must_use]
    pub fn with_regions(mut self, regions: &[stadtpuls_config::RegionConfig]) -> Self {
        let views = regions
            .iter()
            .map(|region| RegionView::new(region, &self.cities))
            .collect();
        self.regions = Arc::new(views);
        self
    }

    /// The region with this id.
    pub fn region(&self, id: &str) -> Option<&RegionView> {
        self.regions.iter().find(|region| region.id == id)
    }

    /// Serves `GET /v1/stream` from `door`.
    #[must_use]
    pub fn with_stream(mut self, door: StreamDoor) -> Self {
        crate::metrics::register_stream();
        self.stream = Some(door);
        self
    }

    /// Replaces the readiness check with one that says why the pipeline does not consume
    /// (no assignment yet, Kafka broker unreachable); `/readyz` answers 503 with the reason.
    #[must_use]
    pub fn with_readiness(
        mut self,
        readiness: Arc<dyn Fn() -> Result<(), String> + Send + Sync>,
    ) -> Self {
        self.ready = readiness;
        self
    }

    /// Serves `POST /v1/sql` with `engine`.
    pub fn with_sql(mut self, engine: SqlEngine) -> Self {
        self.sql = Some(engine);
        self
    }

    /// Answers the REST routes under `policy` (`Policy::from_config`).
    #[must_use]
    pub fn with_policy(mut self, policy: Policy) -> Self {
        self.policy = Arc::new(policy);
        self
    }

    /// Serves the live map with `door`'s base map and zone polygons.
    #[must_use]
    pub fn with_map(mut self, door: MapDoor) -> Self {
        self.map = Arc::new(door);
        self
    }

    /// Serves the push gateway.
    pub fn with_push(mut self, gateway: PushGateway) -> Self {
        self.push = Some(gateway);
        self
    }

    /// Adds the configured hopping windows.
    pub fn with_hopping(mut self, hopping_s: Vec<(u32, u32)>) -> Self {
        self.hopping_s = Arc::new(hopping_s);
        self
    }

    /// Every window family as (size, slide) in seconds: tumbling first, then hopping.
    pub fn window_families(&self) -> Vec<(u32, u32)> {
        self.window_sizes_s
            .iter()
            .map(|&s| (s, s))
            .chain(self.hopping_s.iter().copied())
            .collect()
    }

    /// Adds the cities' zones, assigning every registry sensor and facility to the zones
    /// containing it (once, here, not per request). `zones` are matched to `registries`
    /// by city id; a city missing from either keeps an empty map.
    pub fn with_zones(mut self, registries: &[CityRegistry], zones: &[CityZones]) -> Self {
        let maps = self
            .cities
            .iter()
            .map(|city| {
                let registry = registries.iter().find(|r| r.city.id == city.id);
                let city_zones = zones.iter().find(|z| z.city == city.id);
                match (registry, city_zones) {
                    (Some(registry), Some(city_zones)) => {
                        CityZoneMap::build(registry, &city_zones.zones)
                    }
                    _ => CityZoneMap::empty(&city.id),
                }
            })
            .collect();
        self.zones = Arc::new(maps);
        self
    }

    /// Looks a city up.
    pub fn city(&self, id: &str) -> Option<&CityView> {
        self.city_index.get(id).and_then(|&i| self.cities.get(i))
    }

    /// Returns the zones of a city.
    pub fn zone_map(&self, id: &str) -> Option<&CityZoneMap> {
        self.city_index.get(id).and_then(|&i| self.zones.get(i))
    }
}
