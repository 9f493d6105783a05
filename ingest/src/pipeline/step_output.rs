//! What comes out of a pipeline step.

use stadtpuls_processing::window::ClosedWindows;
use stadtpuls_processing::window::watermark::SourceId;

use crate::message::DeadLetter;

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
