//! The traffic accumulator: per sensor (or lane) and window, the running sums behind
//! counts, flow, speeds and occupancy, and how a row folds into them. The operator that
//! drives it is `crate::engine::traffic`; the rows it becomes, `emit.rs`.

use arrow_array::{Array, Float64Array, RecordBatch, UInt8Array, UInt32Array};

use crate::Result;
use crate::error::column;
use crate::model::traffic::col;

pub(crate) mod emit;

pub use emit::{out, traffic_aggregate_schema, traffic_window_schema};

/// Running sums of one sensor in one window.
///
/// Held once per open (sensor, window), so kept to 112 bytes (a test holds it there): sums
/// stay as wide as a window can make them (u64, f64 — the results are exact, not
/// approximated), counts are u32, and whether any report carried a heavy-vehicle count is
/// a bit of `lane_mask` rather than a count of its own. Snapshots keep the field layout of
/// before ([`SavedAcc`]).
#[derive(Debug, Default, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(from = "SavedAcc", into = "SavedAcc")]
pub(crate) struct TrafficAcc {
    observations: u32,
    /// Bit `l` set when lane `l` reported (0 = cross-section total; lanes are at most
    /// [`MAX_LANE`](crate::model::traffic::MAX_LANE)), and [`HEAVY_REPORTED`].
    lane_mask: u32,
    vehicles: u64,
    interval_s_sum: u64,
    /// The part of `interval_s_sum` from cross-section (lane 0) reports, which cover every
    /// lane: completeness weights it by the registered lane count.
    cross_section_s: u64,
    heavy: u64,
    vehicles_classified: u64,
    /// Σ nᵢ·vᵢ over intervals with speed.
    speed_weighted: f64,
    /// Σ nᵢ/vᵢ over intervals with speed.
    speed_inverse: f64,
    vehicles_with_speed: u64,
    /// Σ vᵢ and the number of intervals with speed, unweighted.
    speed_sum: f64,
    speed_n: u32,
    /// Σ vᵢ² over the same intervals (their spread, `formulas::speed_stddev_kmh`).
    speed_sq_sum: f64,
    occupancy_sum: f64,
    occupancy_n: u32,
    occupancy_max: f64,
}

/// The bit of [`TrafficAcc::lane_mask`] set once a report carried a heavy-vehicle count
/// (then `heavy` is a sum, even of zeros; else the window has no heavy figure).
const HEAVY_REPORTED: u32 = 1 << 31;
/// The lane bits of [`TrafficAcc::lane_mask`].
const LANE_BITS: u32 = (1 << LANE_SLOTS) - 1;

impl TrafficAcc {
    /// Number of lanes (or the cross-section) that reported.
    pub(crate) fn lanes_reporting(&self) -> u32 {
        (self.lane_mask & LANE_BITS).count_ones()
    }

    /// Σ heavy vehicles, if any report carried a count.
    pub(crate) fn heavy(&self) -> Option<u64> {
        (self.lane_mask & HEAVY_REPORTED != 0).then_some(self.heavy)
    }
}

/// [`TrafficAcc`] as snapshots hold it: the layout before the heavy-report count became a
/// bit, so snapshots written by either version restore in the other.
#[derive(serde::Serialize, serde::Deserialize)]
struct SavedAcc {
    observations: u32,
    lane_mask: u32,
    vehicles: u64,
    interval_s_sum: u64,
    cross_section_s: u64,
    heavy: u64,
    heavy_reports: u32,
    vehicles_classified: u64,
    speed_weighted: f64,
    speed_inverse: f64,
    vehicles_with_speed: u64,
    speed_sum: f64,
    speed_n: u32,
    speed_sq_sum: f64,
    occupancy_sum: f64,
    occupancy_n: u32,
    occupancy_max: f64,
}

impl From<SavedAcc> for TrafficAcc {
    fn from(s: SavedAcc) -> Self {
        let heavy = if s.heavy_reports > 0 {
            HEAVY_REPORTED
        } else {
            0
        };
        Self {
            observations: s.observations,
            lane_mask: (s.lane_mask & LANE_BITS) | heavy,
            vehicles: s.vehicles,
            interval_s_sum: s.interval_s_sum,
            cross_section_s: s.cross_section_s,
            heavy: s.heavy,
            vehicles_classified: s.vehicles_classified,
            speed_weighted: s.speed_weighted,
            speed_inverse: s.speed_inverse,
            vehicles_with_speed: s.vehicles_with_speed,
            speed_sum: s.speed_sum,
            speed_n: s.speed_n,
            speed_sq_sum: s.speed_sq_sum,
            occupancy_sum: s.occupancy_sum,
            occupancy_n: s.occupancy_n,
            occupancy_max: s.occupancy_max,
        }
    }
}

impl From<TrafficAcc> for SavedAcc {
    fn from(a: TrafficAcc) -> Self {
        Self {
            observations: a.observations,
            lane_mask: a.lane_mask & LANE_BITS,
            vehicles: a.vehicles,
            interval_s_sum: a.interval_s_sum,
            cross_section_s: a.cross_section_s,
            heavy: a.heavy,
            heavy_reports: u32::from(a.lane_mask & HEAVY_REPORTED != 0),
            vehicles_classified: a.vehicles_classified,
            speed_weighted: a.speed_weighted,
            speed_inverse: a.speed_inverse,
            vehicles_with_speed: a.vehicles_with_speed,
            speed_sum: a.speed_sum,
            speed_n: a.speed_n,
            speed_sq_sum: a.speed_sq_sum,
            occupancy_sum: a.occupancy_sum,
            occupancy_n: a.occupancy_n,
            occupancy_max: a.occupancy_max,
        }
    }
}

/// Column views of a traffic batch, borrowed once per batch.
pub(crate) struct Columns<'a> {
    pub(crate) lane: &'a UInt8Array,
    interval_s: &'a UInt32Array,
    vehicles: &'a UInt32Array,
    heavy: &'a UInt32Array,
    speed: &'a Float64Array,
    occupancy: &'a Float64Array,
}

impl<'a> Columns<'a> {
    pub(crate) fn of(batch: &'a RecordBatch) -> Result<Self> {
        Ok(Self {
            lane: column(batch, col::LANE)?,
            interval_s: column(batch, col::INTERVAL_S)?,
            vehicles: column(batch, col::VEHICLE_COUNT)?,
            heavy: column(batch, col::HEAVY_VEHICLE_COUNT)?,
            speed: column(batch, col::AVG_SPEED_KMH)?,
            occupancy: column(batch, col::OCCUPANCY_PCT)?,
        })
    }

    pub(crate) fn fold(&self, acc: &mut TrafficAcc, row: usize) {
        let n = u64::from(self.vehicles.value(row));
        let lane = self.lane.value(row);
        let interval_s = u64::from(self.interval_s.value(row));
        acc.observations += 1;
        acc.lane_mask |= (1u32 << (lane & 31)) & LANE_BITS;
        acc.vehicles += n;
        acc.interval_s_sum += interval_s;
        if lane == 0 {
            acc.cross_section_s += interval_s;
        }
        if self.heavy.is_valid(row) {
            acc.heavy += u64::from(self.heavy.value(row));
            acc.lane_mask |= HEAVY_REPORTED;
            acc.vehicles_classified += n;
        }
        if self.speed.is_valid(row) {
            let v = self.speed.value(row);
            acc.speed_sum += v;
            acc.speed_sq_sum += v * v;
            acc.speed_n += 1;
            if n > 0 {
                let nf = n as f64;
                acc.speed_weighted += nf * v;
                acc.speed_inverse += nf / v;
                acc.vehicles_with_speed += n;
            }
        }
        if self.occupancy.is_valid(row) {
            let occ = self.occupancy.value(row);
            acc.occupancy_sum += occ;
            acc.occupancy_max = if acc.occupancy_n == 0 {
                occ
            } else {
                acc.occupancy_max.max(occ)
            };
            acc.occupancy_n += 1;
        }
    }
}

/// Lane numbers per sensor in the per-lane key space (lanes 0..=16).
pub const LANE_SLOTS: u32 = 17;

/// The per-lane key of `lane` of `sensor`.
pub(crate) fn lane_key(sensor: u32, lane: u8) -> u32 {
    sensor * LANE_SLOTS + u32::from(lane)
}

/// The sensor and lane (0 for cross-section windows) of an operator key.
pub(crate) fn split_key(key: u32, per_lane: bool) -> (u32, u8) {
    if per_lane {
        (key / LANE_SLOTS, (key % LANE_SLOTS) as u8)
    } else {
        (key, 0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::{Catalog, UnknownSensors};
    use crate::model::TimeBounds;
    use crate::model::traffic::{TrafficBatch, TrafficBatchBuilder, TrafficObservation};

    const T0: i64 = 1_795_478_400_000;
    const MIN: i64 = 60_000;

    /// One 1-minute window of a two-lane sensor, 30-s intervals: lane 1 at 50 and 60 km/h,
    /// lane 2 at 40 and 30 km/h, and a lane-2 report without a speed (not in the sample).
    const REPORTS: [(i64, i64, i64, Option<f64>); 5] = [
        (1, 30_000, 10, Some(50.0)),
        (2, 30_000, 20, Some(40.0)),
        (1, MIN, 12, Some(60.0)),
        (2, MIN, 18, Some(30.0)),
        (2, MIN, 5, None),
    ];

    /// A batch of `reports` (lane, offset from T0, vehicles, speed) of sensor `s1`.
    fn batch(reports: &[(i64, i64, i64, Option<f64>)]) -> (Catalog, TrafficBatch) {
        let mut catalog = Catalog::with_cities(&["ulm"], UnknownSensors::Admit);
        let mut builder = TrafficBatchBuilder::default();
        for &(lane, at, n, speed) in reports {
            let obs = TrafficObservation {
                city: "ulm",
                sensor_id: "s1",
                lane,
                ts: T0 + at,
                interval_s: 30,
                vehicle_count: n,
                heavy_vehicle_count: None,
                avg_speed_kmh: speed,
                occupancy_pct: None,
            };
            let bounds = TimeBounds {
                now: T0 + MIN,
                max_future_ms: 0,
            };
            assert!(builder.push(&mut catalog, None, &obs, bounds).is_ok());
        }
        let batch = builder.finish(&catalog).expect("a traffic batch");
        (catalog, batch)
    }

    /// The memory budget of issue #16: an accumulator of at most 112 bytes, and at most
    /// 128 bytes of window state per open (sensor, window) — key index, accumulators,
    /// emission state and spare capacity — with the reference workload's shape at its
    /// peak: 18,000 sensors, one window complete and the next half full.
    #[test]
    fn window_state_stays_within_128_bytes_per_open_window() {
        use crate::window::slab::{Lateness, Shape, Windows};
        assert!(
            std::mem::size_of::<TrafficAcc>() <= 112,
            "TrafficAcc is {} bytes",
            std::mem::size_of::<TrafficAcc>()
        );
        let sensors = 18_000u32;
        let shape = Shape {
            size_ms: MIN,
            slide_ms: MIN,
        };
        let mut windows: Windows<TrafficAcc> = Windows::new(&[shape], 0, 0);
        let keys: Vec<u32> = (0..sensors).chain(0..sensors / 2).collect();
        let ts: Vec<i64> = (0..sensors)
            .map(|_| T0)
            .chain((0..sensors / 2).map(|_| T0 + MIN))
            .collect();
        windows.update(
            &ts,
            &keys,
            sensors as usize,
            Lateness::default(),
            |acc, _| acc.observations += 1,
        );
        let open = windows.open_states();
        assert_eq!(open, 27_000);
        let per_open = windows.state_bytes() as f64 / open as f64;
        assert!(per_open <= 128.0, "{per_open:.1} bytes per open window");
    }

    /// Σv = 180, Σv² = 2500 + 1600 + 3600 + 900 = 8600 over n = 4 intervals with a speed:
    /// s = √((8600 − 180²/4) / 3) = √(500/3) = 12.91 km/h. Per lane: 50, 60 and 40, 30 →
    /// √((25 + 25) / 1) = 7.07 km/h each.
    #[test]
    fn a_window_folds_the_sums_of_its_speed_spread() {
        let (_, reports) = batch(&REPORTS);
        let columns = Columns::of(reports.record_batch()).expect("columns");
        let mut acc = TrafficAcc::default();
        for row in 0..reports.record_batch().num_rows() {
            columns.fold(&mut acc, row);
        }
        assert_eq!(
            (acc.speed_sum, acc.speed_sq_sum, acc.speed_n),
            (180.0, 8600.0, 4)
        );
    }
}
