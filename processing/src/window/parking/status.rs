//! Facility status with hysteresis, as a parking guidance sign shows it.

use stadtpuls_config::ParkingThresholds;

/// Status of a facility: DATEX II `ParkingSiteStatusEnum` values plus `closed`.
///
/// Ordered by how full: `SpacesAvailable < AlmostFull < Full`; `Closed` stands apart.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
pub enum ParkingStatus {
    /// Below the `almostFull` thresholds.
    SpacesAvailable,
    /// Between the `almostFull` and `full` thresholds.
    AlmostFull,
    /// At or above the `full` thresholds.
    Full,
    /// Admits nobody: the operator reports the facility closed (its opening status), or
    /// every spot sensor of the zone reports `closed`.
    Closed,
}

impl ParkingStatus {
    /// The DATEX II name: `spacesAvailable`, `almostFull`, `full`, `closed`.
    pub fn as_str(self) -> &'static str {
        match self {
            ParkingStatus::SpacesAvailable => "spacesAvailable",
            ParkingStatus::AlmostFull => "almostFull",
            ParkingStatus::Full => "full",
            ParkingStatus::Closed => "closed",
        }
    }
}

/// Returns the status after a reading of `occupancy_pct` with usable capacity `total`,
/// given the status before it (DATEX II `ParkingThresholds` semantics).
///
/// - `total = 0` → `closed`. Only spot zones get there (every spot `closed`); a counted
///   car park reporting `total_spaces: 0` is refused at validation, since a count of zero
///   spaces is more often a broken counter than a closure.
/// - Unknown occupancy (no capacity known) → `None`: no status rather than a guess.
/// - Rising: a status is entered when occupancy reaches its `*_increasing` threshold
///   (`≥ full_increasing` → full, else `≥ almost_full_increasing` → almostFull).
/// - Falling: it is left only when occupancy drops below its `*_decreasing` threshold
///   (`< almost_full_decreasing` → spacesAvailable, else `< full_decreasing` →
///   almostFull). In between, the previous status holds.
/// - Without a previous status (first reading, or after `closed`) the reading is
///   classified by the rising thresholds alone.
///
/// ```
/// use stadtpuls_config::ParkingThresholds;
/// use stadtpuls_processing::window::parking::{ParkingStatus, next_status};
/// let t = ParkingThresholds::default(); // 90/85, 98/95
/// let s = next_status(None, Some(100), Some(92.0), &t);
/// assert_eq!(s, Some(ParkingStatus::AlmostFull));
/// // 87 % is inside the 85–90 band: almostFull holds on the way down
/// assert_eq!(next_status(s, Some(100), Some(87.0), &t), s);
/// ```
pub fn next_status(
    previous: Option<ParkingStatus>,
    total: Option<u32>,
    occupancy_pct: Option<f64>,
    t: &ParkingThresholds,
) -> Option<ParkingStatus> {
    if total == Some(0) {
        return Some(ParkingStatus::Closed);
    }
    let occupancy = occupancy_pct?;
    let rising = if occupancy >= t.full_increasing_pct {
        ParkingStatus::Full
    } else if occupancy >= t.almost_full_increasing_pct {
        ParkingStatus::AlmostFull
    } else {
        ParkingStatus::SpacesAvailable
    };
    let falling = if occupancy < t.almost_full_decreasing_pct {
        ParkingStatus::SpacesAvailable
    } else if occupancy < t.full_decreasing_pct {
        ParkingStatus::AlmostFull
    } else {
        ParkingStatus::Full
    };
    let current = match previous {
        None | Some(ParkingStatus::Closed) => return Some(rising),
        Some(status) => status,
    };
    // Validation keeps every *_decreasing below its *_increasing and almost_full below
    // full, so a reading cannot both raise and lower the current status.
    Some(if rising > current {
        rising
    } else if falling < current {
        falling
    } else {
        current
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use ParkingStatus::{AlmostFull, Closed, Full, SpacesAvailable};

    /// Defaults 90/85 (almostFull) and 98/95 (full), a car park of 100 spaces filling
    /// up, hovering, emptying, closing and reopening.
    #[test]
    fn hysteresis_sequence_with_default_thresholds() {
        let t = ParkingThresholds::default();
        let readings: [(Option<u32>, Option<f64>, Option<ParkingStatus>); 16] = [
            (Some(100), Some(80.0), Some(SpacesAvailable)),
            (Some(100), Some(89.9), Some(SpacesAvailable)), // below 90: not yet
            (Some(100), Some(90.0), Some(AlmostFull)),      // reaches 90
            (Some(100), Some(87.0), Some(AlmostFull)),      // in the 85–90 band: holds
            (Some(100), Some(84.9), Some(SpacesAvailable)), // below 85: left
            (Some(100), Some(86.0), Some(SpacesAvailable)), // band again, from below
            (Some(100), Some(99.0), Some(Full)),            // jumps straight to full
            (Some(100), Some(96.0), Some(Full)),            // in the 95–98 band: holds
            (Some(100), Some(94.0), Some(AlmostFull)),      // below 95
            (Some(100), Some(97.0), Some(AlmostFull)),      // below 98: not full again
            (Some(100), Some(98.0), Some(Full)),            // reaches 98
            (Some(100), Some(50.0), Some(SpacesAvailable)), // falls through both
            (Some(0), None, Some(Closed)),                  // every spot closed
            (Some(100), Some(96.0), Some(AlmostFull)),      // reopened: rising rule only
            (None, None, None),                             // capacity unknown
            (Some(100), Some(86.0), Some(SpacesAvailable)), // no status to hold
        ];
        let mut status = None;
        for (i, (total, occupancy, expected)) in readings.into_iter().enumerate() {
            status = next_status(status, total, occupancy, &t);
            assert_eq!(status, expected, "reading {i}: {occupancy:?}");
        }
    }

    #[test]
    fn custom_thresholds_move_the_bands() {
        let t = ParkingThresholds {
            almost_full_increasing_pct: 70.0,
            almost_full_decreasing_pct: 60.0,
            full_increasing_pct: 90.0,
            full_decreasing_pct: 80.0,
        };
        let s = next_status(None, Some(10), Some(70.0), &t);
        assert_eq!(s, Some(AlmostFull));
        assert_eq!(next_status(s, Some(10), Some(60.0), &t), Some(AlmostFull));
        assert_eq!(
            next_status(s, Some(10), Some(50.0), &t),
            Some(SpacesAvailable)
        );
        assert_eq!(AlmostFull.as_str(), "almostFull");
    }
}
