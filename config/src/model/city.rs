//! One city of the network and where its sensor registry and zone file come from.

use std::path::PathBuf;

use super::{FeedConfig, PullConfig, SharePolicy};

/// One city of the cooperation network.
#[derive(Debug, Clone, PartialEq)]
pub struct CityConfig {
    /// Short id, `^[a-z0-9-]+$`, 1..=64 chars; also the middle part of its topic names.
    pub id: String,
    /// Display name.
    pub name: String,
    /// Local time zone, for daily profiles and DST-aware reports.
    pub timezone: chrono_tz::Tz,
    /// Latitude of the centre, degrees.
    pub lat: f64,
    /// Longitude of the centre, degrees.
    pub lon: f64,
    /// Where its sensor registry is read from.
    pub registry: RegistrySource,
    /// Where its zones (districts, parking zones) are read from, if it has any.
    pub zones: Option<ZoneSource>,
    /// Who reads its data, per kind (`share`, `partners`).
    pub share: SharePolicy,
    /// Its partner feeds: topics besides `sensors.<id>.{traffic,parking}` and their
    /// formats (`[[cities.feeds]]`; empty: native JSON on the conventional topics only).
    pub feeds: Vec<FeedConfig>,
    /// HTTP endpoints polled for its documents (`[[cities.pull]]`), each written to its
    /// format's topic among `feeds`.
    pub pull: Vec<PullConfig>,
    /// `admit_unmapped_facilities`: a partner feed's car park that no `external_id` of the
    /// registry maps, but which states its own capacity, joins the city at run time under
    /// an id derived from its feed id instead of being refused as `unknown_sensor`
    /// (default `false`: a typo must not create phantom facilities). Traffic sensors and
    /// spots are never admitted this way.
    pub admit_unmapped_facilities: bool,
}

/// Where a city's sensor registry comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RegistrySource {
    /// A file, already resolved against the config file's directory; the extension
    /// (`.csv`, `.geojson` or `.json`) selects the format.
    File(PathBuf),
    /// Compiled into the binary (the built-in demo); `name` ends in `.csv` or `.geojson`.
    Embedded {
        /// File name, used in messages and to select the format.
        name: &'static str,
        /// The registry itself.
        text: &'static str,
    },
}

impl RegistrySource {
    /// Returns the name used as `file` in error messages.
    pub fn display_path(&self) -> PathBuf {
        match self {
            Self::File(path) => path.clone(),
            Self::Embedded { name, .. } => PathBuf::from(format!("{}/{name}", crate::DEMO_ORIGIN)),
        }
    }
}

/// Where a city's zone file (a GeoJSON FeatureCollection of polygons) comes from.
///
/// Kept apart from [`RegistrySource`] although shaped alike: the two files have different
/// formats and rules, and a zone file is never a CSV.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ZoneSource {
    /// A file, already resolved against the config file's directory.
    File(PathBuf),
    /// Compiled into the binary (the built-in demo).
    Embedded {
        /// File name, used in messages.
        name: &'static str,
        /// The GeoJSON text.
        text: &'static str,
    },
}

impl ZoneSource {
    /// Returns the name used as `file` in error messages.
    pub fn display_path(&self) -> PathBuf {
        match self {
            Self::File(path) => path.clone(),
            Self::Embedded { name, .. } => PathBuf::from(format!("{}/{name}", crate::DEMO_ORIGIN)),
        }
    }
}
