//! `api.map_tile_url` and `api.map_tile_attribution`: the live map's optional base map,
//! from the file and from the environment.

mod common;

use std::collections::HashMap;

use common::{CITY, fails_at, ok, origin};
use stadtpuls_config::{Config, MapTiles};

#[test]
fn no_tiles_by_default_and_an_empty_url_is_none() {
    assert_eq!(ok("").api.map_tiles, None);
    assert_eq!(ok("[api]\nmap_tile_url = \"\"").api.map_tiles, None);
}

#[test]
fn a_tile_template_with_its_attribution() {
    let config = ok(
        "[api]\nmap_tile_url = \"https://tiles.example.org/{z}/{x}/{y}.png\"\n\
         map_tile_attribution = \"© OpenStreetMap contributors\"",
    );
    assert_eq!(
        config.api.map_tiles,
        Some(MapTiles {
            url: "https://tiles.example.org/{z}/{x}/{y}.png".into(),
            attribution: Some("© OpenStreetMap contributors".into()),
        })
    );
}

#[test]
fn a_url_the_browser_cannot_use_is_refused_at_start_up() {
    fails_at(
        "[api]\nmap_tile_url = \"tiles.example.org/{z}/{x}/{y}.png\"",
        "api.map_tile_url",
    );
    fails_at(
        "[api]\nmap_tile_url = \"https://tiles.example.org/{z}/{x}.png\"",
        "api.map_tile_url",
    );
    fails_at(
        "[api]\nmap_tile_attribution = \"© OSM\"",
        "api.map_tile_attribution",
    );
}

#[test]
fn the_environment_sets_the_tiles() {
    let vars: HashMap<String, String> = [(
        "STADTPULS_API__MAP_TILE_URL",
        "http://osm.internal/{z}/{x}/{y}.png",
    )]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect();
    let config = Config::from_toml(CITY, origin(), &vars).expect("loads");
    let tiles = config.api.map_tiles.expect("tiles");
    assert_eq!(tiles.url, "http://osm.internal/{z}/{x}/{y}.png");
    assert_eq!(tiles.attribution, None);
}
