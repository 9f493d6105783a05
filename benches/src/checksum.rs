//! The checksum of the peer harness (`shared/bench/common.py`) over the pipeline's closed
//! traffic windows, so results can be compared across engines.

use arrow_array::{Array, Float64Array, UInt32Array, UInt64Array};
use stadtpuls_ingest::{IngestError, Result};
use stadtpuls_processing::window::ClosedWindows;
use stadtpuls_processing::window::traffic::out;

/// The peer harness checksum over (city, sensor, 1-minute window) result rows:
/// `Σ cnt + sum_vc + sum_heavy + round(10·max_occ) + round(10·avg_speed·cnt)`.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Checksum {
    /// Result rows.
    pub rows: u64,
    /// Σ cnt: observations in results (less than the input when events were dropped as late).
    pub cnt_total: u64,
    /// Σ vehicles.
    pub sum_vc: u64,
    /// Σ heavy vehicles.
    pub sum_heavy: u64,
    /// Σ round(10·max occupancy).
    pub sum_occ10: i64,
    /// Σ round(10·mean speed·cnt).
    pub sum_speed10: i64,
}

impl Checksum {
    /// Adds the rows of closed traffic windows.
    ///
    /// # Errors
    /// When the batch is not a closed-traffic-window batch (a bug).
    pub fn add(&mut self, closed: &ClosedWindows) -> Result<()> {
        let b = &closed.batch;
        let col = |name: &str| b.column_by_name(name).ok_or_else(|| missing(name));
        let cnt = col(out::OBSERVATIONS)?
            .as_any()
            .downcast_ref::<UInt32Array>()
            .ok_or_else(|| missing(out::OBSERVATIONS))?;
        let vc = col(out::VEHICLES)?
            .as_any()
            .downcast_ref::<UInt64Array>()
            .ok_or_else(|| missing(out::VEHICLES))?;
        let heavy = col(out::HEAVY_VEHICLES)?
            .as_any()
            .downcast_ref::<UInt64Array>()
            .ok_or_else(|| missing(out::HEAVY_VEHICLES))?;
        let occ = col(out::OCCUPANCY_MAX_PCT)?
            .as_any()
            .downcast_ref::<Float64Array>()
            .ok_or_else(|| missing(out::OCCUPANCY_MAX_PCT))?;
        let speed = col(out::SPEED_REPORTED_MEAN_KMH)?
            .as_any()
            .downcast_ref::<Float64Array>()
            .ok_or_else(|| missing(out::SPEED_REPORTED_MEAN_KMH))?;
        for i in 0..b.num_rows() {
            let n = u64::from(cnt.value(i));
            self.rows += 1;
            self.cnt_total += n;
            self.sum_vc += vc.value(i);
            self.sum_heavy += if heavy.is_valid(i) { heavy.value(i) } else { 0 };
            // Python's and Arrow's round() break ties to even; match them exactly.
            if occ.is_valid(i) {
                self.sum_occ10 += (10.0 * occ.value(i)).round_ties_even() as i64;
            }
            if speed.is_valid(i) {
                self.sum_speed10 += (10.0 * speed.value(i) * n as f64).round_ties_even() as i64;
            }
        }
        Ok(())
    }

    /// The checksum.
    pub fn value(&self) -> i64 {
        (self.cnt_total + self.sum_vc + self.sum_heavy) as i64 + self.sum_occ10 + self.sum_speed10
    }
}

fn missing(name: &str) -> IngestError {
    IngestError::Processing(stadtpuls_processing::ProcessingError::Schema(format!(
        "closed window column `{name}` missing"
    )))
}
