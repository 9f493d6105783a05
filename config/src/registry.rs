//! Sensor registries: the static list of sensors of each city, from CSV or GeoJSON.
//!
//! Reading is in `read.rs` (text → loosely typed rows; a CSV header lacking columns in
//! `missing_columns.rs`), the rules in `check.rs` (rows → [`SensorSpec`]s); writing
//! imported partner sites into a registry in `update.rs`.

mod check;
mod external;
mod missing_columns;
mod read;
mod update;

use std::borrow::Cow;
use std::fmt;
use std::path::Path;
use std::str::FromStr;

use crate::error::{Errors, FILE_KEY, Result};
use crate::fields::{RegistryFormat, registry_format};
use crate::model::{CityConfig, RegistrySource, TrafficConfig};
pub use update::{
    ImportedSite, RegistryChange, RegistryUpdate, RegistryUpdateError, TrafficSite, generated_id,
    update_registry,
};

/// What a sensor measures.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SensorKind {
    /// A traffic counter / detector on one road cross-section.
    Traffic,
    /// A single parking space with an occupancy sensor; belongs to a facility.
    ParkingSpot,
    /// A car park, P+R site or on-street zone that reports (or aggregates) counts.
    ParkingFacility,
}

impl SensorKind {
    /// Every kind, in registry order of importance.
    pub const ALL: [SensorKind; 3] = [Self::Traffic, Self::ParkingSpot, Self::ParkingFacility];

    /// Returns the name used in registries and messages.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Traffic => "traffic",
            Self::ParkingSpot => "parking_spot",
            Self::ParkingFacility => "parking_facility",
        }
    }
}

impl fmt::Display for SensorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for SensorKind {
    type Err = String;

    fn from_str(text: &str) -> std::result::Result<Self, String> {
        Self::ALL
            .into_iter()
            .find(|kind| kind.as_str() == text)
            .ok_or_else(|| {
                format!(
                    "unknown kind `{text}`, expected one of traffic, parking_spot, parking_facility"
                )
            })
    }
}

/// What a `parking_facility` row is, when the registry says so (column `facility_type`):
/// the regional views break parking down by it. Without the column, a facility's kind is
/// worked out from its spots and its name (`stadtpuls_processing::region::FacilityKind`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FacilityType {
    /// A car park or garage.
    CarPark,
    /// A park-and-ride site.
    ParkAndRide,
    /// An on-street zone.
    OnStreet,
}

impl FacilityType {
    /// Every type, in the order the API lists them.
    pub const ALL: [FacilityType; 3] = [Self::CarPark, Self::ParkAndRide, Self::OnStreet];

    /// The name in registries.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::CarPark => "car_park",
            Self::ParkAndRide => "park_and_ride",
            Self::OnStreet => "on_street",
        }
    }
}

impl FromStr for FacilityType {
    type Err = String;

    fn from_str(text: &str) -> std::result::Result<Self, String> {
        Self::ALL
            .into_iter()
            .find(|t| t.as_str() == text)
            .ok_or_else(|| {
                format!(
                    "unknown facility_type `{text}`, expected one of car_park, park_and_ride, on_street"
                )
            })
    }
}

/// One validated registry entry.
#[derive(Debug, Clone, PartialEq)]
pub struct SensorSpec {
    /// Unique within the city's registry, at most 128 characters.
    pub id: String,
    /// What it measures.
    pub kind: SensorKind,
    /// Display name, e.g. "B10 Neue Straße" or "Parkhaus Deutschhaus".
    pub name: Option<String>,
    /// Latitude, degrees; within ~50 km of the city centre.
    pub lat: f64,
    /// Longitude, degrees.
    pub lon: f64,
    /// Lanes covered by a traffic sensor, 1..=8; 0 for parking.
    pub lanes: u8,
    /// Spaces of a facility (given, or the number of its spots); `None` otherwise.
    pub capacity: Option<u32>,
    /// Free-flow speed of a traffic sensor's road, km/h (50 unless given); `None`
    /// for parking.
    pub free_flow_kmh: Option<f64>,
    /// The facility a parking spot belongs to; `None` for other kinds.
    pub facility_id: Option<String>,
    /// Site class of a traffic sensor, whose thresholds decide its traffic state: as
    /// given (a configured class), else derived from the free-flow speed (see
    /// [`crate::derived_site_class`]); `None` for parking.
    pub site_class: Option<String>,
    /// The ids partner feeds use for it (column `external_id`, `;`-separated), each
    /// mapped to this entity only.
    pub external_ids: Vec<ExternalId>,
    /// What a parking facility is, if its row says (column `facility_type`); `None`
    /// otherwise and for other kinds.
    pub facility_type: Option<FacilityType>,
}

/// An id a partner feed uses for a registry entity: an NGSI entity id, a ParkAPI `uid`,
/// a DATEX II record id, a TTN `dev_eui`; with `index`, the pair (id, index) that names
/// one lane of a traffic sensor: `id#n` (index `n` is lane `n`) or `id#i=l` (the feed's
/// value index `i` belongs to lane `l`, e.g. a DATEX II measurement site whose indices
/// are lane × vehicle class × value type).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ExternalId {
    /// The id as the feed writes it.
    pub id: String,
    /// The feed's index, if written with `#<index>` or `#<index>=<lane>`.
    pub index: Option<u16>,
    /// The lane that index names (`#n`: lane `n`; `#i=l`: lane `l`).
    pub lane: Option<u8>,
}

impl ExternalId {
    /// As written in the registry: `id`, `id#lane` or `id#index=lane`.
    pub fn display(&self) -> String {
        match (self.index, self.lane) {
            (Some(index), Some(lane)) if index == u16::from(lane) => {
                format!("{}#{lane}", self.id)
            }
            (Some(index), Some(lane)) => format!("{}#{index}={lane}", self.id),
            (Some(index), None) => format!("{}#{index}", self.id),
            (None, _) => self.id.clone(),
        }
    }
}

/// A city together with its validated sensors.
#[derive(Debug, Clone, PartialEq)]
pub struct CityRegistry {
    /// The city, as configured.
    pub city: CityConfig,
    /// Its sensors, in file order.
    pub sensors: Vec<SensorSpec>,
}

impl CityRegistry {
    /// Returns the traffic sensors.
    pub fn traffic_sensors(&self) -> impl Iterator<Item = &SensorSpec> {
        self.of_kind(SensorKind::Traffic)
    }

    /// Returns the parking facilities (car parks, P+R sites, on-street zones).
    pub fn facilities(&self) -> impl Iterator<Item = &SensorSpec> {
        self.of_kind(SensorKind::ParkingFacility)
    }

    /// Returns the single-space parking sensors.
    pub fn spots(&self) -> impl Iterator<Item = &SensorSpec> {
        self.of_kind(SensorKind::ParkingSpot)
    }

    /// Returns the spots that belong to `facility_id`.
    pub fn spots_of<'a>(&'a self, facility_id: &'a str) -> impl Iterator<Item = &'a SensorSpec> {
        self.spots()
            .filter(move |spot| spot.facility_id.as_deref() == Some(facility_id))
    }

    /// Returns the sensor with this id.
    pub fn sensor(&self, id: &str) -> Option<&SensorSpec> {
        self.sensors.iter().find(|sensor| sensor.id == id)
    }

    fn of_kind(&self, kind: SensorKind) -> impl Iterator<Item = &SensorSpec> {
        self.sensors
            .iter()
            .filter(move |sensor| sensor.kind == kind)
    }
}

/// Reads and validates the registry of `city`; problems go to `errors`.
pub(crate) fn load(
    city: &CityConfig,
    traffic: &TrafficConfig,
    errors: &mut Errors,
) -> CityRegistry {
    let file = city.registry.display_path();
    let text: Cow<'static, str> = match &city.registry {
        RegistrySource::File(path) => match std::fs::read_to_string(path) {
            Ok(text) => Cow::Owned(text),
            Err(error) => {
                let message = format!("cannot read the registry of city `{}`: {error}", city.id);
                errors.push(&file, FILE_KEY, message);
                return CityRegistry {
                    city: city.clone(),
                    sensors: Vec::new(),
                };
            }
        },
        RegistrySource::Embedded { text, .. } => Cow::Borrowed(text),
    };
    parse(city, &file, &text, traffic, errors)
}

/// Parses and validates registry `text` as if it were the file `name`, for tests and
/// tools that hold a registry in memory; `site_class` may name the built-in classes only
/// (see [`parse_registry_with_classes`]).
///
/// # Errors
///
/// Every problem of the registry, with `name` as the file.
pub fn parse_registry(city: &CityConfig, name: &Path, text: &str) -> Result<CityRegistry> {
    parse_registry_with_classes(city, name, text, &TrafficConfig::default())
}

/// Same as [`parse_registry`], with the site classes of `traffic`.
///
/// # Errors
///
/// Every problem of the registry, with `name` as the file.
pub fn parse_registry_with_classes(
    city: &CityConfig,
    name: &Path,
    text: &str,
    traffic: &TrafficConfig,
) -> Result<CityRegistry> {
    let mut errors = Errors::default();
    let registry = parse(city, name, text, traffic, &mut errors);
    errors.finish(registry)
}

/// The registry is only usable when no error was added; the format follows the
/// extension of `file`.
fn parse(
    city: &CityConfig,
    file: &Path,
    text: &str,
    traffic: &TrafficConfig,
    errors: &mut Errors,
) -> CityRegistry {
    let reported_before = errors.len();
    let rows = match registry_format(file) {
        Some(RegistryFormat::Csv) => read::csv_rows(text, file, errors),
        Some(RegistryFormat::GeoJson) => read::geojson_rows(text, file, errors),
        None => {
            errors.push(
                file,
                FILE_KEY,
                "registry must end in `.csv`, `.geojson` or `.json`",
            );
            None
        }
    };
    let sensors = match rows {
        // Rows that could not be read are already reported; only a registry that is
        // empty for no visible reason needs its own message.
        Some(rows) if rows.is_empty() && errors.len() == reported_before => {
            errors.push(
                file,
                FILE_KEY,
                format!("the registry of city `{}` lists no sensors", city.id),
            );
            Vec::new()
        }
        Some(rows) => check::check(city, traffic, rows, file, errors),
        None => Vec::new(),
    };
    CityRegistry {
        city: city.clone(),
        sensors,
    }
}
