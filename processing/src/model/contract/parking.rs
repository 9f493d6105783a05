//! The columns of closed parking windows (the `parking_<window>` tables and output stream).

use std::sync::Arc;

use arrow_schema::{Schema, SchemaRef};

use super::column::{Column, Kind, fields};

/// Names of the columns code refers to by name.
pub mod out {
    /// City id.
    pub const CITY: &str = super::super::column::CITY;
    /// Facility id.
    pub const FACILITY_ID: &str = "facility_id";
    /// Window start.
    pub const WINDOW_START: &str = super::super::column::WINDOW_START;
    /// Window end.
    pub const WINDOW_END: &str = super::super::column::WINDOW_END;
    /// Observations folded in.
    pub const UPDATES: &str = "updates";
    /// Free spaces at the end of the window.
    pub const FREE: &str = "free";
    /// Usable capacity at the end of the window.
    pub const TOTAL: &str = "total";
    /// Occupied spaces at the end of the window.
    pub const OCCUPIED: &str = "occupied";
    /// Occupancy at the end of the window, percent.
    pub const OCCUPANCY_PCT: &str = "occupancy_pct";
    /// Time-weighted mean occupancy, percent.
    pub const OCCUPANCY_MEAN_PCT: &str = "occupancy_mean_pct";
    /// Fewest free spaces observed.
    pub const FREE_MIN: &str = "free_min";
    /// Status at the end of the window.
    pub const STATUS: &str = "status";
    /// Occupancy trend at the end of the window.
    pub const TREND: &str = "trend";
    /// Vehicles in.
    pub const ENTRIES: &str = "entries";
    /// Vehicles out.
    pub const EXITS: &str = "exits";
    /// Spot sessions that ended.
    pub const SESSIONS_ENDED: &str = "sessions_ended";
    /// Mean duration of the ended sessions, s.
    pub const MEAN_DWELL_S: &str = "mean_dwell_s";
    /// Sessions ended per usable space.
    pub const TURNOVER: &str = "turnover";
    /// Opening status of the newest count in the window.
    pub const OPENING_STATUS: &str = "opening_status";
}

/// The columns of a closed parking window, in order (`window/parking/emit.rs` builds one
/// array per line).
pub const COLUMNS: &[Column] = &[
    Column::required(out::CITY, Kind::Text, "city id"),
    Column::required(out::FACILITY_ID, Kind::Text, "facility id"),
    Column::required(out::WINDOW_START, Kind::Time, "window start"),
    Column::required(out::WINDOW_END, Kind::Time, "window end"),
    Column::required(
        out::UPDATES,
        Kind::U32,
        "observations folded in (counts and spot changes)",
    ),
    Column::required(
        out::FREE,
        Kind::U32,
        "free spaces at the end of the window (latest value)",
    ),
    Column::optional(
        out::TOTAL,
        Kind::U32,
        "usable capacity at the end of the window",
    ),
    Column::optional(
        out::OCCUPIED,
        Kind::U32,
        "occupied spaces at the end of the window, total − min(free, total); null while closed",
    ),
    Column::optional(
        out::OCCUPANCY_PCT,
        Kind::F64,
        "occupancy at the end of the window, percent; null while closed",
    ),
    Column::optional(
        out::OCCUPANCY_MEAN_PCT,
        Kind::F64,
        "time-weighted mean occupancy over the window, percent",
    ),
    Column::required(
        out::FREE_MIN,
        Kind::U32,
        "fewest free spaces observed in the window while open (0 if closed throughout)",
    ),
    Column::optional(
        out::STATUS,
        Kind::Text,
        "status at the end of the window (`spacesAvailable`, `almostFull`, `full`, `closed`); \
         `closed` when the operator reports the facility closed or every spot of a zone is closed",
    ),
    Column::optional(
        out::TREND,
        Kind::Text,
        "occupancy trend at the end of the window (`stable`, `increasing`, `decreasing`)",
    ),
    Column::optional(
        out::ENTRIES,
        Kind::U64,
        "vehicles in, summed over the counts reporting it",
    ),
    Column::optional(
        out::EXITS,
        Kind::U64,
        "vehicles out, summed over the counts reporting it",
    ),
    Column::optional(
        out::SESSIONS_ENDED,
        Kind::U32,
        "spot sessions that ended (null for counted car parks)",
    ),
    Column::optional(
        out::MEAN_DWELL_S,
        Kind::F64,
        "mean duration of the ended sessions with a seen start, s",
    ),
    Column::optional(out::TURNOVER, Kind::F64, "sessions ended per usable space"),
    // Added after the first release: old history files lack it and read it as null.
    Column::optional(
        out::OPENING_STATUS,
        Kind::Text,
        "opening status the newest count in the window stated (`open`, `closed`, `unknown`); \
         null when the feed states none; while `closed`, `occupied` and the occupancy are null",
    ),
];

/// Returns the schema of closed parking windows: [`COLUMNS`].
pub fn parking_window_schema() -> SchemaRef {
    static SCHEMA: std::sync::OnceLock<SchemaRef> = std::sync::OnceLock::new();
    SCHEMA
        .get_or_init(|| Arc::new(Schema::new(fields(COLUMNS))))
        .clone()
}
