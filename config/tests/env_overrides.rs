//! The `STADTPULS_<SECTION>__<KEY>` layer: precedence, parsing and error naming.

mod common;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use common::{CITY, origin};
use stadtpuls_config::{Config, ConfigErrors, ENVIRONMENT};

/// A hermetic environment holding exactly `vars`.
pub fn env(vars: &[(&str, &str)]) -> HashMap<String, String> {
    vars.iter()
        .map(|(name, value)| ((*name).to_owned(), (*value).to_owned()))
        .collect()
}

#[test]
fn env_overrides_win_over_the_file() {
    let vars = env(&[
        ("STADTPULS_KAFKA__BROKERS", "kafka-1:9092"),
        ("STADTPULS_KAFKA__GROUP_ID", "stadtpuls-2"),
        ("STADTPULS_KAFKA__INSTANCE_ID", "stadtpuls-2-a"),
        ("STADTPULS_KAFKA__TOPIC_PATTERN", "^sensors\\.ulm\\..*$"),
        ("STADTPULS_KAFKA__DEADLETTER_TOPIC", "dlq"),
        ("STADTPULS_KAFKA__MAX_MESSAGE_BYTES", "2048"),
        ("STADTPULS_KAFKA__DEADLETTER_MAX_BYTES", "8192"),
        ("STADTPULS_KAFKA__BATCH_MAX_MESSAGES", "7"),
        ("STADTPULS_KAFKA__BATCH_MAX_WAIT", "1s"),
        ("STADTPULS_KAFKA__LIBRDKAFKA__SASL_USERNAME", "x"),
        ("STADTPULS_KAFKA__LIBRDKAFKA__SECURITY_PROTOCOL", "SASL_SSL"),
        ("STADTPULS_WINDOWS__SIZES", "1m,5m,15m"),
        ("STADTPULS_WINDOWS__OUT_OF_ORDERNESS", "10s"),
        ("STADTPULS_WINDOWS__IDLE_TIMEOUT", "2m"),
        ("STADTPULS_WINDOWS__MAX_FUTURE", "1m"),
        ("STADTPULS_WINDOWS__MAX_CLOCK_JUMP", "7m"),
        ("STADTPULS_API__BIND", "0.0.0.0:9000"),
        ("STADTPULS_API__LIVE_RETENTION", "1h"),
        ("STADTPULS_API__HEADER_READ_TIMEOUT", "3s"),
        ("STADTPULS_API__MAX_CONNECTIONS", "64"),
        ("STADTPULS_HISTORY__DIR", "/var/lib/stadtpuls"),
        ("STADTPULS_CHECKPOINT__DIR", "/var/lib/stadtpuls/state"),
        ("STADTPULS_CHECKPOINT__INTERVAL", "3s"),
        ("STADTPULS_CHECKPOINT__MAX_STAGED_ROWS", "1000"),
        ("STADTPULS_PARKING__STALE_AFTER", "5m"),
        ("STADTPULS_PARKING__FEED_INTERVAL", "1m"),
        ("STADTPULS_PARKING__TREND_WINDOW", "30m"),
        ("STADTPULS_PARKING__TREND_THRESHOLD_PCT_PER_H", "7.5"),
        ("STADTPULS_PARKING__ALMOST_FULL_INCREASING_PCT", "80"),
        ("STADTPULS_PARKING__ALMOST_FULL_DECREASING_PCT", "75"),
        ("STADTPULS_PARKING__FULL_INCREASING_PCT", "95"),
        ("STADTPULS_PARKING__FULL_DECREASING_PCT", "90"),
        ("STADTPULS_LOG_FORMAT", "json"),
        ("HOME", "/root"),
    ]);
    let file = format!(
        "[kafka]\nbrokers = \"file:9092\"\n[kafka.librdkafka]\n\"sasl.username\" = \"file\"\n{CITY}"
    );
    let config =
        Config::from_toml(&file, origin(), &vars).unwrap_or_else(|errors| panic!("{errors}"));
    assert_eq!(config.kafka.brokers, "kafka-1:9092");
    assert_eq!(config.kafka.group_id, "stadtpuls-2");
    assert_eq!(
        config.kafka.instance_id,
        stadtpuls_config::InstanceId::Fixed("stadtpuls-2-a".to_owned())
    );
    assert_eq!(config.kafka.topic_pattern, "^sensors\\.ulm\\..*$");
    assert_eq!(config.kafka.deadletter_topic, "dlq");
    assert_eq!(config.kafka.max_message_bytes, 2048);
    assert_eq!(config.kafka.deadletter_max_bytes, 8192);
    assert_eq!(config.kafka.batch_max_messages, 7);
    assert_eq!(config.kafka.batch_max_wait, Duration::from_secs(1));
    assert_eq!(
        config
            .kafka
            .librdkafka
            .get("sasl.username")
            .map(String::as_str),
        Some("x")
    );
    assert_eq!(
        config
            .kafka
            .librdkafka
            .get("security.protocol")
            .map(String::as_str),
        Some("SASL_SSL")
    );
    assert_eq!(
        config.windows.sizes,
        [60, 300, 900].map(Duration::from_secs)
    );
    assert_eq!(config.windows.out_of_orderness, Duration::from_secs(10));
    assert_eq!(config.windows.idle_timeout, Duration::from_secs(120));
    assert_eq!(config.windows.max_future, Duration::from_secs(60));
    assert_eq!(config.windows.max_clock_jump, Duration::from_secs(420));
    assert_eq!(
        config.api.bind,
        "0.0.0.0:9000".parse::<SocketAddr>().expect("literal")
    );
    assert_eq!(config.api.live_retention, Duration::from_secs(3600));
    assert_eq!(config.api.header_read_timeout, Duration::from_secs(3));
    assert_eq!(config.api.max_connections, 64);
    assert_eq!(config.history.dir, PathBuf::from("/var/lib/stadtpuls"));
    assert_eq!(
        config.checkpoint.dir,
        PathBuf::from("/var/lib/stadtpuls/state")
    );
    assert_eq!(config.checkpoint.interval, Duration::from_secs(3));
    assert_eq!(config.checkpoint.max_staged_rows, 1000);
    assert_eq!(config.parking.stale_after, Duration::from_secs(300));
    assert_eq!(config.parking.feed_interval, Duration::from_secs(60));
    assert_eq!(config.parking.trend_window, Duration::from_secs(1800));
    assert_eq!(config.parking.trend_threshold_pct_per_h, 7.5);
    let t = config.parking.thresholds;
    assert_eq!(
        (
            t.almost_full_increasing_pct,
            t.almost_full_decreasing_pct,
            t.full_increasing_pct,
            t.full_decreasing_pct
        ),
        (80.0, 75.0, 95.0, 90.0)
    );
}

fn env_errors(vars: &[(&str, &str)]) -> ConfigErrors {
    Config::from_toml(CITY, origin(), &env(vars)).expect_err("should fail")
}

#[test]
fn env_errors_name_the_variable() {
    let errors = env_errors(&[
        ("STADTPULS_WINDOWS__SIZES", "1m,7m"),
        ("STADTPULS_API__BIND", "nowhere"),
        ("STADTPULS_KAFKA__MAX_MESSAGE_BYTES", "lots"),
        ("STADTPULS_KAFKA__BATCH_MAX_MESSAGES", "0"),
        ("STADTPULS_PARKING__STALE_AFTER", "0s"),
        ("STADTPULS_PARKING__FULL_DECREASING_PCT", "99"),
    ]);
    let mut found: Vec<&str> = errors.iter().map(|error| error.key.as_str()).collect();
    found.sort_unstable();
    assert_eq!(
        found,
        [
            "STADTPULS_API__BIND",
            "STADTPULS_KAFKA__BATCH_MAX_MESSAGES",
            "STADTPULS_KAFKA__MAX_MESSAGE_BYTES",
            "STADTPULS_PARKING__FULL_DECREASING_PCT",
            "STADTPULS_PARKING__STALE_AFTER",
            "STADTPULS_WINDOWS__SIZES",
        ]
    );
    assert!(
        errors
            .iter()
            .all(|error| error.file == Path::new(ENVIRONMENT)),
        "{errors}"
    );
}

#[test]
fn unknown_env_variables_are_errors() {
    for name in [
        "STADTPULS_KAFKA__BROKER",
        "STADTPULS_KAFK__BROKERS",
        "STADTPULS_WINDOWS_SIZES",
        "STADTPULS_CITIES__ULM__NAME",
        "STADTPULS_HISTORY__DIRECTORY",
    ] {
        let errors = env_errors(&[(name, "x")]);
        assert_eq!(errors.len(), 1, "{errors}");
        assert_eq!(errors.0[0].key, name);
        assert_eq!(errors.0[0].file, Path::new(ENVIRONMENT));
    }
}

#[test]
fn empty_env_window_list_is_an_error() {
    let errors = env_errors(&[("STADTPULS_WINDOWS__SIZES", "")]);
    assert!(errors.has_key("STADTPULS_WINDOWS__SIZES"), "{errors}");
}

#[test]
fn env_problems_are_reported_even_when_the_file_is_broken() {
    let errors = Config::from_toml("[kafka\n", origin(), &env(&[("STADTPULS_API__BND", "x")]))
        .expect_err("broken");
    assert!(
        errors.iter().any(|error| error.file == origin()),
        "{errors}"
    );
    assert!(errors.has_key("STADTPULS_API__BND"), "{errors}");
}

#[test]
fn an_empty_instance_id_variable_turns_static_membership_off() {
    let file = format!("[kafka]\ninstance_id = \"from-file\"\n{CITY}");
    let config = Config::from_toml(
        &file,
        origin(),
        &env(&[("STADTPULS_KAFKA__INSTANCE_ID", "")]),
    )
    .unwrap_or_else(|errors| panic!("{errors}"));
    assert_eq!(
        config.kafka.instance_id,
        stadtpuls_config::InstanceId::Dynamic
    );
    let errors = env_errors(&[("STADTPULS_KAFKA__INSTANCE_ID", "pod 0")]);
    let keys: Vec<&str> = errors.iter().map(|error| error.key.as_str()).collect();
    assert_eq!(keys, ["STADTPULS_KAFKA__INSTANCE_ID"], "{errors}");
}
