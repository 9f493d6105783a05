//! Helpers shared by the integration tests (each test binary uses a subset).

#![allow(dead_code)]

use std::collections::HashMap;
use std::path::Path;

use stadtpuls_config::{Config, ConfigErrors};

/// A valid city whose registry resolves to `conf/registries/ulm.csv`.
pub const CITY: &str = r#"
[[cities]]
id = "ulm"
name = "Ulm"
timezone = "Europe/Berlin"
lat = 48.3984
lon = 9.9916
registry = "registries/ulm.csv"
"#;

/// The pretend file name every inline config is parsed as.
pub fn origin() -> &'static Path {
    Path::new("conf/stadtpuls.toml")
}

/// Parses `sections` plus a valid city, without environment overrides.
pub fn load(sections: &str) -> Result<Config, ConfigErrors> {
    Config::from_toml(&format!("{sections}\n{CITY}"), origin(), &HashMap::new())
}

/// Parses `sections` and panics with every error if they do not load.
pub fn ok(sections: &str) -> Config {
    load(sections).unwrap_or_else(|errors| panic!("should load:\n{errors}"))
}

/// Returns the keys of all errors, asserting they are about the config file.
pub fn keys(sections: &str) -> Vec<String> {
    let errors = load(sections).expect_err("should fail");
    assert!(
        errors.iter().all(|error| error.file == origin()),
        "{errors}"
    );
    errors.into_iter().map(|error| error.key).collect()
}

/// Asserts that `sections` fail with exactly one error, at `key`.
pub fn fails_at(sections: &str, key: &str) {
    let found = keys(sections);
    assert_eq!(found, [key], "for:\n{sections}");
}
