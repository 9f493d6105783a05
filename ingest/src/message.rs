//! The input and dead-letter types every part of ingest shares: a message as a source
//! read it, and an observation refused from it. They sit at the bottom so that decoders,
//! the pipeline, the runner, the sources and the sinks can all name them without
//! depending on each other.

use std::sync::Arc;

use bytes::Bytes;
use stadtpuls_config::FeedFormat;
use stadtpuls_processing::RejectReason;
use stadtpuls_processing::window::watermark::SourceId;

/// A message as read from a source, with its origin for dead-lettering and offsets.
#[derive(Debug, Clone)]
pub struct RawMessage {
    /// Dense id of the topic-partition, for per-source watermarks.
    pub source: SourceId,
    /// Topic it was read from.
    pub topic: Arc<str>,
    /// Partition.
    pub partition: i32,
    /// Offset within the partition.
    pub offset: i64,
    /// Message key, if any.
    pub key: Option<Bytes>,
    /// Payload bytes; a cheap slice of the batch's shared buffer.
    pub payload: Bytes,
    /// The format its `content-type` header names specifically
    /// ([`FeedFormat::from_content_type`]); `None` (no header, generic JSON): the
    /// topic's format, native unless `[[cities.feeds]]` says otherwise.
    pub format: Option<FeedFormat>,
}

/// A refused observation, ready for the dead-letter topic.
#[derive(Debug, Clone, PartialEq)]
pub struct DeadLetter {
    /// Why it was refused.
    pub reason: RejectReason,
    /// Human-readable detail.
    pub detail: String,
    /// Origin topic.
    pub topic: Arc<str>,
    /// Origin partition.
    pub partition: i32,
    /// Origin offset.
    pub offset: i64,
    /// Element index within a JSON array message.
    pub index: Option<usize>,
    /// The refused bytes' length when `payload` is only their first
    /// [`OVERSIZED_KEEP_BYTES`](crate::pipeline::OVERSIZED_KEEP_BYTES) (an oversized message);
    /// `None` when `payload` is whole. (The Kafka sink may cut further, to fit the
    /// broker: `kafka.deadletter_max_bytes`.)
    pub original_bytes: Option<usize>,
    /// Origin key.
    pub key: Option<Bytes>,
    /// The refused bytes (the element, for arrays).
    pub payload: Bytes,
    /// For reason `late`: the windows (`start/family`, see
    /// [`DroppedWindow::key`](stadtpuls_processing::window::DroppedWindow::key)) the
    /// message's observations were dropped from; the observations' other windows counted
    /// them. Empty for every other reason.
    pub late_windows: Vec<String>,
}
