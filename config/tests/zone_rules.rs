//! Every zone-file rule through the public API, and how zone files are found.

mod common;

use std::collections::HashMap;
use std::fs;
use std::path::{Path, PathBuf};

use common::{CITY, origin};
use stadtpuls_config::{
    CityConfig, Config, ConfigErrors, FILE_KEY, LonLat, RegistrySource, ZoneKind, ZoneSource,
    ZoneSpec, parse_zones,
};

fn ulm() -> CityConfig {
    CityConfig {
        id: "ulm".to_owned(),
        name: "Ulm".to_owned(),
        timezone: chrono_tz::Europe::Berlin,
        lat: 48.3984,
        lon: 9.9916,
        registry: RegistrySource::File(PathBuf::from("ulm.csv")),
        zones: Some(ZoneSource::File(PathBuf::from("ulm.geojson"))),
        share: stadtpuls_config::SharePolicy::default(),
        feeds: Vec::new(),
        pull: Vec::new(),
        admit_unmapped_facilities: false,
    }
}

/// A unit square-ish ring near Ulm's centre, closed.
const RING: &str = "[[9.98, 48.39], [10.0, 48.39], [10.0, 48.40], [9.98, 48.40], [9.98, 48.39]]";

fn feature(properties: &str, geometry: &str) -> String {
    format!(r#"{{"type":"Feature","properties":{{{properties}}},"geometry":{geometry}}}"#)
}

fn polygon(rings: &str) -> String {
    format!(r#"{{"type":"Polygon","coordinates":[{rings}]}}"#)
}

fn zones(features: &[String]) -> Result<Vec<ZoneSpec>, ConfigErrors> {
    let text = format!(
        r#"{{"type":"FeatureCollection","features":[{}]}}"#,
        features.join(",")
    );
    parse_zones(&ulm(), Path::new("ulm.geojson"), &text)
}

fn keys(features: &[String]) -> Vec<String> {
    let errors = zones(features).expect_err("should fail");
    assert!(
        errors
            .iter()
            .all(|error| error.file == Path::new("ulm.geojson")),
        "{errors}"
    );
    errors.into_iter().map(|error| error.key).collect()
}

const DISTRICT: &str = r#""id":"ulm-mitte","name":"Mitte","kind":"district""#;

#[test]
fn polygon_and_multipolygon_zones_load() {
    let multi = format!(r#"{{"type":"MultiPolygon","coordinates":[[{RING}],[{RING}]]}}"#);
    let loaded = zones(&[
        feature(DISTRICT, &polygon(RING)),
        feature(
            r#""id":"ulm-pz","name":"Parkzone","kind":"parking_zone""#,
            &multi,
        ),
    ])
    .unwrap_or_else(|errors| panic!("{errors}"));
    assert_eq!(loaded.len(), 2);
    assert_eq!(loaded[0].id, "ulm-mitte");
    assert_eq!(loaded[0].name, "Mitte");
    assert_eq!(loaded[0].kind, ZoneKind::District);
    assert_eq!(loaded[0].polygons.len(), 1);
    assert_eq!(
        loaded[0].polygons[0].exterior[1],
        LonLat {
            lon: 10.0,
            lat: 48.39
        }
    );
    assert_eq!(loaded[1].kind, ZoneKind::ParkingZone);
    assert_eq!(loaded[1].polygons.len(), 2);
}

#[test]
fn holes_are_kept_and_checked_like_outer_rings() {
    let hole = "[[9.99, 48.394], [9.995, 48.394], [9.995, 48.396], [9.99, 48.394]]";
    let loaded = zones(&[feature(DISTRICT, &polygon(&format!("{RING},{hole}")))])
        .unwrap_or_else(|errors| panic!("{errors}"));
    assert_eq!(loaded[0].polygons[0].holes.len(), 1);
    assert_eq!(loaded[0].polygons[0].holes[0].len(), 4);
    let open_hole = "[[9.99, 48.394], [9.995, 48.394], [9.995, 48.396], [9.99, 48.396]]";
    assert_eq!(
        keys(&[feature(DISTRICT, &polygon(&format!("{RING},{open_hole}")))]),
        ["features[0].geometry.coordinates[1]"]
    );
}

#[test]
fn properties_are_required_strings_with_a_known_kind() {
    let geometry = polygon(RING);
    assert_eq!(
        keys(&[feature(r#""name":"A","kind":"district""#, &geometry)]),
        ["features[0].properties.id"]
    );
    assert_eq!(
        keys(&[feature(
            r#""id":"a","name":" ","kind":"district""#,
            &geometry
        )]),
        ["features[0].properties.name"]
    );
    assert_eq!(
        keys(&[feature(
            r#""id":"a","name":"A","kind":"quarter""#,
            &geometry
        )]),
        ["features[0].properties.kind"]
    );
    assert_eq!(
        keys(&[feature(r#""id":"a","name":"A","kind":3"#, &geometry)]),
        ["features[0].properties.kind"]
    );
    let long_id = format!(r#""id":"{}","name":"A","kind":"district""#, "x".repeat(129));
    assert_eq!(
        keys(&[feature(&long_id, &geometry)]),
        ["features[0].properties.id"]
    );
    let errors = zones(&[feature(r#""id":"a","name":"A""#, &geometry)]).expect_err("no kind");
    assert!(
        errors.0[0]
            .message
            .contains("expected district or parking_zone"),
        "{errors}"
    );
    assert!(errors.0[0].message.starts_with("zone `a`: "), "{errors}");
}

#[test]
fn unknown_properties_are_errors_so_typos_surface() {
    let with_typo = r#""id":"a","name":"A","knd":"district""#;
    assert_eq!(
        keys(&[feature(with_typo, &polygon(RING))]),
        ["features[0].properties.knd", "features[0].properties.kind"]
    );
}

#[test]
fn duplicate_ids_name_the_first_use() {
    let errors = zones(&[
        feature(DISTRICT, &polygon(RING)),
        feature(r#""id":"x","name":"X","kind":"district""#, &polygon(RING)),
        feature(DISTRICT, &polygon(RING)),
    ])
    .expect_err("duplicate");
    assert_eq!(errors.len(), 1, "{errors}");
    assert_eq!(errors.0[0].key, "features[2].properties.id");
    assert!(
        errors.0[0]
            .message
            .contains("duplicate zone id `ulm-mitte`, first used at features[0]"),
        "{errors}"
    );
}

#[test]
fn geometry_must_be_polygonal_with_valid_rings() {
    let point = r#"{"type":"Point","coordinates":[9.99,48.39]}"#;
    assert_eq!(keys(&[feature(DISTRICT, point)]), ["features[0].geometry"]);
    assert_eq!(
        keys(&[format!(
            r#"{{"type":"Feature","properties":{{{DISTRICT}}},"geometry":null}}"#
        )]),
        ["features[0].geometry"]
    );
    let short = "[[9.98, 48.39], [10.0, 48.39], [9.98, 48.39]]";
    assert_eq!(
        keys(&[feature(DISTRICT, &polygon(short))]),
        ["features[0].geometry.coordinates[0]"]
    );
    assert_eq!(
        keys(&[feature(DISTRICT, r#"{"type":"Polygon","coordinates":[]}"#)]),
        ["features[0].geometry.coordinates"]
    );
    let empty_multi = r#"{"type":"MultiPolygon","coordinates":[]}"#;
    assert_eq!(
        keys(&[feature(DISTRICT, empty_multi)]),
        ["features[0].geometry.coordinates"]
    );
    let one_number = "[[9.98, 48.39], [10.0], [10.0, 48.40], [9.98, 48.40], [9.98, 48.39]]";
    assert_eq!(
        keys(&[feature(DISTRICT, &polygon(one_number))]),
        ["features[0].geometry.coordinates[0][1]"]
    );
}

#[test]
fn positions_must_be_in_range_and_near_the_city() {
    let out_of_range = "[[9.98, 48.39], [190.0, 48.39], [10.0, 48.40], [9.98, 48.39]]";
    assert_eq!(
        keys(&[feature(DISTRICT, &polygon(out_of_range))]),
        ["features[0].geometry.coordinates[0][1]"]
    );
    // Stuttgart is ~70 km from Ulm: a zone filed under the wrong city.
    let stuttgart = "[[9.18, 48.77], [9.19, 48.77], [9.19, 48.78], [9.18, 48.77]]";
    let errors = zones(&[feature(DISTRICT, &polygon(stuttgart))]).expect_err("too far");
    assert_eq!(errors.0[0].key, "features[0].geometry.coordinates[0][0]");
    assert!(
        errors.0[0].message.contains("km from the centre of Ulm"),
        "{errors}"
    );
}

#[test]
fn every_problem_is_reported_at_once() {
    let found = keys(&[
        feature(r#""id":"a","name":"A","kind":"bad""#, &polygon(RING)),
        feature(DISTRICT, &polygon("[[9.98, 48.39], [10.0, 48.39]]")),
        feature(r#""id":"b","kind":"district""#, &polygon(RING)),
    ]);
    assert_eq!(
        found,
        [
            "features[0].properties.kind",
            "features[1].geometry.coordinates[0]",
            "features[2].properties.name"
        ]
    );
}

#[test]
fn file_level_problems_use_the_file_key() {
    let city = ulm();
    let not_geojson = parse_zones(&city, Path::new("ulm.geojson"), "[1, 2]").expect_err("array");
    assert!(not_geojson.has_key(FILE_KEY), "{not_geojson}");
    let empty = r#"{"type":"FeatureCollection","features":[]}"#;
    let errors = parse_zones(&city, Path::new("ulm.geojson"), empty).expect_err("empty");
    assert!(errors.0[0].message.contains("lists no zones"), "{errors}");
}

#[test]
fn zone_kind_names() {
    assert_eq!(
        ZoneKind::ALL.map(ZoneKind::as_str),
        ["district", "parking_zone"]
    );
    assert_eq!(
        "parking_zone".parse::<ZoneKind>(),
        Ok(ZoneKind::ParkingZone)
    );
    assert_eq!(ZoneKind::District.to_string(), "district");
}

#[test]
fn zones_key_resolves_next_to_the_config_and_is_optional() {
    let with_zones = format!("{CITY}zones = \"zones/ulm.geojson\"\n");
    let config = Config::from_toml(&with_zones, origin(), &HashMap::new())
        .unwrap_or_else(|errors| panic!("{errors}"));
    assert_eq!(
        config.cities[0].zones,
        Some(ZoneSource::File(PathBuf::from("conf/zones/ulm.geojson")))
    );
    let without = Config::from_toml(CITY, origin(), &HashMap::new())
        .unwrap_or_else(|errors| panic!("{errors}"));
    assert_eq!(without.cities[0].zones, None);
    let zones = without
        .load_zones()
        .unwrap_or_else(|errors| panic!("{errors}"));
    assert_eq!(zones[0].city, "ulm");
    assert!(zones[0].zones.is_empty());
    let csv = format!("{CITY}zones = \"zones/ulm.csv\"\n");
    let errors = Config::from_toml(&csv, origin(), &HashMap::new()).expect_err("csv zones");
    assert_eq!(errors.0[0].key, "cities[0].zones");
}

#[test]
fn load_zones_reads_files_and_names_a_missing_one() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let toml = format!("{CITY}zones = \"zones/ulm.geojson\"\n");
    let config_path = dir.path().join("stadtpuls.toml");
    fs::write(&config_path, toml).expect("write toml");
    let config =
        Config::load(&config_path, &HashMap::new()).unwrap_or_else(|errors| panic!("{errors}"));
    let errors = config.load_zones().expect_err("the zone file is missing");
    assert_eq!(errors.len(), 1, "{errors}");
    assert_eq!(errors.0[0].file, dir.path().join("zones/ulm.geojson"));
    assert_eq!(errors.0[0].key, FILE_KEY);

    fs::create_dir(dir.path().join("zones")).expect("create zones dir");
    let text = format!(
        r#"{{"type":"FeatureCollection","features":[{}]}}"#,
        feature(DISTRICT, &polygon(RING))
    );
    fs::write(dir.path().join("zones/ulm.geojson"), text).expect("write zones");
    let zones = config
        .load_zones()
        .unwrap_or_else(|errors| panic!("{errors}"));
    assert_eq!(zones[0].zones[0].id, "ulm-mitte");
}
