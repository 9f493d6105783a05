//! One `[[cities]]` entry as written, with its sharing, feeds and pull sources.

use std::collections::BTreeMap;

use serde::Deserialize;

/// One `[[cities]]` entry as written; every key but `zones` is required.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawCity {
    /// City id, `^[a-z0-9-]+$`.
    pub id: String,
    /// Display name.
    pub name: String,
    /// IANA time zone name.
    pub timezone: String,
    /// Latitude of the centre.
    pub lat: f64,
    /// Longitude of the centre.
    pub lon: f64,
    /// Registry file, relative to the config file's directory.
    pub registry: String,
    /// Zone file (GeoJSON), relative to the config file's directory; optional.
    #[serde(default)]
    pub zones: Option<String>,
    /// `"private"` (the default), `"partners"` or `"open"`, or a table per data kind.
    #[serde(default)]
    pub share: Option<RawShare>,
    /// City ids whose keys read what is shared with `partners`.
    #[serde(default)]
    pub partners: Vec<String>,
    /// `[[cities.feeds]]`: topics and their formats.
    #[serde(default)]
    pub feeds: Vec<RawFeed>,
    /// `[[cities.pull]]`: HTTP endpoints polled for documents.
    #[serde(default)]
    pub pull: Vec<RawPull>,
    /// Admit a partner feed's facility no `external_id` maps when it states its capacity.
    #[serde(default)]
    pub admit_unmapped_facilities: bool,
}

/// A city's `share` as written: one name for every kind, or `[cities.share]` per kind.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub(crate) enum RawShare {
    /// `share = "open"`.
    All(String),
    /// `[cities.share]` with `traffic` and/or `parking` (unset: private).
    PerKind(RawShareKinds),
}

/// `[cities.share]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawShareKinds {
    /// Share of the traffic data.
    #[serde(default)]
    pub traffic: Option<String>,
    /// Share of the parking data.
    #[serde(default)]
    pub parking: Option<String>,
}

/// One `[[cities.pull]]` entry as written; `url`, `format` and `every` are required.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawPull {
    /// `http://` or `https://` URL.
    pub url: String,
    /// A feed format name.
    pub format: String,
    /// Poll interval, humantime.
    pub every: String,
    /// Request timeout, humantime.
    #[serde(default)]
    pub timeout: Option<String>,
    /// Client certificate (PEM), relative to the config file's directory.
    #[serde(default)]
    pub client_cert: Option<String>,
    /// Its private key (PEM), relative to the config file's directory.
    #[serde(default)]
    pub client_key: Option<String>,
    /// Extra CA certificates (PEM), relative to the config file's directory.
    #[serde(default)]
    pub ca: Option<String>,
    /// Extra request headers.
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
}

/// One `[[cities.feeds]]` entry as written; `topic` and `format` are required.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawFeed {
    /// Kafka topic name.
    pub topic: String,
    /// `native`, `fiware`, `parkapi` or `ttn`.
    pub format: String,
    /// `ttn` only: the devices' payload codec (`nwave-nps`, `bosch-pls`).
    #[serde(default)]
    pub codec: Option<String>,
}
