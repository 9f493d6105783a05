//! Event-time windows: specs, watermarks, and the parts the engine's operators are built
//! from — open windows (`slab`), per-source clocks (`watermark`), ownership (`owners`), the
//! traffic and parking accumulators with their emitters, the parking levels and the
//! traffic-state classifier. The operators that drive them are in [`crate::engine`].
//!
//! Shape (after Arroyo's tumbling aggregating window): compute each row's window start,
//! fold the row into that window's accumulator of its entity, and when the watermark passes
//! a window's end, turn its accumulators into one Arrow batch of results.

pub mod clock_guard;
pub(crate) mod owners;
pub mod parking;
pub(crate) mod restore;
pub(crate) mod slab;
pub(crate) mod snapshot_fields;
pub mod traffic;
pub mod traffic_state;
pub mod watermark;

pub use owners::PartitionConflict;

use arrow_array::RecordBatch;
use stadtpuls_config::WindowsConfig;

use crate::time::EventTime;
use crate::window::watermark::SourceId;

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

/// The size and slide of a window family; `slide == size` is a tumbling window.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct WindowShape {
    /// Window length in ms.
    pub size_ms: i64,
    /// Distance between window starts in ms (divides `size_ms`).
    pub slide_ms: i64,
}

impl WindowShape {
    /// A tumbling window of `size_ms`.
    pub fn tumbling(size_ms: i64) -> Self {
        Self {
            size_ms,
            slide_ms: size_ms,
        }
    }

    /// Whether windows overlap (hopping).
    pub fn is_hopping(&self) -> bool {
        self.slide_ms < self.size_ms
    }

    /// The family's label: `15m`, or `1h/5m` for hopping windows.
    pub fn label(&self) -> String {
        window_family_label(
            (self.size_ms / crate::time::MS_PER_S) as u32,
            (self.slide_ms / crate::time::MS_PER_S) as u32,
        )
    }

    pub(crate) fn slab(self) -> slab::Shape {
        slab::Shape {
            size_ms: self.size_ms,
            slide_ms: self.slide_ms,
        }
    }
}

/// Validated window settings shared by the operators.
#[derive(Debug, Clone, PartialEq)]
pub struct WindowSpec {
    /// Window families: tumbling sizes ascending, then hopping ones. Lateness is judged
    /// per window: a row may be dropped from some and counted in others
    /// ([`ProcessStats::late_rows`]).
    pub shapes: Vec<WindowShape>,
    /// Allowed out-of-orderness: the watermark trails the newest event by this much.
    pub out_of_orderness_ms: i64,
    /// A source silent for this long (processing time) no longer holds the watermark back.
    pub idle_timeout_ms: i64,
    /// A window accepts rows until the watermark passes its end plus this much; rows that
    /// arrive after it was emitted make it emit again with the next revision; later rows
    /// are dropped. (A watermark jumping past end + lateness emits and retires at once.)
    pub allowed_lateness_ms: i64,
    /// What event timestamps mean.
    pub timestamps: TimestampSemantics,
}

impl WindowSpec {
    /// Tumbling windows of the given sizes, no allowed lateness.
    pub fn tumbling(
        sizes_ms: &[i64],
        out_of_orderness_ms: i64,
        idle_timeout_ms: i64,
        timestamps: TimestampSemantics,
    ) -> Self {
        Self {
            shapes: sizes_ms
                .iter()
                .map(|&ms| WindowShape::tumbling(ms))
                .collect(),
            out_of_orderness_ms,
            idle_timeout_ms,
            allowed_lateness_ms: 0,
            timestamps,
        }
    }

    /// Builds the spec from the validated config section.
    pub fn from_config(config: &WindowsConfig) -> Self {
        let ms = |d: &std::time::Duration| d.as_millis() as i64;
        let mut shapes: Vec<WindowShape> = config
            .sizes
            .iter()
            .map(|d| WindowShape::tumbling(ms(d)))
            .collect();
        shapes.extend(config.hopping.iter().map(|(size, slide)| WindowShape {
            size_ms: ms(size),
            slide_ms: ms(slide),
        }));
        Self {
            shapes,
            out_of_orderness_ms: ms(&config.out_of_orderness),
            idle_timeout_ms: ms(&config.idle_timeout),
            allowed_lateness_ms: ms(&config.allowed_lateness),
            timestamps: TimestampSemantics::IntervalEnd,
        }
    }
}

/// Which rows an emitter builds: the due entries of one window (family and start), all
/// of one revision and one owning task. The engine groups the entries (`engine/windowed.rs`),
/// so the traffic and parking emitters only build rows.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Emission {
    pub(crate) shape: slab::Shape,
    pub(crate) start: EventTime,
    pub(crate) revision: u32,
    pub(crate) owner: SourceId,
}

/// Results of one window (one shape and start), one row per entity.
#[derive(Debug, Clone)]
pub struct ClosedWindows {
    /// Window length in seconds.
    pub window_s: u32,
    /// Distance between window starts in seconds (= `window_s` for tumbling windows).
    pub slide_s: u32,
    /// Window start, epoch ms UTC.
    pub window_start: EventTime,
    /// 0 on the first emission; each re-emission after late data adds one. Consumers
    /// upsert by (entity, window) and keep the highest revision.
    pub revision: u32,
    /// The task (source) owning these rows' entities: a window whose entities belong to
    /// several tasks is emitted as one `ClosedWindows` per task, so each task's output
    /// can be staged and committed with its own checkpoint.
    pub owner: SourceId,
    /// One row per entity (schema: [`traffic::traffic_window_schema`] once classified by
    /// [`traffic_state::TrafficStateClassifier`], [`traffic::traffic_aggregate_schema`]
    /// as the traffic operator emits it, or [`parking::parking_window_schema`]).
    pub batch: RecordBatch,
}

impl ClosedWindows {
    /// The label of the window family: `15m`, or `1h/5m` for hopping windows.
    pub fn label(&self) -> String {
        window_family_label(self.window_s, self.slide_s)
    }
}

/// Labels a window family: `15m` for tumbling, `1h/5m` for hopping.
pub fn window_family_label(window_s: u32, slide_s: u32) -> String {
    if window_s == slide_s {
        crate::time::window_label(window_s)
    } else {
        format!(
            "{}/{}",
            crate::time::window_label(window_s),
            crate::time::window_label(slide_s)
        )
    }
}

/// What happened to a batch, for the caller to record as metrics.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ProcessStats {
    /// Rows folded in (including late ones).
    pub rows: usize,
    /// Per window family: rows later than the allowed lateness, dropped from (at least one
    /// of) its windows.
    pub dropped_per_shape: Vec<(WindowShape, u64)>,
    /// Per window family: late rows within the allowed lateness (their window's end had
    /// passed the watermark): they updated an emitted window, or opened one that is emitted
    /// for the first time.
    pub updated_late_per_shape: Vec<(WindowShape, u64)>,
    /// Rows dropped from at least one window, ascending, each with the windows that
    /// dropped it (to dead-letter as `late`): the row's other windows counted it.
    pub late_rows: Vec<LateRow>,
    /// Entities this batch's source fed while another source still held them (parking
    /// only: a zone whose spots come through several partitions).
    pub partition_conflicts: Vec<PartitionConflict>,
}

/// A row later than the allowed lateness for some of its windows.
///
/// Families are judged one by one: a row too late for its 1-minute window may still be
/// within the lateness of its 15-minute one, which counts it. Whoever re-processes the
/// row must know which windows lack it, or it is counted twice in the others.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LateRow {
    /// The row's index in the batch.
    pub row: u32,
    /// The windows that dropped it, in the order of [`WindowSpec::shapes`], newest start
    /// first within a hopping family.
    pub dropped: Vec<DroppedWindow>,
}

/// One window (family and start) that dropped a late row.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct DroppedWindow {
    /// The window family.
    pub shape: WindowShape,
    /// The window's start, epoch ms UTC.
    pub start: EventTime,
}

impl DroppedWindow {
    /// The window as `start/family`, e.g. `2026-11-24T08:00:00Z/1m` or
    /// `2026-11-24T07:15:00Z/1h/15m`: the end of the window's output topic key, and how a
    /// `late` dead letter names it (header `stadtpuls.late_windows`).
    pub fn key(&self) -> String {
        format!(
            "{}/{}",
            crate::time::to_rfc3339_seconds(self.start),
            self.shape.label()
        )
    }
}

impl ProcessStats {
    pub(crate) fn from_update(
        rows: usize,
        shapes: &[WindowShape],
        update: slab::UpdateStats,
    ) -> Self {
        let mut dropped = update.dropped_windows;
        // By row, then family: the windows arrive family by family.
        dropped.sort_by_key(|d| (d.row, d.shape));
        let mut late_rows: Vec<LateRow> = Vec::new();
        for window in dropped {
            let Some(&shape) = shapes.get(window.shape) else {
                continue;
            };
            let window_dropped = DroppedWindow {
                shape,
                start: window.start,
            };
            match late_rows.last_mut() {
                Some(last) if last.row == window.row => last.dropped.push(window_dropped),
                _ => late_rows.push(LateRow {
                    row: window.row,
                    dropped: vec![window_dropped],
                }),
            }
        }
        Self {
            rows,
            dropped_per_shape: shapes.iter().copied().zip(update.dropped).collect(),
            updated_late_per_shape: shapes.iter().copied().zip(update.updated_late).collect(),
            late_rows,
            partition_conflicts: Vec::new(),
        }
    }

    /// Rows dropped as too late from at least one window.
    pub fn late(&self) -> u64 {
        self.late_rows.len() as u64
    }
}
