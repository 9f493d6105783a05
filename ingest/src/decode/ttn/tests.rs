//! The TTN fixtures (`ingest/tests/fixtures/feeds/ttn/`) through the decoder, with the
//! values a person reads in them and in ThingsBoard's decoded results beside them in
//! `/work/shared/data/ttn/` (`*_result*.json`), and the refusals of everything else.

use arrow_array::cast::AsArray;
use arrow_array::types::{TimestampMillisecondType, UInt8Type, UInt32Type};
use stadtpuls_config::LoraCodec;
use stadtpuls_processing::RejectReason;
use stadtpuls_processing::catalog::{Catalog, UnknownSensors};
use stadtpuls_processing::model::TimeBounds;
use stadtpuls_processing::model::parking::ParkingBatchBuilder;
use stadtpuls_processing::model::traffic::TrafficBatchBuilder;

use super::super::Rejected;
use super::super::emit::Emit;
use super::super::external::ExternalIds;
use super::super::native::Sinks;
use super::{RecentUplinks, TtnInput, decode};

/// 2023-05-19T06:00:00Z, after every fixture's time.
const NOW: i64 = 1_684_476_000_000;
/// `rx_metadata[0].time` of the TTS Community fixtures, 2023-05-19T05:33:35.608982Z.
const RX_TIME: i64 = 1_684_474_415_608;

macro_rules! fixture {
    ($name:literal) => {
        include_str!(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/fixtures/feeds/ttn/thingsboard_",
            $name,
            ".json"
        ))
    };
}

/// One partition's decoder with a spot `bay-1` mapped from the fixtures' DevEUI.
struct Harness {
    catalog: Catalog,
    external: ExternalIds,
    recent: RecentUplinks,
    parking: ParkingBatchBuilder,
    rejected: Vec<Rejected>,
    codec: Option<LoraCodec>,
}

impl Harness {
    fn new(codec: LoraCodec) -> Self {
        let mut catalog = Catalog::with_cities(&["ulm"], UnknownSensors::Reject);
        let lot = catalog.add_facility(0, "lot", Some(10));
        catalog.add_spot(0, "bay-1", lot);
        let mut external = ExternalIds::default();
        external.insert(0, "1000000000000001", "bay-1", None);
        Self {
            catalog,
            external,
            recent: RecentUplinks::default(),
            parking: ParkingBatchBuilder::default(),
            rejected: Vec::new(),
            codec: Some(codec),
        }
    }

    /// Decodes one message; `(accepted, refusal)` of it.
    fn run(&mut self, payload: &str) -> (usize, Option<(RejectReason, String)>) {
        let before = self.rejected.len();
        let mut traffic = TrafficBatchBuilder::default();
        let mut sinks = Sinks {
            catalog: &mut self.catalog,
            traffic: &mut traffic,
            parking: &mut self.parking,
            rejected: &mut self.rejected,
        };
        let mut emit = Emit {
            sinks: &mut sinks,
            city: 0,
            city_id: "ulm",
            external: &self.external,
            bounds: TimeBounds {
                now: NOW,
                max_future_ms: 300_000,
            },
            accepted: 0,
            admitted: 0,
        };
        let mut input = TtnInput {
            codec: self.codec,
            recent: &mut self.recent,
        };
        decode(payload.as_bytes(), &mut input, &mut emit);
        let accepted = emit.accepted;
        let refusal = self.rejected[before..]
            .first()
            .map(|r| (r.rejection.reason, r.rejection.detail.clone()));
        assert_eq!(accepted + self.rejected.len() - before, 1, "one per uplink");
        (accepted, refusal)
    }

    /// The spot rows so far as `spot ts status`.
    fn spots(&mut self) -> Vec<String> {
        let batch = self.parking.finish(&self.catalog).expect("batch");
        let batch = batch.record_batch();
        let text = |name: &str, row: usize| -> String {
            let column = batch.column_by_name(name).expect("column");
            if let Some(dict) = column.as_dictionary_opt::<UInt32Type>() {
                let key = dict.keys().value(row) as usize;
                return dict.values().as_string::<i32>().value(key).to_owned();
            }
            if let Some(dict) = column.as_dictionary_opt::<UInt8Type>() {
                let key = dict.keys().value(row) as usize;
                return dict.values().as_string::<i32>().value(key).to_owned();
            }
            let ts = column.as_primitive::<TimestampMillisecondType>();
            ts.value(row).to_string()
        };
        (0..batch.num_rows())
            .map(|row| {
                format!(
                    "{} {} {}",
                    text("spot_id", row),
                    text("ts", row),
                    text("status", row)
                )
            })
            .collect()
    }
}

/// A fixture with its `dev_eui`, `f_cnt` or text replaced (to make copies of one uplink
/// distinct, or to break it).
fn edit(payload: &str, from: &str, to: &str) -> String {
    assert!(payload.contains(from), "{from} not in the fixture");
    payload.replacen(from, to, 1)
}

#[test]
fn nwave_port_1_status_lq_is_occupied() {
    // frm_payload `lQ==` = 0x95: bit 0 set → occupied (ThingsBoard: occupied true,
    // previous_state_duration 74).
    let mut h = Harness::new(LoraCodec::NwaveNps);
    assert_eq!(
        h.run(fixture!("nwave-g4-nps-sm_tts-community_payload")),
        (1, None)
    );
    assert_eq!(h.spots(), vec![format!("bay-1 {RX_TIME} occupied")]);
}

#[test]
fn nwave_tts_industries_status_uses_the_earliest_gateway_time() {
    // Two gateways (one via Packet Broker), both at 2023-05-18T08:25:25.885310Z.
    let mut h = Harness::new(LoraCodec::NwaveNps);
    assert_eq!(
        h.run(fixture!("nwave-g4-nps-sm_tts-industries_payload")),
        (1, None)
    );
    assert_eq!(h.spots(), vec!["bay-1 1684398325885 occupied".to_owned()]);
}

#[test]
fn nwave_heartbeat_and_startup_are_no_observation() {
    let mut h = Harness::new(LoraCodec::NwaveNps);
    let (accepted, refusal) = h.run(fixture!("nwave-g4-nps-sm_tts-community_payload_1"));
    assert_eq!(accepted, 0);
    let (reason, detail) = refusal.expect("refused");
    assert_eq!(reason, RejectReason::NoObservation);
    assert!(detail.contains("heartbeat (f_port 2)"), "{detail}");
    // Same f_cnt and session as the heartbeat: a distinct uplink needs its own counter.
    let startup = edit(
        fixture!("nwave-g4-nps-sm_tts-community_payload_2"),
        "\"f_cnt\": 10335",
        "\"f_cnt\": 10336",
    );
    let (accepted, refusal) = h.run(&startup);
    assert_eq!(accepted, 0);
    let (reason, detail) = refusal.expect("refused");
    assert_eq!(reason, RejectReason::NoObservation);
    assert!(detail.contains("startup (f_port 3)"), "{detail}");
}

#[test]
fn bosch_status_heartbeat_and_startup_are_states() {
    let mut h = Harness::new(LoraCodec::BoschPls);
    // f_port 1 `AQ==` → occupied (ThingsBoard result_1: "parking status", occupied).
    assert_eq!(
        h.run(fixture!("bosch-pls_tts-community_payload_1")),
        (1, None)
    );
    // f_port 2 `ARI=` → occupied, 18 °C (result: heartbeat, occupied, temperature 18).
    let heartbeat = edit(
        fixture!("bosch-pls_tts-community_payload"),
        "\"f_cnt\": 10335",
        "\"f_cnt\": 10336",
    );
    assert_eq!(h.run(&heartbeat), (1, None));
    // f_port 3, 17 bytes, byte 16 = 0 → free (result_2: startup, occupied false).
    let startup = edit(
        fixture!("bosch-pls_tts-community_payload_2"),
        "\"f_cnt\": 10335",
        "\"f_cnt\": 10337",
    );
    assert_eq!(h.run(&startup), (1, None));
    assert_eq!(
        h.spots(),
        vec![
            format!("bay-1 {RX_TIME} occupied"),
            format!("bay-1 {RX_TIME} occupied"),
            format!("bay-1 {RX_TIME} free"),
        ]
    );
}

#[test]
fn the_codec_yaml_examples_decode_as_documented() {
    use super::codecs::occupied;
    // nps405-codec.yaml: [0x95] on 1 → occupied.
    assert_eq!(occupied(LoraCodec::NwaveNps, 1, &[0x95]), Ok(true));
    assert_eq!(occupied(LoraCodec::NwaveNps, 1, &[0x94]), Ok(false));
    // tps110-0292-codec.yaml: [1] on 1, [1, 255] on 2, the 17-byte startup on 3 → occupied.
    assert_eq!(occupied(LoraCodec::BoschPls, 1, &[1]), Ok(true));
    assert_eq!(occupied(LoraCodec::BoschPls, 2, &[1, 255]), Ok(true));
    let startup = [0x24, 3, 0, 0, 0x75, 3, 0, 0, 0, 0, 0, 0, 0, 29, 2, 3, 1];
    assert_eq!(occupied(LoraCodec::BoschPls, 3, &startup), Ok(true));
    assert_eq!(
        occupied(LoraCodec::BoschPls, 3, &startup[..16]).map_err(|r| r.reason),
        Err(RejectReason::Malformed)
    );
}

#[test]
fn decoded_payload_wins_over_the_bytes_and_needs_no_codec() {
    let mut h = Harness::new(LoraCodec::NwaveNps);
    h.codec = None;
    // 0x95 says occupied; The Things Stack's formatter said free.
    let decoded = edit(
        fixture!("nwave-g4-nps-sm_tts-community_payload"),
        "\"frm_payload\": \"lQ==\",",
        "\"frm_payload\": \"lQ==\", \"decoded_payload\": {\"occupied\": false},",
    );
    assert_eq!(h.run(&decoded), (1, None));
    assert_eq!(h.spots(), vec![format!("bay-1 {RX_TIME} free")]);
}

#[test]
fn version_ids_choose_the_codec_when_the_feed_names_none() {
    let mut h = Harness::new(LoraCodec::NwaveNps);
    h.codec = None;
    let bare = fixture!("bosch-pls_tts-community_payload_1");
    let (_, refusal) = h.run(bare);
    assert_eq!(refusal.map(|r| r.0), Some(RejectReason::Malformed));
    let named = edit(
        bare,
        "\"f_port\": 1,",
        "\"f_port\": 1, \"version_ids\": {\"brand_id\": \"bosch\", \"model_id\": \"tps110\"},",
    );
    let named = edit(&named, "\"f_cnt\": 10335", "\"f_cnt\": 1");
    assert_eq!(h.run(&named), (1, None));
}

#[test]
fn a_copy_of_an_uplink_is_a_duplicate_and_a_new_session_is_not() {
    let mut h = Harness::new(LoraCodec::NwaveNps);
    let status = fixture!("nwave-g4-nps-sm_tts-community_payload");
    assert_eq!(h.run(status), (1, None));
    let (accepted, refusal) = h.run(status);
    assert_eq!(accepted, 0);
    assert_eq!(refusal.map(|r| r.0), Some(RejectReason::Duplicate));
    // The same f_cnt in a new session (after a rejoin) is a new uplink.
    let rejoined = edit(
        status,
        "AYfqmb0pc/1uRZv9xUydgQ==",
        "AYfqmb0pc/1uRZv9xUydgA==",
    );
    assert_eq!(h.run(&rejoined), (1, None));
    assert_eq!(h.spots().len(), 2, "the copy added no row");
}

#[test]
fn wrappers_of_the_event_stream_and_the_streaming_api_are_read() {
    let status = fixture!("nwave-g4-nps-sm_tts-community_payload");
    let event = format!(r#"{{"name": "as.up.data.forward", "data": {status}}}"#);
    let result = format!(r#"{{"result": {event}}}"#);
    let stored = format!(r#"{{"result": {status}}}"#);
    for (i, message) in [event, result, stored].iter().enumerate() {
        let mut h = Harness::new(LoraCodec::NwaveNps);
        assert_eq!(h.run(message), (1, None), "wrapper {i}");
    }
}

#[test]
fn other_events_and_messages_are_no_observation() {
    let mut h = Harness::new(LoraCodec::NwaveNps);
    for (message, says) in [
        (
            r#"{"name": "as.up.join.forward", "data": {}}"#,
            "`as.up.join.forward` is not an uplink",
        ),
        (
            r#"{"end_device_ids": {"dev_eui": "1000000000000001"}, "join_accept": {"session_key_id": "AQ=="}}"#,
            "`join_accept` message",
        ),
        (
            r#"{"end_device_ids": {"dev_eui": "1000000000000001"}, "downlink_ack": {"f_port": 1}}"#,
            "`downlink_ack` message",
        ),
    ] {
        let (accepted, refusal) = h.run(message);
        assert_eq!(accepted, 0);
        let (reason, detail) = refusal.expect("refused");
        assert_eq!(reason, RejectReason::NoObservation, "{message}");
        assert!(detail.contains(says), "{detail}");
    }
}
