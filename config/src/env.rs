//! `STADTPULS_<SECTION>__<KEY>` environment overrides, the top layer over the file.
//!
//! Only variables with a `__` after the section are overrides; others such as
//! `STADTPULS_LOG_FORMAT` belong to the CLI and are left alone. A variable that looks
//! like an override of a known section but names no known key is an error, so that a
//! typo cannot silently leave the file value in force.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use crate::error::{ENVIRONMENT, Errors};
use crate::raw::{RawConfig, SettingValue};

/// Prefix of every Stadtpuls variable.
pub const ENV_PREFIX: &str = "STADTPULS_";

/// The first eight take overrides; the others only exist to explain why they do not.
const SECTIONS: [&str; 11] = [
    "KAFKA",
    "WINDOWS",
    "API",
    "HISTORY",
    "OUTPUT",
    "CHECKPOINT",
    "PARKING",
    "SQL",
    "CITIES",
    "TRAFFIC",
    "API_KEYS",
];
const KAFKA_KEYS: [&str; 10] = [
    "BROKERS",
    "GROUP_ID",
    "INSTANCE_ID",
    "TOPIC_PATTERN",
    "DEADLETTER_TOPIC",
    "MAX_MESSAGE_BYTES",
    "DEADLETTER_MAX_BYTES",
    "BATCH_MAX_MESSAGES",
    "BATCH_MAX_WAIT",
    "LIBRDKAFKA__<SETTING>",
];
const WINDOWS_KEYS: [&str; 7] = [
    "SIZES",
    "HOPPING",
    "OUT_OF_ORDERNESS",
    "ALLOWED_LATENESS",
    "IDLE_TIMEOUT",
    "MAX_FUTURE",
    "MAX_CLOCK_JUMP",
];
const API_KEYS: [&str; 7] = [
    "BIND",
    "LIVE_RETENTION",
    "HEADER_READ_TIMEOUT",
    "MAX_CONNECTIONS",
    "STREAM_RING",
    "STREAM_CLIENT_QUEUE",
    "STREAM_HEARTBEAT",
];
const HISTORY_KEYS: [&str; 7] = [
    "ENABLED",
    "DIR",
    "TABLES",
    "RETENTION",
    "MAX_FILE_ROWS",
    "COMPACT_AFTER",
    "ARCHIVE_RAW",
];
const OUTPUT_KEYS: [&str; 4] = [
    "ENABLED",
    "TRAFFIC_TOPIC",
    "TRAFFIC_LANES_TOPIC",
    "PARKING_TOPIC",
];
const CHECKPOINT_KEYS: [&str; 3] = ["DIR", "INTERVAL", "MAX_STAGED_ROWS"];
const SQL_KEYS: [&str; 6] = [
    "ENABLED",
    "FLIGHT_BIND",
    "MEMORY_LIMIT_MIB",
    "TIMEOUT",
    "MAX_ROWS",
    "MAX_CONCURRENT",
];
const PARKING_KEYS: [&str; 8] = [
    "FEED_INTERVAL",
    "STALE_AFTER",
    "TREND_WINDOW",
    "TREND_THRESHOLD_PCT_PER_H",
    "ALMOST_FULL_INCREASING_PCT",
    "ALMOST_FULL_DECREASING_PCT",
    "FULL_INCREASING_PCT",
    "FULL_DECREASING_PCT",
];

/// Returns the process environment restricted to `STADTPULS_` variables.
///
/// Values that are not valid Unicode are kept lossily so that validation reports
/// them instead of them vanishing.
pub fn env_from_process() -> HashMap<String, String> {
    std::env::vars_os()
        .filter_map(|(name, value)| {
            let name = name.into_string().ok()?;
            name.starts_with(ENV_PREFIX)
                .then(|| (name, value.to_string_lossy().into_owned()))
        })
        .collect()
}

/// Which config paths (e.g. `kafka.brokers`) were set by which variable.
#[derive(Debug, Default)]
pub(crate) struct Overrides(BTreeMap<String, String>);

impl Overrides {
    /// Returns the variable that set `path`; `windows.sizes[2]` maps to the variable
    /// that set `windows.sizes`.
    pub(crate) fn variable(&self, path: &str) -> Option<&str> {
        let field = path.split('[').next().unwrap_or(path);
        self.0.get(field).map(String::as_str)
    }

    fn record(&mut self, path: impl Into<String>, variable: &str) {
        self.0.insert(path.into(), variable.to_owned());
    }
}

/// Applies every override in `env` to `raw`; malformed variables go to `errors`.
pub(crate) fn apply(
    raw: &mut RawConfig,
    env: &HashMap<String, String>,
    errors: &mut Errors,
) -> Overrides {
    let mut overrides = Overrides::default();
    // Sorted so that errors come out in the same order on every run.
    let mut names: Vec<&String> = env
        .keys()
        .filter(|name| name.starts_with(ENV_PREFIX))
        .collect();
    names.sort();
    for name in names {
        let value = &env[name];
        if let Err(message) = apply_one(raw, name, value, &mut overrides) {
            errors.push(Path::new(ENVIRONMENT), name.as_str(), message);
        }
    }
    overrides
}

fn apply_one(
    raw: &mut RawConfig,
    name: &str,
    value: &str,
    overrides: &mut Overrides,
) -> Result<(), String> {
    let rest = name[ENV_PREFIX.len()..].to_ascii_uppercase();
    let Some((section, key)) = rest.split_once("__") else {
        return check_not_a_typo(&rest);
    };
    let path = |field: &str| format!("{}.{field}", section.to_ascii_lowercase());
    match (section, key) {
        ("KAFKA", "BROKERS") => raw.kafka.brokers = value.to_owned(),
        ("KAFKA", "GROUP_ID") => raw.kafka.group_id = value.to_owned(),
        ("KAFKA", "INSTANCE_ID") => raw.kafka.instance_id = Some(value.to_owned()),
        ("KAFKA", "TOPIC_PATTERN") => raw.kafka.topic_pattern = value.to_owned(),
        ("KAFKA", "DEADLETTER_TOPIC") => raw.kafka.deadletter_topic = value.to_owned(),
        ("KAFKA", "MAX_MESSAGE_BYTES") => raw.kafka.max_message_bytes = parse_integer(value)?,
        ("KAFKA", "DEADLETTER_MAX_BYTES") => {
            raw.kafka.deadletter_max_bytes = parse_integer(value)?;
        }
        ("KAFKA", "BATCH_MAX_MESSAGES") => raw.kafka.batch_max_messages = parse_integer(value)?,
        ("KAFKA", "BATCH_MAX_WAIT") => raw.kafka.batch_max_wait = value.to_owned(),
        ("KAFKA", _) if key.starts_with("LIBRDKAFKA__") => {
            let setting = librdkafka_key(&key["LIBRDKAFKA__".len()..])?;
            overrides.record(format!("kafka.librdkafka.\"{setting}\""), name);
            raw.kafka
                .librdkafka
                .insert(setting, SettingValue(value.to_owned()));
            return Ok(());
        }
        ("WINDOWS", "SIZES") => raw.windows.sizes = split_list(value),
        ("WINDOWS", "OUT_OF_ORDERNESS") => raw.windows.out_of_orderness = value.to_owned(),
        ("WINDOWS", "IDLE_TIMEOUT") => raw.windows.idle_timeout = value.to_owned(),
        ("WINDOWS", "MAX_FUTURE") => raw.windows.max_future = value.to_owned(),
        ("WINDOWS", "MAX_CLOCK_JUMP") => raw.windows.max_clock_jump = Some(value.to_owned()),
        ("WINDOWS", "HOPPING") => raw.windows.hopping = split_list(value),
        ("WINDOWS", "ALLOWED_LATENESS") => raw.windows.allowed_lateness = value.to_owned(),
        ("API", "BIND") => raw.api.bind = value.to_owned(),
        ("API", "LIVE_RETENTION") => raw.api.live_retention = value.to_owned(),
        ("API", "HEADER_READ_TIMEOUT") => raw.api.header_read_timeout = value.to_owned(),
        ("API", "MAX_CONNECTIONS") => raw.api.max_connections = parse_integer(value)?,
        ("API", "STREAM_RING") => raw.api.stream_ring = parse_integer(value)?,
        ("API", "STREAM_CLIENT_QUEUE") => raw.api.stream_client_queue = parse_integer(value)?,
        ("API", "STREAM_HEARTBEAT") => raw.api.stream_heartbeat = value.to_owned(),
        ("API", "MAP_TILE_URL") => raw.api.map_tile_url = Some(value.to_owned()),
        ("API", "MAP_TILE_ATTRIBUTION") => raw.api.map_tile_attribution = Some(value.to_owned()),
        ("HISTORY", "ENABLED") => raw.history.enabled = parse_bool(value)?,
        ("HISTORY", "DIR") => raw.history.dir = value.to_owned(),
        ("OUTPUT", "ENABLED") => raw.output.enabled = parse_bool(value)?,
        ("OUTPUT", "TRAFFIC_TOPIC") => raw.output.traffic_topic = value.to_owned(),
        ("OUTPUT", "TRAFFIC_LANES_TOPIC") => raw.output.traffic_lanes_topic = value.to_owned(),
        ("OUTPUT", "PARKING_TOPIC") => raw.output.parking_topic = value.to_owned(),
        ("OUTPUT", "DATEX2_TOPIC") => raw.output.datex2_topic = Some(value.to_owned()),
        ("OUTPUT", "NGSI_LD_TOPIC") => raw.output.ngsi_ld_topic = Some(value.to_owned()),
        ("OUTPUT", "PUBLISH_EVERY") => raw.output.publish_every = value.to_owned(),
        ("HISTORY", "TABLES") => raw.history.tables = Some(split_list(value)),
        ("HISTORY", "RETENTION") => raw.history.retention = value.to_owned(),
        ("HISTORY", "MAX_FILE_ROWS") => raw.history.max_file_rows = parse_integer(value)?,
        ("HISTORY", "COMPACT_AFTER") => raw.history.compact_after = parse_integer(value)?,
        ("HISTORY", "ARCHIVE_RAW") => raw.history.archive_raw = parse_bool(value)?,
        ("CHECKPOINT", "DIR") => raw.checkpoint.dir = value.to_owned(),
        ("CHECKPOINT", "INTERVAL") => raw.checkpoint.interval = value.to_owned(),
        ("CHECKPOINT", "MAX_STAGED_ROWS") => {
            raw.checkpoint.max_staged_rows = parse_integer(value)?;
        }
        ("PARKING", "FEED_INTERVAL") => raw.parking.feed_interval = value.to_owned(),
        ("PARKING", "STALE_AFTER") => raw.parking.stale_after = Some(value.to_owned()),
        ("PARKING", "TREND_WINDOW") => raw.parking.trend_window = value.to_owned(),
        ("PARKING", "TREND_THRESHOLD_PCT_PER_H") => {
            raw.parking.trend_threshold_pct_per_h = parse_number(value)?;
        }
        ("PARKING", "ALMOST_FULL_INCREASING_PCT") => {
            raw.parking.almost_full_increasing_pct = parse_number(value)?;
        }
        ("PARKING", "ALMOST_FULL_DECREASING_PCT") => {
            raw.parking.almost_full_decreasing_pct = parse_number(value)?;
        }
        ("PARKING", "FULL_INCREASING_PCT") => {
            raw.parking.full_increasing_pct = parse_number(value)?
        }
        ("PARKING", "FULL_DECREASING_PCT") => {
            raw.parking.full_decreasing_pct = parse_number(value)?
        }
        ("SQL", "ENABLED") => raw.sql.enabled = parse_bool(value)?,
        ("SQL", "FLIGHT_BIND") => {
            raw.sql.flight_bind = (!value.trim().is_empty()).then(|| value.to_owned());
        }
        ("SQL", "MEMORY_LIMIT_MIB") => raw.sql.memory_limit_mib = parse_integer(value)?,
        ("SQL", "TIMEOUT") => raw.sql.timeout = value.to_owned(),
        ("SQL", "MAX_ROWS") => raw.sql.max_rows = parse_integer(value)?,
        ("SQL", "MAX_CONCURRENT") => raw.sql.max_concurrent = parse_integer(value)?,
        // Keys are secrets' hashes tied to principals: a list of tables, not a value.
        ("API_KEYS", _) => {
            return Err(
                "api keys cannot be set from the environment, edit the config file".to_owned(),
            );
        }
        ("CITIES", _) => {
            return Err(
                "cities cannot be overridden from the environment, edit the config file".to_owned(),
            );
        }
        // Site classes are tables of per-lane lists keyed by free-form names, which a
        // flat variable name cannot address without guessing.
        ("TRAFFIC", _) => {
            return Err(
                "traffic site classes cannot be overridden from the environment, edit the config file"
                    .to_owned(),
            );
        }
        _ => return Err(unknown_message(section, key)),
    }
    overrides.record(path(&key.to_ascii_lowercase()), name);
    Ok(())
}

/// `STADTPULS_KAFKA_BROKERS` (one underscore) is almost certainly a typo of an
/// override, while `STADTPULS_LOG_FORMAT` is some other Stadtpuls variable.
fn check_not_a_typo(rest: &str) -> Result<(), String> {
    for section in SECTIONS {
        if let Some(key) = rest
            .strip_prefix(section)
            .and_then(|tail| tail.strip_prefix('_'))
        {
            return Err(format!(
                "looks like a config override but lacks the double underscore, did you mean `{ENV_PREFIX}{section}__{key}`"
            ));
        }
    }
    Ok(())
}

fn unknown_message(section: &str, key: &str) -> String {
    let known: &[&str] = match section {
        "KAFKA" => &KAFKA_KEYS,
        "WINDOWS" => &WINDOWS_KEYS,
        "API" => &API_KEYS,
        "HISTORY" => &HISTORY_KEYS,
        "OUTPUT" => &OUTPUT_KEYS,
        "CHECKPOINT" => &CHECKPOINT_KEYS,
        "PARKING" => &PARKING_KEYS,
        "SQL" => &SQL_KEYS,
        _ => {
            let sections = SECTIONS[..8].join(", ");
            return format!("unknown config section `{section}`, expected one of {sections}");
        }
    };
    format!(
        "unknown key `{key}` in section `{section}`, expected one of {}",
        known.join(", ")
    )
}

/// `SASL_USERNAME` → `sasl.username`: librdkafka keys are dotted and lowercase, and
/// dots cannot appear in variable names.
fn librdkafka_key(tail: &str) -> Result<String, String> {
    if tail.is_empty() || tail.split('_').any(str::is_empty) {
        return Err(format!(
            "invalid librdkafka setting name `{tail}`, expected e.g. `SASL_USERNAME`"
        ));
    }
    Ok(tail.to_ascii_lowercase().replace('_', "."))
}

fn parse_integer(value: &str) -> Result<i64, String> {
    let digits: String = value.trim().chars().filter(|c| *c != '_').collect();
    digits
        .parse()
        .map_err(|_| format!("invalid integer `{value}`"))
}

/// `true`/`false` as TOML writes them, plus `1`/`0`, as shells and compose files often do.
fn parse_bool(value: &str) -> Result<bool, String> {
    match value.trim().to_ascii_lowercase().as_str() {
        "true" | "1" => Ok(true),
        "false" | "0" => Ok(false),
        _ => Err(format!(
            "invalid boolean `{value}`, expected `true` or `false`"
        )),
    }
}

/// Parses a decimal number such as `92.5`; range checks are left to validation, so a
/// non-finite value is refused here only because TOML could not express it either.
fn parse_number(value: &str) -> Result<f64, String> {
    value
        .trim()
        .parse::<f64>()
        .ok()
        .filter(|number| number.is_finite())
        .ok_or_else(|| format!("invalid number `{value}`"))
}

/// `1m, 5m,15m` → `["1m", "5m", "15m"]`; a blank value is an empty list.
fn split_list(value: &str) -> Vec<String> {
    if value.trim().is_empty() {
        return Vec::new();
    }
    value
        .split(',')
        .map(|item| item.trim().to_owned())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn applied(vars: &[(&str, &str)]) -> (RawConfig, Overrides, Vec<crate::error::ConfigError>) {
        let env: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        let mut raw = RawConfig::default();
        let mut errors = Errors::default();
        let overrides = apply(&mut raw, &env, &mut errors);
        (raw, overrides, errors.into_vec())
    }

    #[test]
    fn overrides_known_keys() {
        let (raw, overrides, errors) = applied(&[
            ("STADTPULS_KAFKA__BROKERS", "k1:9092,k2:9092"),
            ("STADTPULS_KAFKA__MAX_MESSAGE_BYTES", "2_000_000"),
            ("STADTPULS_WINDOWS__SIZES", "1m, 5m,15m"),
            ("STADTPULS_HISTORY__DIR", "/var/lib/stadtpuls"),
        ]);
        assert!(errors.is_empty(), "{errors:?}");
        assert_eq!(raw.kafka.brokers, "k1:9092,k2:9092");
        assert_eq!(raw.kafka.max_message_bytes, 2_000_000);
        assert_eq!(raw.windows.sizes, ["1m", "5m", "15m"]);
        assert_eq!(raw.history.dir, "/var/lib/stadtpuls");
        assert_eq!(
            overrides.variable("windows.sizes[2]"),
            Some("STADTPULS_WINDOWS__SIZES")
        );
        assert_eq!(overrides.variable("kafka.group_id"), None);
    }

    #[test]
    fn librdkafka_names_become_dotted_lowercase() {
        let (raw, overrides, errors) =
            applied(&[("STADTPULS_KAFKA__LIBRDKAFKA__SASL_USERNAME", "x")]);
        assert!(errors.is_empty(), "{errors:?}");
        assert_eq!(
            raw.kafka.librdkafka.get("sasl.username"),
            Some(&SettingValue("x".to_owned()))
        );
        assert_eq!(
            overrides.variable("kafka.librdkafka.\"sasl.username\""),
            Some("STADTPULS_KAFKA__LIBRDKAFKA__SASL_USERNAME")
        );
    }

    #[test]
    fn unknown_variables_are_errors_naming_the_variable() {
        let (_, _, errors) = applied(&[
            ("STADTPULS_KAFKA__BROKER", "x"),
            ("STADTPULS_KAFKAA__BROKERS", "x"),
            ("STADTPULS_API_BIND", "x"),
            ("STADTPULS_CITIES__ULM", "x"),
            ("STADTPULS_KAFKA__LIBRDKAFKA__", "x"),
        ]);
        let keys: Vec<&str> = errors.iter().map(|e| e.key.as_str()).collect();
        assert_eq!(
            keys,
            [
                "STADTPULS_API_BIND",
                "STADTPULS_CITIES__ULM",
                "STADTPULS_KAFKAA__BROKERS",
                "STADTPULS_KAFKA__BROKER",
                "STADTPULS_KAFKA__LIBRDKAFKA__",
            ]
        );
        assert!(errors.iter().all(|e| e.file == Path::new(ENVIRONMENT)));
        assert!(
            errors[0].message.contains("STADTPULS_API__BIND"),
            "{}",
            errors[0].message
        );
    }

    #[test]
    fn other_stadtpuls_variables_are_ignored() {
        let (_, _, errors) = applied(&[
            ("STADTPULS_LOG_FORMAT", "json"),
            ("STADTPULS_CONFIG", "x.toml"),
            ("PATH", "/bin"),
        ]);
        assert!(errors.is_empty(), "{errors:?}");
    }

    #[test]
    fn bad_integer_is_reported() {
        let (_, _, errors) = applied(&[("STADTPULS_KAFKA__BATCH_MAX_MESSAGES", "many")]);
        assert_eq!(errors[0].key, "STADTPULS_KAFKA__BATCH_MAX_MESSAGES");
        assert_eq!(errors[0].message, "invalid integer `many`");
    }

    #[test]
    fn parking_numbers_and_optional_stale_after() {
        let (raw, overrides, errors) = applied(&[
            ("STADTPULS_PARKING__FULL_INCREASING_PCT", " 97.5"),
            ("STADTPULS_PARKING__TREND_THRESHOLD_PCT_PER_H", "8"),
            ("STADTPULS_PARKING__STALE_AFTER", "20m"),
        ]);
        assert!(errors.is_empty(), "{errors:?}");
        assert_eq!(raw.parking.full_increasing_pct, 97.5);
        assert_eq!(raw.parking.trend_threshold_pct_per_h, 8.0);
        assert_eq!(raw.parking.stale_after.as_deref(), Some("20m"));
        assert_eq!(
            overrides.variable("parking.full_increasing_pct"),
            Some("STADTPULS_PARKING__FULL_INCREASING_PCT")
        );
        let (_, _, errors) = applied(&[
            ("STADTPULS_PARKING__FULL_DECREASING_PCT", "lots"),
            ("STADTPULS_PARKING__ALMOST_FULL_INCREASING_PCT", "NaN"),
        ]);
        let messages: Vec<&str> = errors.iter().map(|e| e.message.as_str()).collect();
        assert_eq!(messages, ["invalid number `NaN`", "invalid number `lots`"]);
    }

    #[test]
    fn output_keys_and_booleans() {
        let (raw, overrides, errors) = applied(&[
            ("STADTPULS_OUTPUT__ENABLED", " FALSE "),
            ("STADTPULS_OUTPUT__PARKING_TOPIC", "partner.parking"),
        ]);
        assert!(errors.is_empty(), "{errors:?}");
        assert!(!raw.output.enabled);
        assert_eq!(raw.output.parking_topic, "partner.parking");
        assert_eq!(
            overrides.variable("output.parking_topic"),
            Some("STADTPULS_OUTPUT__PARKING_TOPIC")
        );
        let (_, _, errors) = applied(&[("STADTPULS_OUTPUT__ENABLED", "yes")]);
        assert_eq!(errors[0].key, "STADTPULS_OUTPUT__ENABLED");
        assert_eq!(
            errors[0].message,
            "invalid boolean `yes`, expected `true` or `false`"
        );
    }

    #[test]
    fn blank_list_is_empty() {
        assert!(split_list(" ").is_empty());
    }
}
