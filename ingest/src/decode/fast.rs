//! A zero-allocation scanner for the common shape of native traffic messages.
//!
//! Most traffic messages are one flat JSON object of known keys with plain values. This
//! scanner reads exactly that shape, several times faster than a generic JSON parser, and
//! answers `None` for anything else — escapes, nesting, `null` in a required field,
//! duplicate keys, exponents, numbers it cannot convert exactly — so the caller falls back
//! to the serde decoder, which then accepts or refuses with its usual message. The fast path
//! therefore never changes *what* is accepted, only how quickly (a property test checks it).

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
const POW10: [f64; 19] = [
    1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15, 1e16,
    1e17, 1e18,
];

struct Scanner<'a> {
    bytes: &'a [u8],
    pos: usize,
}

enum Value<'a> {
    Str(&'a str),
    Num(&'a [u8]),
    Null,
    Other,
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

    /// The raw bytes of a string without escapes or control characters.
    fn raw_string(&mut self) -> Option<&'a [u8]> {
        let start = self.pos;
        let rest = self.bytes.get(start..)?;
        let len = memchr::memchr(b'"', rest)?;
        let raw = &rest[..len];
        if raw.iter().any(|&b| b == b'\\' || b < 0x20) {
            return None;
        }
        self.pos = start + len + 1;
        Some(raw)
    }

    /// A string without escapes or control characters, as UTF-8.
    fn string(&mut self) -> Option<&'a str> {
        let raw = self.raw_string()?;
        std::str::from_utf8(raw).ok()
    }

    fn value(&mut self) -> Option<Value<'a>> {
        self.skip_ws();
        match *self.bytes.get(self.pos)? {
            b'"' => {
                self.pos += 1;
                self.string().map(Value::Str)
            }
            b'-' | b'0'..=b'9' => {
                let start = self.pos;
                while let Some(b) = self.bytes.get(self.pos) {
                    if !matches!(b, b'-' | b'+' | b'.' | b'e' | b'E' | b'0'..=b'9') {
                        break;
                    }
                    self.pos += 1;
                }
                Some(Value::Num(&self.bytes[start..self.pos]))
            }
            b'n' => self.literal(b"null").map(|()| Value::Null),
            b't' => self.literal(b"true").map(|()| Value::Other),
            b'f' => self.literal(b"false").map(|()| Value::Other),
            _ => None,
        }
    }

    fn literal(&mut self, word: &[u8]) -> Option<()> {
        let end = self.pos + word.len();
        (self.bytes.get(self.pos..end)? == word).then(|| self.pos = end)
    }
}

/// Parses a JSON integer token exactly as serde would accept it into an `i64`.
fn int(token: &[u8]) -> Option<i64> {
    let (negative, digits) = match token.split_first()? {
        (b'-', rest) => (true, rest),
        _ => (false, token),
    };
    if digits.is_empty() || digits.len() > 18 || (digits.len() > 1 && digits[0] == b'0') {
        return None;
    }
    let mut value: i64 = 0;
    for &d in digits {
        if !d.is_ascii_digit() {
            return None;
        }
        value = value * 10 + i64::from(d - b'0');
    }
    Some(if negative { -value } else { value })
}

/// Parses a plain decimal (`-12`, `93.4`) exactly; `None` for exponents or long mantissas.
fn float(token: &[u8]) -> Option<f64> {
    let (negative, body) = match token.split_first()? {
        (b'-', rest) => (true, rest),
        _ => (false, token),
    };
    let (int_part, frac_part) = match body.iter().position(|&b| b == b'.') {
        Some(dot) => (&body[..dot], &body[dot + 1..]),
        None => (body, &body[..0]),
    };
    if int_part.is_empty()
        || (int_part.len() > 1 && int_part[0] == b'0')
        || (body.len() > int_part.len() && frac_part.is_empty())
        || int_part.len() + frac_part.len() > 15
    {
        return None;
    }
    let mut mantissa: u64 = 0;
    for &d in int_part.iter().chain(frac_part) {
        if !d.is_ascii_digit() {
            return None;
        }
        mantissa = mantissa * 10 + u64::from(d - b'0');
    }
    let value = mantissa as f64 / POW10[frac_part.len()];
    Some(if negative { -value } else { value })
}

const CITY: u16 = 1;
const SENSOR: u16 = 1 << 1;
const LANE: u16 = 1 << 2;
const TS: u16 = 1 << 3;
const INTERVAL: u16 = 1 << 4;
const COUNT: u16 = 1 << 5;
const HEAVY: u16 = 1 << 6;
const SPEED: u16 = 1 << 7;
const OCC: u16 = 1 << 8;

/// Scans a flat traffic object; `None` means "use the full decoder".
pub(crate) fn traffic(bytes: &[u8]) -> Option<FastTraffic<'_>> {
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
    loop {
        s.eat(b'"')?;
        // Keys compare as bytes: no UTF-8 check needed to recognise them, and an unknown key
        // that is not UTF-8 is still refused by the full decoder only if it matters.
        let key = s.raw_string()?;
        s.eat(b':')?;
        let value = s.value()?;
        let bit = match key {
            b"city" => CITY,
            b"sensor_id" => SENSOR,
            b"lane" => LANE,
            b"ts" => TS,
            b"interval_s" => INTERVAL,
            b"vehicle_count" => COUNT,
            b"heavy_vehicle_count" | b"heavy_vehicles" => HEAVY,
            b"avg_speed_kmh" | b"speed_kmh" => SPEED,
            b"occupancy_pct" => OCC,
            _ if std::str::from_utf8(key).is_err() => return None,
            _ => 0,
        };
        if bit != 0 {
            if seen & bit != 0 {
                return None;
            }
            seen |= bit;
            assign(&mut out, bit, value)?;
        } else if let Value::Num(token) = value {
            // serde would reject a malformed number even in an ignored field
            float(token).or_else(|| int(token).map(|i| i as f64))?;
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
        (TS, Value::Num(t)) => out.ts = FastTs::Millis(int(t)?),
        (COUNT, Value::Num(t)) => out.vehicle_count = int(t)?,
        (LANE, Value::Num(t)) => out.lane = Some(int(t)?),
        (INTERVAL, Value::Num(t)) => out.interval_s = Some(int(t)?),
        (HEAVY, Value::Num(t)) => out.heavy_vehicle_count = Some(int(t)?),
        (SPEED, Value::Num(t)) => out.avg_speed_kmh = Some(float(t)?),
        (OCC, Value::Num(t)) => out.occupancy_pct = Some(float(t)?),
        (INTERVAL | HEAVY | SPEED | OCC, Value::Null) => {}
        _ => return None,
    }
    Some(())
}

#[cfg(test)]
mod tests {
    use super::*;

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

    #[test]
    fn decimals_are_exact() {
        assert_eq!(float(b"93.4"), Some(93.4));
        assert_eq!(float(b"-0.1"), Some(-0.1));
        assert_eq!(float(b"130"), Some(130.0));
        assert_eq!(float(b"1."), None);
        assert_eq!(float(b".5"), None);
        assert_eq!(int(b"-7"), Some(-7));
        assert_eq!(int(b"7.0"), None);
    }
}
