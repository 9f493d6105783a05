//! ParkAPI v3 realtime parking sites (`docs/formats.md`, "ParkAPI"): one site object, a
//! JSON array of them, or a list document `{"items": [...]}`; each site becomes one
//! facility observation of the registry facility its `uid` maps to. The older city
//! documents (`{"lots": [...]}` of the ParkenDD v1 API and of ParkAPI2) are read too
//! (`lots.rs`): many operators still publish them.

mod lots;

use std::borrow::Cow;

use serde_json::Value;
use serde_json::value::RawValue;
use stadtpuls_processing::model::parking::OpeningStatus;
use stadtpuls_processing::{RejectReason, Rejection};

use super::emit::{Emit, Reading, malformed};
use super::json_values::{count, text};
use super::timestamp::feed_instant;

/// Decodes one message; each site is accepted or refused on its own.
pub(crate) fn decode(payload: &[u8], emit: &mut Emit<'_, '_>) {
    let sites = match elements(payload) {
        Ok(sites) => sites,
        Err(rejection) => return emit.refuse(None, payload, rejection),
    };
    match sites {
        Sites::One => site(None, payload, emit),
        Sites::Many(raw) => {
            for (index, element) in raw.iter().enumerate() {
                site(Some(index), element.get().as_bytes(), emit);
            }
        }
        Sites::Lots { lots, updated } => {
            for (index, element) in lots.iter().enumerate() {
                lots::lot(index, element.get().as_bytes(), updated, emit);
            }
        }
    }
}

enum Sites<'a> {
    One,
    Many(Vec<&'a RawValue>),
    /// A v1 / ParkAPI2 city document: its lots and its `last_updated`.
    Lots {
        lots: Vec<&'a RawValue>,
        updated: Option<&'a str>,
    },
}

fn elements(payload: &[u8]) -> Result<Sites<'_>, Rejection> {
    let invalid = |e: serde_json::Error| malformed(format!("invalid JSON: {e}"));
    match payload.iter().copied().find(|b| !b.is_ascii_whitespace()) {
        Some(b'[') => Ok(Sites::Many(
            serde_json::from_slice(payload).map_err(invalid)?,
        )),
        _ => {
            #[derive(serde::Deserialize)]
            struct List<'a> {
                #[serde(borrow)]
                items: Option<Vec<&'a RawValue>>,
                #[serde(borrow)]
                lots: Option<Vec<&'a RawValue>>,
                #[serde(borrow)]
                last_updated: Option<&'a str>,
            }
            let list: List<'_> = serde_json::from_slice(payload).map_err(invalid)?;
            Ok(match (list.items, list.lots) {
                (Some(items), _) => Sites::Many(items),
                (None, Some(lots)) => Sites::Lots {
                    lots,
                    updated: list.last_updated,
                },
                (None, None) => Sites::One,
            })
        }
    }
}

fn site(index: Option<usize>, bytes: &[u8], emit: &mut Emit<'_, '_>) {
    let value: Value = match serde_json::from_slice(bytes) {
        Ok(value) => value,
        Err(e) => return emit.refuse(index, bytes, malformed(format!("invalid JSON: {e}"))),
    };
    match read(&value) {
        Ok((uid, values)) => emit.reading(index, bytes, &values.with_id(&uid)),
        Err(rejection) => emit.refuse(index, bytes, rejection),
    }
}

/// A site's values, its id still to be borrowed.
struct SiteValues {
    ts: i64,
    free: i64,
    total: Option<i64>,
    /// `name`, kept for a site admitted at run time.
    name: Option<String>,
    /// `lat`, `lon` (numbers or decimal strings), likewise.
    position: Option<(f64, f64)>,
    opening: Option<OpeningStatus>,
}

impl SiteValues {
    fn with_id<'a>(&'a self, uid: &'a str) -> Reading<'a> {
        Reading::Facility {
            external_id: uid,
            ts: self.ts,
            free_spaces: self.free,
            total_spaces: self.total,
            entries: None,
            exits: None,
            name: self.name.as_deref().map(Cow::Borrowed),
            position: self.position,
            opening: self.opening,
        }
    }
}

/// A coordinate as ParkAPI writes it: a number or a decimal string; `None` if neither or
/// out of range (it only describes a site admitted at run time, never refuses a count).
fn degrees(value: Option<&Value>, limit: f64) -> Option<f64> {
    let degrees = match value? {
        Value::Number(n) => n.as_f64()?,
        Value::String(text) => text.trim().parse().ok()?,
        _ => return None,
    };
    (degrees.is_finite() && degrees.abs() <= limit).then_some(degrees)
}

fn read(site: &Value) -> Result<(String, SiteValues), Rejection> {
    if !site.is_object() {
        return Err(malformed(format!(
            "a parking site is an object, not {site}"
        )));
    }
    let uid = match site.get("uid") {
        Some(Value::String(uid)) => uid.clone(),
        // ParkAPI writes numeric uids in places; they name the same site as their text.
        Some(Value::Number(n)) => n.to_string(),
        Some(other) => return Err(malformed(format!("`uid` is {other}, not a string"))),
        None => return Err(malformed("a parking site needs `uid`")),
    };
    let field = |name: &str| site.get(name).filter(|v| !v.is_null());
    // A site that says it has no realtime data (a static entry of a list, as Stadtpuls'
    // own ParkAPI output writes a facility that never reported) carries no observation.
    if site.get("has_realtime_data") == Some(&Value::Bool(false))
        && field("realtime_free_capacity").is_none()
    {
        return Err(Rejection::new(
            RejectReason::NoObservation,
            format!("site `{uid}` has no realtime data (`has_realtime_data: false`)"),
        ));
    }
    let ts_text = field("realtime_data_updated_at")
        .ok_or_else(|| malformed(format!("site `{uid}` has no `realtime_data_updated_at`")))?;
    let ts_text = text(ts_text, "realtime_data_updated_at")?;
    let ts = feed_instant(ts_text).ok_or_else(|| {
        malformed(format!(
            "`realtime_data_updated_at` `{ts_text}` is not an RFC 3339 time"
        ))
    })?;
    let total = field("realtime_capacity")
        .or_else(|| field("capacity"))
        .map(|v| count(v, "realtime_capacity"))
        .transpose()?;
    let opening = match field("realtime_opening_status") {
        None => None,
        Some(status) => match text(status, "realtime_opening_status")? {
            "OPEN" => Some(OpeningStatus::Open),
            "CLOSED" => Some(OpeningStatus::Closed),
            "UNKNOWN" => Some(OpeningStatus::Unknown),
            other => {
                return Err(malformed(format!(
                    "`realtime_opening_status` `{other}` is not OPEN, CLOSED or UNKNOWN"
                )));
            }
        },
    };
    let closed = opening == Some(OpeningStatus::Closed);
    let free = match field("realtime_free_capacity") {
        Some(free) => count(free, "realtime_free_capacity")?,
        // A closed site admits nobody: no free space, whatever it last counted.
        None if closed => 0,
        None => {
            return Err(Rejection::new(
                RejectReason::Malformed,
                format!("site `{uid}` has no `realtime_free_capacity`"),
            ));
        }
    };
    let free = if closed { 0 } else { free };
    let name = field("name").and_then(Value::as_str).map(str::to_owned);
    let position = degrees(field("lat"), 90.0).zip(degrees(field("lon"), 180.0));
    Ok((
        uid,
        SiteValues {
            ts,
            free,
            total,
            name,
            position,
            opening,
        },
    ))
}
