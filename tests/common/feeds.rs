//! Shared pieces of the partner-feed end-to-end tests: the fixtures of
//! `ingest/tests/fixtures/feeds/`, a `stadtpuls run` config for one city with a registry
//! and feeds, and reading a facility's level out of the live API.

use std::path::{Path, PathBuf};

use serde_json::Value;

use super::get;

/// The bytes of `ingest/tests/fixtures/feeds/<path>`.
pub fn fixture(path: &str) -> Vec<u8> {
    let full = format!(
        "{}/ingest/tests/fixtures/feeds/{path}",
        env!("CARGO_MANIFEST_DIR")
    );
    std::fs::read(&full).unwrap_or_else(|e| panic!("{full}: {e}"))
}

/// One city's `stadtpuls run` set-up: written by [`FeedCity::write`].
pub struct FeedCity<'a> {
    /// Broker list.
    pub brokers: String,
    /// Suffix of the group, dead-letter topic and feed topics.
    pub run: &'a str,
    /// City id.
    pub city: &'a str,
    /// API port.
    pub port: u16,
    /// The registry CSV (header included), written beside the config.
    pub registry_csv: &'a str,
    /// TOML appended after the `[[cities]]` entry: its `[[cities.feeds]]`, then any
    /// top-level table (`[push]`, `[[push_keys]]`, `[[api_keys]]`).
    pub tail: &'a str,
}

impl FeedCity<'_> {
    /// Writes `stadtpuls.toml` and the registry into `dir`; returns the config's path.
    ///
    /// Windows of one minute; `out_of_orderness` 30 min (a DATEX document's records span
    /// 21 minutes), idle sources excluded after 3 s (each feed is its own partition and
    /// falls silent), `max_clock_jump` unbounded (the fixtures span 2016 to 2025).
    pub fn write(&self, dir: &Path) -> PathBuf {
        std::fs::write(dir.join("registry.csv"), self.registry_csv).expect("write registry");
        let Self {
            brokers,
            run,
            city,
            port,
            tail,
            ..
        } = self;
        let toml = format!(
            r#"{kafka}[windows]
sizes = ["1m"]
out_of_orderness = "30m"
idle_timeout = "3s"
max_clock_jump = "100000h"
[api]
bind = "127.0.0.1:{port}"
[history]
dir = "{hist}"
[output]
enabled = false
[checkpoint]
dir = "{state}"
interval = "1s"
[[cities]]
id = "{city}"
name = "{city}"
timezone = "Europe/Berlin"
lat = 50.77
lon = 6.08
share = "open"
registry = "registry.csv"
{tail}"#,
            kafka = super::kafka_section(
                brokers,
                &format!("stadtpuls-{run}"),
                &format!(r"^sensors\.{city}\.(traffic|parking)$"),
                &format!("deadletter-{run}"),
                "",
            ),
            hist = dir.join("history").display(),
            state = dir.join("state").display(),
        );
        let path = dir.join("stadtpuls.toml");
        std::fs::write(&path, toml).expect("write config");
        path
    }
}

/// GETs `url` as JSON; `None` unless it answered 200 with JSON.
pub async fn json_get(client: &reqwest::Client, url: &str) -> Option<Value> {
    let (status, body) = get(client, url).await;
    (status == 200)
        .then(|| serde_json::from_str(&body).ok())
        .flatten()
}

/// `(free, total)` of facility `id` in a `/v1/cities/{city}/parking` answer, if listed.
pub fn level(parking: &Value, id: &str) -> Option<(Value, Value)> {
    parking["facilities"]
        .as_array()?
        .iter()
        .find(|f| f["facility_id"] == id)
        .map(|f| (f["free"].clone(), f["total"].clone()))
}
