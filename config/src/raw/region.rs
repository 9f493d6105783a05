//! One `[[regions]]` entry as written.

use serde::Deserialize;

/// `[[regions]]`: every key but `corridors` is required.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawRegion {
    /// Region id, `^[a-z0-9-]+$`.
    pub id: String,
    /// Display name.
    pub name: String,
    /// Member city ids.
    pub cities: Vec<String>,
    /// Corridor traffic sensors, `"<city>/<sensor id>"`.
    #[serde(default)]
    pub corridors: Vec<String>,
}
