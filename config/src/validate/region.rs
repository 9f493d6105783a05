//! `[[regions]]`: ids, member cities and corridor sensors. Whether a corridor sensor is
//! a traffic sensor of its city's registry needs the registries, so
//! [`crate::Config::load_registries`] checks that ([`corridor_sensors`]).

use std::collections::HashSet;

use super::{Ctx, MAX_CITY_ID_LEN};
use crate::error::Errors;
use crate::fields;
use crate::model::{CityConfig, Corridor, RegionConfig};
use crate::raw::RawRegion;
use crate::registry::{CityRegistry, SensorKind};

/// Validates every region. With problems (reported to `ctx`) a region keeps its valid
/// parts — the known cities, the well-formed corridors of those — so that
/// `stadtpuls config check` still checks those corridors against the registries; the
/// config is not used then.
pub(super) fn regions(
    ctx: &mut Ctx<'_>,
    raw: Vec<RawRegion>,
    cities: &[CityConfig],
) -> Vec<RegionConfig> {
    let known: HashSet<&str> = cities.iter().map(|c| c.id.as_str()).collect();
    let mut ids: HashSet<String> = HashSet::new();
    let mut regions = Vec::with_capacity(raw.len());
    for (index, region) in raw.into_iter().enumerate() {
        let base = format!("regions[{index}]");
        let id = region.id.trim().to_owned();
        if let Err(message) = fields::check_city_id(&id, MAX_CITY_ID_LEN) {
            // The rule of a city id, so the message says "region id".
            ctx.error(
                &format!("{base}.id"),
                message.replace("city id", "region id"),
            );
        } else if !ids.insert(id.clone()) {
            ctx.error(&format!("{base}.id"), format!("duplicate region id `{id}`"));
        }
        if region.name.trim().is_empty() {
            ctx.error(&format!("{base}.name"), "must not be empty");
        }
        let cities = member_cities(ctx, &base, &region.cities, &known);
        let corridors = corridors(ctx, &base, &region.corridors, &cities);
        regions.push(RegionConfig {
            id,
            name: region.name.trim().to_owned(),
            cities,
            corridors,
        });
    }
    regions
}

fn member_cities(
    ctx: &mut Ctx<'_>,
    base: &str,
    raw: &[String],
    known: &HashSet<&str>,
) -> Vec<String> {
    let path = format!("{base}.cities");
    if raw.is_empty() {
        ctx.error(&path, "must name at least one city");
    }
    let mut members: Vec<String> = Vec::with_capacity(raw.len());
    for (i, id) in raw.iter().enumerate() {
        if !known.contains(id.as_str()) {
            ctx.error(
                &format!("{path}[{i}]"),
                format!("`{id}` is not a configured city id"),
            );
        } else if members.contains(id) {
            ctx.error(
                &format!("{path}[{i}]"),
                format!("city `{id}` is listed twice"),
            );
        } else {
            members.push(id.clone());
        }
    }
    members
}

fn corridors(ctx: &mut Ctx<'_>, base: &str, raw: &[String], members: &[String]) -> Vec<Corridor> {
    let mut corridors: Vec<Corridor> = Vec::with_capacity(raw.len());
    for (i, text) in raw.iter().enumerate() {
        let path = format!("{base}.corridors[{i}]");
        let Some((city, sensor)) = text
            .split_once('/')
            .filter(|(city, sensor)| !city.is_empty() && !sensor.is_empty())
        else {
            ctx.error(
                &path,
                format!("`{text}` is not `<city>/<sensor id>`, e.g. `ulm/ulm-t-001`"),
            );
            continue;
        };
        let corridor = Corridor {
            city: city.to_owned(),
            sensor: sensor.to_owned(),
        };
        if !members.iter().any(|m| m == city) {
            ctx.error(
                &path,
                format!("`{city}` is not one of this region's cities"),
            );
        } else if corridors.contains(&corridor) {
            ctx.error(&path, format!("`{text}` is listed twice"));
        } else {
            corridors.push(corridor);
        }
    }
    corridors
}

/// Checks that every corridor sensor is a traffic sensor of its city's registry
/// (`registries` in any order; a city without a loaded registry is skipped, its own
/// errors are already reported). Errors name `regions[i].corridors[j]` in `origin`.
pub(crate) fn corridor_sensors(
    regions: &[RegionConfig],
    registries: &[CityRegistry],
    origin: &std::path::Path,
    errors: &mut Errors,
) {
    for (index, region) in regions.iter().enumerate() {
        for (i, corridor) in region.corridors.iter().enumerate() {
            let Some(registry) = registries.iter().find(|r| r.city.id == corridor.city) else {
                continue;
            };
            let kind = registry
                .sensors
                .iter()
                .find(|s| s.id == corridor.sensor)
                .map(|s| s.kind);
            let problem = match kind {
                Some(SensorKind::Traffic) => continue,
                Some(other) => format!(
                    "`{}` in `{}` is a {other}, not a traffic sensor",
                    corridor.sensor, corridor.city
                ),
                None => format!(
                    "`{}` is not in the registry of `{}`",
                    corridor.sensor, corridor.city
                ),
            };
            errors.push(origin, format!("regions[{index}].corridors[{i}]"), problem);
        }
    }
}
