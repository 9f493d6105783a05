//! The TTN rows of "Bad input and what it gets" (`docs/input.md`): each kind of bad
//! The Things Stack uplink, through the pipeline step of a city whose topic is configured
//! `format = "ttn"`, gets its dead letter and moves both its counters by exactly one —
//! `stadtpuls_events_rejected_total{city,kind,reason}` and
//! `stadtpuls_feed_observations_rejected_total{city,format,reason}`.
//!
//! City `bremen` is this test's own, so the other tests of the binary never move its labels.

use std::sync::Arc;

use stadtpuls_config::{FeedFormat, LoraCodec};
use stadtpuls_ingest::decode::external::ExternalIds;
use stadtpuls_ingest::decode::feed::FeedTopics;
use stadtpuls_ingest::metrics::{EVENTS_REJECTED, FEED_REJECTED};
use stadtpuls_ingest::pipeline::{Pipeline, RawMessage};
use stadtpuls_processing::RejectReason;
use stadtpuls_processing::catalog::{Catalog, UnknownSensors};

use super::NOW;

const TTN: &str = "bremen.ttn";
const DEV_EUI: &str = "70B3D57ED0000001";

fn pipeline() -> Pipeline {
    let mut catalog = Catalog::with_cities(&["bremen"], UnknownSensors::Reject);
    let lot = catalog.add_facility(0, "schlachte", Some(20));
    catalog.add_spot(0, "schlachte-1", lot);
    let mut feeds = FeedTopics::default();
    feeds.insert(TTN, 0, "bremen", FeedFormat::Ttn);
    feeds.set_codec(TTN, Some(LoraCodec::NwaveNps));
    let mut ids = ExternalIds::default();
    ids.insert(0, DEV_EUI, "schlachte-1", None);
    super::feed_pipeline(catalog, feeds, ids)
}

/// An Nwave status uplink (f_cnt 41) at 2026-11-24T00:50:00Z, edited by `edit`.
fn uplink(edit: impl Fn(String) -> String) -> String {
    edit(format!(
        r#"{{"end_device_ids":{{"device_id":"bay-1","dev_eui":"{DEV_EUI}","dev_addr":"260B0001"}},"received_at":"2026-11-24T00:50:00.200Z","uplink_message":{{"session_key_id":"AYfqmb0pc/1uRZv9xUydgQ==","f_port":1,"f_cnt":41,"frm_payload":"lQ==","rx_metadata":[{{"gateway_ids":{{"gateway_id":"gw"}},"time":"2026-11-24T00:50:00Z"}}],"received_at":"2026-11-24T00:50:00.100Z"}}}}"#
    ))
}

fn same(text: String) -> String {
    text
}

struct Case {
    what: &'static str,
    /// Messages sent, in order, on one partition.
    payloads: Vec<String>,
    accepted: usize,
    /// (reason, text the detail must hold), one per refused message.
    refused: Vec<(RejectReason, &'static str)>,
}

fn case(what: &'static str, payload: String, reason: RejectReason, says: &'static str) -> Case {
    Case {
        what,
        payloads: vec![payload],
        accepted: 0,
        refused: vec![(reason, says)],
    }
}

fn cases() -> Vec<Case> {
    use RejectReason::*;
    vec![
        case(
            "broken JSON",
            uplink(same)[..80].to_owned(),
            Malformed,
            "invalid JSON",
        ),
        case(
            "missing dev_eui",
            uplink(|t| t.replace(&format!(r#""dev_eui":"{DEV_EUI}","#), "")),
            Malformed,
            "end_device_ids.dev_eui",
        ),
        case(
            "unmapped dev_eui",
            uplink(|t| t.replace(DEV_EUI, "70B3D57ED00000FF")),
            UnknownSensor,
            "`70B3D57ED00000FF`",
        ),
        case(
            "bad base64",
            uplink(|t| t.replace("lQ==", "l*Q=")),
            Malformed,
            "not base64",
        ),
        case(
            "unknown port",
            uplink(|t| t.replace(r#""f_port":1"#, r#""f_port":99"#)),
            Malformed,
            "f_port 99",
        ),
        case(
            "heartbeat without a trusted state",
            uplink(|t| t.replace(r#""f_port":1"#, r#""f_port":2"#)),
            NoObservation,
            "heartbeat",
        ),
        case(
            "join accept",
            format!(
                r#"{{"end_device_ids":{{"dev_eui":"{DEV_EUI}"}},"join_accept":{{"session_key_id":"AQ=="}}}}"#
            ),
            NoObservation,
            "join_accept",
        ),
        case(
            "impossible gateway time",
            uplink(|t| t.replace("2026-11-24T00:50:00Z", "2026-02-30T00:50:00Z")),
            Malformed,
            "rx_metadata[].time",
        ),
        case(
            "time before 2000",
            uplink(|t| t.replace("2026-11-24T00:50:00Z", "1999-12-31T00:50:00Z")),
            TimestampOutOfRange,
            "",
        ),
        case(
            "time an hour ahead",
            uplink(|t| t.replace("2026-11-24T00:50:00Z", "2026-11-24T02:00:00Z")),
            FutureTimestamp,
            "",
        ),
        Case {
            what: "duplicate uplink",
            payloads: vec![uplink(same), uplink(same)],
            accepted: 1,
            refused: vec![(Duplicate, "same dev_eui, f_cnt and session")],
        },
        Case {
            what: "the next frame of the same device",
            payloads: vec![
                uplink(same),
                uplink(|t| t.replace(r#""f_cnt":41"#, r#""f_cnt":42"#)),
            ],
            accepted: 2,
            refused: vec![],
        },
    ]
}

#[test]
fn every_bad_ttn_uplink_gets_its_reason_and_both_counters() {
    for case in cases() {
        let what = case.what;
        let counters = |reason: RejectReason| {
            let events = EVENTS_REJECTED
                .with_label_values(&["bremen", "parking", reason.as_str()])
                .get();
            let feed = FEED_REJECTED
                .with_label_values(&["bremen", "ttn", reason.as_str()])
                .get();
            (events, feed)
        };
        let before: Vec<_> = case.refused.iter().map(|r| counters(r.0)).collect();
        let messages: Vec<_> = case
            .payloads
            .iter()
            .enumerate()
            .map(|(offset, payload)| RawMessage {
                source: 0,
                topic: Arc::from(TTN),
                partition: 0,
                offset: offset as i64,
                key: None,
                payload: payload.clone().into_bytes().into(),
                format: None,
            })
            .collect();
        let out = pipeline().process(&messages, NOW).expect("process");
        let reasons: Vec<_> = out.dead_letters.iter().map(|d| d.reason).collect();
        let expected: Vec<_> = case.refused.iter().map(|r| r.0).collect();
        assert_eq!(reasons, expected, "{what}: {:?}", out.dead_letters);
        assert_eq!(out.accepted, case.accepted, "{what}");
        for ((refusal, letter), before) in case.refused.iter().zip(&out.dead_letters).zip(before) {
            assert!(
                letter.detail.contains(refusal.1),
                "{what}: {}",
                letter.detail
            );
            let (events, feed) = counters(refusal.0);
            assert_eq!(events, before.0 + 1, "{what}: events counter");
            assert_eq!(feed, before.1 + 1, "{what}: feed counter");
        }
    }
}
