//! The fast reader against the serde path it stands in for: whenever it reads a message,
//! serde reads the same elements and the same kept attributes; the real Smart Data Models
//! examples take the fast path; and broken or unusual bytes never get past it.

use proptest::prelude::*;
use serde_json::{Map, Value};

use super::super::attrs::Kept;
use super::super::entities;
use super::{Element, Message, message};

macro_rules! fixture {
    ($path:literal) => {
        include_str!(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/fixtures/feeds/fiware/",
            $path
        ))
    };
}

const FIXTURES: [&str; 20] = [
    fixture!("OffStreetParking/example.json"),
    fixture!("OffStreetParking/example.jsonld"),
    fixture!("OffStreetParking/example-normalized.json"),
    fixture!("OffStreetParking/example-normalized.jsonld"),
    fixture!("OnStreetParking/example.json"),
    fixture!("OnStreetParking/example.jsonld"),
    fixture!("OnStreetParking/example-normalized.json"),
    fixture!("OnStreetParking/example-normalized.jsonld"),
    fixture!("ParkingGroup/example.json"),
    fixture!("ParkingGroup/example.jsonld"),
    fixture!("ParkingGroup/example-normalized.json"),
    fixture!("ParkingGroup/example-normalized.jsonld"),
    fixture!("ParkingSpot/example.json"),
    fixture!("ParkingSpot/example.jsonld"),
    fixture!("ParkingSpot/example-normalized.json"),
    fixture!("ParkingSpot/example-normalized.jsonld"),
    fixture!("TrafficFlowObserved/example.json"),
    fixture!("TrafficFlowObserved/example.jsonld"),
    fixture!("TrafficFlowObserved/example-normalized.json"),
    fixture!("TrafficFlowObserved/example-normalized.jsonld"),
];

/// The elements of a message the fast reader reads (a single entity as one).
fn batch(payload: &[u8]) -> Option<Vec<Element<'_>>> {
    match message(payload)? {
        Message::Entities(elements) => Some(elements),
        Message::Single(element) => Some(vec![element]),
    }
}

/// Asserts that serde reads `payload` as the fast reader did, if it did; whether it did.
fn agrees(payload: &[u8]) -> bool {
    let Some(fast) = message(payload) else {
        return false;
    };
    let split = entities(payload)
        .unwrap_or_else(|e| panic!("fast path read what serde refuses ({})", e.detail));
    let fast = match (fast, split) {
        (Message::Entities(fast), Some(raw)) => {
            assert_eq!(fast.len(), raw.len());
            for (element, raw) in fast.iter().zip(&raw) {
                assert_eq!(element.bytes, raw.get().as_bytes());
            }
            fast
        }
        (Message::Single(element), None) => {
            assert_eq!(element.bytes, payload);
            vec![element]
        }
        _ => panic!("fast path and serde split the message differently"),
    };
    for element in fast {
        let Some(kept) = &element.kept else {
            continue;
        };
        let mut map = Map::new();
        for (name, value) in kept {
            let value: Value = serde_json::from_slice(value).expect("a kept value parses");
            map.insert((*name).to_owned(), value);
        }
        match serde_json::from_slice::<Kept>(element.bytes) {
            Ok(Kept(value)) => assert_eq!(Value::Object(map), value),
            Err(e) => panic!("serde refuses an element read fast: {e}"),
        }
    }
    true
}

#[test]
fn every_smart_data_models_example_takes_the_fast_path() {
    for fixture in FIXTURES {
        let payload = format!("[{fixture}, {fixture}]\n");
        assert!(agrees(payload.as_bytes()), "{fixture}");
        let elements = batch(payload.as_bytes()).expect("read");
        assert!(elements.iter().all(|e| e.kept.is_some()));
        let kept = elements[0].kept.as_ref().expect("kept");
        assert!(kept.iter().any(|(name, _)| *name == "id"));
    }
}

#[test]
fn unusual_input_is_left_to_serde() {
    for payload in [
        "[{\"id\":\"a\",\"type\":\"b\",}]",
        "[{\"id\":\"a\"}]x",
        "[{\"id\":\"a\"},]",
        "[{\"id\":01}]",
        "[{\"id\":1.}]",
        "[{\"id\":-}]",
        "[{\"id\":1e}]",
        "[{\"id\":\"a\tb\"}]",
        "[{\"id\":\"a\\qb\"}]",
        "[{\"id\":\"\\u12G4\"}]",
        "[{\"id\":tru}]",
        "[{\"id\" \"a\"}]",
        "\u{feff}[]",
    ] {
        assert!(!agrees(payload.as_bytes()), "{payload}");
    }
    assert!(!agrees(b"[{\"id\":\"\xff\"}]"));
    let deep = format!("[{}{}]", "[".repeat(70), "]".repeat(70));
    assert!(!agrees(deep.as_bytes()));
    // UTF-8 is checked inside strings: overlong, a surrogate, cut short, a stray
    // continuation byte.
    for bad in [&b"\xc0\x80"[..], b"\xed\xa0\x80", b"\xe2\x82", b"\x80"] {
        let mut payload = b"[{\"id\":\"a".to_vec();
        payload.extend_from_slice(bad);
        payload.extend_from_slice(b"\"}]");
        assert!(!agrees(&payload), "{bad:?}");
    }
    assert!(agrees(
        "[{\"id\":\"Stra\u{df}e \u{20ac} \u{1f697}\"}]".as_bytes()
    ));
}

#[test]
fn notifications_and_single_entities_are_read_as_serde_splits_them() {
    let entity = fixture!("OffStreetParking/example-normalized.jsonld");
    for payload in [
        format!(r#"{{"id":"n","type":"Notification","data":[{entity},{entity}]}}"#),
        format!(r#"{{"subscriptionId":"s","data":[{entity}]}}"#),
        r#"{"subscriptionId":null,"data":[1],"id":"x","type":"T"}"#.to_owned(),
        entity.to_owned(),
        "{}".to_owned(),
    ] {
        assert!(agrees(payload.as_bytes()), "{payload}");
    }
    // What the serde envelope refuses or reads otherwise is left to it.
    for payload in [
        r#"{"type":"Notification"}"#,
        r#"{"type":"Notification","data":null}"#,
        r#"{"type":"Notification","data":[],"data":[]}"#,
        r#"{"id":"a","type":"T","type":"T"}"#,
        r#"{"id":"a","type":7}"#,
        r#"{"id":"a","type":"T","data":{}}"#,
        r#"{"ty\u0070e":"Notification","data":[]}"#,
        r#"{"type":"Notific\u0061tion","data":[]}"#,
    ] {
        assert!(!agrees(payload.as_bytes()), "{payload}");
    }
}

#[test]
fn escapes_and_exponents_send_their_element_to_serde() {
    let payload =
        br#"[{"i\u0064":"a","type":"T"}, {"id":"b","type":"T","intensity":1e400}, 7, []]"#;
    assert!(agrees(payload));
    let elements = batch(payload).expect("read");
    assert!(elements[0].kept.is_none());
    assert!(elements[1].kept.is_none());
    assert!(elements[2].kept.is_none() && elements[3].kept.is_none());
    assert!(agrees(b" [ ] "));
    // An exponent or an escape outside the read attributes is fine.
    let payload = br#"[{"id":"a","type":"T","description":"\u00e9","x":1e400}]"#;
    assert!(agrees(payload));
    assert!(batch(payload).expect("read")[0].kept.is_some());
}

/// A fixture batch, notification or entity with bytes deleted, replaced or inserted where
/// they hurt JSON most.
fn broken() -> impl Strategy<Value = Vec<u8>> {
    let fixture = proptest::sample::select(&FIXTURES[..]);
    let tricky = proptest::sample::select(
        &[
            b'"', b'\\', b'{', b'}', b'[', b']', b',', b':', b'0', b'-', b'.', b'e', b'u', 0x00,
            0x1f, 0x7f, 0xc3, 0xff, b' ',
        ][..],
    );
    let edit = (any::<prop::sample::Index>(), 0..3u8, tricky);
    let form = 0..3u8;
    (fixture, form, proptest::collection::vec(edit, 1..4)).prop_map(|(fixture, form, edits)| {
        let mut bytes = match form {
            0 => format!("[{fixture},{fixture}]"),
            1 => format!(r#"{{"type":"Notification","data":[{fixture}]}}"#),
            _ => fixture.to_owned(),
        }
        .into_bytes();
        for (at, how, byte) in edits {
            let at = at.index(bytes.len());
            match how {
                0 => {
                    bytes.remove(at);
                }
                1 => bytes[at] = byte,
                _ => bytes.insert(at, byte),
            }
        }
        bytes
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(crate::decode::fuzz::cases(2_000)))]
    #[test]
    fn whatever_the_fast_reader_reads_serde_reads_alike(bytes in broken()) {
        agrees(&bytes);
    }

    #[test]
    fn arbitrary_bytes_are_read_alike_or_left_to_serde(
        bytes in proptest::collection::vec(any::<u8>(), 0..64)
    ) {
        agrees(&bytes);
    }
}
