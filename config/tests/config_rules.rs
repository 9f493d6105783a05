//! Every rule of the config file, defaults included, through the public API.

mod common;

use std::collections::{BTreeMap, HashMap};

use common::{CITY, fails_at, keys, load, ok, origin};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use stadtpuls_config::{
    ApiConfig, Config, FILE_KEY, HistoryConfig, InstanceId, KafkaConfig, ParkingConfig,
    RegistrySource, WindowsConfig,
};

#[test]
fn defaults_match_the_documented_values() {
    let config = ok("");
    let kafka = &config.kafka;
    assert_eq!(kafka.brokers, "127.0.0.1:9092");
    assert_eq!(kafka.group_id, "stadtpuls");
    assert_eq!(kafka.instance_id, InstanceId::FromHost);
    assert_eq!(
        kafka.topic_pattern,
        r"^sensors\.[a-z0-9-]+\.(traffic|parking)$"
    );
    assert_eq!(kafka.deadletter_topic, "sensors.deadletter");
    assert_eq!(kafka.max_message_bytes, 1_048_576);
    assert_eq!(kafka.deadletter_max_bytes, 262_144);
    assert_eq!(kafka.batch_max_messages, 10_000);
    assert_eq!(kafka.batch_max_wait, Duration::from_millis(100));
    assert!(kafka.librdkafka.is_empty());
    assert_eq!(
        config.windows.sizes,
        [60, 300, 900, 3600].map(Duration::from_secs)
    );
    assert!(config.windows.hopping.is_empty());
    assert_eq!(config.windows.allowed_lateness, Duration::from_secs(120));
    assert_eq!(config.windows.out_of_orderness, Duration::from_secs(30));
    assert_eq!(config.windows.idle_timeout, Duration::from_secs(60));
    assert_eq!(config.windows.max_future, Duration::from_secs(300));
    assert_eq!(config.windows.max_clock_jump, Duration::from_secs(900));
    assert_eq!(
        config.api.bind,
        "127.0.0.1:8080".parse::<SocketAddr>().expect("literal")
    );
    assert_eq!(config.api.live_retention, Duration::from_secs(6 * 3600));
    assert_eq!(config.api.header_read_timeout, Duration::from_secs(10));
    assert_eq!(config.api.max_connections, 512);
    assert_eq!(config.history.dir, PathBuf::from("./stadtpuls-data"));
    let parking = &config.parking;
    assert_eq!(parking.feed_interval, Duration::from_secs(300));
    assert_eq!(
        parking.stale_after,
        Duration::from_secs(900),
        "3 × feed_interval"
    );
    assert_eq!(parking.trend_window, Duration::from_secs(900));
    assert_eq!(parking.trend_threshold_pct_per_h, 5.0);
    let t = parking.thresholds;
    assert_eq!(
        (
            t.almost_full_increasing_pct,
            t.almost_full_decreasing_pct,
            t.full_increasing_pct,
            t.full_decreasing_pct
        ),
        (90.0, 85.0, 98.0, 95.0)
    );
    assert_eq!(config.origin, origin());
}

#[test]
fn default_impls_agree_with_an_empty_file() {
    let config = ok("");
    assert_eq!(config.kafka, KafkaConfig::default());
    assert_eq!(config.windows, WindowsConfig::default());
    assert_eq!(config.api, ApiConfig::default());
    assert_eq!(config.history, HistoryConfig::default());
    assert_eq!(config.parking, ParkingConfig::default());
}

#[test]
fn empty_sections_take_defaults() {
    let config = ok("version = 1\n[kafka]\n[windows]\n[api]\n[history]\n[parking]\n");
    assert_eq!(config.kafka, KafkaConfig::default());
}

#[test]
fn city_is_parsed_and_registry_resolved_next_to_the_file() {
    let config = ok("");
    let city = config.city("ulm").expect("ulm is configured");
    assert_eq!(city.name, "Ulm");
    assert_eq!(city.timezone, chrono_tz::Europe::Berlin);
    assert_eq!((city.lat, city.lon), (48.3984, 9.9916));
    assert_eq!(
        city.registry,
        RegistrySource::File(PathBuf::from("conf/registries/ulm.csv"))
    );
    assert!(config.city("berlin").is_none());
}

#[test]
fn absolute_registry_paths_stay_absolute() {
    let text = CITY.replace("registries/ulm.csv", "/srv/registries/ulm.geojson");
    let config = Config::from_toml(&text, origin(), &HashMap::new())
        .unwrap_or_else(|errors| panic!("{errors}"));
    assert_eq!(
        config.cities[0].registry,
        RegistrySource::File(PathBuf::from("/srv/registries/ulm.geojson"))
    );
}

#[test]
fn version_must_be_1() {
    assert_eq!(ok("version = 1").kafka, KafkaConfig::default());
    fails_at("version = 2", "version");
    fails_at("version = \"1\"", "version");
}

#[test]
fn unknown_keys_are_errors() {
    fails_at("[kafka]\nbrokerz = \"x:1\"", "kafka.brokerz");
    fails_at("[windows]\nsize = [\"1m\"]", "windows.size");
    fails_at("[metrics]\nport = 9000", "metrics");
    fails_at("verison = 1", "verison");
    let errors = Config::from_toml(
        &format!("{CITY}color = \"red\"\n"),
        origin(),
        &HashMap::new(),
    )
    .expect_err("unknown key");
    assert!(errors.has_key("cities[0].color"), "{errors}");
}

#[test]
fn kafka_rules() {
    fails_at("[kafka]\nbrokers = \"\"", "kafka.brokers");
    fails_at("[kafka]\ngroup_id = \" \"", "kafka.group_id");
    fails_at(
        "[kafka]\ntopic_pattern = \"sensors\\\\..*\"",
        "kafka.topic_pattern",
    );
    fails_at("[kafka]\ntopic_pattern = \"\"", "kafka.topic_pattern");
    fails_at(
        "[kafka]\ndeadletter_topic = \"dead letters\"",
        "kafka.deadletter_topic",
    );
    fails_at("[kafka]\ndeadletter_topic = \"\"", "kafka.deadletter_topic");
    fails_at(
        &format!("[kafka]\ndeadletter_topic = \"{}\"", "d".repeat(250)),
        "kafka.deadletter_topic",
    );
    fails_at(
        "[kafka]\nmax_message_bytes = 1023",
        "kafka.max_message_bytes",
    );
    fails_at(
        "[kafka]\nmax_message_bytes = 104857601",
        "kafka.max_message_bytes",
    );
    fails_at("[kafka]\nmax_message_bytes = -1", "kafka.max_message_bytes");
    fails_at(
        "[kafka]\ndeadletter_max_bytes = 4095",
        "kafka.deadletter_max_bytes",
    );
    fails_at(
        "[kafka]\ndeadletter_max_bytes = 104857601",
        "kafka.deadletter_max_bytes",
    );
    fails_at(
        "[kafka]\nbatch_max_messages = 0",
        "kafka.batch_max_messages",
    );
    fails_at("[kafka]\nbatch_max_wait = \"0ms\"", "kafka.batch_max_wait");
    fails_at("[kafka]\nbatch_max_wait = \"11s\"", "kafka.batch_max_wait");
    fails_at("[kafka]\nbatch_max_wait = 100", "kafka.batch_max_wait");
    let edges =
        ok("[kafka]\nmax_message_bytes = 1024\nbatch_max_messages = 1\nbatch_max_wait = \"10s\"");
    assert_eq!(edges.kafka.max_message_bytes, 1024);
    assert_eq!(
        ok("[kafka]\ndeadletter_max_bytes = 4096")
            .kafka
            .deadletter_max_bytes,
        4096
    );
    assert_eq!(edges.kafka.batch_max_wait, Duration::from_secs(10));
    assert_eq!(
        ok("[kafka]\nmax_message_bytes = 104857600")
            .kafka
            .max_message_bytes,
        100 * 1024 * 1024
    );
}

#[test]
fn instance_id_rules() {
    assert_eq!(
        ok("[kafka]\ninstance_id = \"stadtpuls-0\"")
            .kafka
            .instance_id,
        InstanceId::Fixed("stadtpuls-0".to_owned())
    );
    assert_eq!(
        ok("[kafka]\ninstance_id = \"\"").kafka.instance_id,
        InstanceId::Dynamic
    );
    // Kafka refuses every join with an id outside its topic name rule.
    fails_at("[kafka]\ninstance_id = \"host:8080\"", "kafka.instance_id");
    fails_at("[kafka]\ninstance_id = \" \"", "kafka.instance_id");
    fails_at(
        &format!("[kafka]\ninstance_id = \"{}\"", "i".repeat(250)),
        "kafka.instance_id",
    );
    ok(&format!("[kafka]\ninstance_id = \"{}\"", "i".repeat(249)));
    // One spelling: the librdkafka property is refused in favour of the key.
    fails_at(
        "[kafka.librdkafka]\n\"group.instance.id\" = \"x\"",
        "kafka.librdkafka.\"group.instance.id\"",
    );
}

#[test]
fn derived_instance_ids_are_stable_per_host_and_port_and_valid() {
    assert_eq!(
        InstanceId::derive("stadtpuls-0", 8080).as_deref(),
        Some("stadtpuls-0-8080")
    );
    // Two instances on one host listen on different ports.
    assert_ne!(
        InstanceId::derive("ingest-1", 8080),
        InstanceId::derive("ingest-1", 8081)
    );
    // Characters Kafka refuses are replaced; the port is kept when the host is cut.
    assert_eq!(
        InstanceId::derive(" node 7:a ", 9000).as_deref(),
        Some("node-7-a-9000")
    );
    let long = InstanceId::derive(&"h".repeat(300), 8080).unwrap_or_default();
    assert_eq!(long.len(), 249);
    assert!(long.ends_with("h-8080"), "{long}");
    // No stable id without a hostname or with an ephemeral port.
    assert_eq!(InstanceId::derive("  ", 8080), None);
    assert_eq!(InstanceId::derive("host", 0), None);
    let derived = InstanceId::derive("h\u{e4}st", 1).unwrap_or_default();
    let config = ok(&format!("[kafka]\ninstance_id = \"{derived}\""));
    assert_eq!(config.kafka.instance_id, InstanceId::Fixed(derived));
}

#[test]
fn librdkafka_values_pass_through_as_text() {
    let config = ok(
        "[kafka.librdkafka]\n\"security.protocol\" = \"SASL_SSL\"\n\"session.timeout.ms\" = 10000\n\"enable.auto.commit\" = false",
    );
    let expected = BTreeMap::from([
        ("enable.auto.commit".to_owned(), "false".to_owned()),
        ("security.protocol".to_owned(), "SASL_SSL".to_owned()),
        ("session.timeout.ms".to_owned(), "10000".to_owned()),
    ]);
    assert_eq!(config.kafka.librdkafka, expected);
    fails_at(
        "[kafka.librdkafka]\n\"group.id\" = \"x\"",
        "kafka.librdkafka.\"group.id\"",
    );
    fails_at(
        "[kafka.librdkafka]\n\"bootstrap.servers\" = \"x\"",
        "kafka.librdkafka.\"bootstrap.servers\"",
    );
    fails_at(
        "[kafka.librdkafka]\n\"fetch.wait.max.ms\" = [1]",
        "kafka.librdkafka.\"fetch.wait.max.ms\"",
    );
}

#[test]
fn window_sizes_are_sorted_and_must_tile_a_day() {
    let config = ok(
        "[windows]\nsizes = [\"1h\", \"1m\", \"15m\", \"1day\"]\n[api]\nlive_retention = \"2d\"",
    );
    assert_eq!(
        config.windows.sizes,
        [60, 900, 3600, 86_400].map(Duration::from_secs)
    );
    fails_at("[windows]\nsizes = []", "windows.sizes");
    fails_at("[windows]\nsizes = [\"1m\", \"7m\"]", "windows.sizes[1]");
    fails_at("[windows]\nsizes = [\"1500ms\"]", "windows.sizes[0]");
    fails_at("[windows]\nsizes = [\"0s\"]", "windows.sizes[0]");
    fails_at("[windows]\nsizes = [\"2days\"]", "windows.sizes[0]");
    fails_at(
        "[windows]\nsizes = [\"5m\", \"1m\", \"300s\"]",
        "windows.sizes[2]",
    );
    fails_at("[windows]\nsizes = [\"1m\", \"often\"]", "windows.sizes[1]");
    assert_eq!(
        keys("[windows]\nsizes = [\"7m\", \"11m\", \"1m\"]"),
        ["windows.sizes[0]", "windows.sizes[1]"]
    );
}

#[test]
fn watermark_durations() {
    assert_eq!(
        ok("[windows]\nout_of_orderness = \"1h\"")
            .windows
            .out_of_orderness,
        Duration::from_secs(3600)
    );
    assert_eq!(
        ok("[windows]\nout_of_orderness = \"0s\"")
            .windows
            .out_of_orderness,
        Duration::ZERO
    );
    fails_at(
        "[windows]\nout_of_orderness = \"61m\"",
        "windows.out_of_orderness",
    );
    fails_at("[windows]\nidle_timeout = \"0s\"", "windows.idle_timeout");
    fails_at("[windows]\nmax_future = \"soon\"", "windows.max_future");
    assert_eq!(
        ok("[windows]\nmax_future = \"1h 30m\"").windows.max_future,
        Duration::from_secs(5400)
    );
    fails_at(
        "[windows]\nmax_clock_jump = \"0s\"",
        "windows.max_clock_jump",
    );
    assert_eq!(
        ok("[windows]\nmax_clock_jump = \"10m\"")
            .windows
            .max_clock_jump,
        Duration::from_secs(600)
    );
}

#[test]
fn hopping_windows_and_lateness() {
    let config = ok("[windows]\nhopping = [\"1h/5m\"]\nallowed_lateness = \"30s\"");
    assert_eq!(
        config.windows.hopping,
        [(Duration::from_secs(3600), Duration::from_secs(300))]
    );
    assert_eq!(config.windows.allowed_lateness, Duration::from_secs(30));
    fails_at("[windows]\nhopping = [\"1h\"]", "windows.hopping[0]");
    fails_at("[windows]\nhopping = [\"1h/7m\"]", "windows.hopping[0]");
    fails_at("[windows]\nhopping = [\"5m/5m\"]", "windows.hopping[0]");
    fails_at(
        "[windows]\nallowed_lateness = \"2d\"",
        "windows.allowed_lateness",
    );
}

#[test]
fn api_rules() {
    assert_eq!(
        ok("[api]\nbind = \"[::1]:9000\"").api.bind,
        "[::1]:9000".parse::<SocketAddr>().expect("literal")
    );
    fails_at("[api]\nbind = \"localhost:8080\"", "api.bind");
    fails_at("[api]\nbind = \"127.0.0.1\"", "api.bind");
    fails_at("[api]\nlive_retention = \"0s\"", "api.live_retention");
    // the largest default window is 1h
    fails_at("[api]\nlive_retention = \"59m\"", "api.live_retention");
    assert_eq!(
        ok("[api]\nlive_retention = \"1h\"").api.live_retention,
        Duration::from_secs(3600)
    );
}

/// The HTTP edge: a zero timeout would close every connection at once and a zero limit
/// would refuse every client, so both are refused at start-up, naming the file and key.
#[test]
fn api_edge_rules() {
    let api = ok("[api]\nheader_read_timeout = \"1s\"\nmax_connections = 1").api;
    assert_eq!(api.header_read_timeout, Duration::from_secs(1));
    assert_eq!(api.max_connections, 1);
    let api = ok("[api]\nheader_read_timeout = \"5m\"\nmax_connections = 65536").api;
    assert_eq!(api.header_read_timeout, Duration::from_secs(300));
    assert_eq!(api.max_connections, 65_536);
    fails_at(
        "[api]\nheader_read_timeout = \"0s\"",
        "api.header_read_timeout",
    );
    fails_at(
        "[api]\nheader_read_timeout = \"301s\"",
        "api.header_read_timeout",
    );
    fails_at(
        "[api]\nheader_read_timeout = \"soon\"",
        "api.header_read_timeout",
    );
    fails_at("[api]\nmax_connections = 0", "api.max_connections");
    fails_at("[api]\nmax_connections = -1", "api.max_connections");
    fails_at("[api]\nmax_connections = 65537", "api.max_connections");
    let errors = load("[api]\nheader_read_timeout = \"0s\"\nmax_connections = 0")
        .expect_err("zero timeout and limit");
    let text = errors.to_string();
    for key in ["api.header_read_timeout", "api.max_connections"] {
        let line = text
            .lines()
            .find(|line| line.contains(key))
            .unwrap_or_else(|| panic!("no error names {key}: {text}"));
        assert!(line.contains("conf/stadtpuls.toml"), "{line}");
    }
}

#[test]
fn history_rules() {
    assert_eq!(
        ok("[history]\ndir = \"/data/history\"").history.dir,
        PathBuf::from("/data/history")
    );
    fails_at("[history]\ndir = \"\"", "history.dir");
}

fn city(id: &str, name: &str, timezone: &str, lat: &str, lon: &str, registry: &str) -> String {
    format!(
        "\n[[cities]]\nid = \"{id}\"\nname = \"{name}\"\ntimezone = \"{timezone}\"\nlat = {lat}\nlon = {lon}\nregistry = \"{registry}\"\n"
    )
}

fn city_keys(text: &str) -> Vec<String> {
    let errors = Config::from_toml(text, origin(), &HashMap::new()).expect_err("should fail");
    errors.into_iter().map(|error| error.key).collect()
}

#[test]
fn city_rules() {
    let good = city("ulm", "Ulm", "Europe/Berlin", "48.4", "9.99", "ulm.csv");
    assert_eq!(city_keys("version = 1"), ["cities"]);
    assert_eq!(city_keys("cities = []"), ["cities"]);
    assert_eq!(city_keys("cities = 3"), ["cities"]);
    assert_eq!(city_keys(&(good.clone() + &good)), ["cities[1].id"]);
    assert_eq!(
        city_keys(&city(
            "Ulm",
            "Ulm",
            "Europe/Berlin",
            "48.4",
            "9.99",
            "u.csv"
        )),
        ["cities[0].id"]
    );
    assert_eq!(
        city_keys(&city(
            "ulm_a",
            "Ulm",
            "Europe/Berlin",
            "48.4",
            "9.99",
            "u.csv"
        )),
        ["cities[0].id"]
    );
    assert_eq!(
        city_keys(&city("", "Ulm", "Europe/Berlin", "48.4", "9.99", "u.csv")),
        ["cities[0].id"]
    );
    assert_eq!(
        city_keys(&city(
            &"u".repeat(65),
            "Ulm",
            "Europe/Berlin",
            "48.4",
            "9.99",
            "u.csv"
        )),
        ["cities[0].id"]
    );
    assert_eq!(
        city_keys(&city("ulm", "", "Europe/Berlin", "48.4", "9.99", "u.csv")),
        ["cities[0].name"]
    );
    assert_eq!(
        city_keys(&city("ulm", "Ulm", "Mitteleuropa", "48.4", "9.99", "u.csv")),
        ["cities[0].timezone"]
    );
    assert_eq!(
        city_keys(&city("ulm", "Ulm", "Europe/Berlin", "91", "9.99", "u.csv")),
        ["cities[0].lat"]
    );
    assert_eq!(
        city_keys(&city(
            "ulm",
            "Ulm",
            "Europe/Berlin",
            "48.4",
            "-181",
            "u.csv"
        )),
        ["cities[0].lon"]
    );
    assert_eq!(
        city_keys(&city("ulm", "Ulm", "Europe/Berlin", "nan", "9.99", "u.csv")),
        ["cities[0].lat"]
    );
    assert_eq!(
        city_keys(&city(
            "ulm",
            "Ulm",
            "Europe/Berlin",
            "48.4",
            "9.99",
            "u.xlsx"
        )),
        ["cities[0].registry"]
    );
    assert_eq!(
        city_keys(&city("ulm", "Ulm", "Europe/Berlin", "48.4", "9.99", "")),
        ["cities[0].registry"]
    );
    assert_eq!(
        city_keys(&city(
            "ulm",
            "Ulm",
            "Europe/Berlin",
            "\"north\"",
            "9.99",
            "u.csv"
        )),
        ["cities[0].lat"]
    );
    let missing =
        "[[cities]]\nid = \"ulm\"\nname = \"Ulm\"\nlat = 48.4\nlon = 9.99\nregistry = \"u.csv\"\n";
    assert_eq!(city_keys(missing), ["cities[0].timezone"]);
}

#[test]
fn all_problems_are_reported_at_once() {
    let text = format!(
        "version = 3\n[kafka]\nbrokers = \"\"\n[windows]\nsizes = [\"7m\"]\n[api]\nbind = \"nowhere\"\n[parking]\nstal_after = \"1m\"\n{}{}",
        city("ulm", "Ulm", "Mars/Olympus", "48.4", "9.99", "u.csv"),
        city("ulm", "Ulm", "Europe/Berlin", "48.4", "9.99", "u.csv"),
    );
    let mut found = city_keys(&text);
    found.sort();
    let mut expected = [
        "version",
        "kafka.brokers",
        "windows.sizes[0]",
        "api.bind",
        "parking.stal_after",
        "cities[0].timezone",
        "cities[1].id",
    ];
    expected.sort();
    assert_eq!(found, expected);
}

#[test]
fn error_messages_are_lowercase_without_period() {
    let errors = load("version = 3\n[kafka]\nbrokers = \"\"\nmax_message_bytes = \"x\"")
        .expect_err("invalid");
    for error in &errors {
        assert!(!error.message.ends_with('.'), "{error}");
        assert!(!error.message.starts_with(char::is_uppercase), "{error}");
    }
    let text = errors.to_string();
    assert!(text.starts_with("conf/stadtpuls.toml: `"), "{text}");
    assert_eq!(text.lines().count(), errors.len());
}

#[test]
fn missing_file_names_the_file() {
    let path = Path::new("/definitely/not/here/stadtpuls.toml");
    let errors = Config::load(path, &HashMap::new()).expect_err("no such file");
    assert_eq!(errors.len(), 1);
    assert_eq!(errors.0[0].file, path);
    assert_eq!(errors.0[0].key, FILE_KEY);
}

#[test]
fn checkpoint_rules() {
    let defaults = ok("");
    assert_eq!(defaults.checkpoint.dir, PathBuf::from("state"));
    assert_eq!(defaults.checkpoint.interval, Duration::from_secs(10));
    assert_eq!(defaults.checkpoint.max_staged_rows, 100_000);
    let set = ok("[checkpoint]\ndir = \"/data/state\"\ninterval = \"2s\"\nmax_staged_rows = 500");
    assert_eq!(
        (
            set.checkpoint.dir,
            set.checkpoint.interval,
            set.checkpoint.max_staged_rows
        ),
        (PathBuf::from("/data/state"), Duration::from_secs(2), 500)
    );
    fails_at("[checkpoint]\ndir = \" \"", "checkpoint.dir");
    fails_at("[checkpoint]\ninterval = \"0s\"", "checkpoint.interval");
    fails_at("[checkpoint]\ninterval = \"soon\"", "checkpoint.interval");
    fails_at(
        "[checkpoint]\nmax_staged_rows = 0",
        "checkpoint.max_staged_rows",
    );
    fails_at("[checkpoint]\nevery = \"1s\"", "checkpoint.every");
}
