//! The first tier of the fast scanner: compact traffic objects exactly as producers write
//! them — no whitespace, known keys only, every value of the type its key wants.
//!
//! Each key is followed by a parser for its own value type, so no value is classified,
//! wrapped and matched again as in the general scanner. Anything outside that shape —
//! whitespace, `null`, an unknown key, a negative or fractional count, a non-ASCII id, a
//! timestamp as text — answers `None` and the general scanner (then serde) decides. Where it
//! answers, it answers exactly what the general scanner would (a property test checks it).

use super::grammar::{
    CITY, COUNT, FastTraffic, FastTs, HEAVY, INTERVAL, KEYS, LANE, NUMBER_BYTE, OCC, PATTERNS,
    PLAIN, POW10, QUOTE, SENSOR, SPEED, STRING_BYTE, TS, word,
};

/// Fields every traffic observation needs.
const REQUIRED: u16 = CITY | SENSOR | TS | COUNT;

struct Cursor<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> Cursor<'a> {
    fn byte(&self) -> Option<u8> {
        self.bytes.get(self.pos).copied()
    }

    fn expect(&mut self, b: u8) -> Option<()> {
        (self.byte()? == b).then(|| self.pos += 1)
    }

    /// The known key at the cursor (after its opening quote), trying `KEYS[hint]` first.
    fn key(&mut self, hint: usize) -> Option<usize> {
        let rest = self.bytes.get(self.pos..)?;
        let text = if rest.len() >= 24 {
            [word(rest, 0), word(rest, 8), word(rest, 16)]
        } else {
            // The last key of a message: pad with zeros, which no key contains.
            let mut padded = [0u8; 24];
            padded[..rest.len()].copy_from_slice(rest);
            [word(&padded, 0), word(&padded, 8), word(&padded, 16)]
        };
        let matches = |i: usize| {
            let p = &PATTERNS[i];
            (text[0] ^ p.words[0]) & p.masks[0] == 0
                && (text[1] ^ p.words[1]) & p.masks[1] == 0
                && (text[2] ^ p.words[2]) & p.masks[2] == 0
        };
        let index = if hint < KEYS.len() && matches(hint) {
            hint
        } else {
            (0..KEYS.len()).find(|&i| matches(i))?
        };
        self.pos += PATTERNS[index].len;
        Some(index)
    }

    /// An ASCII string without escapes or control characters (after the opening quote).
    fn ascii(&mut self) -> Option<&'a str> {
        self.expect(b'"')?;
        let start = self.pos;
        let rest = self.bytes.get(start..)?;
        for (len, &b) in rest.iter().enumerate() {
            match STRING_BYTE[usize::from(b)] {
                PLAIN => {}
                QUOTE => {
                    self.pos = start + len + 1;
                    // SAFETY: every byte before the quote was classified PLAIN: ASCII.
                    return Some(unsafe { std::str::from_utf8_unchecked(&rest[..len]) });
                }
                _ => return None,
            }
        }
        None
    }

    /// Decimal digits as JSON allows them (no leading zero): the value and the count.
    fn digits(&mut self) -> Option<(u64, usize)> {
        let start = self.pos;
        let mut value: u64 = 0;
        while let Some(d) = self.byte().filter(u8::is_ascii_digit) {
            value = value.wrapping_mul(10).wrapping_add(u64::from(d - b'0'));
            self.pos += 1;
        }
        let n = self.pos - start;
        if n == 0 || (n > 1 && self.bytes[start] == b'0') {
            return None;
        }
        Some((value, n))
    }

    /// A non-negative integer of at most 18 digits, not followed by a fraction or exponent.
    fn uint(&mut self) -> Option<i64> {
        let (value, n) = self.digits()?;
        if n > 18 || self.byte().is_some_and(|b| NUMBER_BYTE[usize::from(b)]) {
            return None;
        }
        i64::try_from(value).ok()
    }

    /// A non-negative decimal without exponent, at most 15 digits: exactly rounded (see
    /// `Number::float`).
    fn decimal(&mut self) -> Option<f64> {
        let (mut mantissa, int_len) = self.digits()?;
        let mut frac = 0;
        if self.byte() == Some(b'.') {
            self.pos += 1;
            let start = self.pos;
            while let Some(d) = self.byte().filter(u8::is_ascii_digit) {
                mantissa = mantissa.wrapping_mul(10).wrapping_add(u64::from(d - b'0'));
                self.pos += 1;
            }
            frac = self.pos - start;
            if frac == 0 {
                return None;
            }
        }
        if int_len + frac > 15 || self.byte().is_some_and(|b| NUMBER_BYTE[usize::from(b)]) {
            return None;
        }
        Some(mantissa as f64 / POW10[frac])
    }
}

/// Scans a compact traffic object; `None` means "ask the general scanner".
pub(super) fn traffic(bytes: &[u8]) -> Option<FastTraffic<'_>> {
    let mut c = Cursor { bytes, pos: 0 };
    c.expect(b'{')?;
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
    let mut seen: u16 = 0;
    let mut hint = 0;
    loop {
        c.expect(b'"')?;
        let index = c.key(hint)?;
        c.expect(b':')?;
        let bit = KEYS[index].1;
        if seen & bit != 0 {
            return None;
        }
        seen |= bit;
        match bit {
            CITY => out.city = c.ascii()?,
            SENSOR => out.sensor_id = c.ascii()?,
            TS => out.ts = FastTs::Millis(c.uint()?),
            COUNT => out.vehicle_count = c.uint()?,
            LANE => out.lane = Some(c.uint()?),
            INTERVAL => out.interval_s = Some(c.uint()?),
            HEAVY => out.heavy_vehicle_count = Some(c.uint()?),
            SPEED => out.avg_speed_kmh = Some(c.decimal()?),
            OCC => out.occupancy_pct = Some(c.decimal()?),
            _ => return None,
        }
        hint = index + 1;
        match c.byte()? {
            b',' => c.pos += 1,
            b'}' => {
                c.pos += 1;
                break;
            }
            _ => return None,
        }
    }
    (c.pos == bytes.len() && seen & REQUIRED == REQUIRED).then_some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_reference_workload_line() {
        let line = br#"{"city":"ulm","sensor_id":"ul-000042","lane":3,"ts":1795478400000,"vehicle_count":17,"speed_kmh":93.4,"occupancy_pct":0.0,"heavy_vehicles":2}"#;
        let t = traffic(line).expect("compact");
        assert_eq!((t.city, t.sensor_id, t.lane), ("ulm", "ul-000042", Some(3)));
        assert_eq!(t.ts, FastTs::Millis(1_795_478_400_000));
        assert_eq!((t.vehicle_count, t.heavy_vehicle_count), (17, Some(2)));
        assert_eq!((t.avg_speed_kmh, t.occupancy_pct), (Some(93.4), Some(0.0)));
    }

    #[test]
    fn leaves_other_shapes_to_the_general_scanner() {
        for line in [
            r#"{ "city":"ulm","sensor_id":"s","ts":1,"vehicle_count":1}"#,
            r#"{"city":"ulm","sensor_id":"s","ts":"2026-11-24T00:00:00Z","vehicle_count":1}"#,
            r#"{"city":"ulm","sensor_id":"s","ts":1,"vehicle_count":-1}"#,
            r#"{"city":"ulm","sensor_id":"s","ts":1,"vehicle_count":1,"speed_kmh":null}"#,
            r#"{"city":"ulm","sensor_id":"s","ts":1,"vehicle_count":1,"note":"x"}"#,
            r#"{"city":"ülm","sensor_id":"s","ts":1,"vehicle_count":1}"#,
            r#"{"city":"ulm","sensor_id":"s","ts":1,"vehicle_count":1.0}"#,
            r#"{"city":"ulm","sensor_id":"s","ts":01,"vehicle_count":1}"#,
        ] {
            assert_eq!(traffic(line.as_bytes()), None, "{line}");
        }
    }
}
