//! Record keys of the feed `stadtpuls produce` writes: one key per entity whose windows a
//! message feeds, so a partitioner by key keeps each on one partition (`docs/formats.md`,
//! "Record keys").

use std::collections::{BTreeMap, BTreeSet, HashMap};

use stadtpuls_config::Config;

use super::*;

/// Two hours of the built-in nine-city demo, as `stadtpuls produce` generates it.
fn demo_feed(spot_keys_by_spot: bool) -> Vec<SimMessage> {
    let config = Config::demo(&HashMap::new()).expect("demo config");
    let registries = config.load_registries().expect("demo registries");
    let start = wednesday() + 8 * HOUR;
    let mut feed =
        SimulatedFeed::new(&registries, 7, start, 60).with_spot_keys_by_spot(spot_keys_by_spot);
    feed.advance_to(start + 2 * HOUR)
}

/// zone → the keys its spots' records carried.
fn keys_per_zone(messages: &[SimMessage]) -> BTreeMap<String, BTreeSet<String>> {
    let mut zones: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for msg in messages {
        let v = parse(msg);
        if v["kind"] == "spot" {
            zones
                .entry(text(&v, "facility_id").to_owned())
                .or_default()
                .insert(msg.key.clone());
        }
    }
    zones
}

#[test]
fn every_record_is_keyed_by_the_entity_its_windows_belong_to() {
    let messages = demo_feed(false);
    let mut lanes_per_key: HashMap<&str, BTreeSet<u64>> = HashMap::new();
    for msg in &messages {
        let v = parse(msg);
        if msg.topic.ends_with(".traffic") {
            // lane reports (and a lane-0 total, would a gateway send one) of a sensor
            assert_eq!(msg.key, text(&v, "sensor_id"), "{v}");
            lanes_per_key
                .entry(msg.key.as_str())
                .or_default()
                .insert(v["lane"].as_u64().unwrap_or(0));
        } else if v["kind"] == "facility" {
            assert_eq!(msg.key, text(&v, "id"), "{v}");
        } else {
            assert_eq!(v["kind"], "spot");
            assert_eq!(
                msg.key,
                text(&v, "facility_id"),
                "a spot is keyed by its zone: {v}"
            );
        }
    }
    assert!(
        lanes_per_key.values().any(|lanes| lanes.len() > 1),
        "the lanes of a multi-lane sensor share its key"
    );
    let zones = keys_per_zone(&messages);
    assert!(zones.len() >= 2, "the demo has on-street zones: {zones:?}");
    for (zone, keys) in &zones {
        assert_eq!(keys.len(), 1, "zone {zone} carried keys {keys:?}");
    }
}

/// The fault of a wrongly keying gateway: payloads as before, spots keyed by spot id, so
/// one zone's spots carry many keys (and a partitioner spreads them).
#[test]
fn spot_keys_by_spot_spread_a_zone_over_many_keys() {
    let right = demo_feed(false);
    let wrong = demo_feed(true);
    assert_eq!(right.len(), wrong.len());
    assert!(
        right
            .iter()
            .zip(&wrong)
            .all(|(a, b)| a.payload == b.payload),
        "only keys change"
    );
    for msg in &wrong {
        let v = parse(msg);
        if v["kind"] == "spot" {
            assert_eq!(msg.key, text(&v, "id"));
        }
    }
    assert!(
        keys_per_zone(&wrong).values().all(|keys| keys.len() > 1),
        "every zone's spots carry several keys"
    );
}
