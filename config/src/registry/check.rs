//! Registry rules: rows → [`SensorSpec`]s, every problem reported.

use std::collections::HashMap;
use std::ops::RangeInclusive;
use std::path::Path;
use std::str::FromStr;

use super::external;
use super::read::{GEOMETRY, RawSensor, RowLocation, WHOLE_ROW};
use super::{FacilityType, SensorKind, SensorSpec};
use crate::error::{ConfigError, Errors};
use crate::fields::{self, MAX_DISTANCE_FROM_CENTRE_M};
use crate::model::{CityConfig, TrafficConfig, derived_site_class};

const MAX_ID_LEN: usize = 128;
const LANES: RangeInclusive<u8> = 1..=8;
const DEFAULT_LANES: u8 = 1;
const FREE_FLOW_KMH: RangeInclusive<f64> = 5.0..=250.0;
const DEFAULT_FREE_FLOW_KMH: f64 = 50.0;

/// What could be read from one row; `spec` is `None` when some field was invalid.
struct Parsed {
    location: RowLocation,
    id: Option<String>,
    kind: Option<SensorKind>,
    spec: Option<SensorSpec>,
}

/// Errors tagged with their row index, so that they can be reported in file order
/// although the checks run in several passes.
struct Found<'a> {
    file: &'a Path,
    errors: Vec<(usize, ConfigError)>,
}

impl Found<'_> {
    fn push(&mut self, row: usize, key: String, message: String) {
        self.errors
            .push((row, ConfigError::new(self.file, key, message)));
    }
}

/// Reports problems of one row; the row is unusable once any was reported.
struct RowErrors<'a, 'f> {
    index: usize,
    location: RowLocation,
    subject: String,
    found: &'a mut Found<'f>,
    failed: bool,
}

impl RowErrors<'_, '_> {
    fn push(&mut self, field: &str, message: impl AsRef<str>) {
        self.push_at(self.location.key(field), message);
    }

    fn push_at(&mut self, key: String, message: impl AsRef<str>) {
        let message = format!("{}{}", self.subject, message.as_ref());
        self.found.push(self.index, key, message);
        self.failed = true;
    }

    fn number<T: FromStr>(&mut self, row: &RawSensor, field: &str, what: &str) -> Option<T> {
        let text = row.get(field)?;
        let parsed = text.parse().ok();
        if parsed.is_none() {
            self.push(field, format!("invalid {field} `{text}`, expected {what}"));
        }
        parsed
    }
}

/// Validates `rows` of `city`'s registry `file`; the result is only complete when no
/// error was added.
pub(super) fn check(
    city: &CityConfig,
    traffic: &TrafficConfig,
    rows: Vec<RawSensor>,
    file: &Path,
    errors: &mut Errors,
) -> Vec<SensorSpec> {
    let mut found = Found {
        file,
        errors: Vec::new(),
    };
    let parsed: Vec<Parsed> = rows
        .iter()
        .enumerate()
        .map(|(index, row)| parse_row(city, traffic, index, row, &mut found))
        .collect();

    let mut first_seen: HashMap<&str, (RowLocation, Option<SensorKind>)> = HashMap::new();
    for (index, row) in parsed.iter().enumerate() {
        let Some(id) = row.id.as_deref() else {
            continue;
        };
        if let Some((first, _)) = first_seen.get(id) {
            let message = format!(
                "duplicate sensor id `{id}`, first used at {}",
                first.describe()
            );
            found.push(index, row.location.key("id"), message);
        } else {
            first_seen.insert(id, (row.location, row.kind));
        }
    }

    let mut external_seen = external::Seen::default();
    for (index, row) in parsed.iter().enumerate() {
        let Some(spec) = &row.spec else { continue };
        for problem in external_seen.claim(row.location, &spec.id, &spec.external_ids) {
            let message = format!("sensor `{}`: {problem}", spec.id);
            found.push(index, row.location.key("external_id"), message);
        }
    }

    let mut spots_per_facility: HashMap<String, u32> = HashMap::new();
    for (index, row) in parsed.iter().enumerate() {
        let Some(spec) = &row.spec else { continue };
        let Some(facility_id) = spec.facility_id.as_deref() else {
            continue;
        };
        *spots_per_facility
            .entry(facility_id.to_owned())
            .or_default() += 1;
        let problem = match first_seen.get(facility_id) {
            None => Some(format!(
                "unknown facility `{facility_id}`, no parking_facility with this id in the registry"
            )),
            Some((_, Some(kind))) if *kind != SensorKind::ParkingFacility => Some(format!(
                "`{facility_id}` is a {kind} sensor, not a parking_facility"
            )),
            // A facility row with an unreadable kind is already reported.
            Some(_) => None,
        };
        if let Some(problem) = problem {
            found.push(
                index,
                row.location.key("facility_id"),
                format!("sensor `{}`: {problem}", spec.id),
            );
        }
    }

    let mut sensors = Vec::with_capacity(parsed.len());
    for (index, row) in parsed.into_iter().enumerate() {
        let Some(mut spec) = row.spec else { continue };
        if spec.kind == SensorKind::ParkingFacility {
            let spots = spots_per_facility
                .get(spec.id.as_str())
                .copied()
                .unwrap_or(0);
            match spec.capacity {
                None if spots > 0 => spec.capacity = Some(spots),
                None => {
                    let message = format!(
                        "sensor `{}`: capacity is required for a parking_facility without spots in the registry",
                        spec.id
                    );
                    found.push(index, row.location.key("capacity"), message);
                }
                Some(capacity) if spots > capacity => {
                    let message = format!(
                        "sensor `{}`: has {spots} spots in the registry but capacity {capacity}",
                        spec.id
                    );
                    found.push(index, row.location.key("capacity"), message);
                }
                Some(_) => {}
            }
        }
        sensors.push(spec);
    }
    // Stable, so the errors of one row keep their field order.
    found.errors.sort_by_key(|(index, _)| *index);
    for (_, error) in found.errors {
        errors.push_error(error);
    }
    sensors
}

fn parse_row(
    city: &CityConfig,
    traffic: &TrafficConfig,
    index: usize,
    row: &RawSensor,
    found: &mut Found<'_>,
) -> Parsed {
    let id = row.get("id").map(str::to_owned);
    let subject = id
        .as_ref()
        .map_or_else(String::new, |id| format!("sensor `{id}`: "));
    let mut report = RowErrors {
        index,
        location: row.location,
        subject,
        found,
        failed: false,
    };
    for (field, message) in &row.problems {
        report.push_at(row.key(field), message);
    }
    if row.problems.iter().any(|(field, _)| field == WHOLE_ROW) {
        return Parsed {
            location: row.location,
            id: None,
            kind: None,
            spec: None,
        };
    }

    match &id {
        None => report.push("id", "missing id"),
        Some(id) if id.chars().count() > MAX_ID_LEN => {
            report.push("id", format!("id is longer than {MAX_ID_LEN} characters"))
        }
        Some(_) => {}
    }
    let kind = match row.get("kind") {
        None => {
            report.push(
                "kind",
                "missing kind, expected one of traffic, parking_spot, parking_facility",
            );
            None
        }
        Some(text) => SensorKind::from_str(text)
            .map_err(|message| report.push("kind", message))
            .ok(),
    };
    let lat = report.number::<f64>(row, "lat", "degrees");
    let lon = report.number::<f64>(row, "lon", "degrees");
    let (lat, lon) = position(city, row, lat, lon, &mut report);

    let mut lanes = 0;
    let mut free_flow_kmh = None;
    let mut capacity = None;
    let mut facility_id = None;
    let mut site_class = None;
    let mut facility_type = None;
    match kind {
        Some(SensorKind::Traffic) => {
            lanes = report
                .number::<u8>(row, "lanes", "an integer 1..=8")
                .unwrap_or(DEFAULT_LANES);
            if !LANES.contains(&lanes) {
                report.push("lanes", format!("lanes {lanes} is out of range 1..=8"));
            }
            let speed = report
                .number::<f64>(row, "free_flow_kmh", "km/h")
                .unwrap_or(DEFAULT_FREE_FLOW_KMH);
            if !FREE_FLOW_KMH.contains(&speed) {
                report.push(
                    "free_flow_kmh",
                    format!("free_flow_kmh {speed} is out of range 5..=250"),
                );
            }
            free_flow_kmh = Some(speed);
            site_class = Some(match row.get("site_class") {
                Some(name) => {
                    if traffic.site_class(name).is_none() {
                        let known: Vec<&str> = traffic
                            .site_classes
                            .iter()
                            .map(|c| c.name.as_str())
                            .collect();
                        let message = format!(
                            "unknown site_class `{name}`, expected one of {} (or configure [traffic.site_classes.{name}])",
                            known.join(", ")
                        );
                        report.push("site_class", message);
                    }
                    name.to_owned()
                }
                None => derived_site_class(speed).to_owned(),
            });
        }
        Some(SensorKind::ParkingFacility) => {
            capacity = report.number::<u32>(row, "capacity", "a whole number of spaces");
            if capacity == Some(0) {
                report.push("capacity", "capacity must be greater than zero");
            }
            facility_type = row.get("facility_type").and_then(|text| {
                FacilityType::from_str(text)
                    .map_err(|message| report.push("facility_type", message))
                    .ok()
            });
        }
        Some(SensorKind::ParkingSpot) => {
            facility_id = row.get("facility_id").map(str::to_owned);
            if facility_id.is_none() {
                report.push(
                    "facility_id",
                    "a parking_spot needs the facility_id of its parking_facility",
                );
            }
        }
        None => {}
    }
    if kind.is_some_and(|kind| kind != SensorKind::ParkingFacility)
        && row.get("facility_type").is_some()
    {
        report.push(
            "facility_type",
            "facility_type is only allowed on parking_facility rows",
        );
    }
    if kind.is_some_and(|kind| kind != SensorKind::Traffic) && row.get("site_class").is_some() {
        report.push("site_class", "site_class is only allowed on traffic rows");
    }
    if kind.is_some_and(|kind| kind != SensorKind::ParkingSpot) && row.get("facility_id").is_some()
    {
        report.push(
            "facility_id",
            "facility_id is only allowed on parking_spot rows",
        );
    }

    let lanes_of_row = (kind == Some(SensorKind::Traffic)).then_some(lanes);
    let external_ids = match row.get("external_id") {
        None => Vec::new(),
        Some(cell) => external::parse(cell, lanes_of_row)
            .map_err(|message| report.push("external_id", message))
            .unwrap_or_default(),
    };

    let spec = match (&id, kind, report.failed) {
        (Some(id), Some(kind), false) => Some(SensorSpec {
            id: id.clone(),
            kind,
            name: row.get("name").map(str::to_owned),
            lat,
            lon,
            lanes,
            capacity,
            free_flow_kmh,
            facility_id,
            site_class,
            external_ids,
            facility_type,
        }),
        _ => None,
    };
    Parsed {
        location: row.location,
        id,
        kind,
        spec,
    }
}

/// Checks range and distance from the centre; returns (0, 0) when either is missing.
fn position(
    city: &CityConfig,
    row: &RawSensor,
    lat: Option<f64>,
    lon: Option<f64>,
    report: &mut RowErrors<'_, '_>,
) -> (f64, f64) {
    // A GeoJSON feature without a usable point is already reported as such.
    let has_geometry_problem = row.problems.iter().any(|(field, _)| field == GEOMETRY);
    if row.get("lat").is_none() && !has_geometry_problem {
        report.push("lat", "missing lat");
    }
    if row.get("lon").is_none() && !has_geometry_problem {
        report.push("lon", "missing lon");
    }
    let (Some(lat), Some(lon)) = (lat, lon) else {
        return (0.0, 0.0);
    };
    let lat_ok = fields::check_lat(lat)
        .map_err(|message| report.push("lat", message))
        .is_ok();
    let lon_ok = fields::check_lon(lon)
        .map_err(|message| report.push("lon", message))
        .is_ok();
    if lat_ok && lon_ok {
        let distance = fields::distance_m(city.lat, city.lon, lat, lon);
        if distance > MAX_DISTANCE_FROM_CENTRE_M {
            let message = format!(
                "({lat}, {lon}) is {:.0} km from the centre of {}, more than 50 km; are lat and lon swapped?",
                distance / 1000.0,
                city.name
            );
            report.push("lat", message);
        }
    }
    (lat, lon)
}
