//! The built-in demo: nine Baden-Württemberg cities compiled into the binary, so
//! `stadtpuls demo` runs from any directory.
//!
//! The same files live in `config/demo/` and load with [`Config::load`] too; the demo
//! only swaps each registry and zone-file path for the embedded copy.

use std::collections::HashMap;
use std::path::Path;

use crate::error::Result;
use crate::model::{FeedFormat, PushKeyConfig, RegistrySource, ZoneSource};
use crate::validate::Resolve;
use crate::{Config, build};

/// `origin` of the demo config, also the prefix of its registries in messages.
pub const DEMO_ORIGIN: &str = "<built-in demo>";

/// The demo's API key for SQL over every city (its hash is in the demo config).
pub const DEMO_SQL_KEY: &str = "stadtpuls-demo-key";
/// The demo's API key for SQL over ulm (and the open city, ettlingen).
pub const DEMO_SQL_ULM_KEY: &str = "stadtpuls-demo-ulm-key";
/// The demo's push key: native JSON to ulm through `POST /v1/ingest/ulm`. Added by
/// [`Config::demo`] only, not written in `config/demo/stadtpuls.toml`: that file is also
/// the example config of `stadtpuls run`, where a published key must not write to a
/// city's topic.
pub const DEMO_PUSH_KEY: &str = "stadtpuls-demo-push-key";
/// SHA-256 of [`DEMO_PUSH_KEY`], as `[[push_keys]]` would configure it.
pub const DEMO_PUSH_KEY_SHA256: &str =
    "fd3c16544dba0ebe829bca640c400039aa818f154116c5ebe3458b5b7dbe0b3b";
/// The demo config file, as shipped in `config/demo/stadtpuls.toml`.
pub const DEMO_TOML: &str = include_str!("../demo/stadtpuls.toml");

/// (path as written in the demo toml, file name, contents).
const REGISTRIES: [(&str, &str, &str); 9] = [
    (
        "registries/karlsruhe.csv",
        "karlsruhe.csv",
        include_str!("../demo/registries/karlsruhe.csv"),
    ),
    (
        "registries/mannheim.csv",
        "mannheim.csv",
        include_str!("../demo/registries/mannheim.csv"),
    ),
    (
        "registries/freiburg.csv",
        "freiburg.csv",
        include_str!("../demo/registries/freiburg.csv"),
    ),
    (
        "registries/ulm.csv",
        "ulm.csv",
        include_str!("../demo/registries/ulm.csv"),
    ),
    (
        "registries/konstanz.geojson",
        "konstanz.geojson",
        include_str!("../demo/registries/konstanz.geojson"),
    ),
    (
        "registries/friedrichshafen.csv",
        "friedrichshafen.csv",
        include_str!("../demo/registries/friedrichshafen.csv"),
    ),
    (
        "registries/ettlingen.csv",
        "ettlingen.csv",
        include_str!("../demo/registries/ettlingen.csv"),
    ),
    (
        "registries/heidelberg.geojson",
        "heidelberg.geojson",
        include_str!("../demo/registries/heidelberg.geojson"),
    ),
    (
        "registries/pforzheim.csv",
        "pforzheim.csv",
        include_str!("../demo/registries/pforzheim.csv"),
    ),
];

/// (path as written in the demo toml, file name, contents).
const ZONES: [(&str, &str, &str); 9] = [
    (
        "zones/karlsruhe.geojson",
        "karlsruhe.geojson",
        include_str!("../demo/zones/karlsruhe.geojson"),
    ),
    (
        "zones/mannheim.geojson",
        "mannheim.geojson",
        include_str!("../demo/zones/mannheim.geojson"),
    ),
    (
        "zones/freiburg.geojson",
        "freiburg.geojson",
        include_str!("../demo/zones/freiburg.geojson"),
    ),
    (
        "zones/ulm.geojson",
        "ulm.geojson",
        include_str!("../demo/zones/ulm.geojson"),
    ),
    (
        "zones/konstanz.geojson",
        "konstanz.geojson",
        include_str!("../demo/zones/konstanz.geojson"),
    ),
    (
        "zones/friedrichshafen.geojson",
        "friedrichshafen.geojson",
        include_str!("../demo/zones/friedrichshafen.geojson"),
    ),
    (
        "zones/ettlingen.geojson",
        "ettlingen.geojson",
        include_str!("../demo/zones/ettlingen.geojson"),
    ),
    (
        "zones/heidelberg.geojson",
        "heidelberg.geojson",
        include_str!("../demo/zones/heidelberg.geojson"),
    ),
    (
        "zones/pforzheim.geojson",
        "pforzheim.geojson",
        include_str!("../demo/zones/pforzheim.geojson"),
    ),
];

fn embedded_zones(path: &str) -> std::result::Result<ZoneSource, String> {
    let normalized = path.trim_start_matches("./");
    ZONES
        .iter()
        .find(|(written, _, _)| *written == normalized)
        .map(|(_, name, text)| ZoneSource::Embedded { name, text })
        .ok_or_else(|| format!("`{path}` is not one of the built-in demo zone files"))
}

fn embedded(path: &str) -> std::result::Result<RegistrySource, String> {
    let normalized = path.trim_start_matches("./");
    REGISTRIES
        .iter()
        .find(|(written, _, _)| *written == normalized)
        .map(|(_, name, text)| RegistrySource::Embedded { name, text })
        .ok_or_else(|| format!("`{path}` is not one of the built-in demo registries"))
}

impl Config {
    /// Returns the built-in demo: nine cities with embedded registries and zone files,
    /// env overrides applied, and the demo push key ([`DEMO_PUSH_KEY`]).
    ///
    /// # Errors
    ///
    /// Only through `env`: the demo itself is valid (a test checks it).
    pub fn demo(env: &HashMap<String, String>) -> Result<Config> {
        let resolve = Resolve {
            registry: &embedded,
            zones: &embedded_zones,
        };
        let mut config = build(DEMO_TOML, Path::new(DEMO_ORIGIN), env, &resolve)?;
        config.push_keys.push(PushKeyConfig {
            principal: "demo-ulm-push".into(),
            key_sha256: DEMO_PUSH_KEY_SHA256.into(),
            city: "ulm".into(),
            formats: vec![FeedFormat::Native],
        });
        Ok(config)
    }
}
