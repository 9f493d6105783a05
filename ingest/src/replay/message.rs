//! A message of a replay, whatever file it came from.

/// One message to write again.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Replayed {
    /// The archived topic; `None` for NDJSON, which names none.
    pub topic: Option<String>,
    /// The archived partition; `None` for NDJSON.
    pub partition: Option<i32>,
    /// The record key.
    pub key: Option<Vec<u8>>,
    /// The message as it was read or sent.
    pub payload: Vec<u8>,
}
