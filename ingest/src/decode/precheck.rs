//! Parallel pre-validation of the common case: single-object native traffic messages.
//!
//! Parsing, validating and looking sensors up is most of the hot path and needs no shared
//! mutable state, so it runs on every core over slices of a batch. What comes back is, per
//! message, either validated rows ready to append (one, or every element of a compact
//! array) or "take the serial path" — parking, anything the fast scanner declines, any
//! refusal (of any element) and any sensor the catalog would first have to admit. The caller appends in message order, so results do not
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

/// Per message: what the check found.
#[derive(Debug, Clone, Default)]
pub(crate) enum Checked {
    /// The serial path decides (and words any refusal).
    #[default]
    Serial,
    /// A single-object message, validated.
    One(Validated, Values),
    /// A compact JSON array whose every element was validated, in order.
    Many(Box<[(Validated, Values)]>),
}

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
            parts.push(
                handle
                    .join()
                    .unwrap_or_else(|_| vec![Checked::Serial; part.len()]),
            );
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
            let index = i - LOOKAHEAD;
            checked.push(match ring[slot] {
                Some(s) => validate(catalog, &s, bounds)
                    .map_or(Checked::Serial, |(v, values)| Checked::One(v, values)),
                None => messages.get(index).map_or(Checked::Serial, |m| {
                    check_array(catalog, m, bounds, max_bytes)
                }),
            });
        }
        ring[slot] = messages
            .get(i)
            .and_then(|message| scan(catalog, message, max_bytes));
        if let Some(s) = &ring[slot] {
            catalog.prefetch_traffic(s.city, s.fast.sensor_id);
        }
    }
}

/// A message that is a compact JSON array of traffic objects (`[{…},{…}]`, no whitespace,
/// as producers batching observations write it), each element validated; any doubt — other
/// spacing, a `}` inside a string, an element the scanners or the checks refuse — leaves the
/// whole message to the serial path, which gives the same rows and words the refusals.
fn check_array(
    catalog: &Catalog,
    message: &RawMessage,
    bounds: TimeBounds,
    max_bytes: usize,
) -> Checked {
    let payload: &[u8] = &message.payload;
    if payload.first() != Some(&b'[') || payload.len() > max_bytes {
        return Checked::Serial;
    }
    let topic_city = match parse_topic(&message.topic) {
        Some(route) if route.kind == StreamKind::Traffic => match catalog.city(route.city) {
            Some(city) => Some(city),
            None => return Checked::Serial,
        },
        Some(_) => return Checked::Serial,
        None => None,
    };
    let mut rows = Vec::new();
    let mut pos = 1;
    loop {
        // An element ends at its first `}`: compact objects are flat, and a `}` inside a
        // string cuts the element short, which no scanner accepts.
        let Some(len) = payload.get(pos..).and_then(|rest| {
            rest.first()
                .filter(|&&b| b == b'{')
                .and(memchr::memchr(b'}', rest))
        }) else {
            return Checked::Serial;
        };
        let element = &payload[pos..=pos + len];
        let Some(fast) = fast::traffic(element) else {
            return Checked::Serial;
        };
        let Some(city) = catalog.city(fast.city) else {
            return Checked::Serial;
        };
        let scanned = Scanned {
            topic_city,
            city,
            fast,
        };
        let Some(row) = validate(catalog, &scanned, bounds) else {
            return Checked::Serial;
        };
        rows.push(row);
        pos += len + 1;
        match payload.get(pos) {
            Some(b',') => pos += 1,
            Some(b']') if pos + 1 == payload.len() => return Checked::Many(rows.into()),
            _ => return Checked::Serial,
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

fn validate(
    catalog: &Catalog,
    scanned: &Scanned<'_>,
    bounds: TimeBounds,
) -> Option<(Validated, Values)> {
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

#[cfg(test)]
mod tests {
    use stadtpuls_processing::catalog::UnknownSensors;

    use super::*;

    const NOW: i64 = 1_795_478_400_000;

    fn check(payload: &str) -> Checked {
        let mut catalog = Catalog::with_cities(&["ulm"], UnknownSensors::Reject);
        catalog.add_traffic(0, "s1", 2, 50.0);
        catalog.add_traffic(0, "s2", 2, 50.0);
        catalog.add_traffic(0, "s}1", 2, 50.0);
        let message = RawMessage {
            source: 0,
            topic: "sensors.ulm.traffic".into(),
            partition: 0,
            offset: 0,
            key: None,
            payload: payload.as_bytes().to_vec().into(),
            format: None,
        };
        let bounds = TimeBounds {
            now: NOW,
            max_future_ms: 0,
        };
        let mut checked = check_slice(&catalog, std::slice::from_ref(&message), bounds, 1 << 20);
        assert_eq!(checked.len(), 1);
        checked.remove(0)
    }

    fn obs(sensor: &str, vehicles: u32) -> String {
        format!(
            r#"{{"city":"ulm","sensor_id":"{sensor}","lane":1,"ts":{NOW},"vehicle_count":{vehicles}}}"#
        )
    }

    /// A batching producer's compact array is checked here, element by element, instead of
    /// leaving the whole message to the serial path.
    #[test]
    fn a_compact_array_is_checked_element_by_element() {
        let array = format!("[{},{},{}]", obs("s1", 3), obs("s2", 4), obs("s1", 5));
        let Checked::Many(rows) = check(&array) else {
            panic!("a compact array of known sensors is checked");
        };
        let counts: Vec<i64> = rows.iter().map(|(_, v)| v.vehicle_count).collect();
        assert_eq!(counts, [3, 4, 5]);
        assert!(matches!(check(&obs("s2", 1)), Checked::One(..)));
    }

    /// Whatever the serial path might word differently stays with it: a refused or unknown
    /// element, spacing, a `}` inside a string, trailing bytes, an empty array.
    #[test]
    fn any_doubt_leaves_an_array_to_the_serial_path() {
        let (a, b) = (obs("s1", 3), obs("s2", 4));
        let unknown = obs("s9", 1);
        let braced = a.replace("\"s1\"", "\"s}1\"");
        for payload in [
            format!("[{a},{unknown}]"),
            format!("[{a}, {b}]"),
            format!("[{a},{braced}]"),
            format!("[{a},{b}] "),
            format!("[{a},{b}"),
            "[]".to_owned(),
        ] {
            assert!(matches!(check(&payload), Checked::Serial), "{payload}");
        }
    }
}
