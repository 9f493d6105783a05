//! Fuzz-style properties of the TTN decoder: a stream of uplinks on one partition, each
//! possibly broken, wrapped or a copy of an earlier one, ends as exactly one accepted or
//! refused observation per uplink, and no uplink (device, frame counter, session) is ever
//! accepted twice.

use std::collections::HashSet;

use proptest::prelude::*;
use stadtpuls_config::{FeedFormat, LoraCodec};
use stadtpuls_processing::RejectReason;
use stadtpuls_processing::catalog::{Catalog, UnknownSensors};
use stadtpuls_processing::model::TimeBounds;
use stadtpuls_processing::model::parking::ParkingBatchBuilder;
use stadtpuls_processing::model::traffic::TrafficBatchBuilder;

use super::super::StreamKind;
use super::super::external::ExternalIds;
use super::super::feed::{self, FeedCity};
use super::super::native::Sinks;
use super::super::ttn::{RecentUplinks, TtnInput};
use super::messages::NOW;

/// One uplink: device (0–1 mapped, 2 unmapped, 3 malformed), frame counter, port,
/// payload, wrapper (0 none, 1 event, 2 result, 3 other event), cut.
type Uplink = (u8, u8, u8, &'static str, u8, Option<usize>);

fn uplink() -> impl Strategy<Value = Uplink> {
    (
        prop_oneof![4 => 0u8..2, 1 => 2u8..4],
        0u8..6,
        prop_oneof![4 => Just(1u8), 1 => Just(2), 1 => Just(3), 1 => Just(0), 1 => Just(77)],
        prop_oneof![
            6 => Just("\"AQ==\""),
            1 => Just("\"lQ==\""),
            1 => Just("\"\""),
            1 => Just("\"l*Q=\""),
            1 => Just("7"),
            1 => Just("null"),
            1 => Just("\"AAAAAJkCANEABQAAAB0CAgA=\""),
        ],
        prop_oneof![3 => 0u8..3, 1 => Just(3)],
        proptest::option::weighted(0.15, 0usize..300),
    )
}

fn text(u: &Uplink) -> String {
    let (device, f_cnt, port, payload, wrap, _) = *u;
    let eui = [
        "70B3D57ED0000001",
        "70b3d57ed0000002",
        "70B3D57ED00000FF",
        "xyz",
    ][device as usize];
    let time = if f_cnt == 5 {
        "1999-01-01T00:00:00Z"
    } else {
        "2026-11-23T23:55:00Z"
    };
    let body = format!(
        r#"{{"end_device_ids":{{"dev_eui":"{eui}"}},"uplink_message":{{"session_key_id":"s","f_port":{port},"f_cnt":{f_cnt},"frm_payload":{payload},"rx_metadata":[{{"time":"{time}"}}]}}}}"#
    );
    match wrap {
        0 => body,
        1 => format!(r#"{{"name":"as.up.data.forward","data":{body}}}"#),
        2 => format!(r#"{{"result":{body}}}"#),
        _ => format!(r#"{{"name":"as.up.join.forward","data":{body}}}"#),
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: super::cases(256), ..ProptestConfig::default() })]

    #[test]
    fn every_uplink_is_counted_once_and_taken_at_most_once(
        uplinks in proptest::collection::vec(uplink(), 1..24),
    ) {
        let mut catalog = Catalog::with_cities(&["porto"], UnknownSensors::Reject);
        let zone = catalog.add_facility(0, "z1", None);
        catalog.add_spot(0, "s1", zone);
        catalog.add_spot(0, "s2", zone);
        let mut external = ExternalIds::default();
        external.insert(0, "70B3D57ED0000001", "s1", None);
        external.insert(0, "70B3D57ED0000002", "s2", None);
        let mut recent = RecentUplinks::default();
        let mut taken = HashSet::new();
        let (mut traffic, mut parking) =
            (TrafficBatchBuilder::default(), ParkingBatchBuilder::default());
        let mut rejected = Vec::new();
        let mut accepted_total = 0;
        for u in &uplinks {
            let mut message = text(u);
            if let Some(cut) = u.5.filter(|c| *c < message.len()) {
                message.truncate(cut);
            }
            let before = rejected.len();
            let mut sinks = Sinks {
                catalog: &mut catalog,
                traffic: &mut traffic,
                parking: &mut parking,
                rejected: &mut rejected,
            };
            let accepted = feed::decode(
                FeedFormat::Ttn,
                || StreamKind::Parking,
                message.as_bytes(),
                FeedCity { key: 0, id: "porto" },
                &external,
                TimeBounds { now: NOW, max_future_ms: 300_000 },
                &mut TtnInput { codec: Some(LoraCodec::BoschPls), recent: &mut recent },
                &mut sinks,
            ).accepted;
            prop_assert_eq!(accepted + rejected.len() - before, 1, "{}", message);
            if accepted == 1 {
                // The device id as its registry entry (case-insensitive) and the counter.
                prop_assert!(taken.insert((u.0, u.1)), "taken twice: {}", message);
            }
            for r in &rejected[before..] {
                prop_assert!(r.rejection.reason != RejectReason::Duplicate
                    || uplinks.iter().filter(|o| (o.0, o.1) == (u.0, u.1)).count() > 1);
            }
            accepted_total += accepted;
        }
        prop_assert_eq!(accepted_total + rejected.len(), uplinks.len());
        prop_assert_eq!(parking.len(), accepted_total);
    }
}
