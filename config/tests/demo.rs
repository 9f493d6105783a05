//! The shipped demo: nine cities, both registry formats, the counts other crates and
//! the docs rely on.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use stadtpuls_config::{
    CityRegistry, Config, DEMO_ORIGIN, RegistrySource, SensorKind, ZoneKind, ZoneSource,
};

/// (city, traffic sensors, facilities including the on-street zone, spots).
const SHIPPED: [(&str, usize, usize, usize); 9] = [
    ("karlsruhe", 16, 9, 40),
    ("mannheim", 15, 8, 36),
    ("freiburg", 15, 8, 32),
    ("ulm", 12, 7, 28),
    ("konstanz", 11, 7, 24),
    ("friedrichshafen", 10, 6, 22),
    ("ettlingen", 10, 5, 20),
    ("heidelberg", 14, 7, 30),
    ("pforzheim", 12, 7, 26),
];

fn demo_registries() -> Vec<CityRegistry> {
    let config =
        Config::demo(&HashMap::new()).unwrap_or_else(|errors| panic!("demo config:\n{errors}"));
    config
        .load_registries()
        .unwrap_or_else(|errors| panic!("demo registries:\n{errors}"))
}

fn distance_km(lat1: f64, lon1: f64, lat2: f64, lon2: f64) -> f64 {
    let dy = (lat2 - lat1) * 111.32;
    let dx = (lon2 - lon1) * 111.32 * lat1.to_radians().cos();
    (dx * dx + dy * dy).sqrt()
}

#[test]
fn demo_loads_with_the_documented_settings() {
    let config = Config::demo(&HashMap::new()).unwrap_or_else(|errors| panic!("{errors}"));
    assert_eq!(config.origin, Path::new(DEMO_ORIGIN));
    assert_eq!(
        config.api.bind,
        "127.0.0.1:8080"
            .parse::<SocketAddr>()
            .expect("literal address")
    );
    assert_eq!(config.history.dir, PathBuf::from("./stadtpuls-data"));
    assert_eq!(
        config.windows.sizes,
        [60, 300, 900, 3600].map(Duration::from_secs)
    );
    assert_eq!(
        config.windows.hopping,
        [(Duration::from_secs(3600), Duration::from_secs(900))]
    );
    let ids: Vec<&str> = config.cities.iter().map(|city| city.id.as_str()).collect();
    assert_eq!(ids, SHIPPED.map(|(id, ..)| id));
    assert!(
        config
            .cities
            .iter()
            .all(|city| city.timezone == chrono_tz::Europe::Berlin)
    );
    assert!(
        config
            .cities
            .iter()
            .all(|city| matches!(city.registry, RegistrySource::Embedded { .. }))
    );
    assert_eq!(
        config.city("freiburg").map(|city| city.name.as_str()),
        Some("Freiburg im Breisgau")
    );
}

#[test]
fn demo_registries_have_the_shipped_counts() {
    let registries = demo_registries();
    assert_eq!(registries.len(), 9);
    for (registry, (id, traffic, facilities, spots)) in registries.iter().zip(SHIPPED) {
        assert_eq!(registry.city.id, id);
        assert_eq!(registry.traffic_sensors().count(), traffic, "{id} traffic");
        assert_eq!(registry.facilities().count(), facilities, "{id} facilities");
        assert_eq!(registry.spots().count(), spots, "{id} spots");
    }
}

#[test]
fn demo_uses_both_registry_formats() {
    let config = Config::demo(&HashMap::new()).unwrap_or_else(|errors| panic!("{errors}"));
    let names: Vec<&str> = config
        .cities
        .iter()
        .filter_map(|city| match city.registry {
            RegistrySource::Embedded { name, .. } => Some(name),
            RegistrySource::File(_) => None,
        })
        .collect();
    assert_eq!(
        names
            .iter()
            .filter(|name| name.ends_with(".geojson"))
            .count(),
        2,
        "{names:?}"
    );
    assert_eq!(
        names.iter().filter(|name| name.ends_with(".csv")).count(),
        7,
        "{names:?}"
    );
}

#[test]
fn demo_sensors_are_plausible() {
    for registry in demo_registries() {
        let city = &registry.city;
        let zone_id = format!("{}-z-01", city.id);
        for sensor in &registry.sensors {
            assert!(
                sensor.id.starts_with(&format!("{}-", city.id)),
                "{}",
                sensor.id
            );
            assert!(sensor.name.is_some(), "{} has no name", sensor.id);
            let km = distance_km(city.lat, city.lon, sensor.lat, sensor.lon);
            // The shared Karlsruhe/Ettlingen P+R sits on the border, a little further out.
            assert!(km <= 5.2, "{} is {km:.1} km from {}", sensor.id, city.name);
            match sensor.kind {
                SensorKind::Traffic => {
                    assert!((1..=3).contains(&sensor.lanes), "{}", sensor.id);
                    let speed = sensor.free_flow_kmh.unwrap_or_default();
                    assert!(
                        [50.0, 70.0, 100.0].contains(&speed),
                        "{} at {speed}",
                        sensor.id
                    );
                }
                SensorKind::ParkingFacility if sensor.id == zone_id => {
                    assert_eq!(
                        sensor.capacity,
                        Some(registry.spots().count() as u32),
                        "zone capacity is derived"
                    );
                }
                SensorKind::ParkingFacility => {
                    let capacity = sensor.capacity.unwrap_or_default();
                    assert!(
                        (150..=1200).contains(&capacity),
                        "{} holds {capacity}",
                        sensor.id
                    );
                }
                SensorKind::ParkingSpot => {
                    assert_eq!(sensor.facility_id.as_deref(), Some(zone_id.as_str()))
                }
            }
        }
        assert_eq!(
            registry.spots_of(&zone_id).count(),
            registry.spots().count()
        );
    }
}

#[test]
fn karlsruhe_and_ettlingen_share_a_border_p_and_r() {
    let registries = demo_registries();
    let border_pr = |city: &str| {
        let registry = registries
            .iter()
            .find(|registry| registry.city.id == city)
            .expect("city is in the demo");
        registry
            .facilities()
            .find(|facility| {
                facility
                    .name
                    .as_deref()
                    .is_some_and(|name| name.starts_with("P+R Rüppurr Süd"))
            })
            .map(|facility| {
                let ids: Vec<&str> = facility
                    .external_ids
                    .iter()
                    .map(|e| e.id.as_str())
                    .collect();
                (facility.lat, facility.lon, ids.join(";"))
            })
    };
    let karlsruhe = border_pr("karlsruhe").expect("karlsruhe lists the border P+R");
    // At one place under one external id: a region of both counts it once.
    assert_eq!(karlsruhe.2, "kvv-pr-rueppurr-sued");
    assert_eq!(Some(karlsruhe), border_pr("ettlingen"));
}

#[test]
fn repo_demo_file_loads_like_the_embedded_one() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("demo/stadtpuls.toml");
    let from_file =
        Config::load(&path, &HashMap::new()).unwrap_or_else(|errors| panic!("{errors}"));
    let embedded = Config::demo(&HashMap::new()).unwrap_or_else(|errors| panic!("{errors}"));
    assert_eq!(from_file.kafka, embedded.kafka);
    assert_eq!(from_file.windows, embedded.windows);
    assert_eq!(from_file.cities.len(), 9);
    let from_files = from_file
        .load_registries()
        .unwrap_or_else(|errors| panic!("{errors}"));
    let from_binary = embedded
        .load_registries()
        .unwrap_or_else(|errors| panic!("{errors}"));
    for (file, binary) in from_files.iter().zip(&from_binary) {
        assert!(matches!(file.city.registry, RegistrySource::File(ref path) if path.exists()));
        assert_eq!(file.sensors, binary.sensors, "{}", file.city.id);
    }
    for city in &from_file.cities {
        assert!(
            matches!(city.zones, Some(ZoneSource::File(ref path)) if path.exists()),
            "{}",
            city.id
        );
    }
    let zones_from_files = from_file
        .load_zones()
        .unwrap_or_else(|errors| panic!("{errors}"));
    let zones_from_binary = embedded
        .load_zones()
        .unwrap_or_else(|errors| panic!("{errors}"));
    assert_eq!(zones_from_files, zones_from_binary);
}

#[test]
fn every_demo_city_has_districts_and_parking_zones() {
    let config = Config::demo(&HashMap::new()).unwrap_or_else(|errors| panic!("{errors}"));
    let all = config
        .load_zones()
        .unwrap_or_else(|errors| panic!("demo zones:\n{errors}"));
    assert_eq!(all.len(), 9);
    for (city, zones) in config.cities.iter().zip(&all) {
        assert_eq!(zones.city, city.id);
        let count = |kind| zones.zones.iter().filter(|zone| zone.kind == kind).count();
        // A centre district and four sectors around it.
        assert_eq!(count(ZoneKind::District), 5, "{}", city.id);
        assert!(
            (1..=2).contains(&count(ZoneKind::ParkingZone)),
            "{}",
            city.id
        );
        for zone in &zones.zones {
            assert!(zone.id.starts_with(&format!("{}-", city.id)), "{}", zone.id);
        }
    }
    // Where a city has several P+R sites, their surroundings form one MultiPolygon zone.
    let karlsruhe_pr = all[0]
        .zones
        .iter()
        .find(|zone| zone.id == "karlsruhe-pz-pr")
        .expect("karlsruhe has a P+R zone");
    assert_eq!(karlsruhe_pr.polygons.len(), 2);
}

#[test]
fn demo_takes_env_overrides() {
    let env = HashMap::from([
        (
            "STADTPULS_KAFKA__BROKERS".to_owned(),
            "kafka:29092".to_owned(),
        ),
        (
            "STADTPULS_WINDOWS__SIZES".to_owned(),
            "15m,1m,5m".to_owned(),
        ),
    ]);
    let config = Config::demo(&env).unwrap_or_else(|errors| panic!("{errors}"));
    assert_eq!(config.kafka.brokers, "kafka:29092");
    assert_eq!(
        config.windows.sizes,
        [60, 300, 900].map(Duration::from_secs)
    );
}
