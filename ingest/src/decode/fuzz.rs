//! Fuzz-style properties of every decoder: the fast scanner, the serde decoder, the
//! parallel pre-check, timestamps and topic names, fed arbitrary bytes and valid messages
//! broken in the ways of [`messages`].
//!
//! `cargo fuzz` needs a nightly toolchain, which CI does not have; proptest runs these on
//! stable with shrinking and a regression file (`proptest-regressions/decode/fuzz.txt`).
//! A CI run takes a few thousand cases in about a second; set `PROPTEST_CASES` (cases per
//! property) for a longer run, e.g. `PROPTEST_CASES=100000 cargo test -p stadtpuls-ingest fuzz`.
//! What each kind of bad input gets is in `docs/input.md` ("Bad input and what it gets").

mod datex2;
mod feeds;
pub(crate) mod messages;
mod ttn;

use std::collections::BTreeSet;

use proptest::prelude::*;
use proptest::sample::select;
use proptest::strategy::ValueTree;
use proptest::test_runner::{Config, TestRunner};
use stadtpuls_processing::RejectReason;
use stadtpuls_processing::catalog::{Catalog, UnknownSensors};
use stadtpuls_processing::model::parking::ParkingBatchBuilder;
use stadtpuls_processing::model::traffic::TrafficBatchBuilder;
use stadtpuls_processing::model::{MIN_EVENT_TIME, TimeBounds};
use stadtpuls_processing::time::{parse_rfc3339, to_rfc3339};

use super::native::{self, Sinks, TrafficWire};
use super::timestamp::WireTs;
use super::{Rejected, StreamKind, fast, infer_kind, parse_topic, precheck};
use crate::message::RawMessage;
use messages::NOW;

/// Events more than this ahead of `NOW` are refused as `future_timestamp`.
const MAX_FUTURE_MS: i64 = 300_000;

/// Cases per property: `PROPTEST_CASES` when set, else `default`.
pub(crate) fn cases(default: u32) -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn config(default_cases: u32) -> Config {
    Config {
        cases: cases(default_cases),
        ..Config::default()
    }
}

fn bounds() -> TimeBounds {
    TimeBounds {
        now: NOW,
        max_future_ms: MAX_FUTURE_MS,
    }
}

/// `ulm` (key 0) with the registered ids of [`messages`], and `ka` (key 1) without any.
fn catalog(unknown: UnknownSensors) -> Catalog {
    let mut catalog = Catalog::with_cities(&["ulm", "ka"], unknown);
    for id in ["s1", "s2", "s3"] {
        catalog.add_traffic(0, id, 2, 50.0);
    }
    catalog.add_facility(0, "p1", Some(100));
    let zone = catalog.add_facility(0, "p2", None);
    for id in ["sp1", "sp2"] {
        catalog.add_spot(0, id, zone);
    }
    catalog
}

/// Everything one decode produced.
struct Decoded {
    accepted: usize,
    rejected: Vec<Rejected>,
    traffic: TrafficBatchBuilder,
    parking: ParkingBatchBuilder,
}

fn decode(
    catalog: &mut Catalog,
    kind: StreamKind,
    payload: &[u8],
    topic_city: Option<u16>,
) -> Decoded {
    let mut traffic = TrafficBatchBuilder::default();
    let mut parking = ParkingBatchBuilder::default();
    let mut rejected = Vec::new();
    let mut sinks = Sinks {
        catalog,
        traffic: &mut traffic,
        parking: &mut parking,
        rejected: &mut rejected,
    };
    let accepted = native::decode(kind, payload, topic_city, bounds(), &mut sinks);
    Decoded {
        accepted,
        rejected,
        traffic,
        parking,
    }
}

fn any_payload() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![messages::traffic_payload(), messages::parking_payload()]
}

fn kind() -> impl Strategy<Value = StreamKind> {
    prop_oneof![Just(StreamKind::Traffic), Just(StreamKind::Parking)]
}

/// Text shaped like RFC 3339 with every part drawn at random (months 13, hour 25, leap
/// seconds, odd offsets, long fractions, lowercase separators), and arbitrary text.
fn timestamp_text() -> impl Strategy<Value = String> {
    prop_oneof![
        "[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt ][0-9]{2}:[0-9]{2}:[0-9]{2}(\\.[0-9]{1,12})?([Zz]|[+-][0-9]{2}:[0-9]{2})",
        "(19|20|99)[0-9]{2}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])T([01][0-9]|2[0-4]):[0-5][0-9]:([0-5][0-9]|60)(\\.[0-9]{1,3})?(Z|[+-](0[0-9]|1[0-4]):[0-5][0-9])",
        "\\PC{0,40}",
    ]
}

proptest! {
    #![proptest_config(config(1000))]

    /// The fast path never changes what is accepted: whenever the scanner reads a message,
    /// serde reads it too, with the same values.
    #[test]
    fn the_fast_scanner_never_takes_what_serde_refuses(payload in messages::traffic_payload()) {
        if let Some(f) = fast::traffic(&payload) {
            let wire: Result<TrafficWire<'_>, _> = serde_json::from_slice(&payload);
            let text = String::from_utf8_lossy(&payload);
            prop_assert!(wire.is_ok(), "serde refused what the fast path took: {text}");
            let Ok(w) = wire else { unreachable!() };
            prop_assert_eq!(f.city, w.city.as_ref());
            prop_assert_eq!(f.sensor_id, w.sensor_id.as_ref());
            prop_assert_eq!(f.lane.unwrap_or(0), w.lane);
            let ts = match f.ts {
                fast::FastTs::Millis(ms) => WireTs::Millis(ms),
                fast::FastTs::Text(t) => WireTs::from_text(t),
            };
            prop_assert_eq!(ts, w.ts);
            prop_assert_eq!(f.interval_s, w.interval_s);
            prop_assert_eq!(f.vehicle_count, w.vehicle_count);
            prop_assert_eq!(f.heavy_vehicle_count, w.heavy_vehicle_count);
            prop_assert_eq!(f.avg_speed_kmh, w.avg_speed_kmh);
            prop_assert_eq!(f.occupancy_pct, w.occupancy_pct);
        }
    }

    /// A row the parallel pre-check validates is exactly the row the serial decoder
    /// appends, and the serial decoder refuses nothing of that message.
    #[test]
    fn pre_checked_rows_equal_the_serial_decoders(
        payload in messages::traffic_payload(),
        topic in select(vec!["sensors.ulm.traffic", "sensors.ka.traffic", "sensors.ulm.parking", "feed.raw"]),
        admit in any::<bool>(),
    ) {
        let unknown = if admit { UnknownSensors::Admit } else { UnknownSensors::Reject };
        let mut catalog = catalog(unknown);
        let message = RawMessage {
            source: 0,
            topic: topic.into(),
            partition: 0,
            offset: 0,
            key: None,
            payload: payload.clone().into(),
            format: None,
        };
        let checked = precheck::check_slice(&catalog, std::slice::from_ref(&message), bounds(), 1 << 20);
        prop_assert_eq!(checked.len(), 1);
        let rows = match &checked[0] {
            precheck::Checked::Serial => Vec::new(),
            precheck::Checked::One(validated, values) => vec![(*validated, *values)],
            precheck::Checked::Many(rows) => rows.to_vec(),
        };
        if !rows.is_empty() {
            let mut pre = TrafficBatchBuilder::default();
            for (validated, values) in &rows {
                pre.push_validated(*validated, &values.observation());
            }
            let pre = pre.finish(&catalog).map_err(|e| TestCaseError::fail(e.to_string()))?;
            let route = parse_topic(topic);
            let kind = route.as_ref().map_or_else(|| infer_kind(&payload), |r| r.kind);
            let topic_city = route.as_ref().and_then(|r| catalog.city(r.city));
            let mut serial = decode(&mut catalog, kind, &payload, topic_city);
            prop_assert_eq!(serial.accepted, rows.len());
            prop_assert!(serial.rejected.is_empty(), "{:?}", serial.rejected);
            let serial = serial.traffic.finish(&catalog).map_err(|e| TestCaseError::fail(e.to_string()))?;
            prop_assert_eq!(pre.record_batch(), serial.record_batch());
        }
    }

    /// Nothing is silently lost: every observation of a message ends as an accepted row or
    /// a rejection with a reason and a detail — one per array element, one otherwise.
    #[test]
    fn every_observation_is_accepted_or_rejected(
        payload in any_payload(),
        kind in kind(),
        topic_city in proptest::option::of(0u16..2),
    ) {
        let mut catalog = catalog(UnknownSensors::Reject);
        let decoded = decode(&mut catalog, kind, &payload, topic_city);
        let expected = messages::observations_in(&payload);
        prop_assert_eq!(decoded.accepted + decoded.rejected.len(), expected, "{}", String::from_utf8_lossy(&payload));
        prop_assert_eq!(decoded.traffic.len() + decoded.parking.len(), decoded.accepted);
        let mut indices = BTreeSet::new();
        for r in &decoded.rejected {
            prop_assert!(!r.rejection.detail.is_empty());
            match r.index {
                Some(i) => {
                    prop_assert!(i < expected);
                    prop_assert!(indices.insert(i), "element {} refused twice", i);
                }
                None => {
                    prop_assert_eq!(decoded.rejected.len(), 1);
                    prop_assert_eq!(&r.payload, &payload, "a whole-message refusal keeps the message");
                }
            }
        }
    }

    /// Timestamp text either parses to an instant that formats and parses back to itself,
    /// or is refused; never a panic, never a shifted time.
    #[test]
    fn timestamp_text_round_trips_or_is_refused(text in timestamp_text()) {
        match parse_rfc3339(&text) {
            Some(ms) => {
                prop_assert_eq!(parse_rfc3339(&to_rfc3339(ms)), Some(ms));
                prop_assert_eq!(WireTs::from_text(&text), WireTs::Millis(ms));
            }
            None => prop_assert_eq!(WireTs::from_text(&text), WireTs::Invalid(text.clone())),
        }
    }

    /// Any integer timestamp is validated, not trusted: accepted exactly within
    /// [2000-01-01, now + max_future], refused with the matching reason otherwise.
    #[test]
    fn integer_timestamps_are_range_checked(
        ts in prop_oneof![any::<i64>(), (NOW - 3_600_000)..(NOW + 2 * MAX_FUTURE_MS), Just(i64::MIN), Just(i64::MAX)],
    ) {
        let payload = format!(r#"{{"city":"ulm","sensor_id":"s1","ts":{ts},"vehicle_count":1}}"#);
        let mut catalog = catalog(UnknownSensors::Reject);
        let decoded = decode(&mut catalog, StreamKind::Traffic, payload.as_bytes(), Some(0));
        let reasons: Vec<RejectReason> = decoded.rejected.iter().map(|r| r.rejection.reason).collect();
        if ts < MIN_EVENT_TIME {
            prop_assert_eq!(reasons, vec![RejectReason::TimestampOutOfRange]);
        } else if ts > NOW + MAX_FUTURE_MS {
            prop_assert_eq!(reasons, vec![RejectReason::FutureTimestamp]);
        } else {
            prop_assert_eq!(decoded.accepted, 1);
        }
    }

    /// Topic names of any shape are split or declined, never misread.
    #[test]
    fn topic_parsing_is_total(
        topic in prop_oneof!["\\PC{0,40}", "([a-z0-9-]{0,8}\\.){0,3}(traffic|parking|deadletter)?"],
        payload in proptest::collection::vec(any::<u8>(), 0..64),
    ) {
        // `<anything>.<city>.<kind>` or `<city>.<kind>`: the last two dot-separated parts.
        let parts: Vec<&str> = topic.split('.').collect();
        let expected = match parts.as_slice() {
            [.., city, kind] if !city.is_empty() && matches!(*kind, "traffic" | "parking") => {
                Some((*city, *kind))
            }
            _ => None,
        };
        let route = parse_topic(&topic);
        let got = route.as_ref().map(|r| (r.city, r.kind.as_str()));
        prop_assert_eq!(got, expected, "{}", topic);
        let _ = infer_kind(&payload);
    }
}

/// The generators are worth their cases: over a fixed seed they produce accepted rows and
/// every rejection reason a decoder can give (`late` and `oversized` are the pipeline's).
#[test]
fn the_generators_reach_every_decoder_reason() {
    let mut runner = TestRunner::deterministic();
    // Each payload on a topic of its kind, mostly of its own city.
    let strategy = (
        prop_oneof![
            messages::traffic_payload().prop_map(|p| (p, StreamKind::Traffic)),
            messages::parking_payload().prop_map(|p| (p, StreamKind::Parking)),
        ],
        proptest::option::weighted(0.2, Just(1u16)).prop_map(|city| city.or(Some(0))),
    );
    let mut reasons = BTreeSet::new();
    let (mut accepted, mut total) = (0, 0);

    for _ in 0..3000 {
        let Ok(tree) = strategy.new_tree(&mut runner) else {
            continue;
        };
        let ((payload, kind), topic_city) = tree.current();
        let mut catalog = catalog(UnknownSensors::Reject);
        let decoded = decode(&mut catalog, kind, &payload, topic_city);
        accepted += decoded.accepted;
        total += decoded.accepted + decoded.rejected.len();
        reasons.extend(decoded.rejected.iter().map(|r| r.rejection.reason));
    }
    let decoder_reasons: BTreeSet<RejectReason> = RejectReason::ALL
        .into_iter()
        .filter(|r| {
            !matches!(
                r,
                RejectReason::Late
                    | RejectReason::Oversized
                    | RejectReason::ClockJump
                    | RejectReason::Duplicate
                    | RejectReason::NoObservation
            )
        })
        .collect();
    let missing: Vec<_> = decoder_reasons.difference(&reasons).collect();
    assert!(missing.is_empty(), "never produced: {missing:?}");
    assert!(
        accepted * 5 > total,
        "too few valid observations: {accepted} of {total}"
    );
}
