//! What goes into and comes out of a pipeline step.

use std::sync::Arc;

use bytes::Bytes;
use stadtpuls_processing::RejectReason;
use stadtpuls_processing::window::ClosedWindows;
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
    /// [`OVERSIZED_KEEP_BYTES`](super::OVERSIZED_KEEP_BYTES) (an oversized message);
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

/// What a step produced.
#[derive(Debug, Default)]
pub struct StepOutput {
    /// Refused observations.
    pub dead_letters: Vec<DeadLetter>,
    /// Closed traffic windows, per sensor (cross-section).
    pub traffic: Vec<ClosedWindows>,
    /// Closed traffic windows per sensor and lane (`lane` column set).
    pub traffic_lanes: Vec<ClosedWindows>,
    /// Closed parking windows.
    pub parking: Vec<ClosedWindows>,
    /// Observations accepted.
    pub accepted: usize,
    /// Observations dropped as too late from at least one window (dead-lettered as `late`).
    pub late: u64,
    /// Observations refused as `clock_jump` (their messages' dead letters are one per
    /// message, as for `late`).
    pub clock_jumps: u64,
    /// Observations of a facility or zone that came through another partition than the one
    /// holding its state (`stadtpuls_partition_conflicts_total`).
    pub partition_conflicts: u64,
    /// Open (sensor, window) traffic states after the step.
    pub open_states: usize,
    /// Bytes of open traffic window state after the step.
    pub state_bytes: usize,
    /// Runs of consecutive messages of one source in the batch: (source, index of the
    /// run's last message), so the runner tracks offsets per run, not per message.
    pub runs: Vec<(SourceId, u32)>,
}
