//! `[[regions]]`: member cities, corridor sensors, and the problems each names by key
//! and file.

mod common;

use std::collections::HashMap;

use stadtpuls_config::{Config, Corridor};

/// Two cities, each with a registry of one traffic sensor and one facility, written to
/// `dir`; `regions` appended.
fn config_in(
    dir: &std::path::Path,
    regions: &str,
) -> Result<Config, stadtpuls_config::ConfigErrors> {
    let mut toml = String::new();
    for city in ["ulm", "neu-ulm"] {
        let csv = format!(
            "id,kind,name,lat,lon,lanes,capacity,free_flow_kmh,facility_id\n\
             {city}-t-1,traffic,Brücke,48.40,9.99,2,,50,\n\
             {city}-p-1,parking_facility,P+R,48.40,9.991,,100,,\n"
        );
        std::fs::write(dir.join(format!("{city}.csv")), csv).expect("registry");
        toml.push_str(&format!(
            "[[cities]]\nid = \"{city}\"\nname = \"{city}\"\ntimezone = \"Europe/Berlin\"\n\
             lat = 48.40\nlon = 9.99\nregistry = \"{city}.csv\"\n\n"
        ));
    }
    toml.push_str(regions);
    Config::from_toml(&toml, &dir.join("stadtpuls.toml"), &HashMap::new())
}

#[test]
fn a_region_lists_its_cities_and_corridors() {
    let dir = tempfile::tempdir().expect("temp dir");
    let config = config_in(
        dir.path(),
        "[[regions]]\nid = \"ulm-area\"\nname = \"Ulm / Neu-Ulm\"\ncities = [\"ulm\", \"neu-ulm\"]\n\
         corridors = [\"ulm/ulm-t-1\", \"neu-ulm/neu-ulm-t-1\"]\n",
    )
    .unwrap_or_else(|errors| panic!("should load:\n{errors}"));
    let region = config.region("ulm-area").expect("the region");
    assert_eq!(region.name, "Ulm / Neu-Ulm");
    assert_eq!(region.cities, ["ulm", "neu-ulm"]);
    assert_eq!(
        region.corridors[1],
        Corridor {
            city: "neu-ulm".into(),
            sensor: "neu-ulm-t-1".into()
        }
    );
    assert_eq!(region.corridors_of("ulm").collect::<Vec<_>>(), ["ulm-t-1"]);
    config
        .load_registries()
        .expect("corridors are traffic sensors");
    // Without `[[regions]]`: none, and nothing else changes.
    assert!(common::ok("").regions.is_empty());
}

#[test]
fn region_problems_name_their_key_and_the_file() {
    let dir = tempfile::tempdir().expect("temp dir");
    let errors = config_in(
        dir.path(),
        "[[regions]]\nid = \"Ulm Area\"\nname = \"\"\ncities = [\"ulm\", \"munich\", \"ulm\"]\n\
         [[regions]]\nid = \"a\"\nname = \"A\"\ncities = [\"ulm\"]\n\
         corridors = [\"ulm-t-1\", \"neu-ulm/neu-ulm-t-1\", \"ulm/x\", \"ulm/x\"]\n\
         [[regions]]\nid = \"a\"\nname = \"A again\"\ncities = []\n",
    )
    .expect_err("should fail");
    let file = dir.path().join("stadtpuls.toml");
    assert!(errors.iter().all(|e| e.file == file), "{errors}");
    let keys: Vec<&str> = errors.iter().map(|e| e.key.as_str()).collect();
    assert_eq!(
        keys,
        [
            "regions[0].id",
            "regions[0].name",
            "regions[0].cities[1]",
            "regions[0].cities[2]",
            "regions[1].corridors[0]",
            "regions[1].corridors[1]",
            "regions[1].corridors[3]",
            "regions[2].id",
            "regions[2].cities",
        ],
        "{errors}"
    );
    let text = errors.to_string();
    for expected in [
        "region id `Ulm Area` may only contain",
        "`munich` is not a configured city id",
        "`ulm-t-1` is not `<city>/<sensor id>`",
        "`neu-ulm` is not one of this region's cities",
        "duplicate region id `a`",
        "must name at least one city",
    ] {
        assert!(text.contains(expected), "{expected}: {text}");
    }
}

#[test]
fn a_corridor_must_be_a_traffic_sensor_of_its_registry() {
    let dir = tempfile::tempdir().expect("temp dir");
    let config = config_in(
        dir.path(),
        "[[regions]]\nid = \"r\"\nname = \"R\"\ncities = [\"ulm\", \"neu-ulm\"]\n\
         corridors = [\"ulm/ulm-t-1\", \"ulm/ulm-t-9\", \"neu-ulm/neu-ulm-p-1\"]\n",
    )
    .expect("the file itself is valid");
    let errors = config.load_registries().expect_err("unknown sensors");
    let found: Vec<(String, String)> = errors
        .iter()
        .map(|e| (e.file.display().to_string(), e.key.clone()))
        .collect();
    let file = dir.path().join("stadtpuls.toml").display().to_string();
    assert_eq!(
        found,
        [
            (file.clone(), "regions[0].corridors[1]".to_owned()),
            (file, "regions[0].corridors[2]".to_owned()),
        ],
        "{errors}"
    );
    let text = errors.to_string();
    assert!(
        text.contains("`ulm-t-9` is not in the registry of `ulm`"),
        "{text}"
    );
    assert!(
        text.contains("is a parking_facility, not a traffic sensor"),
        "{text}"
    );
}

#[test]
fn unknown_region_keys_are_refused() {
    let dir = tempfile::tempdir().expect("temp dir");
    let errors = config_in(
        dir.path(),
        "[[regions]]\nid = \"r\"\nname = \"R\"\ncities = [\"ulm\"]\npolygon = []\n",
    )
    .expect_err("unknown key");
    assert_eq!(
        errors.iter().next().map(|e| e.key.as_str()),
        Some("regions[0].polygon"),
        "{errors}"
    );
}

#[test]
fn the_demo_has_a_region_of_all_nine_cities() {
    let config = Config::demo(&HashMap::new()).expect("demo");
    let network = config.region("network").expect("the network region");
    let mut cities = network.cities.clone();
    cities.sort();
    let mut all: Vec<String> = config.cities.iter().map(|c| c.id.clone()).collect();
    all.sort();
    assert_eq!(cities, all);
    assert!(network.corridors.len() >= 9, "a corridor per city");
    assert!(config.region("karlsruhe-area").is_some());
    config
        .load_registries()
        .expect("every demo corridor is a traffic sensor of its city");
}
