//! Zones: named districts and parking zones of a city, as polygons from a GeoJSON file.
//!
//! Zones group sensors and facilities for roll-ups ("how full is Innenstadt?"). They are
//! optional per city (`cities[i].zones`). The rules are in `check.rs`; this module only
//! reads the file and holds the validated types, which are plain coordinates so that
//! the engine can build its own geometry without this crate depending on a geometry
//! library.

mod check;

use std::borrow::Cow;
use std::fmt;
use std::path::Path;
use std::str::FromStr;

use crate::error::{Errors, FILE_KEY, Result};
use crate::model::{CityConfig, ZoneSource};

/// What a zone is used for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ZoneKind {
    /// An administrative or planning district; districts may tile the city.
    District,
    /// A parking management zone (paid parking, residents' parking, P+R catchment);
    /// it usually overlaps districts.
    ParkingZone,
}

impl ZoneKind {
    /// Every kind.
    pub const ALL: [ZoneKind; 2] = [Self::District, Self::ParkingZone];

    /// Returns the name used in zone files, messages and the API.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::District => "district",
            Self::ParkingZone => "parking_zone",
        }
    }
}

impl fmt::Display for ZoneKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for ZoneKind {
    type Err = String;

    fn from_str(text: &str) -> std::result::Result<Self, String> {
        Self::ALL
            .into_iter()
            .find(|kind| kind.as_str() == text)
            .ok_or_else(|| format!("unknown kind `{text}`, expected district or parking_zone"))
    }
}

/// A validated position in degrees (WGS 84), in GeoJSON's order.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LonLat {
    /// Longitude, -180..=180.
    pub lon: f64,
    /// Latitude, -90..=90.
    pub lat: f64,
}

/// One polygon of a zone: its outer ring and any holes.
///
/// Every ring is closed (the last position repeats the first) and has at least four
/// positions, as GeoJSON requires; ring orientation is not checked (RFC 7946 §3.1.6
/// asks parsers not to reject the wrong winding).
#[derive(Debug, Clone, PartialEq)]
pub struct ZonePolygon {
    /// The outer boundary.
    pub exterior: Vec<LonLat>,
    /// Areas cut out of it (a park, a lake), possibly none.
    pub holes: Vec<Vec<LonLat>>,
}

/// One validated zone.
#[derive(Debug, Clone, PartialEq)]
pub struct ZoneSpec {
    /// Unique within the city's zone file, at most 128 characters.
    pub id: String,
    /// Display name, e.g. "Weststadt".
    pub name: String,
    /// District or parking zone.
    pub kind: ZoneKind,
    /// The area: one polygon (GeoJSON Polygon) or several (MultiPolygon), never empty.
    pub polygons: Vec<ZonePolygon>,
}

/// The zones of one city, in file order; empty when the city configures none.
#[derive(Debug, Clone, PartialEq)]
pub struct CityZones {
    /// The city id.
    pub city: String,
    /// Its zones.
    pub zones: Vec<ZoneSpec>,
}

/// Reads and validates the zone file of `city`, if it has one; problems go to `errors`.
pub(crate) fn load(city: &CityConfig, errors: &mut Errors) -> CityZones {
    let Some(source) = &city.zones else {
        return CityZones {
            city: city.id.clone(),
            zones: Vec::new(),
        };
    };
    let file = source.display_path();
    let text: Cow<'static, str> = match source {
        ZoneSource::File(path) => match std::fs::read_to_string(path) {
            Ok(text) => Cow::Owned(text),
            Err(error) => {
                let message = format!("cannot read the zone file of city `{}`: {error}", city.id);
                errors.push(&file, FILE_KEY, message);
                return CityZones {
                    city: city.id.clone(),
                    zones: Vec::new(),
                };
            }
        },
        ZoneSource::Embedded { text, .. } => Cow::Borrowed(text),
    };
    CityZones {
        city: city.id.clone(),
        zones: check::parse(city, &file, &text, errors),
    }
}

/// Parses and validates zone-file `text` as if it were the file `name`, for tests and
/// tools that hold a zone file in memory.
///
/// # Errors
///
/// Every problem of the file, with `name` as the file.
pub fn parse_zones(city: &CityConfig, name: &Path, text: &str) -> Result<Vec<ZoneSpec>> {
    let mut errors = Errors::default();
    let zones = check::parse(city, name, text, &mut errors);
    errors.finish(zones)
}
