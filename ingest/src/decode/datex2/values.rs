//! What the DATEX II readers collect: one observation per record or measured value, in
//! the model's units, with its element's byte range, and the number formats they share.

use std::borrow::Cow;
use std::ops::Range;

use stadtpuls_processing::Rejection;
use stadtpuls_processing::model::parking::OpeningStatus;

use super::super::emit::{Reading, malformed};
use super::super::timestamp::feed_instant;

/// One record's observation in the model's units, or why it is refused.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum Values {
    Facility {
        ts: i64,
        free: i64,
        total: Option<i64>,
        opening: Option<OpeningStatus>,
    },
    Traffic {
        lane: i64,
        ts: i64,
        interval_s: i64,
        count: i64,
        speed: Option<f64>,
    },
}

/// One observation of the document: its element's bytes, the feed's id, its values.
#[derive(Debug)]
pub(super) struct Item<'a> {
    pub(super) range: Range<usize>,
    pub(super) id: Cow<'a, str>,
    pub(super) values: Result<Values, Rejection>,
}

impl Item<'_> {
    /// The observation under the feed id `id` (the item's own, or the part of it the
    /// registry maps, see `datex2::mapped_id`).
    pub(super) fn reading<'s>(&'s self, id: &'s str, values: &Values) -> Reading<'s> {
        match *values {
            Values::Facility {
                ts,
                free,
                total,
                opening,
            } => Reading::Facility {
                external_id: id,
                ts,
                free_spaces: free,
                total_spaces: total,
                entries: None,
                exits: None,
                name: None,
                position: None,
                opening,
            },
            Values::Traffic {
                lane,
                ts,
                interval_s,
                count,
                speed,
            } => Reading::Traffic {
                external_id: id,
                lane: Some(lane),
                ts,
                interval_s,
                vehicle_count: count,
                avg_speed_kmh: speed,
                occupancy_pct: None,
            },
        }
    }
}

/// A DATEX II time (offsets, up to 9 fractional digits) → epoch ms.
pub(super) fn instant(text: &str, what: &str) -> Result<i64, Rejection> {
    if text.is_empty() {
        return Err(malformed(format!("`{what}` is empty")));
    }
    feed_instant(text).ok_or_else(|| malformed(format!("`{what}` `{text}` is not a valid time")))
}

/// A whole number (`12`, also `12.0`).
pub(super) fn whole(text: &str, what: &str) -> Result<i64, Rejection> {
    if let Ok(n) = text.parse::<i64>() {
        return Ok(n);
    }
    match text.parse::<f64>() {
        Ok(x) if x.is_finite() && x.fract() == 0.0 && x.abs() < 9.0e15 => Ok(x as i64),
        _ => Err(malformed(format!(
            "`{what}` `{text}` is not a whole number"
        ))),
    }
}

/// A finite decimal number.
pub(super) fn number(text: &str, what: &str) -> Result<f64, Rejection> {
    match text.parse::<f64>() {
        Ok(x) if x.is_finite() => Ok(x),
        _ => Err(malformed(format!("`{what}` `{text}` is not a number"))),
    }
}
