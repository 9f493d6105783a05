//! The parking operator: current state per facility, spot roll-ups, windowed summaries.
//!
//! Parking is a level, not a count: what matters is the latest free/total per facility,
//! its status (with hysteresis) and trend, and, per window, the last value, the minimum
//! free, the time-weighted mean occupancy, entries/exits and the parking sessions that
//! ended. Spot sensors roll up into their facility (an on-street zone): free = spots
//! reporting `free`; total = spots not `closed`. A spot that never reported, or reports
//! `unknown`, is counted in the total but not as free — the guidance sign must not
//! promise a space nobody has seen.
//!
//! Here: the settings, the level as the API shows it, and the parts of the operator — the
//! window accumulator (`acc.rs`, emitted by `emit.rs`), the levels of facilities and spots
//! (`levels.rs`). The operator that drives them is `crate::engine::parking`.

pub(crate) mod acc;
pub(crate) mod emit;
pub(crate) mod levels;
pub(crate) mod spots;
mod status;
mod trend;

use stadtpuls_config::{ParkingConfig, ParkingThresholds};

use crate::formulas;
use crate::model::parking::OpeningStatus;
use crate::time::{EventTime, ProcessingTime};
use crate::window::snapshot_fields::added_in_6;
pub use emit::{out, parking_window_schema};
pub use status::{ParkingStatus, next_status};
pub use trend::Trend;

/// Validated parking settings of the operator.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ParkingSpec {
    /// Event time over which the occupancy trend is fitted, ms.
    pub trend_window_ms: i64,
    /// Slope beyond which the trend is not `stable`, percentage points per hour.
    pub trend_threshold_pct_per_h: f64,
    /// Status thresholds.
    pub thresholds: ParkingThresholds,
}

impl ParkingSpec {
    /// Builds the spec from the validated config section.
    pub fn from_config(config: &ParkingConfig) -> Self {
        Self {
            trend_window_ms: config.trend_window.as_millis() as i64,
            trend_threshold_pct_per_h: config.trend_threshold_pct_per_h,
            thresholds: config.thresholds,
        }
    }
}

impl Default for ParkingSpec {
    fn default() -> Self {
        Self::from_config(&ParkingConfig::default())
    }
}

/// The current state of one facility.
///
/// A facility its operator reports `closed` ([`FacilityLive::with_opening`]) has 0 free
/// spaces, its capacity as known, **no occupied count and no occupancy**, and the status
/// `closed`. A traffic engineer reads a closed car park as "no entry", not as "full":
/// counting it 100 % occupied would raise the city's occupancy and trip full-status
/// alarms every night a car park shuts, and its last counts say nothing about how many
/// cars are still inside. Free = 0 keeps every sum of free spaces (guidance signs, the
/// city's totals) honest: a closed car park offers none.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct FacilityLive {
    /// Free spaces (0 while closed).
    pub free: u32,
    /// Usable capacity, when known.
    pub total: Option<u32>,
    /// Occupied spaces, `total − min(free, total)`, when the capacity is known and the
    /// facility is not closed.
    pub occupied: Option<u32>,
    /// Occupancy, percent, when the capacity is known and not zero and the facility is
    /// not closed.
    pub occupancy_pct: Option<f64>,
    /// Status with hysteresis; `closed` while the operator reports the facility closed
    /// (or every spot of a zone is closed); `None` while the occupancy is unknown.
    pub status: Option<ParkingStatus>,
    /// Occupancy trend; `None` until the readings span half the trend window.
    pub trend: Option<Trend>,
    /// Least-squares slope behind `trend`, percentage points per hour.
    pub trend_pct_per_h: Option<f64>,
    /// Event time of the newest observation, epoch ms UTC.
    pub updated_at: EventTime,
    /// The opening status the newest count stated; `None` when it stated none (read as
    /// open) or the level is a zone's spot roll-up.
    #[serde(default, deserialize_with = "added_in_6")]
    pub opening: Option<OpeningStatus>,
}

impl FacilityLive {
    /// A level with its derived occupancy; no status or trend yet.
    pub fn new(free: u32, total: Option<u32>, updated_at: EventTime) -> Self {
        Self {
            free,
            total,
            occupied: total.map(|t| formulas::parking_occupied(free, t)),
            occupancy_pct: total.and_then(|t| formulas::parking_occupancy_pct(free, t)),
            status: None,
            trend: None,
            trend_pct_per_h: None,
            updated_at,
            opening: None,
        }
    }

    /// The level with the opening status its count stated: `closed` makes it a closed
    /// level (0 free, no occupied count or occupancy, status `closed`; see the type's
    /// docs); open or unknown leave the counts as they are.
    ///
    /// ```
    /// use stadtpuls_processing::model::parking::OpeningStatus;
    /// use stadtpuls_processing::window::parking::{FacilityLive, ParkingStatus};
    /// let closed = FacilityLive::new(180, Some(180), 0).with_opening(Some(OpeningStatus::Closed));
    /// assert_eq!((closed.free, closed.total, closed.occupancy_pct), (0, Some(180), None));
    /// assert_eq!(closed.status, Some(ParkingStatus::Closed));
    /// assert!(closed.is_closed());
    /// ```
    pub fn with_opening(mut self, opening: Option<OpeningStatus>) -> Self {
        self.opening = opening;
        if opening == Some(OpeningStatus::Closed) {
            self.free = 0;
            self.occupied = None;
            self.occupancy_pct = None;
            self.status = Some(ParkingStatus::Closed);
        }
        self
    }

    /// Whether the facility admits nobody now: its operator reports it closed, or every
    /// spot of the zone is closed.
    pub fn is_closed(&self) -> bool {
        self.status == Some(ParkingStatus::Closed)
    }

    /// Whether the level is older than `stale_after_ms` at wall-clock time `now`.
    pub fn is_stale(&self, now: ProcessingTime, stale_after_ms: i64) -> bool {
        now - self.updated_at > stale_after_ms
    }
}
