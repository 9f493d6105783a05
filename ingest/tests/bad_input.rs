//! Every row of the table "Bad input and what it gets" (`docs/input.md`): each kind of
//! bad input, through the whole pipeline step, gets its dead-letter reason and moves its
//! counter by exactly one; the inputs that are not refused are accepted as the table says.
//!
//! Its own binary, so the process-wide counters move only for these inputs; the partner
//! formats' cases (`bad_input/feeds.rs`) use a city of their own.

#[path = "bad_input/datex2.rs"]
mod datex2;
#[path = "bad_input/feeds.rs"]
mod feeds;
#[path = "bad_input/ttn.rs"]
mod ttn;

use std::sync::Arc;

use stadtpuls_ingest::metrics::{EVENTS_LATE, EVENTS_LATE_ACCEPTED, EVENTS_REJECTED};
use stadtpuls_ingest::pipeline::{Limits, Pipeline, PipelineOptions, RawMessage};
use stadtpuls_processing::RejectReason;
use stadtpuls_processing::catalog::{Catalog, UnknownSensors};
use stadtpuls_processing::live::LiveState;
use stadtpuls_processing::window::parking::ParkingSpec;
use stadtpuls_processing::window::{TimestampSemantics, WindowSpec};

/// The receiver's clock: 2026-11-24T01:00:00Z.
const NOW: i64 = 1_795_482_000_000;
/// Ten minutes before `NOW`: a good event time.
const T: i64 = NOW - 600_000;
const TRAFFIC: &str = "sensors.ulm.traffic";
const PARKING: &str = "sensors.ulm.parking";
const MAX_MESSAGE_BYTES: usize = 2048;

/// The pipeline step of a partner city whose topics `feeds` configures, its external ids
/// mapped by `ids` (the feed tests' own cities, 1-minute windows, 4 KiB messages).
fn feed_pipeline(
    catalog: Catalog,
    feeds: stadtpuls_ingest::decode::feed::FeedTopics,
    ids: stadtpuls_ingest::decode::external::ExternalIds,
) -> Pipeline {
    let spec = WindowSpec::tumbling(&[60_000], 30_000, 600_000, TimestampSemantics::IntervalEnd);
    let limits = Limits {
        max_message_bytes: 4096,
        max_future_ms: 300_000,
        max_clock_jump_ms: 150_000,
    };
    let options = PipelineOptions {
        update_live: false,
        ..PipelineOptions::default()
    };
    Pipeline::from_parts(
        catalog,
        &spec,
        &ParkingSpec::default(),
        limits,
        Arc::new(LiveState::new(0)),
        options,
    )
    .with_feeds(feeds, ids)
}

fn pipeline() -> Pipeline {
    let mut catalog = Catalog::with_cities(&["ulm", "ka"], UnknownSensors::Reject);
    catalog.add_traffic(0, "s1", 2, 50.0);
    catalog.add_traffic(1, "k1", 1, 50.0);
    catalog.add_facility(0, "p1", Some(100));
    let zone = catalog.add_facility(0, "z1", None);
    catalog.add_spot(0, "sp1", zone);
    catalog.add_facility(0, "z2", None);
    let mut spec =
        WindowSpec::tumbling(&[60_000], 30_000, 600_000, TimestampSemantics::IntervalEnd);
    spec.allowed_lateness_ms = 120_000;
    let limits = Limits {
        max_message_bytes: MAX_MESSAGE_BYTES,
        max_future_ms: 300_000,
        max_clock_jump_ms: 150_000,
    };
    let options = PipelineOptions {
        update_live: false,
        ..PipelineOptions::default()
    };
    Pipeline::from_parts(
        catalog,
        &spec,
        &ParkingSpec::default(),
        limits,
        Arc::new(LiveState::new(0)),
        options,
    )
}

/// A valid traffic observation of `s1` at `T` with `extra` fields appended.
fn traffic(extra: &str) -> String {
    format!(
        r#"{{"city":"ulm","sensor_id":"s1","lane":1,"ts":{T},"interval_s":60,"vehicle_count":12{extra}}}"#
    )
}

/// A traffic observation of `s1` with `fields` replacing the defaults after `city`.
fn traffic_with(fields: &str) -> String {
    format!(r#"{{"city":"ulm","sensor_id":"s1",{fields}}}"#)
}

/// A facility count of `p1` (capacity 100) at `T` with `extra` fields appended.
fn facility(extra: &str) -> String {
    format!(r#"{{"city":"ulm","kind":"facility","id":"p1","ts":{T}{extra}}}"#)
}

/// What a case must give.
enum Outcome {
    /// One dead letter with this reason, counted in
    /// `stadtpuls_events_rejected_total{city, kind, reason}`.
    Refused(RejectReason, &'static str),
    /// Dead-lettered as `late` naming its 1-minute window, counted in
    /// `stadtpuls_events_late_total{kind, window}` and
    /// `stadtpuls_events_rejected_total{city, kind, reason="late"}` (city `ulm`).
    Late,
    /// Accepted rows, no dead letter.
    Accepted(usize),
    /// Accepted late, within the allowed lateness: `stadtpuls_events_late_accepted_total`.
    AcceptedLate,
    /// Array: these element indices refused with these reasons, the rest accepted.
    Elements(usize, Vec<(usize, RejectReason)>),
}

struct Case {
    what: &'static str,
    topic: &'static str,
    payload: String,
    /// Messages processed first (to move the watermark).
    before: Vec<String>,
    outcome: Outcome,
}

fn case(what: &'static str, topic: &'static str, payload: String, outcome: Outcome) -> Case {
    Case {
        what,
        topic,
        payload,
        before: Vec::new(),
        outcome,
    }
}

fn refused(what: &'static str, topic: &'static str, payload: String, reason: RejectReason) -> Case {
    case(what, topic, payload, Outcome::Refused(reason, "ulm"))
}

fn cases() -> Vec<Case> {
    use RejectReason::*;
    let nested = |depth: usize| format!("{}{}", "[".repeat(depth), "]".repeat(depth));
    let oversized = traffic(&format!(r#","note":"{}""#, "x".repeat(MAX_MESSAGE_BYTES)));
    vec![
        refused("not JSON", TRAFFIC, "count=12 speed=50".into(), Malformed),
        refused("empty message", TRAFFIC, String::new(), Malformed),
        refused("blank message", TRAFFIC, " \n".into(), Malformed),
        refused("JSON null", TRAFFIC, "null".into(), Malformed),
        refused(
            "truncated",
            TRAFFIC,
            traffic("")[..40].to_owned(),
            Malformed,
        ),
        refused(
            "byte-order mark",
            TRAFFIC,
            format!("\u{feff}{}", traffic("")),
            Malformed,
        ),
        refused(
            "required field missing",
            TRAFFIC,
            traffic_with(&format!(r#""ts":{T}"#)),
            Malformed,
        ),
        refused(
            "string for a number",
            TRAFFIC,
            traffic_with(&format!(r#""ts":{T},"vehicle_count":"12""#)),
            Malformed,
        ),
        refused(
            "number for a string",
            TRAFFIC,
            format!(r#"{{"city":"ulm","sensor_id":42,"ts":{T},"vehicle_count":1}}"#),
            Malformed,
        ),
        refused(
            "fraction for an integer",
            TRAFFIC,
            traffic_with(&format!(r#""ts":{T},"vehicle_count":12.5"#)),
            Malformed,
        ),
        refused(
            "-0 for an integer",
            TRAFFIC,
            traffic_with(&format!(r#""ts":{T},"vehicle_count":-0"#)),
            Malformed,
        ),
        refused(
            "integer beyond 64 bits",
            TRAFFIC,
            traffic_with(&format!(r#""ts":{T},"vehicle_count":18446744073709551616"#)),
            Malformed,
        ),
        refused(
            "NaN",
            TRAFFIC,
            traffic(r#","avg_speed_kmh":NaN"#),
            Malformed,
        ),
        refused(
            "number beyond f64",
            TRAFFIC,
            traffic(r#","avg_speed_kmh":1e309"#),
            Malformed,
        ),
        refused(
            "duplicate key",
            TRAFFIC,
            traffic(r#","vehicle_count":13"#),
            Malformed,
        ),
        case(
            "arrays nested 200 deep",
            TRAFFIC,
            nested(200),
            Outcome::Elements(0, vec![(0, Malformed)]),
        ),
        refused(
            "invalid unicode escape",
            TRAFFIC,
            format!(r#"{{"city":"ulm","sensor_id":"\ud800","ts":{T},"vehicle_count":1}}"#),
            Malformed,
        ),
        refused(
            "unparseable ts",
            TRAFFIC,
            traffic_with(r#""ts":"yesterday","vehicle_count":1"#),
            Malformed,
        ),
        refused(
            "impossible date",
            TRAFFIC,
            traffic_with(r#""ts":"2026-02-30T10:00:00Z","vehicle_count":1"#),
            Malformed,
        ),
        refused(
            "fractional epoch ms",
            TRAFFIC,
            traffic_with(r#""ts":1795481400000.5,"vehicle_count":1"#),
            Malformed,
        ),
        refused(
            "unknown parking kind",
            PARKING,
            format!(r#"{{"city":"ulm","kind":"garage","id":"p1","ts":{T}}}"#),
            Malformed,
        ),
        refused(
            "unknown spot status",
            PARKING,
            format!(r#"{{"city":"ulm","kind":"spot","id":"sp1","ts":{T},"status":"parked"}}"#),
            Malformed,
        ),
        refused(
            "facility count without free_spaces",
            PARKING,
            facility(""),
            Malformed,
        ),
        refused("oversized", TRAFFIC, oversized, Oversized),
        case(
            "topic of an unconfigured city",
            "sensors.atlantis.traffic",
            traffic(""),
            Outcome::Refused(UnknownCity, "unknown"),
        ),
        case(
            "payload city unconfigured",
            "feed.raw",
            traffic("").replace("\"ulm\"", "\"atlantis\""),
            Outcome::Refused(UnknownCity, "unknown"),
        ),
        case(
            "payload city differs from the topic's",
            TRAFFIC,
            format!(r#"{{"city":"ka","sensor_id":"k1","ts":{T},"vehicle_count":1}}"#),
            Outcome::Refused(CityMismatch, "ka"),
        ),
        refused(
            "unknown sensor",
            TRAFFIC,
            traffic("").replace("\"s1\"", "\"s9\""),
            UnknownSensor,
        ),
        refused(
            "unknown facility",
            PARKING,
            facility(r#","free_spaces":3"#).replace("\"p1\"", "\"p9\""),
            UnknownSensor,
        ),
        refused(
            "spot claimed for another facility",
            PARKING,
            format!(
                r#"{{"city":"ulm","kind":"spot","id":"sp1","facility_id":"z2","ts":{T},"status":"free"}}"#
            ),
            UnknownSensor,
        ),
        refused(
            "speed above 250 km/h",
            TRAFFIC,
            traffic(r#","avg_speed_kmh":251"#),
            SpeedOutOfRange,
        ),
        refused(
            "negative speed",
            TRAFFIC,
            traffic(r#","avg_speed_kmh":-1.5"#),
            SpeedOutOfRange,
        ),
        refused(
            "occupancy above 100 %",
            TRAFFIC,
            traffic(r#","occupancy_pct":100.5"#),
            OccupancyOutOfRange,
        ),
        refused(
            "negative vehicle count",
            TRAFFIC,
            traffic_with(&format!(r#""ts":{T},"vehicle_count":-3"#)),
            NegativeCount,
        ),
        refused(
            "negative heavy count",
            TRAFFIC,
            traffic(r#","heavy_vehicle_count":-1"#),
            NegativeCount,
        ),
        refused(
            "negative free spaces",
            PARKING,
            facility(r#","free_spaces":-1"#),
            NegativeCount,
        ),
        refused(
            "negative entries",
            PARKING,
            facility(r#","free_spaces":3,"entries":-2"#),
            NegativeCount,
        ),
        refused(
            "more heavy vehicles than vehicles",
            TRAFFIC,
            traffic(r#","heavy_vehicle_count":13"#),
            ImplausibleCount,
        ),
        refused(
            "more than one vehicle per second and lane",
            TRAFFIC,
            traffic_with(&format!(
                r#""lane":1,"ts":{T},"interval_s":60,"vehicle_count":61"#
            )),
            ImplausibleCount,
        ),
        refused(
            "interval of 0 s",
            TRAFFIC,
            traffic_with(&format!(r#""ts":{T},"interval_s":0,"vehicle_count":0"#)),
            InvalidInterval,
        ),
        refused(
            "interval over an hour",
            TRAFFIC,
            traffic_with(&format!(r#""ts":{T},"interval_s":3601,"vehicle_count":1"#)),
            InvalidInterval,
        ),
        refused(
            "lane 17",
            TRAFFIC,
            traffic_with(&format!(r#""lane":17,"ts":{T},"vehicle_count":1"#)),
            InvalidLane,
        ),
        refused(
            "ts 10 min in the future",
            TRAFFIC,
            traffic_with(&format!(r#""ts":{},"vehicle_count":1"#, NOW + 600_000)),
            FutureTimestamp,
        ),
        refused(
            "ts before 2000",
            TRAFFIC,
            traffic_with(r#""ts":"1999-12-31T23:59:59Z","vehicle_count":1"#),
            TimestampOutOfRange,
        ),
        refused(
            "ts at the end of i64",
            TRAFFIC,
            traffic_with(&format!(r#""ts":{},"vehicle_count":1"#, i64::MIN)),
            TimestampOutOfRange,
        ),
        refused(
            "more free spaces than total",
            PARKING,
            facility(r#","free_spaces":120,"total_spaces":100"#),
            InvalidParking,
        ),
        refused(
            "total of zero",
            PARKING,
            facility(r#","free_spaces":0,"total_spaces":0"#),
            InvalidParking,
        ),
        Case {
            what: "ts an hour ahead of its partition, unconfirmed",
            topic: TRAFFIC,
            payload: traffic(""),
            before: vec![traffic_with(&format!(
                r#""ts":{},"vehicle_count":1"#,
                T - 3_600_000
            ))],
            outcome: Outcome::Refused(ClockJump, "ulm"),
        },
        Case {
            what: "a car park's ts an hour ahead of its partition, unconfirmed",
            topic: PARKING,
            payload: facility(r#","free_spaces":20,"total_spaces":100"#),
            before: vec![format!(
                r#"{{"city":"ulm","kind":"facility","id":"p1","ts":{},"free_spaces":20,"total_spaces":100}}"#,
                T - 3_600_000
            )],
            outcome: Outcome::Refused(ClockJump, "ulm"),
        },
        Case {
            what: "later than the allowed lateness",
            topic: TRAFFIC,
            payload: traffic(""),
            before: vec![traffic_with(&format!(r#""ts":{NOW},"vehicle_count":1"#))],
            outcome: Outcome::Late,
        },
        Case {
            what: "late within the allowed lateness",
            topic: TRAFFIC,
            payload: traffic_with(&format!(r#""ts":{},"vehicle_count":1"#, NOW - 60_000)),
            before: vec![traffic_with(&format!(r#""ts":{NOW},"vehicle_count":1"#))],
            outcome: Outcome::AcceptedLate,
        },
        case(
            "one bad element in an array",
            TRAFFIC,
            format!(
                "[{},{},{}]",
                traffic(""),
                traffic(r#","avg_speed_kmh":999"#),
                traffic("")
            ),
            Outcome::Elements(2, vec![(1, RejectReason::SpeedOutOfRange)]),
        ),
        case("empty array", TRAFFIC, "[]".into(), Outcome::Accepted(0)),
        case(
            "unknown fields",
            TRAFFIC,
            traffic(r#","firmware":"2.1","x":{"y":[1]}"#),
            Outcome::Accepted(1),
        ),
        case(
            "unknown field nested 900 deep",
            TRAFFIC,
            traffic(&format!(r#","x":{}"#, nested(900))),
            Outcome::Accepted(1),
        ),
        case(
            "escaped key and value",
            TRAFFIC,
            traffic("")
                .replace("\"city\"", "\"\\u0063ity\"")
                .replace("\"s1\"", "\"\\u0073\\u0031\""),
            Outcome::Accepted(1),
        ),
    ]
}

fn kind_of(topic: &str, payload: &str) -> &'static str {
    if topic.ends_with(".parking") || (topic == "feed.raw" && !payload.contains("sensor_id")) {
        "parking"
    } else {
        "traffic"
    }
}

fn message(topic: &str, offset: i64, payload: &str) -> RawMessage {
    RawMessage {
        source: 0,
        topic: Arc::from(topic),
        partition: 0,
        offset,
        key: None,
        payload: payload.as_bytes().to_vec().into(),
        format: None,
    }
}

#[test]
fn every_bad_input_of_the_docs_table_gets_its_reason_and_counter() {
    let cases = cases();
    assert!(cases.len() > 50);
    for case in cases {
        let what = case.what;
        let mut p = pipeline();
        for (offset, payload) in case.before.iter().enumerate() {
            let out = p
                .process(&[message(case.topic, offset as i64, payload)], NOW)
                .expect("process");
            assert!(out.dead_letters.is_empty(), "{what}: prelude refused");
        }
        let kind = kind_of(case.topic, &case.payload);
        let rejected = |city: &str, reason: RejectReason| {
            EVENTS_REJECTED
                .with_label_values(&[city, kind, reason.as_str()])
                .get()
        };
        let late = || EVENTS_LATE.with_label_values(&[kind, "1m"]).get();
        let late_accepted = || EVENTS_LATE_ACCEPTED.with_label_values(&[kind, "1m"]).get();
        let late_refused = || rejected("ulm", RejectReason::Late);
        let late_refused_before = late_refused();
        let counters_before = match &case.outcome {
            Outcome::Refused(reason, city) => rejected(city, *reason),
            Outcome::Late => late(),
            Outcome::AcceptedLate => late_accepted(),
            Outcome::Accepted(_) | Outcome::Elements(..) => 0,
        };
        let out = p
            .process(&[message(case.topic, 100, &case.payload)], NOW)
            .expect("process");
        let letters: Vec<(RejectReason, Option<usize>)> = out
            .dead_letters
            .iter()
            .map(|d| (d.reason, d.index))
            .collect();
        match case.outcome {
            Outcome::Refused(reason, city) => {
                assert_eq!(letters, vec![(reason, None)], "{what}");
                assert_eq!(out.accepted, 0, "{what}");
                assert_eq!(
                    rejected(city, reason),
                    counters_before + 1,
                    "{what}: counter"
                );
                let letter = &out.dead_letters[0];
                assert!(!letter.detail.is_empty(), "{what}");
                assert_eq!(letter.offset, 100, "{what}");
                if reason == RejectReason::Oversized {
                    assert!(
                        letter.original_bytes.is_some() && letter.payload.len() == 1024,
                        "{what}"
                    );
                } else {
                    assert_eq!(letter.payload, case.payload.as_bytes(), "{what}");
                }
            }
            Outcome::Late => {
                assert_eq!(letters, vec![(RejectReason::Late, None)], "{what}");
                assert_eq!(late(), counters_before + 1, "{what}: counter");
                assert_eq!(late_refused(), late_refused_before + 1, "{what}: rejected");
                let window = out.dead_letters[0].late_windows.clone();
                assert_eq!(window.len(), 1, "{what}: {window:?}");
                assert!(window[0].ends_with("Z/1m"), "{what}: {window:?}");
            }
            Outcome::AcceptedLate => {
                assert!(letters.is_empty(), "{what}: {letters:?}");
                assert_eq!(out.accepted, 1, "{what}");
                assert_eq!(late_accepted(), counters_before + 1, "{what}: counter");
            }
            Outcome::Accepted(rows) => {
                assert!(letters.is_empty(), "{what}: {letters:?}");
                assert_eq!(out.accepted, rows, "{what}");
            }
            Outcome::Elements(rows, refused) => {
                let expected: Vec<_> = refused.iter().map(|&(i, r)| (r, Some(i))).collect();
                assert_eq!(letters, expected, "{what}");
                assert_eq!(out.accepted, rows, "{what}");
            }
        }
    }
}
