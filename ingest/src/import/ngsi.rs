//! FIWARE NGSI entities (NGSI-LD or v2, normalized or keyValues; one entity, an array,
//! a notification — split as the decoder splits them): `OffStreetParking`,
//! `OnStreetParking` and `ParkingGroup`, each a site. `id` (as written, URN or not) →
//! external id, `name`, `totalSpotNumber` → capacity, `location` → position (a Point, or
//! the mean vertex of a Polygon's outer ring: on-street zones are drawn as polygons).

use std::borrow::Cow;

use serde_json::Value;

use super::candidate::{Candidate, scalar};
use crate::decode::fiware::attrs::{Entity, OwnedMembers};
use crate::decode::fiware::entities;
use crate::error::ImportError;

/// Entity types that are a parking site with a capacity.
const SITE_TYPES: [&str; 3] = ["OffStreetParking", "OnStreetParking", "ParkingGroup"];

/// The entities of `payload`, each a site candidate or a record that is no parking site
/// (skipped with its reason).
pub(super) fn candidates(payload: &[u8]) -> Result<Vec<Entry>, ImportError> {
    let shape = |detail: String| ImportError::Shape {
        format: "NGSI",
        detail,
    };
    let raw = entities(payload).map_err(|rejection| shape(rejection.detail))?;
    let single;
    let elements: Vec<&[u8]> = match &raw {
        Some(elements) => elements.iter().map(|e| e.get().as_bytes()).collect(),
        None => {
            single = [payload];
            single.to_vec()
        }
    };
    let mut entries = Vec::with_capacity(elements.len());
    for (index, bytes) in elements.into_iter().enumerate() {
        let value: Value = serde_json::from_slice(bytes)?;
        entries.push(entry(index, &value));
    }
    Ok(entries)
}

/// One entity: a site candidate, or a record that is no parking site.
pub(super) enum Entry {
    Site(Candidate),
    NotASite { record: String, reason: String },
}

fn entry(index: usize, value: &Value) -> Entry {
    let owned = OwnedMembers::of(value);
    let members = owned.as_ref().map(OwnedMembers::borrowed);
    let entity = match &members {
        Ok(members) => Entity::new(members),
        Err(rejection) => Err((*rejection).clone()),
    };
    let entity = match entity {
        Ok(entity) => entity,
        Err(rejection) => {
            return Entry::NotASite {
                record: format!("entities[{index}]"),
                reason: rejection.detail,
            };
        }
    };
    let record = format!("entity `{}`", entity.id);
    let kind = entity.kind();
    if !SITE_TYPES.contains(&kind) {
        let reason = if kind == "ParkingSpot" {
            "a ParkingSpot is one space of a site: import its OffStreetParking / OnStreetParking (spots are parking_spot rows with a facility_id, written by hand)".to_owned()
        } else {
            format!(
                "type `{}` is not a parking site (imported: {})",
                kind,
                SITE_TYPES.join(", ")
            )
        };
        return Entry::NotASite { record, reason };
    }
    let location = entity.value("location").and_then(|v| v.to_value());
    let (lat, lon) = match location.as_ref().map(position) {
        Some(Some((lat, lon))) => (Some(lat.to_string()), Some(lon.to_string())),
        _ => (None, None),
    };
    Entry::Site(Candidate {
        record,
        id_field: "id",
        external_id: Some(entity.id.to_string()),
        id_stem: Some(stem(&entity.id, kind).to_owned()),
        name: entity
            .value("name")
            .and_then(|v| v.as_str())
            .map(Cow::into_owned),
        capacity_field: "totalSpotNumber",
        capacity: scalar(
            entity
                .value("totalSpotNumber")
                .and_then(|v| v.to_value())
                .as_ref(),
        ),
        lat,
        lon,
    })
}

/// The id without `urn:ngsi-ld:<Type>:`, so new rows read `porto-porto-parkinglot-23889`
/// rather than repeating the URN scheme.
fn stem<'a>(id: &'a str, kind: &str) -> &'a str {
    id.strip_prefix("urn:ngsi-ld:")
        .map(|rest| {
            rest.strip_prefix(kind)
                .and_then(|rest| rest.strip_prefix(':'))
                .unwrap_or(rest)
        })
        .unwrap_or(id)
}

/// (lat, lon) of a GeoJSON Point, or the mean vertex of a Polygon's outer ring (its
/// closing vertex counted once).
fn position(geometry: &Value) -> Option<(f64, f64)> {
    let coordinates = geometry.get("coordinates")?;
    let pair = |p: &Value| -> Option<(f64, f64)> {
        let lon = p.get(0)?.as_f64()?;
        let lat = p.get(1)?.as_f64()?;
        Some((lat, lon))
    };
    match geometry.get("type")?.as_str()? {
        "Point" => pair(coordinates),
        "Polygon" => {
            let ring = coordinates.get(0)?.as_array()?;
            let open = match (ring.first(), ring.last()) {
                (Some(first), Some(last)) if ring.len() > 1 && first == last => {
                    &ring[..ring.len() - 1]
                }
                _ => &ring[..],
            };
            let points: Option<Vec<(f64, f64)>> = open.iter().map(pair).collect();
            let points = points?;
            let n = points.len() as f64;
            (n > 0.0).then(|| {
                let (lat, lon) = points
                    .iter()
                    .fold((0.0, 0.0), |(a, b), (lat, lon)| (a + lat, b + lon));
                (lat / n, lon / n)
            })
        }
        _ => None,
    }
}
