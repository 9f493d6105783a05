//! `[[cities.pull]]`: a URL polled for a city's documents, written to its format's topic;
//! certificate paths resolved against the config file's directory and checked to exist.

mod common;

use std::collections::HashMap;
use std::time::Duration;

use common::CITY;
use stadtpuls_config::{ClientIdentity, Config, ConfigErrors, FeedFormat};

const DATEX_FEED: &str = "[[cities.feeds]]\ntopic = \"ulm.datex2\"\nformat = \"datex2\"\n";

/// Parses a city with `extra` appended, as the file `dir/stadtpuls.toml`.
fn load(dir: &std::path::Path, extra: &str) -> Result<Config, ConfigErrors> {
    Config::from_toml(
        &format!("{CITY}\n{extra}"),
        &dir.join("stadtpuls.toml"),
        &HashMap::new(),
    )
}

#[test]
fn a_pull_source_resolves_its_files_and_defaults_its_timeout() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::create_dir(dir.path().join("tls")).expect("mkdir");
    for name in ["tls/client.pem", "tls/client.key", "tls/ca.pem"] {
        std::fs::write(dir.path().join(name), "PEM").expect("write");
    }
    let config = load(
        dir.path(),
        &format!(
            "{DATEX_FEED}[[cities.pull]]\nurl = \"https://mobilithek.example/sub/1\"\nformat = \"datex2\"\nevery = \"1m\"\n\
             client_cert = \"tls/client.pem\"\nclient_key = \"tls/client.key\"\nca = \"tls/ca.pem\"\n\
             headers = {{ \"X-Api-Key\" = \"s3cret\" }}\n\
             [[cities.pull]]\nurl = \"http://127.0.0.1:8000/list.json\"\nformat = \"native\"\nevery = \"10s\"\ntimeout = \"2s\"\n"
        ),
    )
    .unwrap_or_else(|errors| panic!("should load:\n{errors}"));
    let pulls = &config.cities[0].pull;
    assert_eq!(pulls.len(), 2);
    assert_eq!(pulls[0].key, "cities[0].pull[0]");
    assert_eq!(pulls[0].format, FeedFormat::Datex2);
    assert_eq!(pulls[0].every, Duration::from_secs(60));
    assert_eq!(pulls[0].timeout, Duration::from_secs(30), "default");
    assert_eq!(
        pulls[0].client_identity,
        Some(ClientIdentity {
            cert: dir.path().join("tls/client.pem"),
            key: dir.path().join("tls/client.key"),
        })
    );
    assert_eq!(pulls[0].ca, Some(dir.path().join("tls/ca.pem")));
    assert_eq!(pulls[0].headers, [("X-Api-Key".into(), "s3cret".into())]);
    assert_eq!(pulls[1].timeout, Duration::from_secs(2));
    assert_eq!(config.pulls().count(), 2);
}

#[test]
fn pull_problems_name_their_key_and_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    let errors = load(
        dir.path(),
        &format!(
            "{DATEX_FEED}\
             [[cities.pull]]\nurl = \"file:///etc/passwd\"\nformat = \"parkapi\"\nevery = \"1s\"\n\
             [[cities.pull]]\nurl = \"https://x.example/\"\nformat = \"datex2\"\nevery = \"1m\"\ntimeout = \"2m\"\nclient_cert = \"missing.pem\"\n\
             [[cities.pull]]\nurl = \"https://x.example/\"\nformat = \"datex2\"\nevery = \"1m\"\nca = \"nope/ca.pem\"\nheaders = {{ \"If-None-Match\" = \"x\" }}\n"
        ),
    )
    .expect_err("should fail");
    let file = dir.path().join("stadtpuls.toml");
    assert!(errors.iter().all(|e| e.file == file), "{errors}");
    let keys: Vec<&str> = errors.iter().map(|e| e.key.as_str()).collect();
    assert_eq!(
        keys,
        [
            "cities[0].pull[0].url",
            "cities[0].pull[0].format",
            "cities[0].pull[0].every",
            "cities[0].pull[1].timeout",
            "cities[0].pull[1].client_key",
            "cities[0].pull[2].ca",
            "cities[0].pull[2].headers.\"If-None-Match\"",
        ],
        "{errors}"
    );
    let text = errors.to_string();
    assert!(
        text.contains("has no [[cities.feeds]] topic of format `parkapi`"),
        "{text}"
    );
    assert!(text.contains("no such file"), "{text}");
}
