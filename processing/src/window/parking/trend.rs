//! Occupancy trend: least-squares slope over a short ring of recent readings.

use crate::formulas;
use crate::time::EventTime;

/// Direction of occupancy, as DATEX II `parkingOccupancyTrend` names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Trend {
    /// The slope is within ± the threshold.
    Stable,
    /// Filling up at the threshold or faster.
    Increasing,
    /// Emptying at the threshold or faster.
    Decreasing,
}

impl Trend {
    /// The DATEX II name: `stable`, `increasing`, `decreasing`.
    pub fn as_str(self) -> &'static str {
        match self {
            Trend::Stable => "stable",
            Trend::Increasing => "increasing",
            Trend::Decreasing => "decreasing",
        }
    }

    /// Classifies a slope in percentage points per hour: `≥ +threshold` increasing,
    /// `≤ −threshold` decreasing, else stable.
    ///
    /// ```
    /// use stadtpuls_processing::window::parking::Trend;
    /// assert_eq!(Trend::from_slope(5.0, 5.0), Trend::Increasing);
    /// assert_eq!(Trend::from_slope(-4.9, 5.0), Trend::Stable);
    /// ```
    pub fn from_slope(slope_pct_per_h: f64, threshold_pct_per_h: f64) -> Self {
        if slope_pct_per_h >= threshold_pct_per_h {
            Trend::Increasing
        } else if slope_pct_per_h <= -threshold_pct_per_h {
            Trend::Decreasing
        } else {
            Trend::Stable
        }
    }
}

/// Readings kept per trend window: at most one per `window / TREND_SLOTS` slot, so a spot
/// zone whose level changes every few seconds keeps ~30 samples, not thousands.
const TREND_SLOTS: i64 = 30;

/// Recent (event time, occupancy %) readings of one facility, oldest first.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub(crate) struct TrendSamples {
    samples: Vec<(EventTime, f64)>,
}

impl TrendSamples {
    /// Adds a reading and drops those older than `window_ms` before it. A reading in the
    /// same slot as the newest replaces it (the slot keeps its latest level); one older
    /// than the newest is ignored, as the live level ignores it.
    pub(crate) fn push(&mut self, ts: EventTime, occupancy_pct: f64, window_ms: i64) {
        let slot_ms = (window_ms / TREND_SLOTS).max(1);
        match self.samples.last_mut() {
            Some(last) if ts < last.0 => return,
            Some(last) if last.0.div_euclid(slot_ms) == ts.div_euclid(slot_ms) => {
                *last = (ts, occupancy_pct);
            }
            _ => self.samples.push((ts, occupancy_pct)),
        }
        let horizon = ts - window_ms;
        let stale = self.samples.iter().take_while(|s| s.0 < horizon).count();
        self.samples.drain(..stale);
    }

    /// Forgets every reading: occupancy became undefined (closed, capacity unknown), so
    /// the series before and after does not form one line.
    pub(crate) fn clear(&mut self) {
        self.samples.clear();
    }

    /// Returns the trend and slope (percentage points per hour) of the readings, or
    /// `None` while they span less than half the window: two readings seconds apart
    /// would turn a single car into a steep trend.
    pub(crate) fn estimate(
        &self,
        window_ms: i64,
        threshold_pct_per_h: f64,
    ) -> Option<(Trend, f64)> {
        let (first, last) = (self.samples.first()?, self.samples.last()?);
        if (last.0 - first.0) * 2 < window_ms {
            return None;
        }
        let slope = formulas::occupancy_slope_pct_per_h(&self.samples)?;
        Some((Trend::from_slope(slope, threshold_pct_per_h), slope))
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.samples.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const T0: i64 = 1_795_478_400_000;
    const MIN: i64 = 60_000;
    const WINDOW: i64 = 15 * MIN;

    /// Same readings as `formulas::tests::hand_worked_occupancy_slope`: 25.2 %/h.
    #[test]
    fn rising_car_park_is_increasing() {
        let mut ring = TrendSamples::default();
        for (i, occ) in [60.0, 62.0, 65.0, 66.0].into_iter().enumerate() {
            ring.push(T0 + i as i64 * 5 * MIN, occ, WINDOW);
        }
        let (trend, slope) = ring.estimate(WINDOW, 5.0).unwrap_or((Trend::Stable, 0.0));
        assert_eq!(trend, Trend::Increasing);
        assert!((slope - 25.2).abs() < 1e-9, "{slope}");
    }

    /// (0, 60), (5, 60.5), (10, 60.5), (15, 61): ȳ = 60.5, Σ dt·dy = 3.75 + 3.75 = 7.5,
    /// Σ dt² = 125 → 0.06 %/min = 3.6 %/h, inside ±5 %/h.
    #[test]
    fn slow_drift_is_stable() {
        let mut ring = TrendSamples::default();
        for (i, occ) in [60.0, 60.5, 60.5, 61.0].into_iter().enumerate() {
            ring.push(T0 + i as i64 * 5 * MIN, occ, WINDOW);
        }
        let (trend, slope) = ring
            .estimate(WINDOW, 5.0)
            .unwrap_or((Trend::Increasing, 0.0));
        assert_eq!(trend, Trend::Stable);
        assert!((slope - 3.6).abs() < 1e-9, "{slope}");
    }

    #[test]
    fn too_short_a_span_has_no_trend_and_old_readings_drop_out() {
        let mut ring = TrendSamples::default();
        ring.push(T0, 50.0, WINDOW);
        ring.push(T0 + MIN, 70.0, WINDOW);
        assert_eq!(
            ring.estimate(WINDOW, 5.0),
            None,
            "one minute of a 15-minute window"
        );
        ring.push(T0 + 16 * MIN + 1, 40.0, WINDOW);
        assert_eq!(
            ring.len(),
            1,
            "both earlier readings are older than 15 minutes"
        );
        // falling 30 points in 10 minutes
        ring.push(T0 + 26 * MIN + 1, 10.0, WINDOW);
        let trend = ring.estimate(WINDOW, 5.0).map(|(t, _)| t);
        assert_eq!(trend, Some(Trend::Decreasing));
        ring.push(T0, 99.0, WINDOW);
        assert_eq!(ring.len(), 2, "an older reading is ignored");
    }

    #[test]
    fn one_sample_per_slot_bounds_the_ring() {
        let mut ring = TrendSamples::default();
        // a busy spot zone: a change every 5 s for 15 minutes
        for i in 0..180 {
            ring.push(T0 + i * 5_000, 50.0 + (i % 3) as f64, WINDOW);
        }
        assert!(ring.len() <= TREND_SLOTS as usize + 1, "{}", ring.len());
        ring.clear();
        assert_eq!(ring.estimate(WINDOW, 5.0), None);
    }
}
