//! Decoders: wire formats → validated Arrow batches.
//!
//! Each decoder parses a message into domain observations and pushes them into the batch
//! builders of `stadtpuls-processing`, which validate them. A message can hold several
//! observations (a JSON array); each bad one becomes its own [`Rejected`] item while its
//! good neighbours go on.

mod admit;
pub mod datex2;
mod emit;
pub mod external;
mod fast;
pub mod feed;
pub(crate) mod fiware;
#[cfg(test)]
pub(crate) mod fuzz;
pub(crate) mod json_values;
pub mod native;
mod parkapi;
pub(crate) mod precheck;
mod timestamp;
pub(crate) mod ttn;

use stadtpuls_processing::Rejection;

/// Which stream a message belongs to, from its topic (`sensors.<city>.<kind>`) or payload.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum StreamKind {
    /// Traffic counts.
    Traffic,
    /// Parking facility counts and spot states.
    Parking,
}

impl StreamKind {
    /// The label used in topics and metrics.
    pub fn as_str(self) -> &'static str {
        match self {
            StreamKind::Traffic => "traffic",
            StreamKind::Parking => "parking",
        }
    }
}

/// A topic name split into city and kind, when it follows `sensors.<city>.<traffic|parking>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopicRoute<'a> {
    /// City segment of the topic.
    pub city: &'a str,
    /// Kind segment of the topic.
    pub kind: StreamKind,
}

/// Splits a topic name of the form `<prefix>.<city>.<traffic|parking>`.
///
/// ```
/// use stadtpuls_ingest::decode::{parse_topic, StreamKind};
/// let route = parse_topic("sensors.ulm.parking").unwrap();
/// assert_eq!((route.city, route.kind), ("ulm", StreamKind::Parking));
/// assert!(parse_topic("sensors.deadletter").is_none());
/// ```
pub fn parse_topic(topic: &str) -> Option<TopicRoute<'_>> {
    let (rest, kind) = topic.rsplit_once('.')?;
    let kind = match kind {
        "traffic" => StreamKind::Traffic,
        "parking" => StreamKind::Parking,
        _ => return None,
    };
    let city = rest.rsplit_once('.').map_or(rest, |(_, city)| city);
    (!city.is_empty()).then_some(TopicRoute { city, kind })
}

/// Guesses the kind of a message on a topic outside the naming convention: a
/// `"sensor_id"` key anywhere is traffic. Found with `memchr::memmem` (SIMD), as the
/// NGSI scanner does, not a byte-by-byte `windows()` compare of every offset.
pub(crate) fn infer_kind(payload: &[u8]) -> StreamKind {
    let has_sensor = memchr::memmem::find(payload, b"\"sensor_id\"").is_some();
    if has_sensor {
        StreamKind::Traffic
    } else {
        StreamKind::Parking
    }
}

/// An observation that was refused: which element of the message, and why.
#[derive(Debug, Clone, PartialEq)]
pub struct Rejected {
    /// Index in a JSON array message; `None` for a single-object message.
    pub index: Option<usize>,
    /// City named by the payload, when it could be read and is configured (for metric labels).
    pub city: Option<u16>,
    /// Why.
    pub rejection: Rejection,
    /// The refused element's own bytes (for an array, just the element).
    pub payload: Vec<u8>,
}

#[cfg(test)]
mod infer_kind_tests {
    use super::{StreamKind, infer_kind};

    #[test]
    fn a_sensor_id_key_anywhere_is_traffic() {
        let traffic = br#"{"city":"ulm","sensor_id":"ulm-t-001","lane":1}"#;
        assert_eq!(infer_kind(traffic), StreamKind::Traffic);
        assert_eq!(
            infer_kind(br#"[{"x":1},{"sensor_id":"a"}]"#),
            StreamKind::Traffic
        );
        assert_eq!(infer_kind(br#"{"facility_id":"p1"}"#), StreamKind::Parking);
        // A key cut short is not the key; the needle at the very end still is.
        assert_eq!(infer_kind(br#"{"sensor_id"#), StreamKind::Parking);
        assert_eq!(infer_kind(br#""sensor_id""#), StreamKind::Traffic);
        assert_eq!(infer_kind(b""), StreamKind::Parking);
    }
}
