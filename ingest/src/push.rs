//! What both homes of the push gateway share (Kafka in `stadtpuls run`,
//! `kafka/push.rs`; the embedded pipeline in `stadtpuls demo`, `demo/push.rs`): where a
//! push goes, the syntactic check it gets before it is answered, and how it is answered.
//!
//! Topics: a format's first `[[cities.feeds]]` topic of the city; native bodies go to
//! `sensors.<city>.<kind>`, the kind read from the body (a cheap parse: a body of both
//! kinds, or of none, is refused).

use std::collections::HashMap;

use serde_json::Value;
use stadtpuls_config::{Config, FeedFormat};

/// Where a push was stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PushWritten {
    /// Topic.
    pub topic: String,
    /// Partition.
    pub partition: i32,
    /// Offset.
    pub offset: i64,
}

/// Why a push was not written.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PushWriteError {
    /// Not JSON where the format is JSON, or a native body of no single kind.
    #[error("{0}")]
    Unparseable(String),
    /// The city has no topic of the format.
    #[error("city `{city}` has no topic of format `{format}` ([[cities.feeds]])")]
    NoTopic {
        /// City id.
        city: String,
        /// The format.
        format: FeedFormat,
    },
    /// The broker (or librdkafka) refused the record for its size.
    #[error("the broker refused the record as too large ({0})")]
    TooLarge(String),
    /// Not taken now, retry later: the broker is unreachable or did not acknowledge in
    /// time (Kafka), or the embedded pipeline does not take pushes yet (demo).
    #[error("{0}")]
    Unavailable(String),
}

/// The topic of every (city, format) a push may go to.
#[derive(Debug, Clone, Default)]
pub struct PushTopics {
    topics: HashMap<(String, FeedFormat), String>,
}

impl PushTopics {
    /// The first `[[cities.feeds]]` topic of each city and format.
    pub fn new(config: &Config) -> Self {
        let mut topics = HashMap::new();
        for (city, feed) in config.feeds() {
            topics
                .entry((city.id.clone(), feed.format))
                .or_insert_with(|| feed.topic.clone());
        }
        Self { topics }
    }

    /// The topic of `body` pushed for `city` in `format`, after its syntactic check.
    ///
    /// # Errors
    /// [`PushWriteError::Unparseable`] for a body that fails the check,
    /// [`PushWriteError::NoTopic`] for a format the city has no topic of.
    pub fn topic(
        &self,
        city: &str,
        format: FeedFormat,
        body: &[u8],
    ) -> Result<String, PushWriteError> {
        if format == FeedFormat::Native {
            return Ok(format!("sensors.{city}.{}", native_kind(body)?));
        }
        check_json(body)?;
        self.topics
            .get(&(city.to_owned(), format))
            .cloned()
            .ok_or_else(|| PushWriteError::NoTopic {
                city: city.to_owned(),
                format,
            })
    }
}

/// A body that opens like JSON must be JSON (a syntax check, no values kept); others (a
/// format that is not JSON) are left to their decoder.
fn check_json(body: &[u8]) -> Result<(), PushWriteError> {
    let opens_json = body
        .iter()
        .find(|b| !b.is_ascii_whitespace())
        .is_some_and(|b| matches!(b, b'{' | b'['));
    if opens_json {
        serde_json::from_slice::<serde::de::IgnoredAny>(body)
            .map_err(|e| PushWriteError::Unparseable(format!("not JSON: {e}")))?;
    }
    Ok(())
}

/// `traffic` or `parking`: a native body's stream, from each observation's `kind`
/// (`facility`/`spot` are parking; none or anything else, traffic, as on the wire).
fn native_kind(body: &[u8]) -> Result<&'static str, PushWriteError> {
    let value: Value = serde_json::from_slice(body)
        .map_err(|e| PushWriteError::Unparseable(format!("not JSON: {e}")))?;
    let items: Vec<&Value> = match &value {
        Value::Array(items) => items.iter().collect(),
        other => vec![other],
    };
    let mut kinds = items
        .iter()
        .map(|item| match item.get("kind").and_then(Value::as_str) {
            Some("facility" | "spot") => "parking",
            _ => "traffic",
        });
    let Some(first) = kinds.next() else {
        return Err(PushWriteError::Unparseable("an empty array".into()));
    };
    if kinds.any(|kind| kind != first) {
        return Err(PushWriteError::Unparseable(
            "a native push carries one stream: traffic or parking observations, not both".into(),
        ));
    }
    Ok(first)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn native_bodies_name_their_stream() {
        let parking = br#"[{"kind":"facility","id":"a"},{"kind":"spot","id":"b"}]"#;
        assert_eq!(native_kind(parking), Ok("parking"));
        assert_eq!(native_kind(br#"{"id":"t","speed_kmh":40}"#), Ok("traffic"));
        assert!(matches!(
            native_kind(br#"[{"kind":"facility"},{"id":"t"}]"#),
            Err(PushWriteError::Unparseable(_))
        ));
        assert!(matches!(
            native_kind(b"[]"),
            Err(PushWriteError::Unparseable(_))
        ));
        assert!(matches!(
            native_kind(b"{"),
            Err(PushWriteError::Unparseable(_))
        ));
    }

    #[test]
    fn json_bodies_are_checked_others_left_to_their_decoder() {
        assert!(check_json(b" {\"a\": 1}").is_ok());
        assert!(check_json(b"[1, 2").is_err());
        assert!(check_json(b"<?xml version=\"1.0\"?><d/>").is_ok());
    }
}
