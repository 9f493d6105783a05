//! The `ts` field: RFC 3339 string or integer epoch milliseconds.

use std::fmt;

use serde::de::{self, Deserializer, Visitor};
use stadtpuls_processing::time::parse_rfc3339;

/// An event timestamp in epoch ms, or the text that failed to parse (reported as malformed).
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum WireTs {
    Millis(i64),
    Invalid(String),
}

impl WireTs {
    /// Interprets the text of a `ts` string.
    pub(crate) fn from_text(text: &str) -> Self {
        parse_rfc3339(text).map_or_else(|| WireTs::Invalid(text.to_owned()), WireTs::Millis)
    }
}

impl<'de> de::Deserialize<'de> for WireTs {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(TsVisitor)
    }
}

struct TsVisitor;

impl Visitor<'_> for TsVisitor {
    type Value = WireTs;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an RFC 3339 timestamp string or integer epoch milliseconds")
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<WireTs, E> {
        Ok(WireTs::Millis(v))
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<WireTs, E> {
        Ok(i64::try_from(v).map_or_else(|_| WireTs::Invalid(v.to_string()), WireTs::Millis))
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<WireTs, E> {
        Ok(WireTs::Invalid(v.to_string()))
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<WireTs, E> {
        Ok(WireTs::from_text(v))
    }
}

/// A partner feed's instant, epoch ms: RFC 3339 with any offset, or without one (read as
/// UTC: NGSI v2 `metadata.timestamp` and the FIWARE examples write local-less times).
pub(crate) fn feed_instant(text: &str) -> Option<i64> {
    let text = text.trim();
    parse_rfc3339(text).or_else(|| {
        chrono::NaiveDateTime::parse_from_str(text, "%Y-%m-%dT%H:%M:%S%.f")
            .ok()
            .map(|t| t.and_utc().timestamp_millis())
    })
}
