//! The catalog's unit tests: admission, site classes, id lookups.

use super::*;

#[test]
fn admits_or_rejects_unknown_sensors() {
    let mut strict = Catalog::with_cities(&["ulm"], UnknownSensors::Reject);
    assert_eq!(strict.resolve_traffic(0, "ulm-t-1"), None);
    let mut open = Catalog::with_cities(&["ulm", "ka"], UnknownSensors::Admit);
    assert_eq!(open.resolve_traffic(1, "ka-1"), Some(0));
    assert_eq!(open.resolve_traffic(0, "ka-1"), Some(1));
    assert_eq!(open.resolve_traffic(1, "ka-1"), Some(0));
    assert_eq!(open.traffic_values().value(1), "ka-1");
    assert_eq!(open.traffic_sensors()[1].city, 0);
}

fn class_of(catalog: &Catalog, key: usize) -> &str {
    let class = catalog.traffic_sensors()[key].site_class;
    &catalog.site_classes()[usize::from(class)].name
}

#[test]
fn traffic_sensors_get_their_site_class() -> Result<(), stadtpuls_config::ConfigErrors> {
    let toml = "[traffic.site_classes.tunnel]\nv1_kmh = 40\nv2_kmh = 70\nk1_veh_km = 20\nk2_veh_km = 50\n\
        [[cities]]\nid = \"ulm\"\nname = \"Ulm\"\ntimezone = \"Europe/Berlin\"\nlat = 48.3984\nlon = 9.9916\nregistry = \"ulm.csv\"\n";
    let config =
        stadtpuls_config::Config::from_toml(toml, std::path::Path::new("t.toml"), &HashMap::new())?;
    let csv = "id,kind,lat,lon,lanes,free_flow_kmh,site_class\n\
               t1,traffic,48.4,9.99,2,50,\n\
               t2,traffic,48.4,9.99,3,120,\n\
               t3,traffic,48.4,9.99,1,50,tunnel\n\
               t4,traffic,48.4,9.99,1,75,\n";
    let registry = stadtpuls_config::parse_registry_with_classes(
        &config.cities[0],
        std::path::Path::new("ulm.csv"),
        csv,
        &config.traffic,
    )?;
    let catalog = Catalog::from_registries(&[registry], &config.traffic, UnknownSensors::Admit);
    let classes: Vec<&str> = (0..4).map(|key| class_of(&catalog, key)).collect();
    assert_eq!(classes, ["urban", "motorway", "tunnel", "arterial"]);
    assert_eq!(catalog.traffic_sensors()[1].lanes, 3);

    let mut admitted = catalog.clone();
    let key = admitted
        .resolve_traffic(0, "new-sensor")
        .unwrap_or(u32::MAX);
    assert_eq!(
        class_of(&admitted, key as usize),
        "urban",
        "50 km/h assumed"
    );
    Ok(())
}

#[test]
fn built_in_classes_are_always_there() {
    let only_tunnel = TrafficConfig {
        site_classes: vec![SiteClass {
            name: "tunnel".to_owned(),
            ..SiteClass::built_in()[0].clone()
        }],
    };
    let catalog = Catalog::from_registries(&[], &only_tunnel, UnknownSensors::Reject);
    assert_eq!(catalog.site_class_key("tunnel"), Some(0));
    for name in ["arterial", "motorway", "urban"] {
        assert!(catalog.site_class_key(name).is_some(), "{name}");
    }
}

#[test]
fn short_and_long_ids_resolve_per_city() {
    let mut c = Catalog::with_cities(&["ulm", "ka"], UnknownSensors::Admit);
    let ids = [
        "a",
        "sensor-21-characters!",
        "sensor-22-characters!!",
        &"x".repeat(128),
    ];
    let keys: Vec<_> = ids.iter().map(|id| c.resolve_traffic(0, id)).collect();
    assert_eq!(keys, vec![Some(0), Some(1), Some(2), Some(3)]);
    for (id, key) in ids.iter().zip(&keys) {
        assert_eq!(c.traffic_key(0, id), *key, "{id}");
        assert_eq!(
            c.traffic_key(1, id),
            None,
            "{id} is not a sensor of the other city"
        );
    }
    assert_eq!(
        c.traffic_key(0, "sensor-21-characters"),
        None,
        "a prefix is another id"
    );
}

/// Found by the kill -9 test: city ids of 17 bytes sharing their first 16 resolved only
/// for the first city, every event of the others was refused as of an unknown city.
#[test]
fn long_city_ids_with_a_common_head_resolve_to_their_own_city() {
    let ids = [
        "schwaebisch-gmuend-nord",
        "schwaebisch-gmuend-sued",
        "schwaebisch-gmuend",
        "ulm",
    ];
    let c = Catalog::with_cities(&ids, UnknownSensors::Reject);
    for (key, id) in ids.iter().enumerate() {
        assert_eq!(c.city(id), Some(key as CityKey), "{id}");
        assert_eq!(c.city_id(key as CityKey), *id);
    }
    assert_eq!(c.city("schwaebisch-gmuend-west"), None);
    assert_eq!(c.city("schwaebisch-gmuen"), None);
}

fn site(city: &str, id: &str, capacity: u32) -> AdmittedFacility {
    AdmittedFacility {
        city: city.to_owned(),
        id: id.to_owned(),
        external_id: format!("ext-{id}"),
        capacity,
        name: Some("Parkhaus".to_owned()),
        position: None,
    }
}

/// Only a city that admits gets a facility its registry lacks; admitting a known id again
/// (a restore of a facility this instance already admitted, or a registered one) keeps
/// the facility as it is.
#[test]
fn facilities_are_admitted_only_where_the_city_admits_them() {
    let mut c = Catalog::with_cities(&["ulm", "ka"], UnknownSensors::Reject);
    let registered = c.add_facility(0, "p1", Some(100));
    c.set_admitting(1, true);
    assert_eq!(
        c.admit_facility(site("ulm", "x", 10)),
        None,
        "ulm does not admit"
    );
    assert_eq!(c.admit_facility(site("nowhere", "x", 10)), None);
    let key = c.admit_facility(site("ka", "x", 10));
    assert_eq!(key, Some(1));
    assert_eq!(c.facility_key(1, "x"), key);
    let info = &c.facilities()[1];
    assert_eq!((info.city, info.capacity), (1, Some(10)));
    assert_eq!(info.admitted.as_deref(), Some(&site("ka", "x", 10)));
    assert_eq!(
        c.admit_facility(site("ka", "x", 99)),
        key,
        "known: unchanged"
    );
    assert_eq!(c.facilities()[1].capacity, Some(10));
    assert_eq!(c.facilities().len(), 2);
    assert_eq!(c.facility_values().value(1), "x");
    c.set_admitting(0, true);
    assert_eq!(c.admit_facility(site("ulm", "p1", 5)), Some(registered));
    assert_eq!(
        c.facilities()[0].admitted,
        None,
        "a registry facility stays one"
    );
}
