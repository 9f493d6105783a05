//! Parallel pre-validation of the common case: single-object native traffic messages.
//!
//! Parsing, validating and looking sensors up is most of the hot path and needs no shared
//! mutable state, so it runs on every core over slices of a batch. What comes back is, per
//! message, either a validated row ready to append or "take the serial path" — arrays,
//! parking, anything the fast scanner declines, any refusal and any sensor the catalog
//! would first have to admit. The caller appends in message order, so results do not
//! depend on the number of threads.

use stadtpuls_processing::catalog::{Catalog, CityKey};
use stadtpuls_processing::model::TimeBounds;
use stadtpuls_processing::model::traffic::{
    DEFAULT_INTERVAL_S, TrafficBatchBuilder, TrafficObservation, Validated,
};
use stadtpuls_processing::time::parse_rfc3339;

use super::{StreamKind, fast, parse_topic};
use crate::message::RawMessage;

/// Below this many messages a batch is checked on the calling thread only.
const PARALLEL_MIN: usize = 2048;

/// The values of a validated traffic observation (its ids are in the [`Validated`] token).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Values {
    lane: i64,
    ts: i64,
    interval_s: i64,
    vehicle_count: i64,
    heavy_vehicle_count: Option<i64>,
    avg_speed_kmh: Option<f64>,
    occupancy_pct: Option<f64>,
}

impl Values {
    /// The observation to append; ids are not needed any more and left empty.
    pub(crate) fn observation(&self) -> TrafficObservation<'static> {
        TrafficObservation {
            city: "",
            sensor_id: "",
            lane: self.lane,
            ts: self.ts,
            interval_s: self.interval_s,
            vehicle_count: self.vehicle_count,
            heavy_vehicle_count: self.heavy_vehicle_count,
            avg_speed_kmh: self.avg_speed_kmh,
            occupancy_pct: self.occupancy_pct,
        }
    }
}

/// Per message: a validated row, or `None` for the serial path.
pub(crate) type Checked = Option<(Validated, Values)>;

/// Checks `messages` on up to all available cores.
pub(crate) fn check_all(
    catalog: &Catalog,
    messages: &[RawMessage],
    bounds: TimeBounds,
    max_bytes: usize,
) -> Vec<Checked> {
    let threads = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .min(4);
    if threads < 2 || messages.len() < PARALLEL_MIN {
        return check_slice(catalog, messages, bounds, max_bytes);
    }
    let chunk = messages.len().div_ceil(threads);
    let parts: Vec<Vec<Checked>> = std::thread::scope(|scope| {
        let mut chunks = messages.chunks(chunk);
        let first = chunks.next().unwrap_or_default();
        let handles: Vec<_> = chunks
            .map(|part| scope.spawn(move || check_slice(catalog, part, bounds, max_bytes)))
            .collect();
        let mut parts = vec![check_slice(catalog, first, bounds, max_bytes)];
        for (handle, part) in handles.into_iter().zip(messages.chunks(chunk).skip(1)) {
            // A panicking worker would be a bug; its messages simply take the serial path.
            parts.push(handle.join().unwrap_or_else(|_| vec![None; part.len()]));
        }
        parts
    });
    parts.into_iter().flatten().collect()
}

/// How many messages the scanner runs ahead of the sensor lookups: scanning that many takes
/// longer than the memory load a lookup in a large registry waits for.
const LOOKAHEAD: usize = 16;

pub(crate) fn check_slice(
    catalog: &Catalog,
    messages: &[RawMessage],
    bounds: TimeBounds,
    max_bytes: usize,
) -> Vec<Checked> {
    let mut checked = Vec::with_capacity(messages.len());
    check_into(catalog, messages, bounds, max_bytes, &mut checked);
    checked
}

/// Appends the checks of `messages` to `checked`.
pub(crate) fn check_into(
    catalog: &Catalog,
    messages: &[RawMessage],
    bounds: TimeBounds,
    max_bytes: usize,
    checked: &mut Vec<Checked>,
) {
    // Message i is scanned, and its sensor's table slot requested, LOOKAHEAD messages before
    // it is looked up: the loads overlap the scanning instead of following one another.
    let mut ring: [Option<Scanned<'_>>; LOOKAHEAD] = [None; LOOKAHEAD];
    for i in 0..messages.len() + LOOKAHEAD {
        let slot = i % LOOKAHEAD;
        if i >= LOOKAHEAD {
            checked.push(ring[slot].and_then(|s| validate(catalog, &s, bounds)));
        }
        ring[slot] = messages
            .get(i)
            .and_then(|message| scan(catalog, message, max_bytes));
        if let Some(s) = &ring[slot] {
            catalog.prefetch_traffic(s.city, s.fast.sensor_id);
        }
    }
}

/// A message the fast scanner read, before its ids are looked up.
#[derive(Clone, Copy)]
struct Scanned<'a> {
    topic_city: Option<CityKey>,
    /// The key of the city the message names.
    city: CityKey,
    fast: fast::FastTraffic<'a>,
}

fn scan<'a>(catalog: &Catalog, message: &'a RawMessage, max_bytes: usize) -> Option<Scanned<'a>> {
    if message.payload.len() > max_bytes {
        return None;
    }
    let topic_city = match parse_topic(&message.topic) {
        Some(route) if route.kind == StreamKind::Traffic => Some(catalog.city(route.city)?),
        Some(_) => return None,
        // Outside the topic convention the serial path infers the kind from a `"sensor_id"`
        // key; a message the traffic scanner accepts has one, so no separate scan is needed.
        None => None,
    };
    let fast = fast::traffic(&message.payload)?;
    // An unknown city is refused, with its reason, by the serial path.
    let city = catalog.city(fast.city)?;
    Some(Scanned {
        topic_city,
        city,
        fast,
    })
}

fn validate(catalog: &Catalog, scanned: &Scanned<'_>, bounds: TimeBounds) -> Checked {
    let fast = &scanned.fast;
    let ts = match fast.ts {
        fast::FastTs::Millis(ms) => ms,
        fast::FastTs::Text(text) => parse_rfc3339(text)?,
    };
    let values = Values {
        lane: fast.lane.unwrap_or(0),
        ts,
        interval_s: fast.interval_s.unwrap_or(DEFAULT_INTERVAL_S),
        vehicle_count: fast.vehicle_count,
        heavy_vehicle_count: fast.heavy_vehicle_count,
        avg_speed_kmh: fast.avg_speed_kmh,
        occupancy_pct: fast.occupancy_pct,
    };
    let obs = TrafficObservation {
        city: fast.city,
        sensor_id: fast.sensor_id,
        ..values.observation()
    };
    TrafficBatchBuilder::check_in_city(catalog, scanned.topic_city, scanned.city, &obs, bounds)
        .map(|v| (v, values))
}
