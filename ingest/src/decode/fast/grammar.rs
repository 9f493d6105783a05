//! The vocabulary both tiers of the fast scanner share: what they return, the known keys
//! with their field bits and match patterns, and the byte classes of strings and numbers.
//! Kept apart from the scanners so the compact tier and the general scanner read the same
//! tables without importing each other.

/// `ts` as found: integer epoch ms, or the text of an RFC 3339 string.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum FastTs<'a> {
    Millis(i64),
    Text(&'a str),
}

/// The fields of a traffic observation, borrowed from the message.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct FastTraffic<'a> {
    pub city: &'a str,
    pub sensor_id: &'a str,
    pub lane: Option<i64>,
    pub ts: FastTs<'a>,
    pub interval_s: Option<i64>,
    pub vehicle_count: i64,
    pub heavy_vehicle_count: Option<i64>,
    pub avg_speed_kmh: Option<f64>,
    pub occupancy_pct: Option<f64>,
}

/// Exact powers of ten: a decimal with a mantissa below 2^53 divided by one of these is
/// correctly rounded (Clinger's fast path), the same value any correct parser gives.
pub(super) const POW10: [f64; 19] = [
    1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15, 1e16,
    1e17, 1e18,
];

/// Classes of bytes inside a JSON string, for [`Scanner::raw_string`].
pub(super) const PLAIN: u8 = 0;
/// Part of a multi-byte UTF-8 sequence: the string needs a UTF-8 check.
pub(super) const HIGH: u8 = 1;
/// The closing quote.
pub(super) const QUOTE: u8 = 2;
/// A backslash or control character: left to the full decoder.
const DECLINE: u8 = 3;

pub(super) static STRING_BYTE: [u8; 256] = {
    let mut table = [PLAIN; 256];
    let mut b = 0;
    while b < 256 {
        table[b] = if b < 0x20 || b == b'\\' as usize {
            DECLINE
        } else if b == b'"' as usize {
            QUOTE
        } else if b >= 0x80 {
            HIGH
        } else {
            PLAIN
        };
        b += 1;
    }
    table
};

/// Bytes that can appear in a JSON number token.
pub(super) static NUMBER_BYTE: [bool; 256] = {
    let mut table = [false; 256];
    let mut b = b'0';
    while b <= b'9' {
        table[b as usize] = true;
        b += 1;
    }
    table[b'-' as usize] = true;
    table[b'+' as usize] = true;
    table[b'.' as usize] = true;
    table[b'e' as usize] = true;
    table[b'E' as usize] = true;
    table
};

/// Known keys with their field bit, in the order senders usually write them: the next key
/// is tried first, so a well-ordered message matches every key with one comparison.
pub(super) const KEYS: [(&[u8], u16); 11] = [
    (b"city", CITY),
    (b"sensor_id", SENSOR),
    (b"lane", LANE),
    (b"ts", TS),
    (b"interval_s", INTERVAL),
    (b"vehicle_count", COUNT),
    (b"heavy_vehicle_count", HEAVY),
    (b"avg_speed_kmh", SPEED),
    (b"speed_kmh", SPEED),
    (b"occupancy_pct", OCC),
    (b"heavy_vehicles", HEAVY),
];

/// A known key with its closing quote, as three little-endian words and the mask of the
/// bytes that count: a key is recognised with three loads and compares, no call to memcmp.
#[derive(Clone, Copy)]
pub(super) struct KeyPattern {
    pub(super) words: [u64; 3],
    pub(super) masks: [u64; 3],
    pub(super) len: usize,
}

const fn key_pattern(name: &[u8]) -> KeyPattern {
    let len = name.len() + 1;
    let mut bytes = [0u8; 24];
    let mut mask = [0u8; 24];
    let mut i = 0;
    while i < len {
        bytes[i] = if i < name.len() { name[i] } else { b'"' };
        mask[i] = 0xff;
        i += 1;
    }
    let mut words = [0u64; 3];
    let mut masks = [0u64; 3];
    let mut w = 0;
    while w < 3 {
        let mut b = 0;
        while b < 8 {
            words[w] |= (bytes[w * 8 + b] as u64) << (8 * b);
            masks[w] |= (mask[w * 8 + b] as u64) << (8 * b);
            b += 1;
        }
        w += 1;
    }
    KeyPattern { words, masks, len }
}

pub(super) static PATTERNS: [KeyPattern; KEYS.len()] = {
    let mut out = [KeyPattern {
        words: [0; 3],
        masks: [0; 3],
        len: 0,
    }; KEYS.len()];
    let mut i = 0;
    while i < KEYS.len() {
        out[i] = key_pattern(KEYS[i].0);
        i += 1;
    }
    out
};

pub(super) fn word(bytes: &[u8], at: usize) -> u64 {
    let mut w = [0u8; 8];
    w.copy_from_slice(&bytes[at..at + 8]);
    u64::from_le_bytes(w)
}

pub(super) const CITY: u16 = 1;
pub(super) const SENSOR: u16 = 1 << 1;
pub(super) const LANE: u16 = 1 << 2;
pub(super) const TS: u16 = 1 << 3;
pub(super) const INTERVAL: u16 = 1 << 4;
pub(super) const COUNT: u16 = 1 << 5;
pub(super) const HEAVY: u16 = 1 << 6;
pub(super) const SPEED: u16 = 1 << 7;
pub(super) const OCC: u16 = 1 << 8;
