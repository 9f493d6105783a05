//! Generators of wire messages for the fuzz-style tests: valid native-format observations,
//! and the ways senders break them — truncated, bytes flipped, out-of-range and huge
//! numbers, NaN-like text, deep nesting, unicode escapes, duplicate keys, wrong types,
//! garbage, empty messages.
//!
//! Shared by the decoder properties (`decode/fuzz.rs`) and the pipeline properties
//! (`tests/fuzz_pipeline.rs`, which includes this file with `#[path]`), so it depends on
//! nothing but `proptest`, `chrono` and std.

#![allow(dead_code)]

use chrono::{DateTime, FixedOffset, SecondsFormat};
use proptest::collection::vec;
use proptest::option;
use proptest::prelude::*;
use proptest::sample::{Index, select};

/// Event times are drawn around this instant (2026-11-24T00:00:00Z), the receiver's clock.
pub const NOW: i64 = 1_795_478_400_000;

/// A JSON object as (key, value as JSON text) pairs, in writing order.
pub type Fields = Vec<(String, String)>;

/// Cities the tests configure; `atlantis` is not configured.
pub const CITIES: [&str; 3] = ["ulm", "ka", "atlantis"];
/// Traffic sensors registered in `ulm`; `s9` is not.
pub const SENSORS: [&str; 4] = ["s1", "s2", "s3", "s9"];
/// Facilities registered in `ulm` (`p2` is a zone of spots); `p9` is not.
pub const FACILITIES: [&str; 3] = ["p1", "p2", "p9"];
/// Spots registered in `ulm`, of facility `p2`; `sp9` is not.
pub const SPOTS: [&str; 3] = ["sp1", "sp2", "sp9"];

/// Values that are wrong in kind or size for any field: huge and out-of-range numbers,
/// NaN-like text, the wrong JSON type, escapes serde must resolve or refuse.
pub const WEIRD_VALUES: [&str; 30] = [
    "-1",
    "-0",
    "0.0",
    "1e3",
    "1E-2",
    "1e309",
    "-1e309",
    "1.7976931348623157e308",
    "0.0000000000000000000001",
    "4294967296",
    "9223372036854775807",
    "-9223372036854775808",
    "9223372036854775808",
    "18446744073709551616",
    "123456789012345678901234567890",
    "00",
    "NaN",
    "Infinity",
    "-Infinity",
    "\"NaN\"",
    "\"12\"",
    "null",
    "true",
    "[]",
    "{}",
    "[1,2]",
    "{\"nested\":{\"deeper\":[1,{\"x\":null}]}}",
    "\"\\ud800\"",
    "\"\\u0000\\u00e9\\uD83D\\uDE00\"",
    "\"2026-02-30T25:61:61Z\"",
];

/// A timestamp value: integer epoch ms or an RFC 3339 string (UTC or with an offset, with
/// or without milliseconds), within an hour before `NOW` up to ten minutes after it (so
/// some are in the future).
pub fn ts() -> impl Strategy<Value = String> {
    // Now and then from a broken clock: 1999, or a year ahead.
    let offset = prop_oneof![
        40 => -3_600_000i64..300_000,
        1 => 300_001i64..3_600_000,
        1 => Just(-NOW + 915_148_800_000),
        1 => Just(365 * 86_400_000i64),
    ];
    (offset, 0u8..4).prop_map(|(offset, style)| {
        let ms = NOW + offset;
        let Some(utc) = DateTime::from_timestamp_millis(ms) else {
            return ms.to_string();
        };
        match style {
            0 => ms.to_string(),
            1 => format!("\"{}\"", utc.to_rfc3339_opts(SecondsFormat::Secs, true)),
            2 => format!("\"{}\"", utc.to_rfc3339_opts(SecondsFormat::Millis, true)),
            _ => {
                let local = FixedOffset::east_opt(3600).map(|zone| utc.with_timezone(&zone));
                local.map_or_else(
                    || ms.to_string(),
                    |t| format!("\"{}\"", t.to_rfc3339_opts(SecondsFormat::Secs, false)),
                )
            }
        }
    })
}

/// A decimal with up to two decimals, as JSON text.
fn decimal(max_hundredths: u32) -> impl Strategy<Value = String> {
    (0..max_hundredths, 0usize..3).prop_map(|(hundredths, decimals)| match decimals {
        0 => (hundredths / 100).to_string(),
        1 => format!("{}.{}", hundredths / 100, hundredths % 100 / 10),
        _ => format!("{}.{:02}", hundredths / 100, hundredths % 100),
    })
}

fn quoted(text: &str) -> String {
    format!("\"{text}\"")
}

/// A plausible traffic observation: mostly valid, sometimes an unknown city or sensor, a
/// count too high or a speed out of range — every field in a random order.
pub fn traffic() -> BoxedStrategy<Fields> {
    let ids = (
        prop_oneof![18 => Just("ulm"), 1 => Just("ka"), 1 => Just("atlantis")],
        prop_oneof![9 => select(SENSORS[..3].to_vec()), 1 => Just(SENSORS[3])],
        option::of(prop_oneof![9 => 0i64..4, 1 => 15i64..20]),
        ts(),
    );
    let counts = (
        option::weighted(
            0.7,
            prop_oneof![20 => select(vec![60i64, 300, 30]), 1 => select(vec![0i64, 7200])],
        ),
        prop_oneof![20 => 0i64..40, 1 => -3i64..0, 1 => 61i64..200],
        option::of(prop_oneof![20 => 0i64..12, 1 => -3i64..0]),
        option::of(prop_oneof![20 => decimal(13_000), 1 => decimal(99_999)]),
        option::of(prop_oneof![20 => decimal(10_000), 1 => decimal(99_999)]),
        any::<bool>(),
    );
    (ids, counts)
        .prop_map(
            |((city, sensor, lane, ts), (interval, count, heavy, speed, occupancy, aliases))| {
                let mut fields = vec![
                    ("city".to_owned(), quoted(city)),
                    ("sensor_id".to_owned(), quoted(sensor)),
                    ("ts".to_owned(), ts),
                    ("vehicle_count".to_owned(), count.to_string()),
                ];
                let (heavy_key, speed_key) = if aliases {
                    ("heavy_vehicles", "speed_kmh")
                } else {
                    ("heavy_vehicle_count", "avg_speed_kmh")
                };
                let optional = [
                    ("lane", lane.map(|l| l.to_string())),
                    ("interval_s", interval.map(|i| i.to_string())),
                    (heavy_key, heavy.map(|h| h.to_string())),
                    (speed_key, speed),
                    ("occupancy_pct", occupancy),
                ];
                for (key, value) in optional {
                    if let Some(value) = value {
                        fields.push((key.to_owned(), value));
                    }
                }
                fields
            },
        )
        .prop_shuffle()
        .boxed()
}

/// A plausible parking observation: a facility count or a spot state.
pub fn parking() -> BoxedStrategy<Fields> {
    let city = prop_oneof![18 => Just("ulm"), 1 => Just("ka"), 1 => Just("atlantis")];
    let facility = (
        city.clone(),
        select(FACILITIES.to_vec()),
        ts(),
        prop_oneof![20 => 0i64..130, 1 => -3i64..0],
        option::of(0i64..160),
        option::of(prop_oneof![20 => 0i64..20, 1 => Just(-1i64)]),
        option::of(0i64..20),
    )
        .prop_map(|(city, id, ts, free, total, entries, exits)| {
            let mut fields = vec![
                ("city".to_owned(), quoted(city)),
                ("kind".to_owned(), quoted("facility")),
                ("id".to_owned(), quoted(id)),
                ("ts".to_owned(), ts),
                ("free_spaces".to_owned(), free.to_string()),
            ];
            let optional = [
                ("total_spaces", total),
                ("entries", entries),
                ("exits", exits),
            ];
            for (key, value) in optional {
                if let Some(value) = value {
                    fields.push((key.to_owned(), value.to_string()));
                }
            }
            fields
        });
    let spot = (
        city,
        select(SPOTS.to_vec()),
        option::of(select(vec!["p2", "p1"])),
        ts(),
        select(vec!["free", "occupied", "closed", "unknown", "parked"]),
    )
        .prop_map(|(city, id, facility, ts, status)| {
            let mut fields = vec![
                ("city".to_owned(), quoted(city)),
                ("kind".to_owned(), quoted("spot")),
                ("id".to_owned(), quoted(id)),
                ("ts".to_owned(), ts),
                ("status".to_owned(), quoted(status)),
            ];
            if let Some(facility) = facility {
                fields.push(("facility_id".to_owned(), quoted(facility)));
            }
            fields
        });
    prop_oneof![facility, spot].prop_shuffle().boxed()
}

/// A change to the fields of an object before it is written.
#[derive(Debug, Clone)]
pub enum FieldMutation {
    /// Leave a field out (a required one makes the message malformed).
    Drop(Index),
    /// Give a field a weird value.
    Replace(Index, String),
    /// Write a field twice, the second time with another value.
    Duplicate(Index, String),
    /// Spell the key's first letter as a `\u` escape (`"\u0063ity"` is `"city"`).
    EscapeKey(Index),
    /// Spell every character of a string value as `\u` escapes.
    EscapeValue(Index),
    /// Rename a field to an unknown key.
    Rename(Index, String),
}

/// A change to the written bytes.
#[derive(Debug, Clone)]
pub enum ByteMutation {
    /// Cut the message short.
    Truncate(Index),
    /// Flip bits of one byte.
    Flip(Index, u8),
    /// Insert one byte.
    Insert(Index, u8),
    /// Delete up to 8 bytes.
    Delete(Index, usize),
    /// Wrap the message `depth` times in `[...]` or `{"x":...}`.
    Nest(usize, bool),
    /// Append bytes after the end.
    Append(Vec<u8>),
}

fn field_mutation() -> impl Strategy<Value = FieldMutation> {
    let weird = select(WEIRD_VALUES.to_vec()).prop_map(str::to_owned);
    prop_oneof![
        any::<Index>().prop_map(FieldMutation::Drop),
        (any::<Index>(), weird.clone()).prop_map(|(i, v)| FieldMutation::Replace(i, v)),
        (any::<Index>(), weird).prop_map(|(i, v)| FieldMutation::Duplicate(i, v)),
        any::<Index>().prop_map(FieldMutation::EscapeKey),
        any::<Index>().prop_map(FieldMutation::EscapeValue),
        (any::<Index>(), "[a-z_]{1,12}").prop_map(|(i, k)| FieldMutation::Rename(i, k)),
    ]
}

fn byte_mutation() -> impl Strategy<Value = ByteMutation> {
    prop_oneof![
        any::<Index>().prop_map(ByteMutation::Truncate),
        (any::<Index>(), 1u8..=255).prop_map(|(i, mask)| ByteMutation::Flip(i, mask)),
        (any::<Index>(), any::<u8>()).prop_map(|(i, b)| ByteMutation::Insert(i, b)),
        (any::<Index>(), 1usize..8).prop_map(|(i, n)| ByteMutation::Delete(i, n)),
        (1usize..300, any::<bool>()).prop_map(|(d, array)| ByteMutation::Nest(d, array)),
        vec(any::<u8>(), 1..8).prop_map(ByteMutation::Append),
    ]
}

fn escape_all(text: &str) -> String {
    text.chars()
        .flat_map(|c| {
            let mut units = [0u16; 2];
            c.encode_utf16(&mut units)
                .iter()
                .map(|u| format!("\\u{u:04x}"))
                .collect::<Vec<_>>()
        })
        .collect()
}

/// Applies field mutations to `fields`.
pub fn mutate_fields(mut fields: Fields, mutations: &[FieldMutation]) -> Fields {
    for mutation in mutations {
        if fields.is_empty() {
            break;
        }
        let len = fields.len();
        match mutation {
            FieldMutation::Drop(i) => {
                fields.remove(i.index(len));
            }
            FieldMutation::Replace(i, value) => fields[i.index(len)].1.clone_from(value),
            FieldMutation::Duplicate(i, value) => {
                let key = fields[i.index(len)].0.clone();
                fields.push((key, value.clone()));
            }
            FieldMutation::EscapeKey(i) => {
                let key = &mut fields[i.index(len)].0;
                if let Some(first) = key.chars().next() {
                    *key = format!(
                        "{}{}",
                        escape_all(&first.to_string()),
                        &key[first.len_utf8()..]
                    );
                }
            }
            FieldMutation::EscapeValue(i) => {
                let value = &mut fields[i.index(len)].1;
                if let Some(inner) = value.strip_prefix('"').and_then(|v| v.strip_suffix('"')) {
                    *value = format!("\"{}\"", escape_all(inner));
                }
            }
            FieldMutation::Rename(i, key) => fields[i.index(len)].0.clone_from(key),
        }
    }
    fields
}

/// Writes an object; `spaced` puts blanks around the punctuation.
pub fn render(fields: &Fields, spaced: bool) -> String {
    let (sep, colon) = if spaced { (" ,\n ", " : ") } else { (",", ":") };
    let body: Vec<String> = fields
        .iter()
        .map(|(key, value)| format!("\"{key}\"{colon}{value}"))
        .collect();
    format!("{{{}}}", body.join(sep))
}

/// Applies byte mutations to a written message.
pub fn mutate_bytes(mut bytes: Vec<u8>, mutations: &[ByteMutation]) -> Vec<u8> {
    for mutation in mutations {
        let len = bytes.len();
        match mutation {
            ByteMutation::Truncate(i) => bytes.truncate(i.index(len + 1)),
            ByteMutation::Flip(i, mask) if len > 0 => bytes[i.index(len)] ^= mask,
            ByteMutation::Insert(i, byte) => bytes.insert(i.index(len + 1), *byte),
            ByteMutation::Delete(i, n) if len > 0 => {
                let start = i.index(len);
                bytes.drain(start..(start + n).min(len));
            }
            ByteMutation::Nest(depth, array) => {
                let (open, close): (&[u8], &[u8]) = if *array {
                    (b"[", b"]")
                } else {
                    (b"{\"x\":", b"}")
                };
                let mut nested = open.repeat(*depth);
                nested.extend_from_slice(&bytes);
                nested.extend_from_slice(&close.repeat(*depth));
                bytes = nested;
            }
            ByteMutation::Append(tail) => bytes.extend_from_slice(tail),
            _ => {}
        }
    }
    bytes
}

/// One object of `fields`, usually intact, otherwise mutated field- and byte-wise.
pub fn object(fields: impl Strategy<Value = Fields>) -> impl Strategy<Value = Vec<u8>> {
    let field_mutations = prop_oneof![4 => Just(Vec::new()), 1 => vec(field_mutation(), 1..3)];
    let byte_mutations = prop_oneof![6 => Just(Vec::new()), 1 => vec(byte_mutation(), 1..3)];
    (fields, field_mutations, byte_mutations, any::<bool>()).prop_map(
        |(fields, field_mutations, byte_mutations, spaced)| {
            let text = render(&mutate_fields(fields, &field_mutations), spaced);
            mutate_bytes(text.into_bytes(), &byte_mutations)
        },
    )
}

/// A JSON array of up to four objects.
fn array(element: impl Strategy<Value = Vec<u8>>) -> impl Strategy<Value = Vec<u8>> {
    vec(element, 0..5).prop_map(|elements| {
        let mut out = b"[".to_vec();
        for (i, element) in elements.iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            out.extend_from_slice(element);
        }
        out.push(b']');
        out
    })
}

/// Whatever can arrive: mostly objects, some arrays, some arbitrary bytes, some blank.
fn payload(fields: BoxedStrategy<Fields>) -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        12 => object(fields.clone()),
        3 => array(object(fields)),
        2 => vec(any::<u8>(), 0..160),
        1 => select(vec![&b""[..], b" ", b"\n\t", b"null", b"[]", b"{}", b"\xef\xbb\xbf{}"])
            .prop_map(<[u8]>::to_vec),
    ]
}

/// A traffic payload.
pub fn traffic_payload() -> impl Strategy<Value = Vec<u8>> {
    payload(traffic())
}

/// A parking payload.
pub fn parking_payload() -> impl Strategy<Value = Vec<u8>> {
    payload(parking())
}

/// How many outcomes (accepted rows plus rejections) decoding `payload` must give when the
/// message as a whole is not refused: one per element of a JSON array (the decoder's own
/// test for an array: first non-blank byte `[`), one for anything else.
pub fn observations_in(payload: &[u8]) -> usize {
    let first = payload.iter().copied().find(|b| !b.is_ascii_whitespace());
    if first != Some(b'[') {
        return 1;
    }
    serde_json::from_slice::<Vec<&serde_json::value::RawValue>>(payload)
        .map_or(1, |elements| elements.len())
}
