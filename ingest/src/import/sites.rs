//! DATEX II measurement site tables → `traffic` registry rows: one per
//! `measurementSiteRecord`, its value indices mapped to lanes (`<site>#<index>=<lane>`)
//! so the decoder can put each measured value in its lane (`decode/datex2/lanes.rs`).
//!
//! Per lane and value type (`trafficFlow`, `trafficSpeed`), the indices of vehicle
//! classes are mapped; the lane's `anyVehicle` index is left out when the lane has class
//! indices, since it is their total (NDW index 4 = 1 + 2 + 3): the decoder sums what is
//! mapped. A lane's class speeds are paired with its class flows by rank of index, so
//! the speeds are mapped only where the k-th speed index names the same vehicle class
//! as the k-th flow index (or the lane has one speed). Indices on no numbered lane
//! (`specificLane` missing or not `laneN`) and other value types are left out.

use stadtpuls_config::{ImportedSite, TrafficSite};

use super::candidate::{Skipped, position};
use crate::decode::datex2::{SiteIndex, SiteRecord};

/// Most lanes of a registry traffic sensor (as `config check` allows).
const MAX_LANES: u8 = 8;

/// One mapped value index: (index, lane, is a flow, vehicle class).
type Mapped<'a> = (u16, u8, bool, &'a str);

/// The registry sites of `records`; records that give none are in `skipped`.
pub(super) fn traffic_sites(
    records: &[SiteRecord],
    utm_zone: Option<u8>,
    skipped: &mut Vec<Skipped>,
) -> Vec<ImportedSite> {
    let mut sites = Vec::new();
    for (at, record) in records.iter().enumerate() {
        let id = record
            .id
            .as_deref()
            .map(str::trim)
            .filter(|id| !id.is_empty());
        let name = match id {
            Some(id) => format!("site `{id}`"),
            None => format!("measurementSiteRecord {}", at + 1),
        };
        match site(record, utm_zone) {
            Ok(site) => sites.push(site),
            Err(reason) => skipped.push(Skipped {
                record: name,
                reason,
            }),
        }
    }
    sites
}

fn site(record: &SiteRecord, utm_zone: Option<u8>) -> Result<ImportedSite, String> {
    let Some(id) = record
        .id
        .as_deref()
        .map(str::trim)
        .filter(|id| !id.is_empty())
    else {
        return Err("no id (`measurementSiteRecord/@id`)".to_owned());
    };
    let mut mapped: Vec<Mapped<'_>> = record.indices.iter().filter_map(classify).collect();
    // A lane's anyVehicle total, where its classes are mapped too, would count twice.
    let with_classes = |lane: u8, flow: bool, mapped: &[Mapped<'_>]| {
        mapped
            .iter()
            .any(|m| m.1 == lane && m.2 == flow && !any_vehicle(m.3))
    };
    let snapshot = mapped.clone();
    mapped.retain(|m| !(any_vehicle(m.3) && with_classes(m.1, m.2, &snapshot)));
    mapped.sort_by_key(|m| m.0);
    // Speeds whose classes do not pair with the flows' by rank are left out.
    let lanes: Vec<u8> = {
        let mut lanes: Vec<u8> = mapped.iter().map(|m| m.1).collect();
        lanes.dedup();
        lanes.sort_unstable();
        lanes.dedup();
        lanes
    };
    for lane in &lanes {
        let classes = |flow: bool| -> Vec<&str> {
            mapped
                .iter()
                .filter(|m| m.1 == *lane && m.2 == flow)
                .map(|m| m.3)
                .collect()
        };
        let (flows, speeds) = (classes(true), classes(false));
        if speeds.len() > 1 && speeds != flows {
            // Keep what is on another lane or a flow.
            mapped.retain(|m| m.1 != *lane || m.2);
        }
    }
    if !mapped.iter().any(|m| m.2) {
        return Err(
            "no trafficFlow value index on a numbered lane (`specificLane` lane1, lane2, …)"
                .to_owned(),
        );
    }
    let lanes = mapped.iter().map(|m| m.1).max().unwrap_or(1);
    if lanes > MAX_LANES {
        return Err(format!(
            "values on lane {lanes}: a registry traffic sensor has at most {MAX_LANES} lanes"
        ));
    }
    let position = match (record.lat.as_deref(), record.lon.as_deref()) {
        (Some(lat), Some(lon)) => Some(position(lat, lon, utm_zone)?),
        _ => None,
    };
    Ok(ImportedSite {
        external_id: id.to_owned(),
        id_stem: id.to_owned(),
        name: record.name.clone(),
        capacity: 0,
        lat: position.map(|p| p.0),
        lon: position.map(|p| p.1),
        traffic: Some(TrafficSite {
            lanes,
            external_ids: mapped
                .iter()
                .map(|(index, lane, ..)| format!("{id}#{index}={lane}"))
                .collect(),
        }),
    })
}

/// An index's (index, lane, is a flow, class), or `None` when it maps to no lane.
fn classify(index: &SiteIndex) -> Option<Mapped<'_>> {
    let number = index.index.as_deref()?.parse::<u16>().ok()?;
    let lane = index
        .lane
        .as_deref()?
        .strip_prefix("lane")?
        .parse::<u8>()
        .ok()
        .filter(|lane| *lane >= 1)?;
    let flow = match index.value_type.as_deref()? {
        "trafficFlow" => true,
        "trafficSpeed" => false,
        _ => return None,
    };
    Some((number, lane, flow, index.vehicle.as_str()))
}

fn any_vehicle(vehicle: &str) -> bool {
    vehicle.is_empty() || vehicle == "anyVehicle"
}

#[cfg(test)]
mod tests;
