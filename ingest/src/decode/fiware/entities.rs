//! The Smart Data Models entity types Stadtpuls reads, each → one [`Reading`]; the units
//! are the models' (`docs/formats.md`, "FIWARE").

use stadtpuls_processing::model::parking::{OpeningStatus, SpotStatus};
use stadtpuls_processing::model::traffic::DEFAULT_INTERVAL_S;
use stadtpuls_processing::{RejectReason, Rejection};

use super::super::emit::{Reading, malformed};
use super::attrs::{Entity, instant, instant_text};
use super::json::Json;

/// The entity types read, for messages and docs.
pub(crate) const TYPES: [&str; 5] = [
    "TrafficFlowObserved",
    "OffStreetParking",
    "OnStreetParking",
    "ParkingGroup",
    "ParkingSpot",
];

/// The reading of one entity, or why it is refused.
pub(crate) fn reading<'v>(entity: &'v Entity<'_>) -> Result<Reading<'v>, Rejection> {
    match entity.kind() {
        "TrafficFlowObserved" => traffic(entity),
        "OffStreetParking" | "OnStreetParking" | "ParkingGroup" => facility(entity),
        "ParkingSpot" => spot(entity),
        other => Err(Rejection::new(
            RejectReason::Malformed,
            format!(
                "entity type `{other}` of `{}` is not read, expected one of {}",
                entity.id,
                TYPES.join(", ")
            ),
        )),
    }
}

/// `intensity` vehicles in `dateObservedFrom..dateObservedTo` (or the interval
/// `dateObserved` = `from/to`); `occupancy` 0..1 → percent; speed km/h.
fn traffic<'v>(entity: &'v Entity<'_>) -> Result<Reading<'v>, Rejection> {
    let vehicle_count = entity
        .count("intensity")?
        .ok_or_else(|| malformed(format!("`{}` has no `intensity`", entity.id)))?;
    let (mut from, mut to) = (
        entity.time("dateObservedFrom")?,
        entity.time("dateObservedTo")?,
    );
    let mut at = None;
    if let Some(observed) = entity.value("dateObserved") {
        let text = observed.as_str();
        match text.as_deref().and_then(|t| t.split_once('/')) {
            Some((a, b)) => {
                from = from.or(Some(instant_text(a, "dateObserved")?));
                to = to.or(Some(instant_text(b, "dateObserved")?));
            }
            None => at = Some(instant(observed, "dateObserved")?),
        }
    }
    let (ts, interval_s) = match (from, to) {
        (Some(from), Some(to)) => {
            if to <= from || (to - from) % 1000 != 0 {
                return Err(malformed(format!(
                    "`{}`: dateObservedTo must be whole seconds after dateObservedFrom",
                    entity.id
                )));
            }
            (to, (to - from) / 1000)
        }
        (None, Some(to)) => (to, DEFAULT_INTERVAL_S),
        // An instant alone: the observation ends there, over the default interval.
        _ => match at.or(entity.observed_at("intensity")?) {
            Some(ts) => (ts, DEFAULT_INTERVAL_S),
            None => {
                return Err(malformed(format!(
                    "`{}` has no dateObservedTo, dateObserved or observedAt",
                    entity.id
                )));
            }
        },
    };
    Ok(Reading::Traffic {
        external_id: &entity.id,
        lane: entity.count("laneId")?,
        ts,
        interval_s,
        vehicle_count,
        avg_speed_kmh: entity.number("averageVehicleSpeed")?,
        occupancy_pct: entity.number("occupancy")?.map(|fraction| fraction * 100.0),
    })
}

/// `availableSpotNumber` of `totalSpotNumber` (or total − `occupiedSpotNumber`); a
/// `status` naming `closed` admits nobody: 0 free.
fn facility<'v>(entity: &'v Entity<'_>) -> Result<Reading<'v>, Rejection> {
    let total = entity.count("totalSpotNumber")?;
    let free = match (entity.count("availableSpotNumber")?, total) {
        (Some(free), _) => free,
        (None, Some(total)) => match entity.count("occupiedSpotNumber")? {
            Some(occupied) => total - occupied,
            None => return Err(no_counts(entity)),
        },
        (None, None) => return Err(no_counts(entity)),
    };
    let ts = first_time(
        entity,
        &[
            "availableSpotNumber",
            "occupiedSpotNumber",
            "totalSpotNumber",
        ],
        &[
            "occupancyModified",
            "dateObserved",
            "observationDateTime",
            "dateModified",
        ],
    )?;
    let opening = opening(entity.value("status"));
    let free = if opening == Some(OpeningStatus::Closed) {
        0
    } else {
        free
    };
    Ok(Reading::Facility {
        external_id: &entity.id,
        ts,
        free_spaces: free,
        total_spaces: total,
        entries: entity.count("vehicleEntranceCount")?,
        exits: entity.count("vehicleExitCount")?,
        // Only kept if the facility is admitted at run time: a name that is no text
        // does not cost the count.
        name: entity.text("name").ok().flatten(),
        position: None,
        opening,
    })
}

/// `status` free / occupied / closed / unknown (any case).
fn spot<'v>(entity: &'v Entity<'_>) -> Result<Reading<'v>, Rejection> {
    let text = entity
        .text("status")?
        .ok_or_else(|| malformed(format!("`{}` has no `status`", entity.id)))?;
    let status = SpotStatus::parse(&text.to_ascii_lowercase()).ok_or_else(|| {
        malformed(format!(
            "status `{text}` is not one of free|occupied|closed|unknown"
        ))
    })?;
    let ts = first_time(
        entity,
        &["status"],
        &["dateObserved", "timeInstant", "TimeInstant", "dateModified"],
    )?;
    Ok(Reading::Spot {
        external_id: &entity.id,
        ts,
        status,
    })
}

fn no_counts(entity: &Entity<'_>) -> Rejection {
    malformed(format!(
        "`{}` has no availableSpotNumber (nor totalSpotNumber and occupiedSpotNumber)",
        entity.id
    ))
}

/// The observation time of the first of `observed` carrying one, else the first of the
/// time attributes `times`; an entity with none is refused (its windows need a time).
fn first_time(entity: &Entity<'_>, observed: &[&str], times: &[&str]) -> Result<i64, Rejection> {
    for name in observed {
        if let Some(ts) = entity.observed_at(name)? {
            return Ok(ts);
        }
    }
    for name in times {
        if let Some(ts) = entity.time(name)? {
            return Ok(ts);
        }
    }
    Err(malformed(format!(
        "`{}` carries no observation time (observedAt, metadata.timestamp, {})",
        entity.id,
        times.join(", ")
    )))
}

/// The opening status a facility `status` (a string or an array of DATEX II strings)
/// states: `closed` if any value is `closed` or `closedAbnormal`; otherwise `open` — the
/// model's other values (`open`, `openingTimesInForce`, `spacesAvailable`, `full`, …) all
/// describe a facility that admits vehicles; `None` without a `status`.
fn opening(status: Option<Json<'_>>) -> Option<OpeningStatus> {
    let is_closed = |v: &Json<'_>| {
        v.as_str().is_some_and(|s| {
            s.eq_ignore_ascii_case("closed") || s.eq_ignore_ascii_case("closedAbnormal")
        })
    };
    let status = status?;
    let closed = match status.elements() {
        Some(items) => items.iter().any(is_closed),
        None => is_closed(&status),
    };
    Some(if closed {
        OpeningStatus::Closed
    } else {
        OpeningStatus::Open
    })
}
