//! Every registry rule, in CSV and GeoJSON, through the public API.

use std::collections::HashMap;
use std::fs;
use std::path::{Path, PathBuf};

use stadtpuls_config::{
    CityConfig, CityRegistry, Config, ConfigErrors, FILE_KEY, FacilityType, RegistrySource,
    SensorKind, parse_registry,
};

const HEADER: &str = "id,kind,name,lat,lon,lanes,capacity,free_flow_kmh,facility_id\n";

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

fn csv(rows: &str) -> Result<CityRegistry, ConfigErrors> {
    parse_registry(&ulm(), Path::new("ulm.csv"), &format!("{HEADER}{rows}"))
}

fn csv_ok(rows: &str) -> CityRegistry {
    csv(rows).unwrap_or_else(|errors| panic!("should load:\n{errors}"))
}

fn csv_keys(rows: &str) -> Vec<String> {
    let errors = csv(rows).expect_err("should fail");
    assert!(
        errors
            .iter()
            .all(|error| error.file == Path::new("ulm.csv")),
        "{errors}"
    );
    errors.into_iter().map(|error| error.key).collect()
}

const TRAFFIC: &str = "ulm-t-001,traffic,Olgastraße,48.4018,9.9935,,,,\n";
const FACILITY: &str = "ulm-p-01,parking_facility,Parkhaus Deutschhaus,48.3995,9.9874,,560,,\n";

#[test]
fn traffic_defaults_to_one_lane_at_50_kmh() {
    let registry = csv_ok(TRAFFIC);
    let sensor = &registry.sensors[0];
    assert_eq!(sensor.kind, SensorKind::Traffic);
    assert_eq!(sensor.lanes, 1);
    assert_eq!(sensor.free_flow_kmh, Some(50.0));
    assert_eq!(sensor.capacity, None);
    assert_eq!(sensor.name.as_deref(), Some("Olgastraße"));
}

#[test]
fn traffic_lanes_and_speed_ranges() {
    let registry = csv_ok("a,traffic,,48.4,9.99,8,,5,\nb,traffic,,48.4,9.99,1,,250,\n");
    assert_eq!(registry.sensors[0].lanes, 8);
    assert_eq!(registry.sensors[1].free_flow_kmh, Some(250.0));
    assert_eq!(csv_keys("a,traffic,,48.4,9.99,0,,,\n"), ["row 2: lanes"]);
    assert_eq!(csv_keys("a,traffic,,48.4,9.99,9,,,\n"), ["row 2: lanes"]);
    assert_eq!(csv_keys("a,traffic,,48.4,9.99,two,,,\n"), ["row 2: lanes"]);
    assert_eq!(
        csv_keys("a,traffic,,48.4,9.99,,,4.9,\n"),
        ["row 2: free_flow_kmh"]
    );
    assert_eq!(
        csv_keys("a,traffic,,48.4,9.99,,,251,\n"),
        ["row 2: free_flow_kmh"]
    );
}

#[test]
fn parking_rows_ignore_lanes_and_speed() {
    let registry = csv_ok("ulm-p-01,parking_facility,P,48.4,9.99,0,300,50,\n");
    assert_eq!(registry.sensors[0].lanes, 0);
    assert_eq!(registry.sensors[0].free_flow_kmh, None);
    assert_eq!(registry.sensors[0].capacity, Some(300));
}

#[test]
fn ids_are_required_unique_and_bounded() {
    assert_eq!(csv_keys(",traffic,,48.4,9.99,,,,\n"), ["row 2: id"]);
    assert_eq!(csv_keys(&format!("{TRAFFIC}{TRAFFIC}")), ["row 3: id"]);
    let long = "x".repeat(129);
    assert_eq!(
        csv_keys(&format!("{long},traffic,,48.4,9.99,,,,\n")),
        ["row 2: id"]
    );
    csv_ok(&format!("{},traffic,,48.4,9.99,,,,\n", "x".repeat(128)));
}

#[test]
fn kind_must_be_known() {
    assert_eq!(csv_keys("a,bus_stop,,48.4,9.99,,,,\n"), ["row 2: kind"]);
    assert_eq!(csv_keys("a,,,48.4,9.99,,,,\n"), ["row 2: kind"]);
    assert_eq!(csv_keys("a,Traffic,,48.4,9.99,,,,\n"), ["row 2: kind"]);
}

#[test]
fn positions_must_be_finite_in_range_and_near_the_city() {
    assert_eq!(csv_keys("a,traffic,,,9.99,,,,\n"), ["row 2: lat"]);
    assert_eq!(csv_keys("a,traffic,,48.4,,,,,\n"), ["row 2: lon"]);
    assert_eq!(csv_keys("a,traffic,,NaN,9.99,,,,\n"), ["row 2: lat"]);
    assert_eq!(csv_keys("a,traffic,,48.4,inf,,,,\n"), ["row 2: lon"]);
    assert_eq!(csv_keys("a,traffic,,95,9.99,,,,\n"), ["row 2: lat"]);
    assert_eq!(csv_keys("a,traffic,,48.4,190,,,,\n"), ["row 2: lon"]);
    // Swapped lat/lon, and a sensor that belongs to Stuttgart (~70 km away).
    assert_eq!(csv_keys("a,traffic,,9.99,48.4,,,,\n"), ["row 2: lat"]);
    assert_eq!(csv_keys("a,traffic,,48.7758,9.1829,,,,\n"), ["row 2: lat"]);
    // Neu-Ulm across the Danube is fine.
    csv_ok("a,traffic,,48.3925,10.0114,,,,\n");
}

#[test]
fn facility_capacity_is_given_or_derived_from_spots() {
    let registry = csv_ok(concat!(
        "ulm-z-01,parking_facility,Parkzone Altstadt,48.396,9.99,,,,\n",
        "ulm-s-001,parking_spot,,48.3961,9.9901,,,,ulm-z-01\n",
        "ulm-s-002,parking_spot,,48.3962,9.9902,,,,ulm-z-01\n",
        "ulm-p-01,parking_facility,Parkhaus,48.3995,9.9874,,560,,\n",
    ));
    assert_eq!(
        registry
            .facilities()
            .map(|f| f.capacity)
            .collect::<Vec<_>>(),
        [Some(2), Some(560)]
    );
    assert_eq!(registry.spots_of("ulm-z-01").count(), 2);
    assert_eq!(registry.spots().filter_map(|s| s.capacity).count(), 0);
    assert_eq!(
        registry.sensor("ulm-s-002").map(|s| s.kind),
        Some(SensorKind::ParkingSpot)
    );
}

#[test]
fn facility_capacity_rules() {
    assert_eq!(
        csv_keys("ulm-p-01,parking_facility,P,48.4,9.99,,,,\n"),
        ["row 2: capacity"]
    );
    assert_eq!(
        csv_keys("ulm-p-01,parking_facility,P,48.4,9.99,,0,,\n"),
        ["row 2: capacity"]
    );
    assert_eq!(
        csv_keys("ulm-p-01,parking_facility,P,48.4,9.99,,-5,,\n"),
        ["row 2: capacity"]
    );
    let too_small = "ulm-p-01,parking_facility,P,48.4,9.99,,1,,\nulm-s-1,parking_spot,,48.4,9.99,,,,ulm-p-01\nulm-s-2,parking_spot,,48.4,9.99,,,,ulm-p-01\n";
    assert_eq!(csv_keys(too_small), ["row 2: capacity"]);
}

#[test]
fn spots_must_reference_a_facility_of_the_same_registry() {
    assert_eq!(
        csv_keys("s,parking_spot,,48.4,9.99,,,,\n"),
        ["row 2: facility_id"]
    );
    assert_eq!(
        csv_keys(&format!(
            "{FACILITY}s,parking_spot,,48.4,9.99,,,,ulm-p-99\n"
        )),
        ["row 3: facility_id"]
    );
    assert_eq!(
        csv_keys(&format!(
            "{TRAFFIC}s,parking_spot,,48.4,9.99,,,,ulm-t-001\n"
        )),
        ["row 3: facility_id"]
    );
    // The facility may come after its spots.
    csv_ok(&format!(
        "s,parking_spot,,48.4,9.99,,,,ulm-p-01\n{FACILITY}"
    ));
}

#[test]
fn facility_id_only_on_spots() {
    assert_eq!(
        csv_keys(&format!("{FACILITY}t,traffic,,48.4,9.99,,,,ulm-p-01\n")),
        ["row 3: facility_id"]
    );
}

#[test]
fn every_row_problem_is_reported_in_file_order() {
    let rows = concat!(
        "a,traffic,,48.4,9.99,12,,,\n",
        "b,parking_facility,,48.4,9.99,,,,\n",
        "a,traffic,,48.4,9.99,,,,\n",
        "c,traffic,,48.4,9.99,1,,999,\n",
    );
    assert_eq!(
        csv_keys(rows),
        [
            "row 2: lanes",
            "row 3: capacity",
            "row 4: id",
            "row 5: free_flow_kmh"
        ]
    );
}

#[test]
fn csv_structure_problems() {
    assert_eq!(csv_keys(""), [FILE_KEY]);
    let errors =
        parse_registry(&ulm(), Path::new("u.csv"), "id,kind,lat\n").expect_err("lon is missing");
    assert_eq!(errors.0[0].key, "header");
    let errors = parse_registry(&ulm(), Path::new("u.csv"), "id,kind,lat,lon,colour\n")
        .expect_err("unknown column");
    assert_eq!(errors.0[0].key, "header");
    assert_eq!(csv_keys("a,traffic,,48.4\n"), ["row 2"]);
    let minimal = parse_registry(
        &ulm(),
        Path::new("u.csv"),
        "\u{feff}kind,id,lon,lat\ntraffic,a,9.99,48.4\n",
    );
    assert_eq!(minimal.map(|registry| registry.sensors.len()).ok(), Some(1));
}

fn geojson(features: &str) -> Result<CityRegistry, ConfigErrors> {
    let text = format!("{{\"type\":\"FeatureCollection\",\"features\":[{features}]}}");
    parse_registry(&ulm(), Path::new("ulm.geojson"), &text)
}

fn point(lon: f64, lat: f64, properties: &str) -> String {
    format!(
        "{{\"type\":\"Feature\",\"geometry\":{{\"type\":\"Point\",\"coordinates\":[{lon},{lat}]}},\"properties\":{{{properties}}}}}"
    )
}

#[test]
fn geojson_registry_uses_the_same_rules() {
    let features = [
        point(
            9.9935,
            48.4018,
            r#""id":"ulm-t-001","kind":"traffic","lanes":2,"free_flow_kmh":70"#,
        ),
        point(
            9.99,
            48.396,
            r#""id":"ulm-z-01","kind":"parking_facility","name":"Parkzone""#,
        ),
        point(
            9.9901,
            48.3961,
            r#""id":"ulm-s-001","kind":"parking_spot","facility_id":"ulm-z-01""#,
        ),
    ]
    .join(",");
    let registry = geojson(&features).unwrap_or_else(|errors| panic!("{errors}"));
    assert_eq!(registry.sensors[0].lat, 48.4018);
    assert_eq!(registry.sensors[0].lon, 9.9935);
    assert_eq!(registry.sensors[0].lanes, 2);
    assert_eq!(registry.sensors[0].free_flow_kmh, Some(70.0));
    assert_eq!(registry.sensors[1].capacity, Some(1));

    let bad = [
        point(48.4, 9.99, r#""id":"a","kind":"traffic""#),
        point(9.99, 48.4, r#""id":"b","kind":"traffic","lanes":20"#),
        point(9.99, 48.4, r#""id":"c","kind":"traffic","lat":48.4"#),
    ]
    .join(",");
    let errors = geojson(&bad).expect_err("invalid features");
    let keys: Vec<&str> = errors.iter().map(|error| error.key.as_str()).collect();
    assert_eq!(
        keys,
        ["sensors[0].lat", "sensors[1].lanes", "sensors[2].lat"]
    );
    assert!(geojson("").is_err_and(|errors| errors.has_key(FILE_KEY)));
}

#[test]
fn load_registries_reads_files_next_to_the_config() {
    let dir = tempfile::tempdir().expect("temporary directory");
    fs::create_dir(dir.path().join("registries")).expect("create registries dir");
    fs::write(
        dir.path().join("registries/ulm.csv"),
        format!("{HEADER}{TRAFFIC}{FACILITY}"),
    )
    .expect("write csv");
    let toml = "[[cities]]\nid = \"ulm\"\nname = \"Ulm\"\ntimezone = \"Europe/Berlin\"\nlat = 48.3984\nlon = 9.9916\nregistry = \"registries/ulm.csv\"\n\n[[cities]]\nid = \"konstanz\"\nname = \"Konstanz\"\ntimezone = \"Europe/Berlin\"\nlat = 47.6603\nlon = 9.1758\nregistry = \"registries/konstanz.geojson\"\n";
    let config_path = dir.path().join("stadtpuls.toml");
    fs::write(&config_path, toml).expect("write toml");
    let config =
        Config::load(&config_path, &HashMap::new()).unwrap_or_else(|errors| panic!("{errors}"));

    let errors = config
        .load_registries()
        .expect_err("konstanz.geojson is missing");
    assert_eq!(errors.len(), 1, "{errors}");
    assert_eq!(
        errors.0[0].file,
        dir.path().join("registries/konstanz.geojson")
    );
    assert_eq!(errors.0[0].key, FILE_KEY);

    let konstanz = point(9.1825, 47.6681, r#""id":"konstanz-t-001","kind":"traffic""#);
    let text = format!("{{\"type\":\"FeatureCollection\",\"features\":[{konstanz}]}}");
    fs::write(dir.path().join("registries/konstanz.geojson"), text).expect("write geojson");
    let registries = config
        .load_registries()
        .unwrap_or_else(|errors| panic!("{errors}"));
    assert_eq!(registries.len(), 2);
    assert_eq!(registries[0].traffic_sensors().count(), 1);
    assert_eq!(registries[0].facilities().count(), 1);
    assert_eq!(registries[1].city.id, "konstanz");
}

#[test]
fn sensor_kind_names() {
    let names = SensorKind::ALL.map(SensorKind::as_str);
    assert_eq!(names, ["traffic", "parking_spot", "parking_facility"]);
    assert_eq!(
        "parking_spot".parse::<SensorKind>(),
        Ok(SensorKind::ParkingSpot)
    );
    assert_eq!(SensorKind::ParkingFacility.to_string(), "parking_facility");
}

#[test]
fn external_ids_map_feed_ids_to_entities() {
    let text = "id,kind,lat,lon,lanes,capacity,external_id\n\
        ulm-t-001,traffic,48.4018,9.9935,2,,urn:ngsi-ld:TrafficFlowObserved:a ; site-7#2\n\
        ulm-p-01,parking_facility,48.3995,9.9874,,560,12717250\n";
    let registry = parse_registry(&ulm(), Path::new("ulm.csv"), text)
        .unwrap_or_else(|errors| panic!("should load:\n{errors}"));
    let ids: Vec<String> = registry.sensors[0]
        .external_ids
        .iter()
        .map(|id| id.display())
        .collect();
    assert_eq!(ids, ["urn:ngsi-ld:TrafficFlowObserved:a", "site-7#2"]);
    assert_eq!(registry.sensors[1].external_ids[0].id, "12717250");
}

#[test]
fn external_id_problems_name_row_and_column() {
    let text = "id,kind,lat,lon,lanes,capacity,external_id\n\
        ulm-t-001,traffic,48.4018,9.9935,1,,x;;y\n\
        ulm-t-002,traffic,48.4018,9.9935,1,,site#2\n\
        ulm-p-01,parking_facility,48.3995,9.9874,,560,shared\n\
        ulm-p-02,parking_facility,48.3995,9.9874,,560,shared\n\
        ulm-p-03,parking_facility,48.3995,9.9874,,560,p#1\n";
    let errors = parse_registry(&ulm(), Path::new("ulm.csv"), text).expect_err("should fail");
    let found: Vec<(String, String)> = errors
        .into_iter()
        .map(|error| (error.key, error.message))
        .collect();
    let keys: Vec<&str> = found.iter().map(|(key, _)| key.as_str()).collect();
    assert_eq!(
        keys,
        [
            "row 2: external_id",
            "row 3: external_id",
            "row 5: external_id",
            "row 6: external_id"
        ],
        "{found:?}"
    );
    assert!(
        found[2].1.contains("already mapped to `ulm-p-01` at row 4"),
        "{found:?}"
    );
}

/// `facility_type` on parking facilities: read when given, `None` when absent; an unknown
/// value, or the column on another kind of row, is refused.
#[test]
fn facility_type_is_read_on_facilities_only() {
    let with_type = |rows: &str| {
        let text = format!("id,kind,name,lat,lon,capacity,facility_type\n{rows}");
        parse_registry(&ulm(), Path::new("ulm.csv"), &text)
    };
    let registry = with_type(
        "a,parking_facility,Messe Nord,48.4,9.99,500,park_and_ride\n\
         b,parking_facility,P+R-Platz Garage,48.4,9.99,100,car_park\n\
         c,parking_facility,Altstadt,48.4,9.99,40,on_street\n\
         d,parking_facility,Parkhaus,48.4,9.99,80,\n",
    )
    .unwrap_or_else(|errors| panic!("should load:\n{errors}"));
    let types: Vec<Option<FacilityType>> =
        registry.sensors.iter().map(|s| s.facility_type).collect();
    assert_eq!(
        types,
        [
            Some(FacilityType::ParkAndRide),
            Some(FacilityType::CarPark),
            Some(FacilityType::OnStreet),
            None,
        ]
    );
    // Registries without the column load as before.
    assert!(
        csv_ok("p,parking_facility,,48.4,9.99,,10,,\n").sensors[0]
            .facility_type
            .is_none()
    );

    let errors = with_type(
        "a,parking_facility,,48.4,9.99,500,P+R\n\
         t,traffic,,48.4,9.99,,car_park\n",
    )
    .expect_err("should fail");
    let keys: Vec<&str> = errors.iter().map(|e| e.key.as_str()).collect();
    assert_eq!(keys, ["row 2: facility_type", "row 3: facility_type"]);
    assert!(
        errors.0[0].message.contains(
            "unknown facility_type `P+R`, expected one of car_park, park_and_ride, on_street"
        ),
        "{}",
        errors.0[0].message
    );
    assert!(
        errors.0[1]
            .message
            .contains("only allowed on parking_facility rows")
    );
}
