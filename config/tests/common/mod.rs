//! Helpers shared by the integration tests.

use std::path::Path;

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
