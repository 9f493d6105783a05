//! `[traffic.site_classes.<name>]` and the registry column `site_class`, through the
//! public API.

mod common;

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use common::{CITY, keys, load, ok, origin};
use stadtpuls_config::{
    CityConfig, CityRegistry, Config, ConfigErrors, ENVIRONMENT, RegistrySource, SiteClass,
    TrafficConfig, derived_site_class, parse_registry_with_classes,
};

fn class<'a>(config: &'a Config, name: &str) -> &'a SiteClass {
    config
        .traffic
        .site_class(name)
        .unwrap_or_else(|| panic!("class `{name}` missing"))
}

const URBAN_OK: &str = "[traffic.site_classes.urban]\nv1_kmh = 15\nv2_kmh = 35\n";

#[test]
fn built_in_classes_without_a_traffic_section() {
    let config = ok("");
    assert_eq!(config.traffic, TrafficConfig::default());
    let names: Vec<&str> = config
        .traffic
        .site_classes
        .iter()
        .map(|c| c.name.as_str())
        .collect();
    assert_eq!(names, ["arterial", "motorway", "urban"]);
    let motorway = class(&config, "motorway");
    assert_eq!((motorway.v1_kmh, motorway.v2_kmh), (30.0, 80.0));
    // MARZ defaults by lane count: 20/50, 30/60, 40/70, 50/80 for four and more.
    assert_eq!(motorway.density_thresholds(1), (20.0, 50.0));
    assert_eq!(motorway.density_thresholds(2), (30.0, 60.0));
    assert_eq!(motorway.density_thresholds(3), (40.0, 70.0));
    assert_eq!(motorway.density_thresholds(4), (50.0, 80.0));
    assert_eq!(motorway.density_thresholds(8), (50.0, 80.0));
    assert_eq!(
        motorway.density_thresholds(0),
        (20.0, 50.0),
        "0 counts as 1"
    );
    assert_eq!(motorway.density_thresholds(200), (50.0, 80.0));
    let urban = class(&config, "urban");
    assert_eq!((urban.v1_kmh, urban.v2_kmh), (15.0, 35.0));
    let arterial = class(&config, "arterial");
    assert_eq!((arterial.v1_kmh, arterial.v2_kmh), (20.0, 50.0));
}

#[test]
fn derived_class_bounds() {
    assert_eq!(derived_site_class(30.0), "urban");
    assert_eq!(derived_site_class(50.0), "urban");
    assert_eq!(derived_site_class(50.5), "arterial");
    assert_eq!(derived_site_class(80.0), "arterial");
    assert_eq!(derived_site_class(80.5), "motorway");
    assert_eq!(derived_site_class(130.0), "motorway");
}

#[test]
fn a_table_replaces_a_built_in_class_or_adds_one() {
    let config = ok("[traffic.site_classes.urban]
v1_kmh = 10
v2_kmh = 30.5
k1_veh_km = 25
k2_veh_km = [55, 65.5]

[traffic.site_classes.b27-tunnel]
v1_kmh = 40
v2_kmh = 70
k1_veh_km = [15, 25]
k2_veh_km = [45, 55]
");
    let names: Vec<&str> = config
        .traffic
        .site_classes
        .iter()
        .map(|c| c.name.as_str())
        .collect();
    assert_eq!(names, ["arterial", "b27-tunnel", "motorway", "urban"]);
    let urban = class(&config, "urban");
    assert_eq!((urban.v1_kmh, urban.v2_kmh), (10.0, 30.5));
    assert_eq!(urban.density_thresholds(1), (25.0, 55.0));
    // The last entry of a short list applies to wider cross-sections.
    assert_eq!(urban.density_thresholds(2), (25.0, 65.5));
    assert_eq!(urban.density_thresholds(6), (25.0, 65.5));
    assert_eq!(config.traffic.site_class_index("b27-tunnel"), Some(1));
    assert_eq!(class(&config, "motorway").v2_kmh, 80.0, "others untouched");
}

#[test]
fn speed_thresholds_must_satisfy_0_lt_v1_lt_v2() {
    let table = |v1: &str, v2: &str| {
        format!(
            "[traffic.site_classes.urban]\nv1_kmh = {v1}\nv2_kmh = {v2}\nk1_veh_km = 20\nk2_veh_km = 50\n"
        )
    };
    assert_eq!(
        keys(&table("40", "35")),
        ["traffic.site_classes.urban.v1_kmh"]
    );
    assert_eq!(
        keys(&table("35", "35")),
        ["traffic.site_classes.urban.v1_kmh"]
    );
    assert_eq!(
        keys(&table("0", "35")),
        ["traffic.site_classes.urban.v1_kmh"]
    );
    assert_eq!(
        keys(&table("15", "-35")),
        ["traffic.site_classes.urban.v2_kmh"]
    );
    assert_eq!(
        keys(&table("15", "nan")),
        ["traffic.site_classes.urban.v2_kmh"]
    );
    assert_eq!(
        keys(&table("15", "300")),
        ["traffic.site_classes.urban.v2_kmh"]
    );
    let errors = load(&table("40", "35")).expect_err("v1 > v2");
    assert!(
        errors.0[0].message.contains("0 < v1 < v2"),
        "{}",
        errors.0[0].message
    );
}

#[test]
fn density_thresholds_must_satisfy_0_lt_k1_lt_k2_for_every_lane_count() {
    let table = |k1: &str, k2: &str| format!("{URBAN_OK}k1_veh_km = {k1}\nk2_veh_km = {k2}\n");
    // k1 = 30 for every lane count, k2 = 50 for one lane but 30 for two and more.
    assert_eq!(
        keys(&table("30", "[50, 30]")),
        ["traffic.site_classes.urban.k1_veh_km"]
    );
    let errors = load(&table("30", "[50, 30]")).expect_err("k1 = k2 at two lanes");
    assert!(
        errors.0[0].message.contains("for 2 lane(s)"),
        "{}",
        errors.0[0].message
    );
    assert_eq!(
        keys(&table("[20, -30]", "[50, 60]")),
        ["traffic.site_classes.urban.k1_veh_km[1]"]
    );
    assert_eq!(
        keys(&table("0", "50")),
        ["traffic.site_classes.urban.k1_veh_km"]
    );
    assert_eq!(
        keys(&table("[]", "50")),
        ["traffic.site_classes.urban.k1_veh_km"]
    );
    assert_eq!(
        keys(&table("20", "[50, 60, 70, 80, 80, 80, 80, 80, 80]")),
        ["traffic.site_classes.urban.k2_veh_km"]
    );
    assert_eq!(
        keys(&table("20", "\"50\"")),
        ["traffic.site_classes.urban.k2_veh_km"]
    );
}

#[test]
fn every_bad_class_is_reported_at_once() {
    let found = keys(
        "[traffic.site_classes.urban]
v1_kmh = 50
v2_kmh = 35
k1_veh_km = 70
k2_veh_km = 50

[traffic.site_classes.motorway]
v1_kmh = 30
v2_kmh = 0
k1_veh_km = 20
k2_veh_km = 50

[traffic.site_classes.\"Bad Name\"]
v1_kmh = 1
v2_kmh = 2
k1_veh_km = 1
k2_veh_km = 2
",
    );
    assert_eq!(
        found,
        [
            "traffic.site_classes.\"Bad Name\"",
            "traffic.site_classes.motorway.v2_kmh",
            "traffic.site_classes.urban.v1_kmh",
            "traffic.site_classes.urban.k1_veh_km",
        ]
    );
}

#[test]
fn table_structure_problems_name_the_key() {
    assert_eq!(
        keys(&format!("{URBAN_OK}k1_veh_km = 20\n")),
        ["traffic.site_classes.urban.k2_veh_km"],
        "missing key"
    );
    assert_eq!(
        keys(&format!(
            "{URBAN_OK}k1_veh_km = 20\nk2_veh_km = 50\nv3_kmh = 5\n"
        )),
        ["traffic.site_classes.urban.v3_kmh"],
        "unknown key"
    );
    assert_eq!(keys("[traffic]\nclasses = 1\n"), ["traffic.classes"]);
}

#[test]
fn site_classes_cannot_come_from_the_environment() {
    let env = HashMap::from([(
        "STADTPULS_TRAFFIC__SITE_CLASSES".to_owned(),
        "urban".to_owned(),
    )]);
    let errors = Config::from_toml(CITY, origin(), &env).expect_err("not overridable");
    assert_eq!(errors.len(), 1, "{errors}");
    assert_eq!(errors.0[0].file, Path::new(ENVIRONMENT));
    assert_eq!(errors.0[0].key, "STADTPULS_TRAFFIC__SITE_CLASSES");
    assert!(errors.0[0].message.contains("edit the config file"));
}

fn ulm() -> CityConfig {
    CityConfig {
        id: "ulm".to_owned(),
        name: "Ulm".to_owned(),
        timezone: chrono_tz::Europe::Berlin,
        lat: 48.3984,
        lon: 9.9916,
        registry: RegistrySource::File(PathBuf::from("ulm.csv")),
        zones: None,
        share: stadtpuls_config::SharePolicy::default(),
        feeds: Vec::new(),
        pull: Vec::new(),
        admit_unmapped_facilities: false,
    }
}

const HEADER: &str = "id,kind,name,lat,lon,lanes,capacity,free_flow_kmh,facility_id,site_class\n";

fn registry(rows: &str, traffic: &TrafficConfig) -> Result<CityRegistry, ConfigErrors> {
    let text = format!("{HEADER}{rows}");
    parse_registry_with_classes(&ulm(), Path::new("ulm.csv"), &text, traffic)
}

fn site_classes(registry: &CityRegistry) -> Vec<Option<&str>> {
    registry
        .sensors
        .iter()
        .map(|s| s.site_class.as_deref())
        .collect()
}

#[test]
fn registry_site_class_is_given_or_derived_from_free_flow_speed() {
    let rows = "a,traffic,,48.4,9.99,2,,50,,\n\
                b,traffic,,48.4,9.99,2,,70,,\n\
                c,traffic,,48.4,9.99,2,,120,,\n\
                d,traffic,,48.4,9.99,2,,,,\n\
                e,traffic,,48.4,9.99,2,,120,,urban\n\
                p,parking_facility,,48.4,9.99,,10,,,\n";
    let parsed =
        registry(rows, &TrafficConfig::default()).unwrap_or_else(|errors| panic!("{errors}"));
    assert_eq!(
        site_classes(&parsed),
        [
            Some("urban"),
            Some("arterial"),
            Some("motorway"),
            Some("urban"), // 50 km/h unless given
            Some("urban"), // given wins over the speed
            None,
        ]
    );
}

#[test]
fn registry_site_class_must_name_a_configured_class() {
    let rows = "a,traffic,,48.4,9.99,2,,50,,tunnel\n\
                b,traffic,,48.4,9.99,2,,50,,Urban\n\
                p,parking_facility,,48.4,9.99,,10,,,urban\n";
    let errors = registry(rows, &TrafficConfig::default()).expect_err("unknown classes");
    let keys: Vec<&str> = errors.iter().map(|e| e.key.as_str()).collect();
    assert_eq!(
        keys,
        [
            "row 2: site_class",
            "row 3: site_class",
            "row 4: site_class"
        ]
    );
    assert!(
        errors.0[0]
            .message
            .contains("unknown site_class `tunnel`, expected one of arterial, motorway, urban"),
        "{}",
        errors.0[0].message
    );
    assert!(errors.0[2].message.contains("only allowed on traffic rows"));

    let config = ok("[traffic.site_classes.tunnel]
v1_kmh = 40
v2_kmh = 70
k1_veh_km = 20
k2_veh_km = 50
");
    let parsed = registry("a,traffic,,48.4,9.99,2,,50,,tunnel\n", &config.traffic)
        .unwrap_or_else(|errors| panic!("{errors}"));
    assert_eq!(site_classes(&parsed), [Some("tunnel")]);
}

#[test]
fn geojson_registry_reads_the_site_class_property() {
    let feature = |properties: &str| {
        format!(
            "{{\"type\":\"Feature\",\"geometry\":{{\"type\":\"Point\",\"coordinates\":[9.99,48.4]}},\"properties\":{{{properties}}}}}"
        )
    };
    let features = [
        feature(r#""id":"a","kind":"traffic","free_flow_kmh":100,"site_class":"arterial""#),
        feature(r#""id":"b","kind":"traffic","free_flow_kmh":100"#),
    ]
    .join(",");
    let text = format!("{{\"type\":\"FeatureCollection\",\"features\":[{features}]}}");
    let parsed = parse_registry_with_classes(
        &ulm(),
        Path::new("ulm.geojson"),
        &text,
        &TrafficConfig::default(),
    )
    .unwrap_or_else(|errors| panic!("{errors}"));
    assert_eq!(site_classes(&parsed), [Some("arterial"), Some("motorway")]);
}
