//! What the simulation needs of a city and its sensors, taken from the registry once so
//! the model does not depend on the registry's types.

use chrono::{DateTime, Offset, TimeZone};
use stadtpuls_config::{CityRegistry, SensorKind, SensorSpec};

/// Seconds east of UTC of a city's zone at a UTC instant (epoch ms).
pub(super) type OffsetFn = Box<dyn Fn(i64) -> i32 + Send + Sync>;

pub(super) fn zone_offset<Z>(zone: Z) -> OffsetFn
where
    Z: TimeZone + Send + Sync + 'static,
{
    Box::new(move |ms| match DateTime::from_timestamp_millis(ms) {
        Some(utc) => zone
            .offset_from_utc_datetime(&utc.naive_utc())
            .fix()
            .local_minus_utc(),
        None => 0,
    })
}

/// What the simulation needs of a city (decoupled from the registry types).
pub(super) struct CityInput {
    pub(super) id: String,
    pub(super) lat: f64,
    pub(super) lon: f64,
    pub(super) offset: OffsetFn,
    pub(super) sensors: Vec<SensorInput>,
}

impl CityInput {
    pub(super) fn from_registry(registry: &CityRegistry) -> Self {
        Self {
            id: registry.city.id.clone(),
            lat: registry.city.lat,
            lon: registry.city.lon,
            offset: zone_offset(registry.city.timezone),
            sensors: registry
                .sensors
                .iter()
                .map(SensorInput::from_spec)
                .collect(),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum InputKind {
    Traffic,
    Spot,
    Facility,
}

#[derive(Debug, Clone)]
pub(super) struct SensorInput {
    pub(super) id: String,
    pub(super) kind: InputKind,
    pub(super) name: Option<String>,
    pub(super) lat: f64,
    pub(super) lon: f64,
    pub(super) lanes: u8,
    pub(super) capacity: Option<u32>,
    pub(super) free_flow_kmh: Option<f64>,
    pub(super) facility_id: Option<String>,
}

impl SensorInput {
    pub(super) fn from_spec(spec: &SensorSpec) -> Self {
        Self {
            id: spec.id.clone(),
            kind: match spec.kind {
                SensorKind::Traffic => InputKind::Traffic,
                SensorKind::ParkingSpot => InputKind::Spot,
                SensorKind::ParkingFacility => InputKind::Facility,
            },
            name: spec.name.clone(),
            lat: spec.lat,
            lon: spec.lon,
            lanes: spec.lanes,
            capacity: spec.capacity,
            free_flow_kmh: spec.free_flow_kmh,
            facility_id: spec.facility_id.clone(),
        }
    }
}
