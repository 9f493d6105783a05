//! `[sql]` limits, `[[api_keys]]` and `share`: defaults, every bad value at its key, and
//! environment overrides naming the variable.

mod common;

use std::collections::HashMap;
use std::time::Duration;

use common::{fails_at, keys, load, ok, origin};
use stadtpuls_config::{Anonymous, CityScope, Config, DataKind, ENVIRONMENT, Share, SharePolicy};

const HASH: &str = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08";
const OTHER_HASH: &str = "60303ae22b998861bce3b28f33eec1be758a213c86c93c076dbe9f558c11c752";

#[test]
fn defaults_bound_every_query_and_start_no_flight_server() {
    let config = ok("");
    let sql = config.sql;
    assert!(sql.enabled);
    assert_eq!(sql.flight_bind, None);
    assert_eq!(sql.memory_limit_bytes, 512 * 1024 * 1024);
    assert_eq!(sql.timeout, Duration::from_secs(30));
    assert_eq!((sql.max_rows, sql.max_concurrent), (100_000, 4));
    assert!(config.api_keys.is_empty());
    assert_eq!(config.cities[0].share, SharePolicy::uniform(Share::Private));
}

#[test]
fn keys_are_stored_hashed_with_their_cities() {
    let config = ok(&format!(
        r#"
[sql]
flight_bind = "127.0.0.1:50051"
memory_limit_mib = 64
timeout = "5s"
max_rows = 10
max_concurrent = 2
[[api_keys]]
principal = "ulm-analyst"
key_sha256 = "{}"
cities = ["ulm"]
[[api_keys]]
principal = "admin"
key_sha256 = "{OTHER_HASH}"
cities = ["*"]
"#,
        HASH.to_uppercase()
    ));
    assert_eq!(
        config.sql.flight_bind,
        Some("127.0.0.1:50051".parse().unwrap())
    );
    assert_eq!(config.sql.memory_limit_bytes, 64 * 1024 * 1024);
    assert_eq!(config.sql.timeout, Duration::from_secs(5));
    assert_eq!(config.api_keys.len(), 2);
    assert_eq!(
        config.api_keys[0].key_sha256, HASH,
        "normalised to lowercase"
    );
    assert_eq!(
        config.api_keys[0].cities,
        CityScope::Only(vec!["ulm".into()])
    );
    assert_eq!(config.api_keys[1].cities, CityScope::All);
}

#[test]
fn each_bad_value_is_reported_at_its_key() {
    fails_at("[sql]\nmemory_limit_mib = 1", "sql.memory_limit_mib");
    fails_at("[sql]\ntimeout = \"0s\"", "sql.timeout");
    fails_at("[sql]\ntimeout = \"2h\"", "sql.timeout");
    fails_at("[sql]\nmax_rows = 0", "sql.max_rows");
    fails_at("[sql]\nmax_concurrent = 1000", "sql.max_concurrent");
    fails_at("[sql]\nflight_bind = \"nowhere\"", "sql.flight_bind");
    fails_at(
        "[api]\nbind = \"127.0.0.1:9000\"\n[sql]\nflight_bind = \"127.0.0.1:9000\"",
        "sql.flight_bind",
    );
    fails_at("[sql]\nlimit = 3", "sql.limit");
    let key = |principal: &str, hash: &str, cities: &str| {
        format!(
            "[[api_keys]]\nprincipal = \"{principal}\"\nkey_sha256 = \"{hash}\"\ncities = {cities}\n"
        )
    };
    fails_at(&key("a", "abc", "[\"ulm\"]"), "api_keys[0].key_sha256");
    fails_at(&key(" ", HASH, "[\"ulm\"]"), "api_keys[0].principal");
    fails_at(&key("a", HASH, "[]"), "api_keys[0].cities");
    fails_at(&key("a", HASH, "[\"bonn\"]"), "api_keys[0].cities[0]");
    fails_at(&key("a", HASH, "[\"*\", \"ulm\"]"), "api_keys[0].cities");
    fails_at(
        &format!(
            "{}{}",
            key("a", HASH, "[\"ulm\"]"),
            key("a", OTHER_HASH, "[\"ulm\"]")
        ),
        "api_keys[1].principal",
    );
    fails_at(
        &format!(
            "{}{}",
            key("a", HASH, "[\"ulm\"]"),
            key("b", HASH, "[\"ulm\"]")
        ),
        "api_keys[1].key_sha256",
    );
    let mut found = keys("[sql]\nmax_rows = -1\nmax_concurrent = 0");
    found.sort();
    assert_eq!(found, ["sql.max_concurrent", "sql.max_rows"]);
}

fn neu_ulm(share: &str) -> String {
    format!(
        "[[cities]]\nid = \"neu-ulm\"\nname = \"Neu-Ulm\"\ntimezone = \"Europe/Berlin\"\nlat = 48.39\nlon = 10.01\nregistry = \"registries/ulm.csv\"\n{share}\n"
    )
}

#[test]
fn share_is_private_partners_or_open_for_every_kind_or_per_kind() {
    let share_of = |text: &str| {
        ok(&neu_ulm(text))
            .city("neu-ulm")
            .map(|c| c.share.clone())
            .expect("neu-ulm is configured")
    };
    assert_eq!(
        share_of("share = \"open\""),
        SharePolicy::uniform(Share::Open)
    );
    assert_eq!(share_of(""), SharePolicy::uniform(Share::Private));
    assert_eq!(
        share_of("share = \"partners\"\npartners = [\"ulm\"]"),
        SharePolicy {
            traffic: Share::Partners,
            parking: Share::Partners,
            partners: vec!["ulm".into()],
        }
    );
    // Per kind; the kind left out stays private.
    assert_eq!(
        share_of("partners = [\"ulm\"]\n[cities.share]\ntraffic = \"partners\""),
        SharePolicy {
            traffic: Share::Partners,
            parking: Share::Private,
            partners: vec!["ulm".into()],
        }
    );
    let both = share_of("[cities.share]\ntraffic = \"private\"\nparking = \"open\"");
    assert_eq!(
        (both.of(DataKind::Traffic), both.of(DataKind::Parking)),
        (Share::Private, Share::Open)
    );
    fails_at(&neu_ulm("share = \"public\""), "cities[0].share");
    fails_at(
        &neu_ulm("[cities.share]\nparking = \"everyone\""),
        "cities[0].share.parking",
    );
    let errors = load(&neu_ulm("share = \"public\"")).expect_err("bad share");
    let message = errors.to_string();
    assert!(
        message.contains("expected `private`, `partners` or `open`")
            && message.contains("conf/stadtpuls.toml"),
        "{errors}"
    );
}

#[test]
fn partners_must_be_other_configured_cities_and_be_used() {
    fails_at(
        &neu_ulm("share = \"partners\"\npartners = [\"ulm\", \"biberach\"]"),
        "cities[0].partners[1]",
    );
    let errors = load(&neu_ulm("share = \"partners\"\npartners = [\"biberach\"]"))
        .expect_err("unknown partner");
    assert!(
        errors
            .to_string()
            .contains("`biberach` is not a configured city id")
            && errors.to_string().contains("conf/stadtpuls.toml"),
        "{errors}"
    );
    fails_at(
        &neu_ulm("share = \"partners\"\npartners = [\"neu-ulm\"]"),
        "cities[0].partners[0]",
    );
    fails_at(
        &neu_ulm("share = \"partners\"\npartners = [\"ulm\", \"ulm\"]"),
        "cities[0].partners[1]",
    );
    fails_at(&neu_ulm("share = \"partners\""), "cities[0].partners");
    fails_at(
        &neu_ulm("share = \"open\"\npartners = [\"ulm\"]"),
        "cities[0].partners",
    );
}

#[test]
fn anonymous_requests_see_open_data_unless_denied() {
    assert_eq!(ok("").api.anonymous, Anonymous::Open);
    assert_eq!(
        ok("[api]\nanonymous = \"deny\"").api.anonymous,
        Anonymous::Deny
    );
    fails_at("[api]\nanonymous = \"maybe\"", "api.anonymous");
}

#[test]
fn environment_overrides_the_limits_and_errors_name_the_variable() {
    let env = |vars: &[(&str, &str)]| -> HashMap<String, String> {
        vars.iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    };
    let config = Config::from_toml(
        common::CITY,
        origin(),
        &env(&[
            ("STADTPULS_SQL__ENABLED", "false"),
            ("STADTPULS_SQL__FLIGHT_BIND", "0.0.0.0:50051"),
            ("STADTPULS_SQL__MEMORY_LIMIT_MIB", "128"),
            ("STADTPULS_SQL__TIMEOUT", "1m"),
            ("STADTPULS_SQL__MAX_ROWS", "1_000"),
            ("STADTPULS_SQL__MAX_CONCURRENT", "8"),
        ]),
    )
    .unwrap_or_else(|errors| panic!("{errors}"));
    let sql = config.sql;
    assert!(!sql.enabled);
    assert_eq!(sql.flight_bind, Some("0.0.0.0:50051".parse().unwrap()));
    assert_eq!(sql.memory_limit_bytes, 128 * 1024 * 1024);
    assert_eq!(sql.timeout, Duration::from_secs(60));
    assert_eq!((sql.max_rows, sql.max_concurrent), (1000, 8));

    let errors = Config::from_toml(
        common::CITY,
        origin(),
        &env(&[
            ("STADTPULS_SQL__TIMEOUT", "forever"),
            ("STADTPULS_API_KEYS__X", "y"),
        ]),
    )
    .expect_err("bad overrides");
    let mut found: Vec<(String, String)> = errors
        .iter()
        .map(|e| (e.file.display().to_string(), e.key.clone()))
        .collect();
    found.sort();
    assert_eq!(
        found,
        [
            (ENVIRONMENT.to_owned(), "STADTPULS_API_KEYS__X".to_owned()),
            (ENVIRONMENT.to_owned(), "STADTPULS_SQL__TIMEOUT".to_owned()),
        ]
    );
}

#[test]
fn the_demo_keys_match_their_configured_hashes() {
    let config = Config::demo(&HashMap::new()).unwrap_or_else(|errors| panic!("{errors}"));
    let hash = |key: &str| -> String {
        // The config crate only stores hashes; compare against sha256sum's output for the
        // documented demo keys.
        match key {
            "stadtpuls-demo-key" => {
                "3bbcc1e0b21c3024c53c7797c765781baba5db91aa6946c6b0e733aa43c7a02f"
            }
            "stadtpuls-demo-ulm-key" => {
                "9a389e58300d6dc8344ace895d5d165bd37bfdd3d892a5f577fac9bc33565dfa"
            }
            _ => "",
        }
        .to_owned()
    };
    assert_eq!(config.api_keys.len(), 2);
    assert_eq!(
        config.api_keys[0].key_sha256,
        hash(stadtpuls_config::DEMO_SQL_KEY)
    );
    assert_eq!(config.api_keys[0].cities, CityScope::All);
    assert_eq!(
        config.api_keys[1].key_sha256,
        hash(stadtpuls_config::DEMO_SQL_ULM_KEY)
    );
    assert_eq!(
        config.api_keys[1].cities,
        CityScope::Only(vec!["ulm".into()])
    );
    assert_eq!(
        config.city("ettlingen").map(|c| c.share.clone()),
        Some(SharePolicy::uniform(Share::Open))
    );
}
