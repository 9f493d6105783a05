//! Checks for single values shared by the config file and the registries.
//!
//! Each returns the message of the problem, without key or file: the caller knows
//! where the value came from.

use std::path::Path;
use std::time::Duration;

/// Mean earth radius used for distances, metres (the same as
/// `stadtpuls_processing::geo::EARTH_RADIUS_M`, which this crate cannot depend on).
const EARTH_RADIUS_M: f64 = 6_371_008.8;

/// Sensors and zone vertices must lie this close to their city's centre: far enough for
/// any suburb or border P+R, near enough to catch swapped lat/lon or a file filed under
/// the wrong city.
pub(crate) const MAX_DISTANCE_FROM_CENTRE_M: f64 = 50_000.0;

/// Parses a humantime duration such as `30s`, `15m` or `1h 30m`.
pub(crate) fn parse_duration(text: &str) -> Result<Duration, String> {
    let trimmed = text.trim();
    if trimmed.is_empty() {
        return Err("empty duration, expected e.g. `30s` or `15m`".to_owned());
    }
    humantime::parse_duration(trimmed).map_err(|error| {
        format!(
            "invalid duration `{text}`: {}, expected e.g. `30s` or `15m`",
            lowercase_first(&error.to_string())
        )
    })
}

fn lowercase_first(text: &str) -> String {
    let mut chars = text.chars();
    match chars.next() {
        Some(first) => first.to_lowercase().chain(chars).collect(),
        None => String::new(),
    }
}

/// Kafka topic names: `[a-zA-Z0-9._-]`, 1..=`max_len` chars, not `.` or `..`.
pub(crate) fn check_topic_name(name: &str, max_len: usize) -> Result<(), String> {
    if name.is_empty() {
        return Err("must not be empty".to_owned());
    }
    if name.len() > max_len {
        return Err(format!(
            "topic name is {} characters long, at most {max_len} are allowed",
            name.len()
        ));
    }
    if name == "." || name == ".." {
        return Err(format!("`{name}` is not a valid topic name"));
    }
    if let Some(bad) = name
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-')))
    {
        return Err(format!(
            "topic name `{name}` contains `{bad}`, only a-z, A-Z, 0-9, `.`, `_` and `-` are allowed"
        ));
    }
    Ok(())
}

/// City ids become part of topic names and URLs: `^[a-z0-9-]+$`, 1..=`max_len`.
pub(crate) fn check_city_id(id: &str, max_len: usize) -> Result<(), String> {
    if id.is_empty() {
        return Err("must not be empty".to_owned());
    }
    if id.len() > max_len {
        return Err(format!(
            "city id `{id}` is longer than {max_len} characters"
        ));
    }
    if !id
        .chars()
        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
    {
        return Err(format!("city id `{id}` may only contain a-z, 0-9 and `-`"));
    }
    Ok(())
}

/// Site class names are written in registries: `^[a-z0-9_-]+$`, 1..=`max_len`.
pub(crate) fn check_site_class_name(name: &str, max_len: usize) -> Result<(), String> {
    if name.is_empty() || name.len() > max_len {
        return Err(format!(
            "site class name `{name}` must be 1 to {max_len} characters long"
        ));
    }
    if !name
        .chars()
        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-')
    {
        return Err(format!(
            "site class name `{name}` may only contain a-z, 0-9, `_` and `-`"
        ));
    }
    Ok(())
}

pub(crate) fn check_lat(lat: f64) -> Result<(), String> {
    if lat.is_finite() && (-90.0..=90.0).contains(&lat) {
        Ok(())
    } else {
        Err(format!("latitude {lat} is out of range -90..=90"))
    }
}

pub(crate) fn check_lon(lon: f64) -> Result<(), String> {
    if lon.is_finite() && (-180.0..=180.0).contains(&lon) {
        Ok(())
    } else {
        Err(format!("longitude {lon} is out of range -180..=180"))
    }
}

/// Registry files must say their format through the extension.
pub(crate) fn check_registry_name(name: &str) -> Result<(), String> {
    if name.trim().is_empty() {
        return Err("must not be empty".to_owned());
    }
    match registry_format(Path::new(name)) {
        Some(_) => Ok(()),
        None => Err(format!(
            "registry `{name}` must end in `.csv`, `.geojson` or `.json`"
        )),
    }
}

/// Zone files are GeoJSON only.
pub(crate) fn check_zones_name(name: &str) -> Result<(), String> {
    if name.trim().is_empty() {
        return Err("must not be empty".to_owned());
    }
    match registry_format(Path::new(name)) {
        Some(RegistryFormat::GeoJson) => Ok(()),
        _ => Err(format!(
            "zone file `{name}` must be geojson, ending in `.geojson` or `.json`"
        )),
    }
}

/// The two registry file formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RegistryFormat {
    Csv,
    GeoJson,
}

pub(crate) fn registry_format(path: &Path) -> Option<RegistryFormat> {
    let extension = path.extension()?.to_str()?.to_ascii_lowercase();
    match extension.as_str() {
        "csv" => Some(RegistryFormat::Csv),
        "geojson" | "json" => Some(RegistryFormat::GeoJson),
        _ => None,
    }
}

/// Great-circle distance in metres (haversine); ample for the "is this sensor in
/// the right city" check.
pub(crate) fn distance_m(lat1: f64, lon1: f64, lat2: f64, lon2: f64) -> f64 {
    let (phi1, phi2) = (lat1.to_radians(), lat2.to_radians());
    let d_phi = (lat2 - lat1).to_radians();
    let d_lambda = (lon2 - lon1).to_radians();
    let a = (d_phi / 2.0).sin().powi(2) + phi1.cos() * phi2.cos() * (d_lambda / 2.0).sin().powi(2);
    2.0 * EARTH_RADIUS_M * a.sqrt().min(1.0).asin()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_parse_humantime() {
        assert_eq!(parse_duration("30s"), Ok(Duration::from_secs(30)));
        assert_eq!(parse_duration("15m"), Ok(Duration::from_secs(900)));
        assert_eq!(parse_duration(" 1h 30m "), Ok(Duration::from_secs(5400)));
        assert_eq!(parse_duration("100ms"), Ok(Duration::from_millis(100)));
        assert_eq!(parse_duration("0s"), Ok(Duration::ZERO));
    }

    #[test]
    fn bad_durations_are_explained() {
        let message = parse_duration("5 minutes please").unwrap_err();
        assert!(
            message.starts_with("invalid duration `5 minutes please`: "),
            "{message}"
        );
        assert!(parse_duration("30").is_err());
        assert!(parse_duration("").is_err());
        assert!(parse_duration("-5s").is_err());
    }

    #[test]
    fn topic_names() {
        assert!(check_topic_name("sensors.deadletter", 249).is_ok());
        assert!(check_topic_name("a_B-9", 249).is_ok());
        assert!(check_topic_name("", 249).is_err());
        assert!(check_topic_name("..", 249).is_err());
        assert!(check_topic_name("has space", 249).is_err());
        assert!(check_topic_name(&"x".repeat(250), 249).is_err());
        assert!(check_topic_name(&"x".repeat(249), 249).is_ok());
    }

    #[test]
    fn city_ids() {
        assert!(check_city_id("freiburg", 64).is_ok());
        assert!(check_city_id("bad-homburg-2", 64).is_ok());
        assert!(check_city_id("Ulm", 64).is_err());
        assert!(check_city_id("ulm_1", 64).is_err());
        assert!(check_city_id("", 64).is_err());
        assert!(check_city_id(&"a".repeat(65), 64).is_err());
    }

    #[test]
    fn coordinates() {
        assert!(check_lat(48.4).is_ok());
        assert!(check_lat(90.5).is_err());
        assert!(check_lat(f64::NAN).is_err());
        assert!(check_lon(-180.0).is_ok());
        assert!(check_lon(f64::INFINITY).is_err());
    }

    #[test]
    fn registry_names_need_a_known_extension() {
        assert!(check_registry_name("registries/ulm.csv").is_ok());
        assert!(check_registry_name("konstanz.GeoJSON").is_ok());
        assert!(check_registry_name("x.json").is_ok());
        assert!(check_registry_name("x.xlsx").is_err());
        assert!(check_registry_name("").is_err());
    }

    #[test]
    fn zone_files_must_be_geojson() {
        assert!(check_zones_name("zones/ulm.geojson").is_ok());
        assert!(check_zones_name("ulm.JSON").is_ok());
        assert!(check_zones_name("zones/ulm.csv").is_err());
        assert!(check_zones_name(" ").is_err());
    }

    #[test]
    fn distance_karlsruhe_ettlingen_is_about_7_5_km() {
        let metres = distance_m(49.0094, 8.4044, 48.9413, 8.4075);
        assert!((7_000.0..8_000.0).contains(&metres), "{metres}");
    }
}
