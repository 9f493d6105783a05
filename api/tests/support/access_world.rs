//! The access tests' world, shared by the HTTP matrix (`api/tests/access_matrix.rs`) and
//! the Flight SQL one (`tests/access_flight.rs`) so both doors are asked about the same
//! policy: five cities shared five ways and four keys.
//!
//! - ettlingen: open; karlsruhe and ulm: private; neu-ulm: partners with ulm; pforzheim:
//!   parking open, traffic private.
//! - keys `key-ulm` (ulm), `key-karlsruhe` (karlsruhe), `key-region` (both), `key-all` (`*`).
//! - each city one traffic sensor `<city>-t-1` and one facility `<city>-p-1` (100 spaces).

use std::path::Path;

/// The world's cities, sorted.
pub const CITIES: [&str; 5] = ["ettlingen", "karlsruhe", "neu-ulm", "pforzheim", "ulm"];

/// Writes the cities' registries into `dir` and returns the config text of the keys and
/// cities; a test adds its own sections (`[api]`, `[[regions]]`) to it.
pub fn world_toml(dir: &Path) -> String {
    let mut toml = String::new();
    for (principal, key, cities) in [
        ("ulm-centre", "key-ulm", "\"ulm\""),
        ("karlsruhe-centre", "key-karlsruhe", "\"karlsruhe\""),
        ("region", "key-region", "\"ulm\", \"karlsruhe\""),
        ("all", "key-all", "\"*\""),
    ] {
        toml.push_str(&format!(
            "[[api_keys]]\nprincipal = \"{principal}\"\nkey_sha256 = \"{}\"\ncities = [{cities}]\n\n",
            stadtpuls_api::sql::hash_key(key)
        ));
    }
    let shares = [
        ("ettlingen", "share = \"open\""),
        ("karlsruhe", ""),
        ("neu-ulm", "share = \"partners\"\npartners = [\"ulm\"]"),
        (
            "pforzheim",
            "[cities.share]\ntraffic = \"private\"\nparking = \"open\"",
        ),
        ("ulm", ""),
    ];
    for (i, (city, share)) in shares.iter().enumerate() {
        let lat = 48.40 + 0.001 * i as f64;
        let csv = format!(
            "id,kind,name,lat,lon,lanes,capacity,free_flow_kmh,facility_id\n\
             {city}-t-1,traffic,Ring,{lat},9.99,2,,50,\n\
             {city}-p-1,parking_facility,Parkhaus,{lat},9.991,,100,,\n"
        );
        std::fs::write(dir.join(format!("{city}.csv")), csv).expect("registry");
        toml.push_str(&format!(
            "\n[[cities]]\nid = \"{city}\"\nname = \"{city}\"\ntimezone = \"Europe/Berlin\"\n\
             lat = {lat}\nlon = 9.99\nregistry = \"{city}.csv\"\n{share}\n"
        ));
    }
    toml
}
