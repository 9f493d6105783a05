//! The fast reader against the serde path it stands in for: whenever it reads a message,
//! serde reads the same elements and the same kept attributes; the real Smart Data Models
//! examples take the fast path; and broken or unusual bytes never get past it.

use proptest::prelude::*;
use serde_json::value::RawValue;
use serde_json::{Map, Value};

use super::super::attrs::Kept;
use super::batch;

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

/// Asserts that serde reads `payload` as the fast reader did, if it did; whether it did.
fn agrees(payload: &[u8]) -> bool {
    let Some(fast) = batch(payload) else {
        return false;
    };
    let raw: Vec<&RawValue> = serde_json::from_slice(payload)
        .unwrap_or_else(|e| panic!("fast path read what serde refuses ({e})"));
    assert_eq!(fast.len(), raw.len());
    for (element, raw) in fast.iter().zip(raw) {
        assert_eq!(element.bytes, raw.get().as_bytes());
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
        "{\"id\":\"a\"}",
        "\u{feff}[]",
    ] {
        assert!(!agrees(payload.as_bytes()), "{payload}");
    }
    assert!(!agrees(b"[{\"id\":\"\xff\"}]"));
    let deep = format!("[{}{}]", "[".repeat(70), "]".repeat(70));
    assert!(!agrees(deep.as_bytes()));
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
    let payload = br#"[{"id":"a","type":"T","name":"\u00e9","x":1e400}]"#;
    assert!(agrees(payload));
    assert!(batch(payload).expect("read")[0].kept.is_some());
}

/// A fixture batch with bytes deleted, replaced or inserted where they hurt JSON most.
fn broken() -> impl Strategy<Value = Vec<u8>> {
    let fixture = proptest::sample::select(&FIXTURES[..]);
    let tricky = proptest::sample::select(
        &[
            b'"', b'\\', b'{', b'}', b'[', b']', b',', b':', b'0', b'-', b'.', b'e', b'u', 0x00,
            0x1f, 0x7f, 0xc3, 0xff, b' ',
        ][..],
    );
    let edit = (any::<prop::sample::Index>(), 0..3u8, tricky);
    (fixture, proptest::collection::vec(edit, 1..4)).prop_map(|(fixture, edits)| {
        let mut bytes = format!("[{fixture},{fixture}]").into_bytes();
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
