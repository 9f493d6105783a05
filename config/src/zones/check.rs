//! Zone-file rules: GeoJSON features → [`ZoneSpec`]s, every problem reported.
//!
//! Keys follow the document: `features[3].properties.kind`, `features[3].geometry`,
//! `features[3].geometry.coordinates[1]` (ring 1 of a Polygon) or
//! `features[3].geometry.coordinates[0][1][5]` (position 5 of ring 1 of the first
//! polygon of a MultiPolygon).

use std::collections::HashMap;
use std::path::Path;
use std::str::FromStr;

use geojson::{Feature, FeatureCollection, GeometryValue, PolygonType, Position};
use serde_json::Value;

use super::{LonLat, ZoneKind, ZonePolygon, ZoneSpec};
use crate::error::{Errors, FILE_KEY};
use crate::fields::{self, MAX_DISTANCE_FROM_CENTRE_M};
use crate::model::CityConfig;

const MAX_ID_LEN: usize = 128;
const PROPERTIES: [&str; 3] = ["id", "name", "kind"];
/// GeoJSON's minimum: a triangle plus the closing position.
const MIN_RING_POSITIONS: usize = 4;

/// Reports problems of one feature, prefixed with the zone id when known; the feature
/// is unusable once any was reported.
struct FeatureErrors<'a> {
    file: &'a Path,
    index: usize,
    subject: String,
    errors: &'a mut Errors,
    failed: bool,
}

impl FeatureErrors<'_> {
    /// Reports at `features[i].<path>`.
    fn push(&mut self, path: &str, message: impl AsRef<str>) {
        let key = format!("features[{}].{path}", self.index);
        let message = format!("{}{}", self.subject, message.as_ref());
        self.errors.push(self.file, key, message);
        self.failed = true;
    }
}

/// Validates zone-file `text` of `city`; the result is only complete when no error was
/// added.
pub(super) fn parse(
    city: &CityConfig,
    file: &Path,
    text: &str,
    errors: &mut Errors,
) -> Vec<ZoneSpec> {
    let collection = match FeatureCollection::from_str(text) {
        Ok(collection) => collection,
        Err(error) => {
            let message = format!(
                "not a geojson FeatureCollection: {}",
                error.to_string().to_lowercase()
            );
            errors.push(file, FILE_KEY, message);
            return Vec::new();
        }
    };
    if collection.features.is_empty() {
        let message = format!("the zone file of city `{}` lists no zones", city.id);
        errors.push(file, FILE_KEY, message);
        return Vec::new();
    }
    let mut first_seen: HashMap<String, usize> = HashMap::new();
    let mut zones = Vec::with_capacity(collection.features.len());
    for (index, feature) in collection.features.into_iter().enumerate() {
        if let Some(zone) = check_feature(city, file, index, feature, &mut first_seen, errors) {
            zones.push(zone);
        }
    }
    zones
}

fn check_feature(
    city: &CityConfig,
    file: &Path,
    index: usize,
    feature: Feature,
    first_seen: &mut HashMap<String, usize>,
    errors: &mut Errors,
) -> Option<ZoneSpec> {
    let properties = feature.properties.unwrap_or_default();
    let id = properties
        .get("id")
        .and_then(Value::as_str)
        .map(str::trim)
        .filter(|id| !id.is_empty())
        .map(str::to_owned);
    let mut report = FeatureErrors {
        file,
        index,
        subject: id
            .as_ref()
            .map_or_else(String::new, |id| format!("zone `{id}`: ")),
        errors,
        failed: false,
    };
    for name in properties.keys() {
        if !PROPERTIES.contains(&name.as_str()) {
            let message = format!(
                "unknown property `{name}`, expected {}",
                PROPERTIES.join(", ")
            );
            report.push(&format!("properties.{name}"), message);
        }
    }
    let id_text = text_property(&properties, "id", &mut report);
    if let Some(id) = &id_text {
        if id.chars().count() > MAX_ID_LEN {
            let message = format!("id is longer than {MAX_ID_LEN} characters");
            report.push("properties.id", message);
        } else if let Some(first) = first_seen.get(id) {
            let message = format!("duplicate zone id `{id}`, first used at features[{first}]");
            report.push("properties.id", message);
        } else {
            first_seen.insert(id.clone(), index);
        }
    }
    let name = text_property(&properties, "name", &mut report);
    let kind = text_property(&properties, "kind", &mut report).and_then(|text| {
        ZoneKind::from_str(&text)
            .map_err(|message| report.push("properties.kind", message))
            .ok()
    });
    let polygons = match feature.geometry.map(|geometry| geometry.value) {
        Some(GeometryValue::Polygon { coordinates }) => {
            polygon(city, &coordinates, "geometry.coordinates", &mut report).map(|p| vec![p])
        }
        Some(GeometryValue::MultiPolygon { coordinates }) => {
            if coordinates.is_empty() {
                report.push("geometry.coordinates", "multipolygon has no polygons");
            }
            let mut polygons = Vec::with_capacity(coordinates.len());
            for (index, rings) in coordinates.iter().enumerate() {
                let path = format!("geometry.coordinates[{index}]");
                polygons.extend(polygon(city, rings, &path, &mut report));
            }
            Some(polygons)
        }
        Some(other) => {
            let message = format!(
                "geometry must be a Polygon or MultiPolygon, not a {}",
                other.type_name()
            );
            report.push("geometry", message);
            None
        }
        None => {
            report.push("geometry", "missing polygon geometry");
            None
        }
    };
    match (id_text, name, kind, polygons, report.failed) {
        (Some(id), Some(name), Some(kind), Some(polygons), false) => Some(ZoneSpec {
            id,
            name,
            kind,
            polygons,
        }),
        _ => None,
    }
}

/// Returns a required, non-empty string property; reports it otherwise.
fn text_property(
    properties: &serde_json::Map<String, Value>,
    name: &str,
    report: &mut FeatureErrors<'_>,
) -> Option<String> {
    let path = format!("properties.{name}");
    match properties.get(name) {
        None | Some(Value::Null) => {
            let expected = match name {
                "kind" => ", expected district or parking_zone",
                _ => "",
            };
            report.push(&path, format!("missing {name}{expected}"));
            None
        }
        Some(Value::String(text)) if text.trim().is_empty() => {
            report.push(&path, format!("{name} must not be empty"));
            None
        }
        Some(Value::String(text)) => Some(text.trim().to_owned()),
        Some(other) => {
            report.push(&path, format!("expected a string, found `{other}`"));
            None
        }
    }
}

/// Checks the rings of one polygon at `path` (`geometry.coordinates` or
/// `geometry.coordinates[p]`).
fn polygon(
    city: &CityConfig,
    rings: &PolygonType,
    path: &str,
    report: &mut FeatureErrors<'_>,
) -> Option<ZonePolygon> {
    let Some((exterior, holes)) = rings.split_first() else {
        report.push(path, "polygon has no rings");
        return None;
    };
    let exterior = ring(city, exterior, &format!("{path}[0]"), report);
    let mut checked_holes = Vec::with_capacity(holes.len());
    for (index, hole) in holes.iter().enumerate() {
        let hole_path = format!("{path}[{}]", index + 1);
        checked_holes.extend(ring(city, hole, &hole_path, report));
    }
    let all_holes_ok = checked_holes.len() == holes.len();
    match exterior {
        Some(exterior) if all_holes_ok => Some(ZonePolygon {
            exterior,
            holes: checked_holes,
        }),
        _ => None,
    }
}

/// Checks one ring at `path`: positions in range and near the city, closed, long enough.
///
/// Only the first bad position of a ring is reported (with a count of the others): a
/// file with swapped coordinates would otherwise drown the other problems.
fn ring(
    city: &CityConfig,
    positions: &[Position],
    path: &str,
    report: &mut FeatureErrors<'_>,
) -> Option<Vec<LonLat>> {
    let mut ring = Vec::with_capacity(positions.len());
    let mut bad: Option<(usize, String)> = None;
    let mut bad_count = 0usize;
    for (index, position) in positions.iter().enumerate() {
        match point(city, position) {
            Ok(point) => ring.push(point),
            Err(message) => {
                bad_count += 1;
                bad.get_or_insert((index, message));
            }
        }
    }
    if let Some((index, message)) = bad {
        let more = match bad_count - 1 {
            0 => String::new(),
            others => format!(" (and {others} more positions of this ring)"),
        };
        report.push(&format!("{path}[{index}]"), format!("{message}{more}"));
        return None;
    }
    if ring.len() < MIN_RING_POSITIONS {
        let message = format!(
            "ring has {} positions, a closed ring needs at least {MIN_RING_POSITIONS}",
            ring.len()
        );
        report.push(path, message);
        return None;
    }
    if let (Some(first), Some(last)) = (ring.first(), ring.last())
        && first != last
    {
        let message = format!(
            "ring is not closed: the last position [{}, {}] must repeat the first [{}, {}]",
            last.lon, last.lat, first.lon, first.lat
        );
        report.push(path, message);
        return None;
    }
    Some(ring)
}

/// Checks one `[lon, lat]` position: ranges, and distance from the city centre.
fn point(city: &CityConfig, position: &Position) -> Result<LonLat, String> {
    let [lon, lat, ..] = *position.as_slice() else {
        return Err("position needs [lon, lat]".to_owned());
    };
    fields::check_lon(lon)?;
    fields::check_lat(lat)?;
    let distance = fields::distance_m(city.lat, city.lon, lat, lon);
    if distance > MAX_DISTANCE_FROM_CENTRE_M {
        return Err(format!(
            "[{lon}, {lat}] is {:.0} km from the centre of {}, more than 50 km; are lat and lon swapped?",
            distance / 1000.0,
            city.name
        ));
    }
    Ok(LonLat { lon, lat })
}
