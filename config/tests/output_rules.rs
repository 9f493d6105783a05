//! `[output]`: defaults, topic-name rules and environment overrides.

mod common;

use std::collections::HashMap;

use common::{CITY, fails_at, keys, load, ok, origin};
use stadtpuls_config::{Config, ENVIRONMENT, OutputConfig};

#[test]
fn defaults_are_enabled_with_the_metrics_topics() {
    let output = ok("").output;
    assert_eq!(output, OutputConfig::default());
    assert!(output.enabled);
    assert_eq!(output.traffic_topic, "metrics.traffic");
    assert_eq!(output.traffic_lanes_topic, "metrics.traffic_lanes");
    assert_eq!(output.parking_topic, "metrics.parking");
    assert_eq!(ok("[output]\n").output, OutputConfig::default());
}

#[test]
fn every_key_is_read() {
    let output = ok(
        "[output]\nenabled = false\ntraffic_topic = \"t\"\ntraffic_lanes_topic = \"l\"\nparking_topic = \"p\"\n\
         datex2_topic = \"d.{audience}\"\nngsi_ld_topic = \"n\"\npublish_every = \"10s\"",
    )
    .output;
    assert_eq!(
        output,
        OutputConfig {
            enabled: false,
            traffic_topic: "t".into(),
            traffic_lanes_topic: "l".into(),
            parking_topic: "p".into(),
            datex2_topic: Some("d.{audience}".into()),
            ngsi_ld_topic: Some("n".into()),
            publish_every: std::time::Duration::from_secs(10),
        }
    );
}

#[test]
fn topic_names_must_be_valid_kafka_names() {
    fails_at("[output]\ntraffic_topic = \"\"", "output.traffic_topic");
    fails_at(
        "[output]\ntraffic_lanes_topic = \"metrics/lanes\"",
        "output.traffic_lanes_topic",
    );
    fails_at(
        &format!("[output]\nparking_topic = \"{}\"", "p".repeat(250)),
        "output.parking_topic",
    );
    fails_at("[output]\nenabled = \"yes\"", "output.enabled");
    fails_at("[output]\ntopic = \"x\"", "output.topic");
}

#[test]
fn topics_must_differ_from_each_other_and_the_dead_letters() {
    fails_at(
        "[output]\ntraffic_lanes_topic = \"metrics.traffic\"",
        "output.traffic_lanes_topic",
    );
    fails_at(
        "[output]\nparking_topic = \"sensors.deadletter\"",
        "output.parking_topic",
    );
    let errors = load("[output]\ntraffic_topic = \"x\"\nparking_topic = \"x\"")
        .expect_err("same topic twice");
    let message = &errors.iter().next().expect("one error").message;
    assert!(
        message.contains("`x` is also output.traffic_topic"),
        "{message}"
    );
    assert_eq!(
        keys("[output]\ntraffic_topic = \"x\"\ntraffic_lanes_topic = \"x\"\nparking_topic = \"x\""),
        ["output.traffic_lanes_topic", "output.parking_topic"]
    );
}

#[test]
fn environment_overrides_name_the_variable() {
    let env = HashMap::from([
        ("STADTPULS_OUTPUT__ENABLED".to_owned(), "false".to_owned()),
        (
            "STADTPULS_OUTPUT__TRAFFIC_TOPIC".to_owned(),
            "bad topic".to_owned(),
        ),
    ]);
    let errors = Config::from_toml(CITY, origin(), &env).expect_err("bad topic name");
    let error = errors.iter().next().expect("one error");
    assert_eq!(error.file, std::path::Path::new(ENVIRONMENT));
    assert_eq!(error.key, "STADTPULS_OUTPUT__TRAFFIC_TOPIC");
    let env = HashMap::from([("STADTPULS_OUTPUT__ENABLED".to_owned(), "false".to_owned())]);
    let config = Config::from_toml(CITY, origin(), &env).unwrap_or_else(|e| panic!("{e}"));
    assert!(!config.output.enabled);
}

/// A second city, open data (`ulm` of `CITY` is private).
const OPEN_CITY: &str = r#"
[[cities]]
id = "neu-ulm"
name = "Neu-Ulm"
timezone = "Europe/Berlin"
lat = 48.39
lon = 10.01
registry = "registries/ulm.csv"
share = "open"
"#;

fn audience_templates() -> String {
    "[output]\ntraffic_topic = \"m.{audience}.traffic\"\ntraffic_lanes_topic = \
     \"m.{audience}.lanes\"\nparking_topic = \"m.{city}.parking\"\n"
        .to_owned()
}

#[test]
fn templates_split_the_topics_per_city_or_audience() {
    let config = ok(&format!("{}{OPEN_CITY}", audience_templates()));
    assert_eq!(
        config.output.window_topics(&config.cities),
        [
            "m.open.traffic",
            "m.ulm.traffic",
            "m.open.lanes",
            "m.ulm.lanes",
            "m.neu-ulm.parking",
            "m.ulm.parking",
        ]
    );
    let defaults = ok(OPEN_CITY);
    assert_eq!(
        defaults.output.window_topics(&defaults.cities),
        [
            "metrics.traffic",
            "metrics.traffic_lanes",
            "metrics.parking"
        ],
        "no placeholder: one topic for every city"
    );
}

#[test]
fn templates_are_checked_per_city() {
    fails_at(
        "[output]\ntraffic_topic = \"m.{city}.{audience}\"",
        "output.traffic_topic",
    );
    fails_at(
        "[output]\ntraffic_topic = \"m.{town}\"",
        "output.traffic_topic",
    );
    fails_at(
        "[output]\nparking_topic = \"m/{city}\"",
        "output.parking_topic",
    );
    fails_at(
        &format!("[output]\nparking_topic = \"{}.{{city}}\"", "p".repeat(246)),
        "output.parking_topic",
    );
    // Two templates that give one city the same topic.
    let errors = load("[output]\ntraffic_topic = \"m.{city}\"\nparking_topic = \"m.{audience}\"")
        .expect_err("ulm's traffic and parking in one topic");
    let error = errors.iter().next().expect("one error");
    assert_eq!(error.key, "output.parking_topic");
    assert!(
        error
            .message
            .contains("`m.ulm` (city `ulm`) is also output.traffic_topic"),
        "{}",
        error.message
    );
    // A template that writes into the city's own input topic.
    fails_at(
        "[output]\ntraffic_topic = \"sensors.{city}.traffic\"",
        "output.traffic_topic",
    );
    // `open` is the open audience's name.
    let open_city = CITY.replace("id = \"ulm\"", "id = \"open\"");
    let errors = Config::from_toml(
        &format!("{}{open_city}", audience_templates()),
        origin(),
        &HashMap::new(),
    )
    .expect_err("a city called open");
    let found: Vec<&str> = errors.iter().map(|e| e.key.as_str()).collect();
    assert_eq!(
        found,
        ["output.traffic_topic", "output.traffic_lanes_topic"]
    );
}

#[test]
fn the_standard_outputs_topics_are_optional_templates_checked_alike() {
    let config = ok(&format!(
        "[output]\ndatex2_topic = \"datex.{{audience}}\"\nngsi_ld_topic = \"ngsi.{{city}}\"\n{OPEN_CITY}"
    ));
    assert_eq!(
        config.output.standard_topics(&config.cities),
        ["datex.open", "datex.ulm", "ngsi.neu-ulm", "ngsi.ulm"]
    );
    assert!(ok("").output.standard_topics(&ok("").cities).is_empty());
    fails_at(
        "[output]\nngsi_ld_topic = \"metrics.parking\"",
        "output.ngsi_ld_topic",
    );
    fails_at(
        "[output]\ndatex2_topic = \"d.{city}\"\nngsi_ld_topic = \"d.{audience}\"",
        "output.ngsi_ld_topic",
    );
    fails_at("[output]\ndatex2_topic = \"d/x\"", "output.datex2_topic");
    fails_at("[output]\npublish_every = \"0s\"", "output.publish_every");
}
