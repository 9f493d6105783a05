//! A zero-allocation scanner for the common shape of native traffic messages.
//!
//! Most traffic messages are one flat JSON object of known keys with plain values. This
//! scanner reads exactly that shape, several times faster than a generic JSON parser, and
//! answers `None` for anything else — escapes, nesting, `null` in a required field,
//! duplicate keys, exponents, numbers it cannot convert exactly — so the caller falls back
//! to the serde decoder, which then accepts or refuses with its usual message. The fast path
//! therefore never changes *what* is accepted, only how quickly (a property test checks it).

mod compact;
mod grammar;

use grammar::{
    CITY, COUNT, HEAVY, HIGH, INTERVAL, KEYS, KeyPattern, LANE, NUMBER_BYTE, OCC, PATTERNS, PLAIN,
    POW10, QUOTE, SENSOR, SPEED, STRING_BYTE, TS, word,
};
pub(crate) use grammar::{FastTraffic, FastTs};

struct Scanner<'a> {
    bytes: &'a [u8],
    pos: usize,
}

enum Value<'a> {
    Str(&'a str),
    Num(Number),
    Null,
    Other,
}

/// A plain JSON number (no exponent) read in one pass: sign, decimal digits as an integer,
/// and how many of them follow the decimal point.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Number {
    negative: bool,
    mantissa: u64,
    digits: usize,
    frac: Option<usize>,
}

impl Number {
    /// The number as an integer, if it has no decimal point.
    ///
    /// `-0` is declined: serde_json reads it as the float −0.0 (to keep the sign), which an
    /// integer field refuses, and the fast path must not accept what serde refuses.
    fn int(self) -> Option<i64> {
        if self.frac.is_some() || (self.negative && self.mantissa == 0) {
            return None;
        }
        let value = i64::try_from(self.mantissa).ok()?;
        Some(if self.negative { -value } else { value })
    }

    /// The number as a float, exactly rounded (Clinger's fast path: ≤ 15 digits).
    fn float(self) -> Option<f64> {
        if self.digits > 15 {
            return None;
        }
        let value = self.mantissa as f64 / POW10[self.frac.unwrap_or(0)];
        Some(if self.negative { -value } else { value })
    }
}

impl<'a> Scanner<'a> {
    fn skip_ws(&mut self) {
        while let Some(b) = self.bytes.get(self.pos) {
            // JSON whitespace only: form feed, which `is_ascii_whitespace` allows, is invalid
            if !matches!(b, b' ' | b'\t' | b'\n' | b'\r') {
                break;
            }
            self.pos += 1;
        }
    }

    fn eat(&mut self, expected: u8) -> Option<()> {
        self.skip_ws();
        (self.bytes.get(self.pos) == Some(&expected)).then(|| self.pos += 1)
    }

    /// The raw bytes of a string without escapes or control characters, and whether they
    /// are all ASCII. One pass with a class table: ids are short, so a call to `memchr` and
    /// two more passes over the bytes cost more than they save.
    fn raw_string(&mut self) -> Option<(&'a [u8], bool)> {
        let start = self.pos;
        let rest = self.bytes.get(start..)?;
        let mut high = false;
        for (len, &b) in rest.iter().enumerate() {
            match STRING_BYTE[usize::from(b)] {
                PLAIN => {}
                HIGH => high = true,
                QUOTE => {
                    self.pos = start + len + 1;
                    return Some((&rest[..len], !high));
                }
                _ => return None,
            }
        }
        None
    }

    /// A string without escapes or control characters, as UTF-8.
    fn string(&mut self) -> Option<&'a str> {
        let (raw, ascii) = self.raw_string()?;
        if ascii {
            // Ids and city names are ASCII: skip the general validator.
            // SAFETY: ASCII bytes are valid UTF-8.
            return Some(unsafe { std::str::from_utf8_unchecked(raw) });
        }
        std::str::from_utf8(raw).ok()
    }

    fn value(&mut self) -> Option<Value<'a>> {
        self.skip_ws();
        match *self.bytes.get(self.pos)? {
            b'"' => {
                self.pos += 1;
                self.string().map(Value::Str)
            }
            b'-' | b'0'..=b'9' => self.number().map(Value::Num),
            b'n' => self.literal(b"null").map(|()| Value::Null),
            b't' => self.literal(b"true").map(|()| Value::Other),
            b'f' => self.literal(b"false").map(|()| Value::Other),
            _ => None,
        }
    }

    /// Reads a number as serde would accept it, declining exponents and over-long
    /// mantissas (the full decoder handles those).
    fn number(&mut self) -> Option<Number> {
        let bytes = self.bytes;
        let mut i = self.pos;
        let negative = bytes.get(i) == Some(&b'-');
        if negative {
            i += 1;
        }
        let mut mantissa: u64 = 0;
        let int_start = i;
        while let Some(&d) = bytes.get(i).filter(|d| d.is_ascii_digit()) {
            mantissa = mantissa.wrapping_mul(10).wrapping_add(u64::from(d - b'0'));
            i += 1;
        }
        let int_len = i - int_start;
        if int_len == 0 || (int_len > 1 && bytes[int_start] == b'0') {
            return None;
        }
        let mut frac = None;
        if bytes.get(i) == Some(&b'.') {
            i += 1;
            let frac_start = i;
            while let Some(&d) = bytes.get(i).filter(|d| d.is_ascii_digit()) {
                mantissa = mantissa.wrapping_mul(10).wrapping_add(u64::from(d - b'0'));
                i += 1;
            }
            if i == frac_start {
                return None;
            }
            frac = Some(i - frac_start);
        }
        let digits = int_len + frac.unwrap_or(0);
        // 18 digits always fit a u64, so the wrapping arithmetic above never wrapped.
        if digits > 18 || bytes.get(i).is_some_and(|b| NUMBER_BYTE[usize::from(*b)]) {
            return None;
        }
        self.pos = i;
        Some(Number {
            negative,
            mantissa,
            digits,
            frac,
        })
    }

    fn literal(&mut self, word: &[u8]) -> Option<()> {
        let end = self.pos + word.len();
        (self.bytes.get(self.pos..end)? == word).then(|| self.pos = end)
    }
}

/// Matches a known key (followed by its closing quote) at the scanner's position, trying
/// `KEYS[hint]` first; returns its index in `KEYS`.
fn known_key(s: &mut Scanner<'_>, hint: usize) -> Option<usize> {
    let rest = s.bytes.get(s.pos..)?;
    let index = if rest.len() >= 24 {
        // Every key fits in 24 bytes with its quote; a message has more after a key anyway.
        let text = [word(rest, 0), word(rest, 8), word(rest, 16)];
        let matches = |p: &KeyPattern| (0..3).all(|w| (text[w] ^ p.words[w]) & p.masks[w] == 0);
        if hint < KEYS.len() && matches(&PATTERNS[hint]) {
            Some(hint)
        } else {
            PATTERNS.iter().position(matches)
        }
    } else {
        let matches = |i: usize| {
            let name = KEYS[i].0;
            rest.len() > name.len() && &rest[..name.len()] == name && rest[name.len()] == b'"'
        };
        (0..KEYS.len()).find(|&i| matches(i))
    }?;
    s.pos += PATTERNS[index].len;
    Some(index)
}

/// Scans a flat traffic object; `None` means "use the full decoder".
///
/// Compact objects of the usual shape take the strict first tier; everything else the
/// general scanner below.
pub(crate) fn traffic(bytes: &[u8]) -> Option<FastTraffic<'_>> {
    compact::traffic(bytes).or_else(|| general(bytes))
}

/// The general scanner: any whitespace, unknown keys, `null`s, timestamps as text.
fn general(bytes: &[u8]) -> Option<FastTraffic<'_>> {
    let mut s = Scanner { bytes, pos: 0 };
    s.eat(b'{')?;
    let mut seen: u16 = 0;
    let mut out = FastTraffic {
        city: "",
        sensor_id: "",
        lane: None,
        ts: FastTs::Millis(0),
        interval_s: None,
        vehicle_count: 0,
        heavy_vehicle_count: None,
        avg_speed_kmh: None,
        occupancy_pct: None,
    };
    s.skip_ws();
    if s.bytes.get(s.pos) == Some(&b'}') {
        return None;
    }
    let mut hint = 0;
    loop {
        s.eat(b'"')?;
        // Keys compare as bytes: no UTF-8 check needed to recognise them, and an unknown key
        // that is not UTF-8 is still refused by the full decoder only if it matters.
        let bit = match known_key(&mut s, hint) {
            Some(index) => {
                hint = index + 1;
                KEYS[index].1
            }
            None => {
                let (key, ascii) = s.raw_string()?;
                if !ascii {
                    std::str::from_utf8(key).ok()?;
                }
                0
            }
        };
        s.eat(b':')?;
        let value = s.value()?;
        if bit != 0 {
            if seen & bit != 0 {
                return None;
            }
            seen |= bit;
            assign(&mut out, bit, value)?;
        }
        s.skip_ws();
        match s.bytes.get(s.pos)? {
            b',' => s.pos += 1,
            b'}' => {
                s.pos += 1;
                break;
            }
            _ => return None,
        }
    }
    s.skip_ws();
    let required = CITY | SENSOR | TS | COUNT;
    (s.pos == bytes.len() && seen & required == required).then_some(out)
}

fn assign<'a>(out: &mut FastTraffic<'a>, bit: u16, value: Value<'a>) -> Option<()> {
    match (bit, value) {
        (CITY, Value::Str(v)) => out.city = v,
        (SENSOR, Value::Str(v)) => out.sensor_id = v,
        (TS, Value::Str(v)) => out.ts = FastTs::Text(v),
        (TS, Value::Num(n)) => out.ts = FastTs::Millis(n.int()?),
        (COUNT, Value::Num(n)) => out.vehicle_count = n.int()?,
        (LANE, Value::Num(n)) => out.lane = Some(n.int()?),
        (INTERVAL, Value::Num(n)) => out.interval_s = Some(n.int()?),
        (HEAVY, Value::Num(n)) => out.heavy_vehicle_count = Some(n.int()?),
        (SPEED, Value::Num(n)) => out.avg_speed_kmh = Some(n.float()?),
        (OCC, Value::Num(n)) => out.occupancy_pct = Some(n.float()?),
        (INTERVAL | HEAVY | SPEED | OCC, Value::Null) => {}
        _ => return None,
    }
    Some(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn reads_the_reference_workload_line() {
        let line = br#"{"city":"ulm","sensor_id":"ul-000042","lane":3,"ts":1795478400000,"vehicle_count":17,"speed_kmh":93.4,"occupancy_pct":0.0,"heavy_vehicles":2}"#;
        let t = traffic(line).expect("fast path");
        assert_eq!((t.city, t.sensor_id, t.lane), ("ulm", "ul-000042", Some(3)));
        assert_eq!(t.ts, FastTs::Millis(1_795_478_400_000));
        assert_eq!((t.vehicle_count, t.heavy_vehicle_count), (17, Some(2)));
        assert_eq!(t.avg_speed_kmh, Some(93.4));
        assert_eq!(t.occupancy_pct, Some(0.0));
    }

    #[test]
    fn declines_what_it_does_not_fully_understand() {
        for line in [
            r#"{"city":"u\"lm","sensor_id":"s","ts":1,"vehicle_count":1}"#,
            r#"{"city":"ulm","sensor_id":"s","ts":1,"vehicle_count":1,"x":{"a":1}}"#,
            r#"{"city":"ulm","sensor_id":"s","ts":1,"vehicle_count":1.5}"#,
            r#"{"city":"ulm","sensor_id":"s","ts":1,"vehicle_count":null}"#,
            r#"{"city":"ulm","sensor_id":"s","ts":1,"vehicle_count":1,"vehicle_count":2}"#,
            r#"{"city":"ulm","sensor_id":"s","ts":1,"vehicle_count":1,"speed_kmh":1e2}"#,
            r#"{"city":"ulm","sensor_id":"s","ts":1,"vehicle_count":01}"#,
            // serde reads `-0` as a float, which an integer field refuses (found by the
            // decoder fuzz properties)
            r#"{"city":"ulm","sensor_id":"s","ts":-0,"vehicle_count":1}"#,
            r#"{"city":"ulm","sensor_id":"s","ts":1,"vehicle_count":-0}"#,
            r#"{"city":"ulm","sensor_id":"s","ts":1}"#,
            r#"{"city":"ulm","sensor_id":"s","ts":1,"vehicle_count":1} x"#,
            r#"{"city":"ulm","sensor_id":"s","ts":1,"vehicle_count":1,}"#,
            r#"[{"city":"ulm"}]"#,
            "{}",
            "",
        ] {
            assert_eq!(traffic(line.as_bytes()), None, "{line}");
        }
    }

    fn number(text: &str) -> Option<Number> {
        Scanner {
            bytes: text.as_bytes(),
            pos: 0,
        }
        .number()
    }

    #[test]
    fn decimals_are_exact() {
        let float = |t: &str| number(t).and_then(Number::float);
        let int = |t: &str| number(t).and_then(Number::int);
        assert_eq!(float("93.4"), Some(93.4));
        assert_eq!(float("-0.1"), Some(-0.1));
        assert_eq!(float("130"), Some(130.0));
        assert_eq!(float("1."), None);
        assert_eq!(float(".5"), None);
        assert_eq!(float("1e5"), None);
        assert_eq!(
            float("1234567890123456.5"),
            None,
            "beyond the exact fast path"
        );
        assert_eq!(int("-7"), Some(-7));
        assert_eq!(int("-0"), None, "serde reads -0 as a float");
        assert_eq!(float("-0"), Some(-0.0));
        assert_eq!(int("7.0"), None);
        assert_eq!(int("007"), None);
        assert_eq!(int("1795478400000"), Some(1_795_478_400_000));
    }

    fn compact_line() -> impl Strategy<Value = String> {
        let value = prop_oneof![
            (0u64..100_000).prop_map(|i| i.to_string()),
            (0u32..20_000, 1usize..4).prop_map(|(m, d)| format!(
                "{}.{:0w$}",
                m / 10u32.pow(d as u32),
                m % 10u32.pow(d as u32),
                w = d
            )),
            Just("\"ul-000042\"".to_owned()),
            Just("null".to_owned()),
            Just("-3".to_owned()),
            Just("1e2".to_owned()),
        ];
        let key = prop::sample::select(KEYS.iter().map(|(k, _)| *k).collect::<Vec<_>>());
        proptest::collection::vec((key, value), 1..10).prop_map(|fields| {
            let body: Vec<String> = fields
                .into_iter()
                .map(|(k, v)| format!("\"{}\":{v}", String::from_utf8_lossy(k)))
                .collect();
            format!("{{{}}}", body.join(","))
        })
    }

    proptest! {
        /// The compact tier never disagrees with the general scanner.
        #[test]
        fn agrees_with_the_general_scanner(line in compact_line()) {
            if let Some(fast) = compact::traffic(line.as_bytes()) {
                prop_assert_eq!(Some(fast), general(line.as_bytes()), "{}", line);
            }
        }
    }
}
