//! `[[cities.feeds]]`: the topics of a city's partner feeds and their formats.

mod common;

use std::collections::HashMap;

use common::{CITY, ok, origin};
use stadtpuls_config::Config;

fn with_feeds(feeds: &str) -> Result<Config, stadtpuls_config::ConfigErrors> {
    Config::from_toml(&format!("{CITY}\n{feeds}"), origin(), &HashMap::new())
}

#[test]
fn feeds_name_topics_and_formats_of_their_city() {
    let config = with_feeds(
        "[[cities.feeds]]\ntopic = \"ulm.fiware\"\nformat = \"fiware\"\n\
         [[cities.feeds]]\ntopic = \"sensors.ulm.parking\"\nformat = \"parkapi\"\n",
    )
    .unwrap_or_else(|errors| panic!("should load:\n{errors}"));
    let feeds: Vec<(&str, &str, &str)> = config
        .feeds()
        .map(|(city, feed)| (city.id.as_str(), feed.topic.as_str(), feed.format.as_str()))
        .collect();
    assert_eq!(
        feeds,
        [
            ("ulm", "ulm.fiware", "fiware"),
            ("ulm", "sensors.ulm.parking", "parkapi")
        ]
    );
    assert!(
        ok("").cities[0].feeds.is_empty(),
        "native stays the default"
    );
}

#[test]
fn feed_problems_name_their_key() {
    let errors = with_feeds(
        "[[cities.feeds]]\ntopic = \"ulm.x\"\nformat = \"xml\"\n\
         [[cities.feeds]]\ntopic = \"sensors.deadletter\"\nformat = \"native\"\n\
         [[cities.feeds]]\ntopic = \"sensors.ka.parking\"\nformat = \"native\"\n\
         [[cities.feeds]]\ntopic = \"ulm.y\"\nformat = \"fiware\"\n\
         [[cities.feeds]]\ntopic = \"ulm.y\"\nformat = \"parkapi\"\n",
    )
    .expect_err("should fail");
    let found: Vec<(String, String)> = errors
        .into_iter()
        .map(|error| (error.key, error.message))
        .collect();
    let keys: Vec<&str> = found.iter().map(|(key, _)| key.as_str()).collect();
    assert_eq!(
        keys,
        [
            "cities[0].feeds[0].format",
            "cities[0].feeds[1].topic",
            "cities[0].feeds[2].topic",
            "cities[0].feeds[4].topic"
        ],
        "{found:?}"
    );
    assert!(
        found[0].1.contains("native, fiware, parkapi, ttn"),
        "{found:?}"
    );
    assert!(found[2].1.contains("names city `ka`"), "{found:?}");
    assert!(
        found[3]
            .1
            .contains("already listed at `cities[0].feeds[3].topic`"),
        "{found:?}"
    );
}

#[test]
fn a_ttn_feed_may_name_its_codec_and_only_a_ttn_feed() {
    let config = with_feeds(
        "[[cities.feeds]]\ntopic = \"ulm.ttn\"\nformat = \"ttn\"\ncodec = \"bosch-pls\"\n\
         [[cities.feeds]]\ntopic = \"ulm.ttn2\"\nformat = \"ttn\"\n",
    )
    .unwrap_or_else(|errors| panic!("should load:\n{errors}"));
    let codecs: Vec<Option<&str>> = config
        .feeds()
        .map(|(_, feed)| feed.codec.map(|c| c.as_str()))
        .collect();
    assert_eq!(codecs, [Some("bosch-pls"), None]);

    let errors = with_feeds(
        "[[cities.feeds]]\ntopic = \"ulm.a\"\nformat = \"ttn\"\ncodec = \"acme\"\n\
         [[cities.feeds]]\ntopic = \"ulm.b\"\nformat = \"fiware\"\ncodec = \"nwave-nps\"\n",
    )
    .expect_err("should fail");
    let found: Vec<(String, String)> = errors
        .into_iter()
        .map(|error| (error.key, error.message))
        .collect();
    let keys: Vec<&str> = found.iter().map(|(key, _)| key.as_str()).collect();
    assert_eq!(
        keys,
        ["cities[0].feeds[0].codec", "cities[0].feeds[1].codec"],
        "{found:?}"
    );
    assert!(found[0].1.contains("nwave-nps, bosch-pls"), "{found:?}");
    assert!(
        found[1].1.contains("applies to `format = \"ttn\"` only"),
        "{found:?}"
    );
}

/// `admit_unmapped_facilities` is a city's choice, off unless written, and a value that is
/// not a boolean is refused with its key and file (checked at start-up, like every key).
#[test]
fn admitting_unmapped_facilities_is_a_boolean_per_city_off_by_default() {
    assert!(
        !ok("").cities[0].admit_unmapped_facilities,
        "off by default"
    );
    let config = with_feeds(
        "admit_unmapped_facilities = true\n\
         [[cities.feeds]]\ntopic = \"ulm.parkapi\"\nformat = \"parkapi\"\n",
    )
    .unwrap_or_else(|errors| panic!("should load:\n{errors}"));
    assert!(config.cities[0].admit_unmapped_facilities);

    let errors = with_feeds("admit_unmapped_facilities = \"yes\"\n").expect_err("should fail");
    let found: Vec<(String, String, std::path::PathBuf)> = errors
        .into_iter()
        .map(|error| (error.key, error.message, error.file))
        .collect();
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(
        found[0].0, "cities[0].admit_unmapped_facilities",
        "{found:?}"
    );
    assert!(found[0].1.contains("bool"), "{found:?}");
    assert_eq!(found[0].2, origin(), "{found:?}");
}
