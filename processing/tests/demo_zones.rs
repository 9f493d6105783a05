//! The shipped demo zones cover the shipped demo registries: every sensor, spot and
//! facility of the nine cities lies in at least one district.

use std::collections::HashMap;

use stadtpuls_config::{Config, ZoneKind};
use stadtpuls_processing::geo::{CityZoneMap, ZoneIndex};

#[test]
fn every_demo_sensor_and_facility_is_in_a_district() {
    let config = Config::demo(&HashMap::new()).unwrap_or_else(|errors| panic!("{errors}"));
    let registries = config
        .load_registries()
        .unwrap_or_else(|errors| panic!("{errors}"));
    let zones = config
        .load_zones()
        .unwrap_or_else(|errors| panic!("{errors}"));
    for (registry, city_zones) in registries.iter().zip(&zones) {
        assert_eq!(registry.city.id, city_zones.city);
        let districts: Vec<_> = city_zones
            .zones
            .iter()
            .filter(|zone| zone.kind == ZoneKind::District)
            .cloned()
            .collect();
        let index = ZoneIndex::new(&districts);
        for sensor in &registry.sensors {
            let found = index.zones_of(sensor.lat, sensor.lon);
            assert!(
                !found.is_empty(),
                "{} ({}, {}) lies in no district of {}",
                sensor.id,
                sensor.lat,
                sensor.lon,
                registry.city.id
            );
        }
    }
}

#[test]
fn demo_parking_zones_hold_facilities() {
    let config = Config::demo(&HashMap::new()).unwrap_or_else(|errors| panic!("{errors}"));
    let registries = config
        .load_registries()
        .unwrap_or_else(|errors| panic!("{errors}"));
    let zones = config
        .load_zones()
        .unwrap_or_else(|errors| panic!("{errors}"));
    for (registry, city_zones) in registries.iter().zip(&zones) {
        let map = CityZoneMap::build(registry, &city_zones.zones);
        for zone in &map.zones {
            if zone.kind == ZoneKind::ParkingZone {
                assert!(!zone.facilities.is_empty(), "{} holds no facility", zone.id);
            }
        }
        // The centre district is the first zone of every demo file and holds traffic.
        assert!(
            !map.zones[0].traffic_sensors.is_empty(),
            "{}",
            map.zones[0].id
        );
    }
}
