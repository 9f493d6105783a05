//! Cutting a dead letter to what the broker takes (`kafka.deadletter_max_bytes`).
//!
//! A refused message may be as large as `kafka.max_message_bytes` (1 MiB), and its dead
//! letter adds headers: written whole it can be larger than the broker takes, and a record
//! the broker refuses for its size is refused again on every retry. So every dead letter
//! is cut to the limit before it is sent: the detail header and the key to
//! [`DETAIL_KEEP_BYTES`] and [`KEY_KEEP_BYTES`] (they only identify), the payload to what
//! is left. A cut payload is marked with `stadtpuls.truncated = true` and
//! `stadtpuls.original_bytes`; the raw archive (`history.archive_raw`) keeps the whole
//! message.
//!
//! The size is counted as the broker counts a batch holding this one record, with the
//! worst-case varint widths, so the record fits both the broker's `max.message.bytes`
//! (when the limit is at or below it) and librdkafka's own check before sending
//! (`message.max.bytes`, which the dead-letter producer sets to the same limit).

use rdkafka::message::{Header, OwnedHeaders};

use super::header;
use crate::message::DeadLetter;

/// Framing of a batch holding one record, worst case, rounded up from 97 bytes: the record
/// batch header (61 bytes, base offset to record count) and one record's own framing
/// (36 bytes: length, attributes, timestamp and offset deltas, key and value lengths,
/// header count, each at its widest varint — librdkafka's
/// `RD_KAFKAP_MESSAGE_V2_MAX_OVERHEAD`).
pub(super) const RECORD_OVERHEAD: usize = 128;

/// Framing of one header: the varint lengths of its key and value, at most 5 bytes each.
const HEADER_OVERHEAD: usize = 10;

/// Longest `stadtpuls.detail` kept: a parser's message may quote a whole oversized value.
pub(super) const DETAIL_KEEP_BYTES: usize = 1024;

/// Longest `stadtpuls.late_windows` kept: about 40 windows, more than one observation
/// belongs to with the default families; only an array of many late observations needs
/// more.
pub(super) const LATE_WINDOWS_KEEP_BYTES: usize = 1024;

/// Longest key kept: it only identifies the sender, and a key may be as large as a payload.
pub(super) const KEY_KEEP_BYTES: usize = 1024;

/// The widest decimal `usize`.
const MAX_DIGITS: usize = 20;

/// What the headers a cut adds can take, reserved whether they are written or not, so
/// the payload's budget does not depend on whether it is cut.
const CUT_HEADERS_RESERVE: usize = 3 * HEADER_OVERHEAD
    + header::TRUNCATED.len()
    + "true".len()
    + header::ORIGINAL_BYTES.len()
    + MAX_DIGITS
    + header::ORIGINAL_KEY_BYTES.len()
    + MAX_DIGITS;

/// A dead letter as written: borrowed key and payload, cut to the limit, and its headers.
#[derive(Debug)]
pub(super) struct Fitted<'a> {
    /// The origin key, at most [`KEY_KEEP_BYTES`].
    pub key: Option<&'a [u8]>,
    /// The refused bytes, cut to what the limit leaves.
    pub payload: &'a [u8],
    /// Header names and values, in order.
    pub headers: Vec<(&'static str, String)>,
}

impl Fitted<'_> {
    /// The record's size as counted against the limit (worst-case framing included).
    pub fn bytes(&self) -> usize {
        RECORD_OVERHEAD
            + self.key.map_or(0, <[u8]>::len)
            + self.payload.len()
            + headers_bytes(&self.headers)
    }

    /// The headers for the producer.
    pub fn owned_headers(&self) -> OwnedHeaders {
        self.headers.iter().fold(
            OwnedHeaders::new_with_capacity(self.headers.len()),
            |headers, (key, value)| {
                headers.insert(Header {
                    key,
                    value: Some(value.as_str()),
                })
            },
        )
    }
}

fn headers_bytes(headers: &[(&'static str, String)]) -> usize {
    headers
        .iter()
        .map(|(key, value)| HEADER_OVERHEAD + key.len() + value.len())
        .sum()
}

/// `text` cut to at most `max` bytes at a character boundary, `…` marking a cut.
fn cut_text(text: &str, max: usize) -> String {
    if text.len() <= max {
        return text.to_owned();
    }
    let ellipsis = '…';
    let mut end = max.saturating_sub(ellipsis.len_utf8());
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    let mut cut = text[..end].to_owned();
    cut.push(ellipsis);
    cut
}

/// `letter` as written within `max_bytes`: the whole payload when it fits, else as much
/// of it as fits (never less than nothing: a limit below the headers leaves an empty
/// payload, which `kafka.deadletter_max_bytes`' minimum of 4 KiB rules out).
pub(super) fn fit(letter: &DeadLetter, max_bytes: usize) -> Fitted<'_> {
    let mut headers = vec![
        (header::REASON, letter.reason.as_str().to_owned()),
        (header::DETAIL, cut_text(&letter.detail, DETAIL_KEEP_BYTES)),
        (header::TOPIC, letter.topic.to_string()),
        (header::PARTITION, letter.partition.to_string()),
        (header::OFFSET, letter.offset.to_string()),
    ];
    if let Some(index) = letter.index {
        headers.push((header::INDEX, index.to_string()));
    }
    if !letter.late_windows.is_empty() {
        headers.push((
            header::LATE_WINDOWS,
            cut_text(&letter.late_windows.join(","), LATE_WINDOWS_KEEP_BYTES),
        ));
    }
    let whole_key = letter.key.as_deref();
    let key = whole_key.map(|k| &k[..k.len().min(KEY_KEEP_BYTES)]);
    let key_cut = whole_key
        .filter(|k| k.len() > KEY_KEEP_BYTES)
        .map(<[u8]>::len);
    let fixed = RECORD_OVERHEAD
        + key.map_or(0, <[u8]>::len)
        + headers_bytes(&headers)
        + CUT_HEADERS_RESERVE;
    let budget = max_bytes.saturating_sub(fixed);
    let payload = &letter.payload[..letter.payload.len().min(budget)];
    let original_bytes = letter
        .original_bytes
        .or_else(|| (payload.len() < letter.payload.len()).then_some(letter.payload.len()));
    if original_bytes.is_some() || key_cut.is_some() {
        headers.push((header::TRUNCATED, "true".to_owned()));
    }
    if let Some(original) = original_bytes {
        headers.push((header::ORIGINAL_BYTES, original.to_string()));
    }
    if let Some(original) = key_cut {
        headers.push((header::ORIGINAL_KEY_BYTES, original.to_string()));
    }
    Fitted {
        key,
        payload,
        headers,
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use bytes::Bytes;
    use stadtpuls_processing::RejectReason;

    use super::*;

    /// Bytes of a varint (zig-zag for signed lengths, as Kafka writes them).
    fn varint(value: i64) -> usize {
        let mut v = ((value << 1) ^ (value >> 63)) as u64;
        let mut n = 1;
        while v >= 0x80 {
            v >>= 7;
            n += 1;
        }
        n
    }

    /// The exact size of a record batch holding only this record (Kafka's v2 format:
    /// 61 bytes of batch header, then the record with varint lengths).
    fn batch_bytes(f: &Fitted<'_>) -> usize {
        let key = f.key.map_or(1, |k| varint(k.len() as i64) + k.len());
        let headers: usize = f
            .headers
            .iter()
            .map(|(k, v)| varint(k.len() as i64) + k.len() + varint(v.len() as i64) + v.len())
            .sum();
        // attributes, timestamp delta 0, offset delta 0
        let body = 1
            + 1
            + 1
            + key
            + varint(f.payload.len() as i64)
            + f.payload.len()
            + varint(f.headers.len() as i64)
            + headers;
        61 + varint(body as i64) + body
    }

    /// What librdkafka checks against `message.max.bytes` before it sends.
    fn librdkafka_bytes(f: &Fitted<'_>) -> usize {
        let headers: usize = f
            .headers
            .iter()
            .map(|(k, v)| varint(k.len() as i64) + k.len() + varint(v.len() as i64) + v.len())
            .sum();
        36 + f.key.map_or(0, <[u8]>::len) + f.payload.len() + headers
    }

    fn letter(payload: usize, key: Option<usize>, detail: &str) -> DeadLetter {
        DeadLetter {
            reason: RejectReason::Malformed,
            detail: detail.to_owned(),
            topic: Arc::from("sensors.ulm.traffic"),
            partition: 7,
            offset: 123_456_789,
            index: Some(3),
            original_bytes: None,
            key: key.map(|n| Bytes::from(vec![b'k'; n])),
            payload: Bytes::from(vec![b'['; payload]),
            late_windows: Vec::new(),
        }
    }

    fn header<'f>(f: &'f Fitted<'_>, name: &str) -> Option<&'f str> {
        f.headers
            .iter()
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v.as_str())
    }

    #[test]
    fn a_small_letter_is_written_whole_and_unmarked() {
        let l = letter(300, Some(8), "expected value at line 1 column 1");
        let f = fit(&l, 4096);
        assert_eq!(f.payload, l.payload.as_ref());
        assert_eq!(f.key, l.key.as_deref());
        assert_eq!(header(&f, header::TRUNCATED), None);
        assert_eq!(header(&f, header::ORIGINAL_BYTES), None);
        assert_eq!(header(&f, header::DETAIL), Some(l.detail.as_str()));
        assert_eq!(header(&f, header::INDEX), Some("3"));
        assert_eq!(header(&f, header::LATE_WINDOWS), None, "not a late letter");
    }

    /// A `late` letter names the windows that dropped its observation, and a list longer
    /// than 1 KiB (an array of many late observations) is cut like the detail.
    #[test]
    fn a_late_letter_names_its_windows_within_a_kibibyte() {
        let mut l = letter(300, None, "late");
        l.reason = RejectReason::Late;
        l.late_windows = vec![
            "2026-11-24T08:00:00Z/1m".to_owned(),
            "2026-11-24T07:59:00Z/2m/1m".to_owned(),
        ];
        let f = fit(&l, 4096);
        assert_eq!(
            header(&f, header::LATE_WINDOWS),
            Some("2026-11-24T08:00:00Z/1m,2026-11-24T07:59:00Z/2m/1m")
        );
        l.late_windows = vec!["2026-11-24T08:00:00Z/1m".to_owned(); 100];
        let f = fit(&l, 4096);
        let cut = header(&f, header::LATE_WINDOWS).unwrap_or_default();
        assert!(
            cut.len() <= LATE_WINDOWS_KEEP_BYTES && cut.ends_with('…'),
            "{cut}"
        );
        assert!(batch_bytes(&f) <= 4096);
    }

    /// The case: a 1 000 000-byte message, refused as malformed, under the default
    /// limit of 256 KiB.
    #[test]
    fn a_million_byte_payload_is_cut_to_the_limit_and_marked() {
        let l = letter(1_000_000, Some(20), "EOF while parsing a list at line 1");
        let f = fit(&l, 256 * 1024);
        assert_eq!(header(&f, header::TRUNCATED), Some("true"));
        assert_eq!(header(&f, header::ORIGINAL_BYTES), Some("1000000"));
        assert_eq!(header(&f, header::ORIGINAL_KEY_BYTES), None);
        assert!(f.bytes() <= 256 * 1024, "{}", f.bytes());
        assert!(batch_bytes(&f) <= 256 * 1024);
        // Nothing but framing and headers is left unused: the payload takes the rest.
        let headers = headers_bytes(&f.headers);
        assert!(
            f.payload.len() + 20 + headers + RECORD_OVERHEAD + CUT_HEADERS_RESERVE >= 256 * 1024,
            "payload {} of a 256 KiB limit",
            f.payload.len()
        );
        assert_eq!(f.payload, &l.payload[..f.payload.len()], "a prefix");
    }

    #[test]
    fn one_byte_over_the_budget_is_cut_one_under_is_not() {
        let probe = letter(0, Some(4), "d");
        let budget = 8192 - fit(&probe, 8192).bytes() - CUT_HEADERS_RESERVE;
        let whole = letter(budget, Some(4), "d");
        let fits = fit(&whole, 8192);
        assert_eq!(fits.payload.len(), budget);
        assert_eq!(header(&fits, header::TRUNCATED), None);
        let over = letter(budget + 1, Some(4), "d");
        let cut = fit(&over, 8192);
        assert_eq!(cut.payload.len(), budget);
        assert_eq!(
            header(&cut, header::ORIGINAL_BYTES),
            Some((budget + 1).to_string().as_str())
        );
    }

    #[test]
    fn every_cut_fits_the_broker_and_librdkafka() {
        let long = "é".repeat(3000);
        for limit in [4096, 4097, 10_000, 65_536, 262_144, 1_000_000, 1_048_588] {
            for payload in [
                0,
                1,
                1000,
                4096,
                limit / 2,
                limit - 1,
                limit,
                limit + 1,
                3 * limit,
            ] {
                for key in [None, Some(0), Some(30), Some(5000)] {
                    for detail in ["", "short", long.as_str()] {
                        let l = letter(payload, key, detail);
                        let f = fit(&l, limit);
                        let what = format!("limit {limit}, payload {payload}, key {key:?}");
                        assert!(f.bytes() <= limit, "{what}: {}", f.bytes());
                        assert!(batch_bytes(&f) <= f.bytes(), "{what}: counted low");
                        assert!(librdkafka_bytes(&f) <= limit, "{what}");
                        let cut = f.payload.len() < payload;
                        assert_eq!(
                            header(&f, header::TRUNCATED).is_some(),
                            cut || key > Some(KEY_KEEP_BYTES),
                            "{what}"
                        );
                        if cut {
                            assert_eq!(
                                header(&f, header::ORIGINAL_BYTES),
                                Some(payload.to_string().as_str()),
                                "{what}"
                            );
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn a_long_key_and_detail_are_cut_and_the_key_length_kept() {
        let detail = format!("unknown variant `{}`", "ü".repeat(5000));
        let l = letter(100, Some(50_000), &detail);
        let f = fit(&l, 8192);
        assert_eq!(f.key.map(<[u8]>::len), Some(KEY_KEEP_BYTES));
        assert_eq!(f.payload.len(), 100, "the payload itself fits");
        assert_eq!(header(&f, header::TRUNCATED), Some("true"));
        assert_eq!(header(&f, header::ORIGINAL_KEY_BYTES), Some("50000"));
        assert_eq!(header(&f, header::ORIGINAL_BYTES), None);
        let cut = header(&f, header::DETAIL).unwrap_or_default();
        assert!(
            cut.len() <= DETAIL_KEEP_BYTES && cut.ends_with('…'),
            "{cut}"
        );
        assert!(cut.starts_with("unknown variant `ü"));
    }

    #[test]
    fn an_oversized_letter_keeps_its_original_length() {
        let mut l = letter(
            1024,
            None,
            "5000000 bytes exceed kafka.max_message_bytes 1048576",
        );
        l.original_bytes = Some(5_000_000);
        let f = fit(&l, 262_144);
        assert_eq!(f.payload.len(), 1024);
        assert_eq!(header(&f, header::TRUNCATED), Some("true"));
        assert_eq!(header(&f, header::ORIGINAL_BYTES), Some("5000000"));
    }

    #[test]
    fn a_limit_below_the_headers_leaves_an_empty_payload() {
        let l = letter(10, None, "d");
        let f = fit(&l, 100);
        assert!(f.payload.is_empty());
        assert_eq!(header(&f, header::ORIGINAL_BYTES), Some("10"));
    }
}
