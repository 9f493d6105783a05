//! The columns of closed traffic windows (the `traffic_<window>` and
//! `traffic_lanes_<window>` tables and output streams).

use std::sync::Arc;

use arrow_schema::{Schema, SchemaRef};

use super::column::{Column, Kind, fields};

/// Names of the columns code refers to by name; a measure only emitted and shown needs no
/// constant here, its line in [`AGGREGATE`] is enough.
pub mod out {
    /// City id.
    pub const CITY: &str = super::super::column::CITY;
    /// Sensor id.
    pub const SENSOR_ID: &str = "sensor_id";
    /// Window start.
    pub const WINDOW_START: &str = super::super::column::WINDOW_START;
    /// Window end.
    pub const WINDOW_END: &str = super::super::column::WINDOW_END;
    /// Observations folded in.
    pub const OBSERVATIONS: &str = "observations";
    /// Distinct lanes that reported.
    pub const LANES_REPORTING: &str = "lanes_reporting";
    /// Vehicles counted.
    pub const VEHICLES: &str = "vehicles";
    /// Flow, veh/h.
    pub const FLOW_VEH_H: &str = "flow_veh_h";
    /// Time-mean speed, km/h.
    pub const SPEED_TIME_MEAN_KMH: &str = "speed_time_mean_kmh";
    /// Space-mean speed, km/h.
    pub const SPEED_SPACE_MEAN_KMH: &str = "speed_space_mean_kmh";
    /// Unweighted mean of the reported interval speeds, km/h.
    pub const SPEED_REPORTED_MEAN_KMH: &str = "speed_reported_mean_kmh";
    /// Density, veh/km.
    pub const DENSITY_VEH_KM: &str = "density_veh_km";
    /// Mean detector occupancy, percent.
    pub const OCCUPANCY_PCT: &str = "occupancy_pct";
    /// Highest detector occupancy, percent.
    pub const OCCUPANCY_MAX_PCT: &str = "occupancy_max_pct";
    /// Heavy vehicles counted.
    pub const HEAVY_VEHICLES: &str = "heavy_vehicles";
    /// Heavy-vehicle share, percent.
    pub const HEAVY_SHARE_PCT: &str = "heavy_share_pct";
    /// Share of the expected counting intervals received, percent.
    pub const COMPLETENESS_PCT: &str = "completeness_pct";
    /// The lane of a per-lane window; null for the cross-section.
    pub const LANE: &str = "lane";
    /// Space-mean speed / free-flow speed (classifier).
    pub const SPEED_RATIO: &str = "speed_ratio";
    /// MARZ traffic state `Z1`…`Z4` (classifier).
    pub const TRAFFIC_STATE: &str = "traffic_state";
    /// State Z3 or Z4 (classifier).
    pub const CONGESTED: &str = "congested";
}

/// The columns [`TrafficWindowOperator`](crate::engine::TrafficWindowOperator)
/// emits, in order (`window/traffic/emit.rs` builds one array per line).
pub const AGGREGATE: &[Column] = &[
    Column::required(out::CITY, Kind::Text, "city id"),
    Column::required(out::SENSOR_ID, Kind::Text, "sensor id"),
    Column::required(
        out::WINDOW_START,
        Kind::Time,
        "window start (exclusive for interval-end timestamps)",
    ),
    Column::required(out::WINDOW_END, Kind::Time, "window end"),
    Column::required(
        out::OBSERVATIONS,
        Kind::U32,
        "observations (interval reports) folded in",
    ),
    Column::required(
        out::LANES_REPORTING,
        Kind::U8,
        "distinct lanes that reported",
    ),
    Column::required(out::VEHICLES, Kind::U64, "vehicles counted"),
    Column::optional(out::FLOW_VEH_H, Kind::F64, "flow, veh/h"),
    Column::optional(
        out::SPEED_TIME_MEAN_KMH,
        Kind::F64,
        "vehicle-weighted time-mean speed, km/h",
    ),
    Column::optional(
        out::SPEED_SPACE_MEAN_KMH,
        Kind::F64,
        "vehicle-weighted harmonic (space-mean) speed, km/h",
    ),
    Column::optional(
        out::SPEED_REPORTED_MEAN_KMH,
        Kind::F64,
        "unweighted mean of the reported interval speeds, km/h",
    ),
    Column::optional(
        "speed_stddev_kmh",
        Kind::F64,
        "sample standard deviation of the reported interval speeds (≥ 2 intervals), km/h",
    ),
    Column::optional(
        out::DENSITY_VEH_KM,
        Kind::F64,
        "density = flow / space-mean speed, veh/km",
    ),
    Column::optional(
        out::OCCUPANCY_PCT,
        Kind::F64,
        "mean detector occupancy, percent",
    ),
    Column::optional(
        out::OCCUPANCY_MAX_PCT,
        Kind::F64,
        "highest detector occupancy, percent",
    ),
    Column::optional(out::HEAVY_VEHICLES, Kind::U64, "heavy vehicles counted"),
    Column::optional(
        out::HEAVY_SHARE_PCT,
        Kind::F64,
        "heavy-vehicle share, percent",
    ),
    Column::required(
        out::COMPLETENESS_PCT,
        Kind::F64,
        "share of the expected counting intervals received, percent",
    ),
    Column::optional(
        out::LANE,
        Kind::U8,
        "the lane of a per-lane window; null for the cross-section",
    ),
];

/// The columns [`TrafficStateClassifier`](crate::window::traffic_state::TrafficStateClassifier)
/// appends to cross-section windows, because they depend on the sensor's previous window.
pub const CLASSIFIER: &[Column] = &[
    Column::optional(
        out::SPEED_RATIO,
        Kind::F64,
        "space-mean speed / free-flow speed",
    ),
    Column::optional(
        out::TRAFFIC_STATE,
        Kind::Text,
        "MARZ traffic state `Z1`…`Z4`",
    ),
    Column::optional(out::CONGESTED, Kind::Bool, "state Z3 or Z4"),
];

/// Returns the schema of closed traffic windows: what the pipeline publishes, the live
/// view reads and the `traffic_<size>` tables hold: [`AGGREGATE`] then [`CLASSIFIER`].
pub fn traffic_window_schema() -> SchemaRef {
    static SCHEMA: std::sync::OnceLock<SchemaRef> = std::sync::OnceLock::new();
    SCHEMA
        .get_or_init(|| {
            let mut all = fields(AGGREGATE);
            all.extend(fields(CLASSIFIER));
            Arc::new(Schema::new(all))
        })
        .clone()
}

/// Returns the schema the traffic window operator emits (and the per-lane tables hold):
/// [`AGGREGATE`], without the classifier's columns.
pub fn traffic_aggregate_schema() -> SchemaRef {
    static SCHEMA: std::sync::OnceLock<SchemaRef> = std::sync::OnceLock::new();
    SCHEMA
        .get_or_init(|| Arc::new(Schema::new(fields(AGGREGATE))))
        .clone()
}
