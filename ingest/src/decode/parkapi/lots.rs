//! The lots of a ParkenDD v1 city document (`free`, `total`, `state`, the document's
//! `last_updated`) and of a ParkAPI2 pool document (`num_free`, `capacity`, `status`,
//! `lot_timestamp` or `timestamp`): each lot is one facility count of the registry facility
//! its `id` maps to.
//!
//! Both formats write times without an offset; ParkAPI2's scrapers store them in UTC, and
//! so does the v1 API (`last_updated`), so they are read as UTC like every other partner
//! time without an offset.

use serde_json::Value;
use stadtpuls_processing::model::parking::OpeningStatus;
use stadtpuls_processing::{RejectReason, Rejection};

use super::super::emit::{Emit, Reading, malformed};
use super::super::json_values::{count, text};
use super::super::timestamp::feed_instant;

/// Decodes lot `index` of a city document whose `last_updated` is `updated`.
pub(super) fn lot(index: usize, bytes: &[u8], updated: Option<&str>, emit: &mut Emit<'_, '_>) {
    let value: Value = match serde_json::from_slice(bytes) {
        Ok(value) => value,
        Err(e) => {
            return emit.refuse(Some(index), bytes, malformed(format!("invalid JSON: {e}")));
        }
    };
    match read(&value, updated) {
        Ok(lot) => emit.reading(
            Some(index),
            bytes,
            &Reading::Facility {
                external_id: &lot.id,
                ts: lot.ts,
                free_spaces: lot.free,
                total_spaces: lot.total,
                entries: None,
                exits: None,
                name: None,
                position: None,
                opening: lot.opening,
            },
        ),
        Err(rejection) => emit.refuse(Some(index), bytes, rejection),
    }
}

struct Lot {
    id: String,
    ts: i64,
    free: i64,
    total: Option<i64>,
    opening: Option<OpeningStatus>,
}

fn read(lot: &Value, updated: Option<&str>) -> Result<Lot, Rejection> {
    if !lot.is_object() {
        return Err(malformed(format!("a lot is an object, not {lot}")));
    }
    let field = |name: &str| lot.get(name).filter(|v| !v.is_null());
    let id = match field("id") {
        Some(Value::String(id)) => id.clone(),
        Some(other) => return Err(malformed(format!("`id` is {other}, not a string"))),
        None => return Err(malformed("a lot needs `id`")),
    };
    // The lot's own time where it has one (ParkAPI2), else the time the document was made.
    let ts_text = match field("lot_timestamp").or_else(|| field("timestamp")) {
        Some(value) => text(value, "lot_timestamp")?,
        None => updated.ok_or_else(|| {
            malformed(format!(
                "lot `{id}` has no `lot_timestamp` or `timestamp`, and the document no `last_updated`"
            ))
        })?,
    };
    let ts = feed_instant(ts_text)
        .ok_or_else(|| malformed(format!("`{ts_text}` (lot `{id}`) is not an ISO 8601 time")))?;
    let total = field("capacity")
        .or_else(|| field("total"))
        .map(|v| count(v, "capacity"))
        .transpose()?;
    let stated = field("status").or_else(|| field("state"));
    let state = match stated {
        Some(state) => text(state, "status")?,
        None => "open",
    };
    let free = field("num_free")
        .or_else(|| field("free"))
        .map(|v| count(v, "num_free"))
        .transpose()?;
    let free = match (state, free) {
        // A closed lot admits nobody, whatever it last counted.
        ("closed", _) => 0,
        ("open" | "unknown" | "nodata", Some(free)) => free,
        ("nodata" | "unknown", None) => {
            return Err(Rejection::new(
                RejectReason::NoObservation,
                format!("lot `{id}` is `{state}` and has no free count"),
            ));
        }
        ("open", None) => return Err(malformed(format!("lot `{id}` has no free count"))),
        (other, _) => {
            return Err(malformed(format!(
                "`{other}` (lot `{id}`) is not open, closed, nodata or unknown"
            )));
        }
    };
    // `nodata`: the lot's counter is silent, so whether it is open is not known either.
    let opening = stated.map(|_| match state {
        "closed" => OpeningStatus::Closed,
        "open" => OpeningStatus::Open,
        _ => OpeningStatus::Unknown,
    });
    Ok(Lot {
        id,
        ts,
        free,
        total,
        opening,
    })
}
