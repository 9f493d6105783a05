//! Set-up shared by the pull tests (`pull.rs`, `pull_tls.rs`): a config with one pull
//! source, the fixtures, and reading a topic back.

#![allow(dead_code)] // not every test uses every part

use std::collections::HashMap;
use std::time::Duration;

use rdkafka::ClientConfig;
use rdkafka::consumer::{Consumer, StreamConsumer};
use rdkafka::message::{Headers, Message};
use stadtpuls_config::Config;

use super::broker;

pub fn fixture(name: &str) -> Vec<u8> {
    let path = format!(
        "{}/tests/fixtures/feeds/datex2/{name}",
        env!("CARGO_MANIFEST_DIR")
    );
    std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

pub fn run_id() -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or_default();
    format!("{}{nanos}", std::process::id())
}

/// A city `city` with a DATEX II topic and one pull source of `url`, `extra` keys added to
/// it; relative paths are relative to `dir`.
pub fn config(city: &str, topic: &str, url: &str, max_message_bytes: usize, extra: &str) -> Config {
    config_in(
        &std::env::temp_dir(),
        city,
        topic,
        url,
        max_message_bytes,
        extra,
    )
}

/// [`config`] as the file `dir/stadtpuls.toml`.
pub fn config_in(
    dir: &std::path::Path,
    city: &str,
    topic: &str,
    url: &str,
    max_message_bytes: usize,
    extra: &str,
) -> Config {
    let toml = format!(
        r#"version = 1
[kafka]
brokers = "{brokers}"
max_message_bytes = {max_message_bytes}
[[cities]]
id = "{city}"
name = "Aachen"
timezone = "Europe/Berlin"
lat = 50.77
lon = 6.08
registry = "aachen.csv"
[[cities.feeds]]
topic = "{topic}"
format = "datex2"
[[cities.pull]]
url = "{url}"
format = "datex2"
every = "5s"
{extra}
"#,
        brokers = broker::brokers(),
    );
    Config::from_toml(&toml, &dir.join("stadtpuls.toml"), &HashMap::new())
        .unwrap_or_else(|errors| panic!("config:\n{errors}"))
}

/// Every record on `topic` as (key, content-type, payload), waiting for `count` and then
/// half a second more for any further one.
pub async fn records(run: &str, topic: &str, count: usize) -> Vec<(String, String, Vec<u8>)> {
    let consumer: StreamConsumer = ClientConfig::new()
        .set("bootstrap.servers", broker::brokers())
        .set("group.id", format!("pull-reader-{run}"))
        .set("auto.offset.reset", "earliest")
        .create()
        .expect("consumer");
    consumer.subscribe(&[topic]).expect("subscribe");
    let mut got = Vec::new();
    loop {
        let wait = if got.len() < count {
            Duration::from_secs(30)
        } else {
            Duration::from_millis(1500)
        };
        let Ok(message) = tokio::time::timeout(wait, consumer.recv()).await else {
            assert!(got.len() >= count, "only {} of {count} records", got.len());
            return got;
        };
        let message = message.expect("receive");
        let content_type = message
            .headers()
            .and_then(|hs| hs.iter().find(|h| h.key == "content-type"))
            .and_then(|h| h.value)
            .map(|v| String::from_utf8_lossy(v).into_owned())
            .unwrap_or_default();
        let key = message
            .key()
            .map(|k| String::from_utf8_lossy(k).into_owned())
            .unwrap_or_default();
        got.push((
            key,
            content_type,
            message.payload().unwrap_or_default().to_vec(),
        ));
    }
}
