//! `[push]` limits and `[[push_keys]]`: hashed keys bound to a city and its formats.

mod common;

use std::collections::HashMap;

use common::{CITY, ok};
use stadtpuls_config::{Config, FeedFormat};

const HASH: &str = "73da54e4238c18d75be8b13fab47cca10fc40e92880315116dec1796fd6f1f68";

fn load(extra: &str) -> Result<Config, stadtpuls_config::ConfigErrors> {
    Config::from_toml(
        &format!("{CITY}\n{extra}"),
        common::origin(),
        &HashMap::new(),
    )
}

#[test]
fn push_keys_bind_a_city_and_its_formats() {
    let config = load(&format!(
        "[[cities.feeds]]\ntopic = \"ulm.fiware\"\nformat = \"fiware\"\n\
         [push]\nmax_body_bytes = 1024\nrate_per_s = 2.5\nburst = 3\n\
         [[push_keys]]\nprincipal = \"ulm-orion\"\nkey_sha256 = \"{}\"\ncity = \"ulm\"\nformats = [\"fiware\", \"native\"]\n",
        HASH.to_uppercase()
    ))
    .unwrap_or_else(|errors| panic!("should load:\n{errors}"));
    assert_eq!(config.push.max_body_bytes, 1024);
    assert_eq!(config.push.rate_per_s, 2.5);
    assert_eq!(config.push.burst, 3);
    let key = &config.push_keys[0];
    assert_eq!(key.key_sha256, HASH, "stored lowercase like api_keys");
    assert_eq!(key.city, "ulm");
    assert_eq!(key.formats, [FeedFormat::Fiware, FeedFormat::Native]);
    let defaults = ok("");
    assert_eq!(defaults.push.max_body_bytes, 10 * 1024 * 1024);
    assert!(defaults.push_keys.is_empty());
}

#[test]
fn push_key_problems_name_their_key() {
    let errors = load(&format!(
        "[push]\nmax_body_bytes = 0\nrate_per_s = 0.0\n\
         [[push_keys]]\nprincipal = \"a\"\nkey_sha256 = \"abc\"\ncity = \"nowhere\"\nformats = [\"native\"]\n\
         [[push_keys]]\nprincipal = \"b\"\nkey_sha256 = \"{HASH}\"\ncity = \"ulm\"\nformats = [\"fiware\"]\n\
         [[push_keys]]\nprincipal = \"b\"\nkey_sha256 = \"{HASH}\"\ncity = \"ulm\"\nformats = [\"xml\"]\n"
    ))
    .expect_err("should fail");
    let keys: Vec<String> = errors.into_iter().map(|error| error.key).collect();
    assert_eq!(
        keys,
        [
            "push.max_body_bytes",
            "push.rate_per_s",
            "push_keys[0].key_sha256",
            "push_keys[0].city",
            "push_keys[1].formats",
            "push_keys[2].principal",
            "push_keys[2].key_sha256",
            "push_keys[2].formats",
        ]
    );
}
