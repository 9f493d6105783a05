//! Where closed windows are written as Parquet history: the section, its tables and
//! their directory names.

use std::path::PathBuf;
use std::time::Duration;

use super::{
    DEFAULT_HISTORY_COMPACT_AFTER, DEFAULT_HISTORY_DIR, DEFAULT_HISTORY_MAX_FILE_ROWS,
    DEFAULT_HISTORY_RETENTION, DEFAULT_HISTORY_TABLES,
};

/// Where and how closed windows are written as Parquet history (`<dir>/<table>/city=<id>/
/// date=<YYYY-MM-DD>/*.parquet`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HistoryConfig {
    /// Whether closed windows are written at all.
    pub enabled: bool,
    /// Directory of the history files, relative to the working directory unless absolute.
    pub dir: PathBuf,
    /// The tables written, each a stream and a configured window; at least one when
    /// enabled, no duplicates.
    pub tables: Vec<HistoryTable>,
    /// Date partitions whose windows all started this long before the newest window
    /// written are deleted; at least one day.
    pub retention: Duration,
    /// A file holds at most this many rows; larger commits and compactions roll over to
    /// the next file; at least 1.
    pub max_file_rows: usize,
    /// A partition's files of one size tier are merged once there are this many of them;
    /// 0 = never, else at least 2.
    pub compact_after: usize,
    /// Also archive every input message as read — topic, partition, offset, key, payload —
    /// to the `raw_messages` table, committed with its task's epochs like the windows.
    pub archive_raw: bool,
}

impl Default for HistoryConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            dir: PathBuf::from(DEFAULT_HISTORY_DIR),
            tables: DEFAULT_HISTORY_TABLES
                .iter()
                .map(|&(stream, seconds)| HistoryTable::tumbling(stream, seconds))
                .collect(),
            retention: DEFAULT_HISTORY_RETENTION,
            max_file_rows: DEFAULT_HISTORY_MAX_FILE_ROWS,
            compact_after: DEFAULT_HISTORY_COMPACT_AFTER,
            archive_raw: false,
        }
    }
}

/// Which result stream a history table holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum HistoryStream {
    /// Traffic windows per sensor (cross-section), classified: `traffic_<window>`.
    Traffic,
    /// Traffic windows per sensor and lane: `traffic_lanes_<window>`.
    TrafficLanes,
    /// Parking windows per facility: `parking_<window>`.
    Parking,
}

impl HistoryStream {
    /// Every stream, longest table-name prefix first (`traffic_lanes_` before `traffic_`).
    pub const ALL: [HistoryStream; 3] = [Self::TrafficLanes, Self::Traffic, Self::Parking];

    /// The table-name prefix, e.g. `traffic_lanes`.
    pub fn prefix(self) -> &'static str {
        match self {
            Self::Traffic => "traffic",
            Self::TrafficLanes => "traffic_lanes",
            Self::Parking => "parking",
        }
    }
}

/// One history table: a stream and one configured window family.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct HistoryTable {
    /// What the rows are.
    pub stream: HistoryStream,
    /// Window size, whole seconds.
    pub window_s: u32,
    /// Distance between window starts, seconds; `== window_s` for tumbling windows.
    pub slide_s: u32,
}

impl HistoryTable {
    /// A table of tumbling windows of `seconds`.
    pub(crate) fn tumbling(stream: HistoryStream, seconds: u64) -> Self {
        let seconds = u32::try_from(seconds).unwrap_or(u32::MAX);
        Self {
            stream,
            window_s: seconds,
            slide_s: seconds,
        }
    }

    /// The directory name: `traffic_15m`, `traffic_lanes_1m`, or `traffic_1h_15m` for
    /// hopping windows of one hour every 15 minutes.
    pub fn name(&self) -> String {
        let prefix = self.stream.prefix();
        if self.window_s == self.slide_s {
            format!("{prefix}_{}", duration_label(self.window_s))
        } else {
            format!(
                "{prefix}_{}_{}",
                duration_label(self.window_s),
                duration_label(self.slide_s)
            )
        }
    }
}

/// `3600` → `1h`, `900` → `15m`, `90` → `90s`: the largest whole unit, as window labels
/// elsewhere (the API's `?window=`) are written.
pub(crate) fn duration_label(seconds: u32) -> String {
    if seconds.is_multiple_of(3600) {
        format!("{}h", seconds / 3600)
    } else if seconds.is_multiple_of(60) {
        format!("{}m", seconds / 60)
    } else {
        format!("{seconds}s")
    }
}
