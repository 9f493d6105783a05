//! `[history]`: tables of configured windows, retention, file rows, compaction; errors name
//! the key, and environment overrides name the variable.

mod common;

use std::collections::HashMap;
use std::path::Path;
use std::time::Duration;

use common::{fails_at, keys, load, ok, origin};
use stadtpuls_config::{Config, ENVIRONMENT, HistoryConfig, HistoryStream, HistoryTable};

fn names(config: &HistoryConfig) -> Vec<String> {
    config.tables.iter().map(HistoryTable::name).collect()
}

#[test]
fn defaults_are_the_1m_and_15m_tables_of_every_stream() {
    let history = ok("").history;
    assert!(history.enabled);
    assert_eq!(
        names(&history),
        [
            "traffic_1m",
            "traffic_15m",
            "traffic_lanes_1m",
            "traffic_lanes_15m",
            "parking_1m",
            "parking_15m"
        ]
    );
    assert_eq!(history.retention, Duration::from_secs(400 * 86_400));
    assert_eq!(history.max_file_rows, 1_000_000);
    assert_eq!(history.compact_after, 16);
}

#[test]
fn tables_name_configured_windows_hopping_included() {
    let history = ok(r#"
[windows]
sizes = ["1m", "1h"]
hopping = ["1h/15m"]
[history]
tables = ["traffic_1h", "parking_1m", "traffic_1h_15m", "traffic_lanes_1h_15m"]
retention = "30d"
max_file_rows = 5000
compact_after = 0
"#)
    .history;
    assert_eq!(
        names(&history),
        [
            "traffic_1h",
            "parking_1m",
            "traffic_1h_15m",
            "traffic_lanes_1h_15m"
        ]
    );
    assert_eq!(
        history.tables[3],
        HistoryTable {
            stream: HistoryStream::TrafficLanes,
            window_s: 3600,
            slide_s: 900
        }
    );
    assert_eq!(history.retention, Duration::from_secs(30 * 86_400));
    assert_eq!((history.max_file_rows, history.compact_after), (5000, 0));
}

#[test]
fn default_tables_skip_windows_that_are_not_configured() {
    let history = ok("[windows]\nsizes = [\"5m\", \"15m\"]").history;
    assert_eq!(
        names(&history),
        ["traffic_15m", "traffic_lanes_15m", "parking_15m"]
    );
}

#[test]
fn each_bad_value_is_reported_at_its_key() {
    fails_at("[history]\ntables = [\"traffic_5s\"]", "history.tables[0]");
    fails_at(
        "[history]\ntables = [\"traffic_1m\", \"traffic_1m\"]",
        "history.tables[1]",
    );
    fails_at("[history]\ntables = []", "history.tables");
    fails_at("[history]\nretention = \"12h\"", "history.retention");
    fails_at("[history]\nretention = \"soon\"", "history.retention");
    fails_at("[history]\nmax_file_rows = 0", "history.max_file_rows");
    fails_at("[history]\ncompact_after = 1", "history.compact_after");
    fails_at("[history]\ndir = \" \"", "history.dir");
    // Switched off, an empty table list is fine.
    let off = ok("[history]\nenabled = false\ntables = []").history;
    assert!(!off.enabled && off.tables.is_empty());
    let mut found =
        keys("[history]\ntables = [\"flow_1m\", \"parking_1h_15m\"]\nmax_file_rows = -3");
    found.sort();
    assert_eq!(
        found,
        [
            "history.max_file_rows",
            "history.tables[0]",
            "history.tables[1]"
        ]
    );
}

#[test]
fn errors_name_the_file_and_the_message_says_what_to_write() {
    let errors = load("[history]\ntables = [\"traffic_60s\"]").expect_err("non-canonical");
    let error = errors.iter().next().expect("one error");
    assert_eq!(error.file, origin());
    assert_eq!(error.key, "history.tables[0]");
    assert!(
        error.to_string().contains("spelled `traffic_1m`"),
        "{error}"
    );
}

#[test]
fn environment_overrides_every_key_and_errors_name_the_variable() {
    let env = |vars: &[(&str, &str)]| -> HashMap<String, String> {
        vars.iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    };
    let config = Config::from_toml(
        common::CITY,
        origin(),
        &env(&[
            ("STADTPULS_HISTORY__ENABLED", "false"),
            ("STADTPULS_HISTORY__TABLES", "traffic_15m, parking_15m"),
            ("STADTPULS_HISTORY__RETENTION", "90d"),
            ("STADTPULS_HISTORY__MAX_FILE_ROWS", "250_000"),
            ("STADTPULS_HISTORY__COMPACT_AFTER", "4"),
        ]),
    )
    .unwrap_or_else(|errors| panic!("{errors}"));
    let history = config.history;
    assert!(!history.enabled);
    assert_eq!(names(&history), ["traffic_15m", "parking_15m"]);
    assert_eq!(history.retention, Duration::from_secs(90 * 86_400));
    assert_eq!((history.max_file_rows, history.compact_after), (250_000, 4));

    let errors = Config::from_toml(
        common::CITY,
        origin(),
        &env(&[
            ("STADTPULS_HISTORY__ENABLED", "maybe"),
            ("STADTPULS_HISTORY__TABLES", "traffic_2m"),
        ]),
    )
    .expect_err("bad variables");
    let found: Vec<(String, String)> = errors
        .iter()
        .map(|e| (e.file.display().to_string(), e.key.clone()))
        .collect();
    let environment = Path::new(ENVIRONMENT).display().to_string();
    assert_eq!(
        found,
        [
            (environment.clone(), "STADTPULS_HISTORY__ENABLED".to_owned()),
            (environment, "STADTPULS_HISTORY__TABLES".to_owned()),
        ]
    );
}

#[test]
fn the_demo_keeps_loading_when_windows_are_overridden() {
    let env = HashMap::from([("STADTPULS_WINDOWS__SIZES".to_owned(), "5m,1m".to_owned())]);
    let config = Config::demo(&env).unwrap_or_else(|errors| panic!("{errors}"));
    assert_eq!(
        names(&config.history),
        ["traffic_1m", "traffic_lanes_1m", "parking_1m"]
    );
}
