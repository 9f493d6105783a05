//! `stadtpuls config check`: a config file with every registry and zone file it names,
//! checked together so that one run reports every problem.
//!
//! [`Config::load`] stops before the registries when the file has a problem, which is
//! right for `stadtpuls run` but hid the registries' problems from the check (issue #12:
//! a mistyped timezone reported, seven registry problems not).

use std::collections::HashMap;
use std::path::Path;

use crate::error::{ConfigError, Errors, FILE_KEY, Result};
use crate::validate::{self, Resolve};
use crate::{CityRegistry, CityZones, Config, registry, zones};

/// A config file that passed every check, with its cities' registries and zones.
#[derive(Debug, Clone, PartialEq)]
pub struct CheckedConfig {
    /// The validated configuration.
    pub config: Config,
    /// Each city's registry, in city order.
    pub registries: Vec<CityRegistry>,
    /// Each city's zones, in city order (empty for a city without `zones`).
    pub zones: Vec<CityZones>,
}

impl Config {
    /// Checks a TOML file, `env` and every registry and zone file the file names.
    ///
    /// Unlike [`Config::load`] followed by [`Config::load_registries`] and
    /// [`Config::load_zones`], the registries and zone files are read even when the file
    /// or another file has problems — those of a city with, say, a mistyped timezone
    /// too — so every problem is reported at once. Only a file that is not TOML at all
    /// names no registry to read.
    ///
    /// # Errors
    ///
    /// Every problem found, in this order: the config file and `env`, then each city's
    /// registry, then each city's zone file; each names its file and key (with the line
    /// for TOML, the row for CSV).
    pub fn check(path: &Path, env: &HashMap<String, String>) -> Result<CheckedConfig> {
        let text = std::fs::read_to_string(path).map_err(|error| {
            ConfigError::new(
                path,
                FILE_KEY,
                format!("cannot read the config file: {error}"),
            )
        })?;
        let resolve = Resolve {
            registry: &validate::resolve_file(path),
            zones: &validate::resolve_zones_file(path),
        };
        let mut errors = Errors::default();
        let Some(config) = crate::build_checked(&text, path, env, &resolve, &mut errors) else {
            return Err(crate::ConfigErrors(errors.into_vec()));
        };
        let registries: Vec<CityRegistry> = config
            .cities
            .iter()
            .map(|city| registry::load(city, &config.traffic, &mut errors))
            .collect();
        validate::corridor_sensors(&config.regions, &registries, path, &mut errors);
        let zones = config
            .cities
            .iter()
            .map(|city| zones::load(city, &mut errors))
            .collect();
        errors.finish(CheckedConfig {
            config,
            registries,
            zones,
        })
    }
}
