//! Parking settings: feed cadence, staleness, trend and the status thresholds.

use std::time::Duration;

use super::{
    DEFAULT_ALMOST_FULL_DECREASING_PCT, DEFAULT_ALMOST_FULL_INCREASING_PCT, DEFAULT_FEED_INTERVAL,
    DEFAULT_FULL_DECREASING_PCT, DEFAULT_FULL_INCREASING_PCT, DEFAULT_TREND_THRESHOLD_PCT_PER_H,
    DEFAULT_TREND_WINDOW, STALE_AFTER_INTERVALS,
};

/// Parking-specific settings.
#[derive(Debug, Clone, PartialEq)]
pub struct ParkingConfig {
    /// How often facilities and spot sensors are expected to report (or re-assert their
    /// state by heartbeat), > 0.
    pub feed_interval: Duration,
    /// A facility without a report for this long is shown as stale and left out of the
    /// city totals: the explicit `stale_after` if set, else 3 × `feed_interval`; never
    /// shorter than `feed_interval`.
    pub stale_after: Duration,
    /// Event time over which the occupancy trend is fitted, >= `feed_interval`.
    pub trend_window: Duration,
    /// Slope (percentage points of occupancy per hour) beyond which the trend is
    /// `increasing` or `decreasing` rather than `stable`; finite, > 0.
    pub trend_threshold_pct_per_h: f64,
    /// Occupancy thresholds of the status (DATEX II `ParkingThresholds`).
    pub thresholds: ParkingThresholds,
}

impl Default for ParkingConfig {
    fn default() -> Self {
        Self {
            feed_interval: DEFAULT_FEED_INTERVAL,
            stale_after: DEFAULT_FEED_INTERVAL * STALE_AFTER_INTERVALS,
            trend_window: DEFAULT_TREND_WINDOW,
            trend_threshold_pct_per_h: DEFAULT_TREND_THRESHOLD_PCT_PER_H,
            thresholds: ParkingThresholds::default(),
        }
    }
}

/// Occupancy percentages at which a facility's status changes, as in DATEX II
/// `ParkingThresholds`: a status is entered when occupancy rises to its `*_increasing`
/// threshold and left when it falls below its `*_decreasing` one, so a car park hovering
/// around a threshold does not make the guidance signs flicker.
///
/// Validated: each in (0, 100]; each `*_decreasing` below its `*_increasing`;
/// `almost_full_*` below the matching `full_*`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ParkingThresholds {
    /// `spacesAvailable` → `almostFull` at this occupancy or more, percent.
    pub almost_full_increasing_pct: f64,
    /// `almostFull` → `spacesAvailable` below this occupancy, percent.
    pub almost_full_decreasing_pct: f64,
    /// → `full` at this occupancy or more, percent.
    pub full_increasing_pct: f64,
    /// `full` → `almostFull` below this occupancy, percent.
    pub full_decreasing_pct: f64,
}

impl Default for ParkingThresholds {
    fn default() -> Self {
        Self {
            almost_full_increasing_pct: DEFAULT_ALMOST_FULL_INCREASING_PCT,
            almost_full_decreasing_pct: DEFAULT_ALMOST_FULL_DECREASING_PCT,
            full_increasing_pct: DEFAULT_FULL_INCREASING_PCT,
            full_decreasing_pct: DEFAULT_FULL_DECREASING_PCT,
        }
    }
}
