//! The native JSON format (see `docs/formats.md`): one observation object per message, or a
//! JSON array of them.

use std::borrow::Cow;

use serde::Deserialize;
use serde_json::value::RawValue;
use stadtpuls_processing::catalog::{Catalog, CityKey};
use stadtpuls_processing::model::TimeBounds;
use stadtpuls_processing::model::parking::{
    OpeningStatus, ParkingBatchBuilder, ParkingObservation, SpotStatus,
};
use stadtpuls_processing::model::traffic::{
    DEFAULT_INTERVAL_S, TrafficBatchBuilder, TrafficObservation,
};
use stadtpuls_processing::{RejectReason, Rejection};

use super::fast;
use super::timestamp::WireTs;
use super::{Rejected, StreamKind};

/// A traffic observation as serde reads it (visible to the decoder tests, which compare it
/// with the fast scanner).
#[derive(Deserialize)]
pub(super) struct TrafficWire<'a> {
    #[serde(borrow)]
    pub(super) city: Cow<'a, str>,
    #[serde(borrow)]
    pub(super) sensor_id: Cow<'a, str>,
    #[serde(default)]
    pub(super) lane: i64,
    pub(super) ts: WireTs,
    pub(super) interval_s: Option<i64>,
    pub(super) vehicle_count: i64,
    #[serde(alias = "heavy_vehicles")]
    pub(super) heavy_vehicle_count: Option<i64>,
    #[serde(alias = "speed_kmh")]
    pub(super) avg_speed_kmh: Option<f64>,
    pub(super) occupancy_pct: Option<f64>,
}

#[derive(Deserialize)]
struct ParkingWire<'a> {
    #[serde(borrow)]
    city: Cow<'a, str>,
    #[serde(borrow)]
    kind: Cow<'a, str>,
    #[serde(borrow)]
    id: Cow<'a, str>,
    #[serde(borrow, default)]
    facility_id: Option<Cow<'a, str>>,
    ts: WireTs,
    #[serde(borrow, default)]
    status: Option<Cow<'a, str>>,
    free_spaces: Option<i64>,
    total_spaces: Option<i64>,
    entries: Option<i64>,
    exits: Option<i64>,
    #[serde(borrow, default)]
    opening_status: Option<Cow<'a, str>>,
}

/// Where decoded observations go.
pub struct Sinks<'a> {
    /// The catalog resolving ids to keys (may admit new traffic sensors).
    pub catalog: &'a mut Catalog,
    /// Traffic rows of the current source.
    pub traffic: &'a mut TrafficBatchBuilder,
    /// Parking rows of the current source.
    pub parking: &'a mut ParkingBatchBuilder,
    /// Refused elements.
    pub rejected: &'a mut Vec<Rejected>,
}

/// Decodes one native-format message of `kind` into the sinks; returns observations accepted.
///
/// `topic_city` is the city of the topic it arrived on, if the topic follows the naming
/// convention; a payload naming another city is refused.
pub fn decode(
    kind: StreamKind,
    payload: &[u8],
    topic_city: Option<CityKey>,
    bounds: TimeBounds,
    sinks: &mut Sinks<'_>,
) -> usize {
    let first = payload.iter().copied().find(|b| !b.is_ascii_whitespace());
    if first != Some(b'[') {
        return usize::from(decode_one(kind, payload, None, topic_city, bounds, sinks));
    }
    let elements: Vec<&RawValue> = match serde_json::from_slice(payload) {
        Ok(elements) => elements,
        Err(e) => {
            sinks.rejected.push(malformed(None, None, &e, payload));
            return 0;
        }
    };
    elements
        .iter()
        .enumerate()
        .filter(|(i, raw)| {
            decode_one(
                kind,
                raw.get().as_bytes(),
                Some(*i),
                topic_city,
                bounds,
                sinks,
            )
        })
        .count()
}

fn decode_one(
    kind: StreamKind,
    bytes: &[u8],
    index: Option<usize>,
    topic_city: Option<CityKey>,
    bounds: TimeBounds,
    sinks: &mut Sinks<'_>,
) -> bool {
    let result = match kind {
        StreamKind::Traffic => decode_traffic(bytes, topic_city, bounds, sinks),
        StreamKind::Parking => decode_parking(bytes, topic_city, bounds, sinks),
    };
    match result {
        Ok(()) => true,
        Err((city, rejection)) => {
            sinks.rejected.push(Rejected {
                index,
                city,
                rejection,
                payload: bytes.to_vec(),
            });
            false
        }
    }
}

type Refusal = (Option<CityKey>, Rejection);

fn decode_traffic(
    bytes: &[u8],
    topic_city: Option<CityKey>,
    bounds: TimeBounds,
    sinks: &mut Sinks<'_>,
) -> Result<(), Refusal> {
    if let Some(fast) = fast::traffic(bytes) {
        return push_fast(&fast, topic_city, bounds, sinks);
    }
    let wire: TrafficWire<'_> =
        serde_json::from_slice(bytes).map_err(|e| (topic_city, json_rejection(&e)))?;
    let city = sinks.catalog.city(&wire.city).or(topic_city);
    let ts = timestamp(&wire.ts).map_err(|r| (city, r))?;
    let obs = TrafficObservation {
        city: &wire.city,
        sensor_id: &wire.sensor_id,
        lane: wire.lane,
        ts,
        interval_s: wire.interval_s.unwrap_or(DEFAULT_INTERVAL_S),
        vehicle_count: wire.vehicle_count,
        heavy_vehicle_count: wire.heavy_vehicle_count,
        avg_speed_kmh: wire.avg_speed_kmh,
        occupancy_pct: wire.occupancy_pct,
    };
    sinks
        .traffic
        .push(sinks.catalog, topic_city, &obs, bounds)
        .map_err(|r| (city, r))
}

/// The same validation as the serde path, for a message the fast scanner understood.
fn push_fast(
    fast: &fast::FastTraffic<'_>,
    topic_city: Option<CityKey>,
    bounds: TimeBounds,
    sinks: &mut Sinks<'_>,
) -> Result<(), Refusal> {
    let city = sinks.catalog.city(fast.city).or(topic_city);
    let ts = match fast.ts {
        fast::FastTs::Millis(ms) => ms,
        fast::FastTs::Text(text) => timestamp(&WireTs::from_text(text)).map_err(|r| (city, r))?,
    };
    let obs = TrafficObservation {
        city: fast.city,
        sensor_id: fast.sensor_id,
        lane: fast.lane.unwrap_or(0),
        ts,
        interval_s: fast.interval_s.unwrap_or(DEFAULT_INTERVAL_S),
        vehicle_count: fast.vehicle_count,
        heavy_vehicle_count: fast.heavy_vehicle_count,
        avg_speed_kmh: fast.avg_speed_kmh,
        occupancy_pct: fast.occupancy_pct,
    };
    sinks
        .traffic
        .push(sinks.catalog, topic_city, &obs, bounds)
        .map_err(|r| (city, r))
}

fn decode_parking(
    bytes: &[u8],
    topic_city: Option<CityKey>,
    bounds: TimeBounds,
    sinks: &mut Sinks<'_>,
) -> Result<(), Refusal> {
    let wire: ParkingWire<'_> =
        serde_json::from_slice(bytes).map_err(|e| (topic_city, json_rejection(&e)))?;
    let city = sinks.catalog.city(&wire.city).or(topic_city);
    let refuse = |detail: String| (city, Rejection::new(RejectReason::Malformed, detail));
    let ts = timestamp(&wire.ts).map_err(|r| (city, r))?;
    let obs = match wire.kind.as_ref() {
        "facility" => {
            let opening = match wire.opening_status.as_deref() {
                None => None,
                Some(text) => Some(OpeningStatus::parse(text).ok_or_else(|| {
                    refuse(format!(
                        "opening_status `{text}` is not one of open|closed|unknown"
                    ))
                })?),
            };
            // A closed facility admits nobody: its free count may be left out.
            let free_spaces = match (wire.free_spaces, opening) {
                (Some(free), _) => free,
                (None, Some(OpeningStatus::Closed)) => 0,
                (None, _) => {
                    return Err(refuse("a facility observation needs `free_spaces`".into()));
                }
            };
            ParkingObservation::Facility {
                city: &wire.city,
                id: &wire.id,
                ts,
                free_spaces,
                total_spaces: wire.total_spaces,
                entries: wire.entries,
                exits: wire.exits,
                opening,
            }
        }
        "spot" => {
            let status = wire
                .status
                .as_deref()
                .ok_or_else(|| refuse("a spot observation needs `status`".into()))?;
            ParkingObservation::Spot {
                city: &wire.city,
                id: &wire.id,
                facility_id: wire.facility_id.as_deref(),
                ts,
                status: SpotStatus::parse(status).ok_or_else(|| {
                    refuse(format!(
                        "status `{status}` is not one of free|occupied|closed|unknown"
                    ))
                })?,
            }
        }
        other => {
            return Err(refuse(format!(
                "kind `{other}` is not `facility` or `spot`"
            )));
        }
    };
    sinks
        .parking
        .push(sinks.catalog, topic_city, &obs, bounds)
        .map_err(|r| (city, r))
}

fn timestamp(ts: &WireTs) -> Result<i64, Rejection> {
    match ts {
        WireTs::Millis(ms) => Ok(*ms),
        WireTs::Invalid(text) => Err(Rejection::new(
            RejectReason::Malformed,
            format!("ts `{text}` is neither RFC 3339 nor integer epoch milliseconds"),
        )),
    }
}

fn json_rejection(e: &serde_json::Error) -> Rejection {
    Rejection::new(RejectReason::Malformed, format!("invalid JSON: {e}"))
}

fn malformed(
    index: Option<usize>,
    city: Option<CityKey>,
    e: &serde_json::Error,
    payload: &[u8],
) -> Rejected {
    Rejected {
        index,
        city,
        rejection: json_rejection(e),
        payload: payload.to_vec(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use stadtpuls_processing::catalog::UnknownSensors;

    const NOW: i64 = 1_795_478_400_000;

    struct Harness {
        catalog: Catalog,
        traffic: TrafficBatchBuilder,
        parking: ParkingBatchBuilder,
        rejected: Vec<Rejected>,
    }

    impl Harness {
        fn new() -> Self {
            Self {
                catalog: Catalog::with_cities(&["ulm", "ka"], UnknownSensors::Admit),
                traffic: TrafficBatchBuilder::default(),
                parking: ParkingBatchBuilder::default(),
                rejected: Vec::new(),
            }
        }

        fn decode(&mut self, kind: StreamKind, payload: &str) -> usize {
            let mut sinks = Sinks {
                catalog: &mut self.catalog,
                traffic: &mut self.traffic,
                parking: &mut self.parking,
                rejected: &mut self.rejected,
            };
            let bounds = TimeBounds {
                now: NOW,
                max_future_ms: 300_000,
            };
            decode(kind, payload.as_bytes(), Some(0), bounds, &mut sinks)
        }
    }

    #[test]
    fn accepts_both_timestamp_forms_and_bench_aliases() {
        let mut h = Harness::new();
        let a = r#"{"city":"ulm","sensor_id":"s1","lane":1,"ts":"2026-11-24T00:00:00Z","interval_s":60,"vehicle_count":3,"avg_speed_kmh":50.5}"#;
        let b = r#"{"city":"ulm","sensor_id":"s1","lane":2,"ts":1795478400000,"vehicle_count":4,"speed_kmh":40.0,"heavy_vehicles":1,"occupancy_pct":3.5,"extra":true}"#;
        assert_eq!(h.decode(StreamKind::Traffic, a), 1);
        assert_eq!(h.decode(StreamKind::Traffic, b), 1);
        assert!(h.rejected.is_empty(), "{:?}", h.rejected);
        assert_eq!(h.traffic.len(), 2);
    }

    #[test]
    fn array_keeps_good_neighbours_of_a_bad_element() {
        let mut h = Harness::new();
        let msg = r#"[
            {"city":"ulm","sensor_id":"s1","ts":1795478400000,"vehicle_count":3},
            {"city":"ulm","sensor_id":"s1","ts":1795478400000,"vehicle_count":3,"avg_speed_kmh":999},
            {"city":"ulm","sensor_id":"s2","ts":"yesterday","vehicle_count":1},
            {"city":"ulm","sensor_id":"s3","ts":1795478400000,"vehicle_count":2}
        ]"#;
        assert_eq!(h.decode(StreamKind::Traffic, msg), 2);
        let got: Vec<_> = h
            .rejected
            .iter()
            .map(|r| (r.index, r.rejection.reason))
            .collect();
        assert_eq!(
            got,
            vec![
                (Some(1), RejectReason::SpeedOutOfRange),
                (Some(2), RejectReason::Malformed)
            ]
        );
        assert!(
            h.rejected[0]
                .payload
                .starts_with(b"{\"city\":\"ulm\",\"sensor_id\":\"s1\"")
        );
    }

    #[test]
    fn malformed_inputs_are_rejected_not_fatal() {
        let mut h = Harness::new();
        for bad in [
            "",
            "{",
            "null",
            "[1,2",
            r#"{"city":"ulm"}"#,
            r#"{"city":"ulm","sensor_id":"s","ts":1795478400000,"vehicle_count":"7"}"#,
            r#"{"city":"ulm","sensor_id":"s","ts":1.5,"vehicle_count":7}"#,
        ] {
            assert_eq!(h.decode(StreamKind::Traffic, bad), 0, "{bad}");
        }
        assert_eq!(h.rejected.len(), 7);
        assert!(
            h.rejected
                .iter()
                .all(|r| r.rejection.reason == RejectReason::Malformed)
        );
    }

    #[test]
    fn parking_kinds_need_their_fields() {
        let mut h = Harness::new();
        let no_free = r#"{"city":"ulm","kind":"facility","id":"p1","ts":1795478400000}"#;
        let bad_status =
            r#"{"city":"ulm","kind":"spot","id":"s1","ts":1795478400000,"status":"parked"}"#;
        let bad_kind = r#"{"city":"ulm","kind":"garage","id":"g","ts":1795478400000}"#;
        for msg in [no_free, bad_status, bad_kind] {
            assert_eq!(h.decode(StreamKind::Parking, msg), 0);
        }
        let details: Vec<_> = h
            .rejected
            .iter()
            .map(|r| r.rejection.detail.clone())
            .collect();
        assert!(details[0].contains("free_spaces"), "{details:?}");
        assert!(details[1].contains("parked"), "{details:?}");
        assert!(details[2].contains("garage"), "{details:?}");
        assert_eq!(h.rejected[0].city, Some(0));
    }

    mod fast_path_agrees_with_serde {
        use super::super::{TrafficWire, WireTs, fast};
        use proptest::prelude::*;

        fn field() -> impl Strategy<Value = String> {
            let int = prop_oneof![
                Just("0".to_owned()),
                (-5i64..50_000).prop_map(|i| i.to_string())
            ];
            let dec = (0u32..2_000, 0usize..3).prop_map(|(m, d)| match d {
                0 => m.to_string(),
                _ => format!(
                    "{}.{:0width$}",
                    m / 10u32.pow(d as u32),
                    m % 10u32.pow(d as u32),
                    width = d
                ),
            });
            let any_value = prop_oneof![
                int.clone(),
                dec.clone(),
                Just("null".to_owned()),
                Just("true".to_owned()),
                Just("\"text\"".to_owned()),
                Just("\"2026-11-24T00:00:00Z\"".to_owned()),
                Just("1e3".to_owned()),
                Just("{}".to_owned()),
            ];
            let key = prop_oneof![
                Just("city"),
                Just("sensor_id"),
                Just("lane"),
                Just("ts"),
                Just("interval_s"),
                Just("vehicle_count"),
                Just("heavy_vehicle_count"),
                Just("heavy_vehicles"),
                Just("avg_speed_kmh"),
                Just("speed_kmh"),
                Just("occupancy_pct"),
                Just("extra"),
            ];
            (key, any_value, prop_oneof![Just(""), Just(" "), Just("\n")])
                .prop_map(|(k, v, ws)| format!("{ws}\"{k}\"{ws}:{ws}{v}"))
        }

        proptest! {
            #[test]
            fn whenever_the_fast_path_answers_serde_agrees(fields in proptest::collection::vec(field(), 0..12)) {
                let line = format!("{{{}}}", fields.join(","));
                if let Some(f) = fast::traffic(line.as_bytes()) {
                    let wire: Result<TrafficWire<'_>, _> = serde_json::from_slice(line.as_bytes());
                    prop_assert!(wire.is_ok(), "serde refused what the fast path took: {line}");
                    let w = wire.unwrap_or_else(|_| unreachable!());
                    prop_assert_eq!(f.city, w.city.as_ref());
                    prop_assert_eq!(f.sensor_id, w.sensor_id.as_ref());
                    prop_assert_eq!(f.lane.unwrap_or(0), w.lane);
                    let ts = match f.ts { fast::FastTs::Millis(ms) => WireTs::Millis(ms), fast::FastTs::Text(t) => WireTs::from_text(t) };
                    prop_assert_eq!(ts, w.ts);
                    prop_assert_eq!(f.interval_s, w.interval_s);
                    prop_assert_eq!(f.vehicle_count, w.vehicle_count);
                    prop_assert_eq!(f.heavy_vehicle_count, w.heavy_vehicle_count);
                    prop_assert_eq!(f.avg_speed_kmh, w.avg_speed_kmh);
                    prop_assert_eq!(f.occupancy_pct, w.occupancy_pct);
                }
            }
        }
    }

    #[test]
    fn facility_counts_may_carry_entries_and_exits() {
        let mut h = Harness::new();
        h.catalog.add_facility(0, "p1", Some(100));
        let counted = r#"{"city":"ulm","kind":"facility","id":"p1","ts":1795478400000,"free_spaces":40,"entries":7,"exits":3}"#;
        let plain =
            r#"{"city":"ulm","kind":"facility","id":"p1","ts":1795478400000,"free_spaces":41}"#;
        let negative = r#"{"city":"ulm","kind":"facility","id":"p1","ts":1795478400000,"free_spaces":40,"entries":-2}"#;
        let text = r#"{"city":"ulm","kind":"facility","id":"p1","ts":1795478400000,"free_spaces":40,"exits":"3"}"#;
        assert_eq!(h.decode(StreamKind::Parking, counted), 1);
        assert_eq!(h.decode(StreamKind::Parking, plain), 1);
        assert_eq!(h.decode(StreamKind::Parking, negative), 0);
        assert_eq!(h.decode(StreamKind::Parking, text), 0);
        let reasons: Vec<_> = h.rejected.iter().map(|r| r.rejection.reason).collect();
        assert_eq!(
            reasons,
            vec![RejectReason::NegativeCount, RejectReason::Malformed]
        );
        assert_eq!(h.parking.len(), 2);
    }

    /// `opening_status` open|closed|unknown, optional; a closed count needs no
    /// `free_spaces` and is recorded with none free; another word is refused.
    #[test]
    fn facility_counts_may_carry_their_opening_status() {
        use arrow_array::Array;
        let mut h = Harness::new();
        h.catalog.add_facility(0, "p1", Some(100));
        let count = |rest: &str| {
            format!(r#"{{"city":"ulm","kind":"facility","id":"p1","ts":1795478400000{rest}}}"#)
        };
        for (rest, accepted) in [
            (r#","free_spaces":40,"opening_status":"open""#, 1),
            (r#","free_spaces":40,"opening_status":"closed""#, 1),
            (r#","opening_status":"closed""#, 1),
            (r#","free_spaces":40,"opening_status":"unknown""#, 1),
            (r#","free_spaces":40"#, 1),
            (r#","free_spaces":40,"opening_status":"shut""#, 0),
            (r#","opening_status":"open""#, 0),
        ] {
            assert_eq!(
                h.decode(StreamKind::Parking, &count(rest)),
                accepted,
                "{rest}"
            );
        }
        let details: Vec<_> = h
            .rejected
            .iter()
            .map(|r| r.rejection.detail.clone())
            .collect();
        assert!(details[0].contains("`shut`"), "{details:?}");
        assert!(details[1].contains("free_spaces"), "{details:?}");
        let batch = h.parking.finish(&h.catalog).expect("batch");
        let opening: Vec<_> = (0..batch.num_rows())
            .map(|row| {
                let codes = batch.opening_codes();
                codes
                    .is_valid(row)
                    .then(|| OpeningStatus::from_code(codes.value(row)))
            })
            .collect();
        use OpeningStatus::{Closed, Open, Unknown};
        assert_eq!(
            opening,
            [Some(Open), Some(Closed), Some(Closed), Some(Unknown), None]
        );
        let free = batch
            .record_batch()
            .column_by_name("free_spaces")
            .and_then(|c| c.as_any().downcast_ref::<arrow_array::UInt32Array>())
            .map(|a| a.values().to_vec());
        assert_eq!(free, Some(vec![40, 0, 0, 40, 40]), "closed: none free");
    }
}
