//! Typed, validated configuration and sensor registries for Stadtpuls.
//!
//! This crate turns a TOML file (plus `STADTPULS_<SECTION>__<KEY>` environment
//! overrides) into a [`Config`], each city's CSV or GeoJSON sensor list into a
//! [`CityRegistry`], and each city's optional GeoJSON zone file into [`CityZones`]. It
//! reads only those config, registry and zone files: no network, no Kafka, no clock. Everything downstream takes these validated types, so an
//! unchecked value never reaches the pipeline.
//!
//! # Layers
//!
//! Built-in defaults, then the file, then the environment. The environment is passed
//! in as a map ([`env_from_process`] gives the real one) so tests are hermetic.
//!
//! # Errors
//!
//! Loading never stops at the first problem: [`ConfigErrors`] holds every one found,
//! each naming the file (or `<environment>`) and the key, e.g. `kafka.brokers`,
//! `windows.sizes[1]`, `cities[2].timezone`, `row 18: lat` in a registry, or
//! `features[3].properties.kind` in a zone file.
//!
//! # Example
//!
//! ```
//! use std::collections::HashMap;
//!
//! let env = HashMap::from([("STADTPULS_WINDOWS__SIZES".to_owned(), "5m,1m".to_owned())]);
//! let config = stadtpuls_config::Config::demo(&env)?;
//! assert_eq!(config.windows.sizes[0].as_secs(), 60);
//! let registries = config.load_registries()?;
//! assert_eq!(registries.len(), 9);
//! let zones = config.load_zones()?;
//! assert!(zones.iter().all(|city| !city.zones.is_empty()));
//! # Ok::<(), stadtpuls_config::ConfigErrors>(())
//! ```
//!
//! # Main types
//!
//! - [`Config`] with its sections [`KafkaConfig`], [`WindowsConfig`], [`ApiConfig`],
//!   [`HistoryConfig`] (of [`HistoryTable`]s), [`OutputConfig`], [`ParkingConfig`] (with [`ParkingThresholds`]), [`TrafficConfig`]
//!   (of [`SiteClass`]es) and [`CityConfig`]
//! - [`CityRegistry`] of [`SensorSpec`]s
//! - [`CityZones`] of [`ZoneSpec`]s (districts and parking zones)
//! - [`CheckedConfig`]: [`Config::check`] reads the registries and zone files even when
//!   the file has problems, for `stadtpuls config check`
//! - [`ConfigError`] / [`ConfigErrors`]

mod check;
mod demo;
mod document;
mod env;
mod error;
mod fields;
mod model;
mod raw;
mod registry;
mod validate;
mod zones;

use std::collections::HashMap;
use std::path::{Path, PathBuf};

pub use check::CheckedConfig;
pub use demo::{
    DEMO_ORIGIN, DEMO_PUSH_KEY, DEMO_PUSH_KEY_SHA256, DEMO_SQL_KEY, DEMO_SQL_ULM_KEY, DEMO_TOML,
};
pub use env::{ENV_PREFIX, env_from_process};
pub use error::{ConfigError, ConfigErrors, ENVIRONMENT, FILE_KEY, Result};
pub use model::{
    AUDIENCE_PLACEHOLDER, Anonymous, ApiConfig, ApiKeyConfig, CITY_PLACEHOLDER, CheckpointConfig,
    CityConfig, CityScope, ClientIdentity, Corridor, DEFAULT_PULL_TIMEOUT, DataKind, FeedConfig,
    FeedFormat, HistoryConfig, HistoryStream, HistoryTable, InstanceId, KafkaConfig, LoraCodec,
    MAX_INSTANCE_ID_LEN, MAX_LANES, MAX_PULL_EVERY, MIN_PULL_EVERY, MapTiles, OPEN_AUDIENCE,
    OutputConfig, ParkingConfig, ParkingThresholds, PullConfig, PushConfig, PushKeyConfig,
    RegionConfig, RegistrySource, SITE_CLASS_ARTERIAL, SITE_CLASS_MOTORWAY, SITE_CLASS_URBAN,
    Share, SharePolicy, SiteClass, SqlConfig, TopicSplit, TrafficConfig, WindowsConfig, ZoneSource,
    audience, derived_site_class, expand_topic,
};
pub use registry::{
    CityRegistry, ExternalId, FacilityType, ImportedSite, RegistryChange, RegistryUpdate,
    RegistryUpdateError, SensorKind, SensorSpec, TrafficSite, generated_id, parse_registry,
    parse_registry_with_classes, update_registry,
};
pub use zones::{CityZones, LonLat, ZoneKind, ZonePolygon, ZoneSpec, parse_zones};

use crate::error::Errors;
use crate::validate::Resolve;

/// The whole validated configuration.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    /// Kafka consumer settings.
    pub kafka: KafkaConfig,
    /// Window sizes and watermark settings.
    pub windows: WindowsConfig,
    /// HTTP API settings.
    pub api: ApiConfig,
    /// Parquet history: location, tables, retention, file sizes.
    pub history: HistoryConfig,
    /// Output topics of closed windows.
    pub output: OutputConfig,
    /// Checkpoint location and cadence.
    pub checkpoint: CheckpointConfig,
    /// Parking settings.
    pub parking: ParkingConfig,
    /// Traffic-state site classes.
    pub traffic: TrafficConfig,
    /// SQL for analysts: limits and the Flight SQL address.
    pub sql: SqlConfig,
    /// Keys that may run SQL, each with its cities; empty: SQL answers 401 to everyone.
    pub api_keys: Vec<ApiKeyConfig>,
    /// Limits of the HTTP push gateway.
    pub push: PushConfig,
    /// Keys that may push a city's feed over HTTP; empty: the gateway answers 401.
    pub push_keys: Vec<PushKeyConfig>,
    /// The cities, in file order; at least one.
    pub cities: Vec<CityConfig>,
    /// Regions of several cities (`[[regions]]`), in file order; may be empty.
    pub regions: Vec<RegionConfig>,
    /// Where the config came from, for messages: the file path, or `<built-in demo>`.
    pub origin: PathBuf,
}

impl Config {
    /// Every `[[cities.feeds]]` topic with its city, which the consumer subscribes to
    /// besides `kafka.topic_pattern`.
    pub fn feeds(&self) -> impl Iterator<Item = (&CityConfig, &FeedConfig)> {
        self.cities
            .iter()
            .flat_map(|city| city.feeds.iter().map(move |feed| (city, feed)))
    }

    /// Every `[[cities.pull]]` source with its city, in file order.
    pub fn pulls(&self) -> impl Iterator<Item = (&CityConfig, &PullConfig)> {
        self.cities
            .iter()
            .flat_map(|city| city.pull.iter().map(move |pull| (city, pull)))
    }

    /// Reads and validates a TOML file, then applies env overrides.
    ///
    /// # Errors
    ///
    /// An unreadable file (key `(file)`), or every problem in the file and `env`.
    pub fn load(path: &Path, env: &HashMap<String, String>) -> Result<Config> {
        match std::fs::read_to_string(path) {
            Ok(text) => Self::from_toml(&text, path, env),
            Err(error) => Err(ConfigError::new(
                path,
                FILE_KEY,
                format!("cannot read the config file: {error}"),
            )
            .into()),
        }
    }

    /// Same as [`Config::load`] from text; `origin` is used in messages and to resolve
    /// relative registry paths (against its directory).
    ///
    /// # Errors
    ///
    /// Every problem in `text` and `env`.
    pub fn from_toml(text: &str, origin: &Path, env: &HashMap<String, String>) -> Result<Config> {
        let resolve = Resolve {
            registry: &validate::resolve_file(origin),
            zones: &validate::resolve_zones_file(origin),
        };
        build(text, origin, env, &resolve)
    }

    /// Loads and validates every city's registry (reads the files).
    ///
    /// # Errors
    ///
    /// Every problem in every registry, each naming its registry file; then a region's
    /// corridor sensor that is not a traffic sensor of its city's registry
    /// (`regions[i].corridors[j]` in the config file).
    pub fn load_registries(&self) -> Result<Vec<CityRegistry>> {
        let mut errors = Errors::default();
        let registries: Vec<CityRegistry> = self
            .cities
            .iter()
            .map(|city| registry::load(city, &self.traffic, &mut errors))
            .collect();
        validate::corridor_sensors(&self.regions, &registries, &self.origin, &mut errors);
        errors.finish(registries)
    }

    /// Loads and validates every city's zone file (reads the files); cities without
    /// `zones` get an empty list. In city order, like [`Config::load_registries`].
    ///
    /// # Errors
    ///
    /// Every problem in every zone file, each naming its file.
    pub fn load_zones(&self) -> Result<Vec<CityZones>> {
        let mut errors = Errors::default();
        let zones = self
            .cities
            .iter()
            .map(|city| zones::load(city, &mut errors))
            .collect();
        errors.finish(zones)
    }

    /// Returns the region with this id.
    pub fn region(&self, id: &str) -> Option<&RegionConfig> {
        self.regions.iter().find(|region| region.id == id)
    }

    /// Returns the city with this id.
    pub fn city(&self, id: &str) -> Option<&CityConfig> {
        self.cities.iter().find(|city| city.id == id)
    }
}

/// Parses, overrides and validates; shared by files and the embedded demo, which
/// differ only in how registry paths resolve.
fn build(
    text: &str,
    origin: &Path,
    env: &HashMap<String, String>,
    resolve: &Resolve<'_>,
) -> Result<Config> {
    let mut errors = Errors::default();
    let config = build_checked(text, origin, env, resolve, &mut errors);
    match config {
        Some(config) => errors.finish(config),
        None => Err(ConfigErrors(errors.into_vec())),
    }
}

/// [`build`] with the problems left in `errors`: the config as far as it could be
/// built (meaningful only without errors; cities keep their registry and zone files
/// whatever else is wrong with them, see `validate::cities`), `None` when the TOML
/// itself does not parse.
fn build_checked(
    text: &str,
    origin: &Path,
    env: &HashMap<String, String>,
    resolve: &Resolve<'_>,
    errors: &mut Errors,
) -> Option<Config> {
    let parsed = document::parse(text, origin, errors);
    let file_parsed = parsed.is_some();
    // Environment problems are worth reporting even when the file does not parse.
    let mut raw = parsed.unwrap_or_default();
    let overrides = env::apply(&mut raw, env, errors);
    file_parsed.then(|| validate::validate(raw, origin, &overrides, resolve, errors))
}
