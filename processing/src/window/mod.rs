//! Event-time windows: specs, watermarks and the traffic and parking operators.
//!
//! Shape (after Arroyo's tumbling aggregating window): compute each row's window start,
//! fold the row into that window's accumulator of its entity, and when the watermark passes
//! a window's end, turn its accumulators into one Arrow batch of results.

pub mod parking;
pub(crate) mod slab;
pub mod traffic;
pub mod traffic_state;
pub mod watermark;

use arrow_array::RecordBatch;
use stadtpuls_config::WindowsConfig;

use crate::time::EventTime;

/// What an event's `ts` marks, which decides the window an event on a boundary falls in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimestampSemantics {
    /// `ts` is the end of a counting interval `(ts − interval, ts]` (the native format):
    /// an interval ending at 10:01:00 belongs to the window ending 10:01:00.
    IntervalEnd,
    /// `ts` is an instant: windows are `[start, end)`, as in SQL `date_bin`.
    Instant,
}

impl TimestampSemantics {
    pub(crate) fn assign_offset_ms(self) -> i64 {
        match self {
            TimestampSemantics::IntervalEnd => 1,
            TimestampSemantics::Instant => 0,
        }
    }
}

/// Validated window settings shared by the operators.
#[derive(Debug, Clone, PartialEq)]
pub struct WindowSpec {
    /// Tumbling window sizes in ms, ascending.
    pub sizes_ms: Vec<i64>,
    /// Allowed out-of-orderness: the watermark trails the newest event by this much.
    pub out_of_orderness_ms: i64,
    /// A source silent for this long (processing time) no longer holds the watermark back.
    pub idle_timeout_ms: i64,
    /// What event timestamps mean.
    pub timestamps: TimestampSemantics,
}

impl WindowSpec {
    /// Builds the spec from the validated config section.
    pub fn from_config(config: &WindowsConfig) -> Self {
        Self {
            sizes_ms: config.sizes.iter().map(|d| d.as_millis() as i64).collect(),
            out_of_orderness_ms: config.out_of_orderness.as_millis() as i64,
            idle_timeout_ms: config.idle_timeout.as_millis() as i64,
            timestamps: TimestampSemantics::IntervalEnd,
        }
    }
}

/// Results of windows of one size and start that closed, one row per entity.
#[derive(Debug, Clone)]
pub struct ClosedWindows {
    /// Window length in seconds.
    pub window_s: u32,
    /// Window start, epoch ms UTC.
    pub window_start: EventTime,
    /// One row per entity (schema: [`traffic::traffic_window_schema`] once classified by
    /// [`traffic_state::TrafficStateClassifier`], [`traffic::traffic_aggregate_schema`]
    /// as the traffic operator emits it, or [`parking::parking_window_schema`]).
    pub batch: RecordBatch,
}

/// What happened to a batch, for the caller to record as metrics.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ProcessStats {
    /// Rows folded in (including late ones).
    pub rows: usize,
    /// Per window size (ms): rows that arrived after their window had closed.
    pub late_per_size: Vec<(i64, u64)>,
}

impl ProcessStats {
    /// Rows late for the smallest window size: their data is missing from at least one result.
    pub fn late(&self) -> u64 {
        self.late_per_size.first().map_or(0, |(_, n)| *n)
    }
}
