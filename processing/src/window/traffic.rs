//! The traffic window operator: per sensor and window, counts, flow, speeds, occupancy.

use arrow_array::{
    Array, Float64Array, RecordBatch, TimestampMillisecondArray, UInt8Array, UInt32Array,
};

use crate::Result;
use crate::catalog::{Catalog, EntityKey};
use crate::error::column;
use crate::model::traffic::{TrafficBatch, col};
use crate::time::{ProcessingTime, Watermark};
use crate::window::owners::{NO_OWNER, Owners};
use crate::window::restore::{EntityId, IdTable, RestoreStats, resolve_traffic};
use crate::window::slab::{NONE, ShapeWindows, Windows};
use crate::window::watermark::{SourceId, WatermarkState, WatermarkTracker};
use crate::window::{ClosedWindows, ProcessStats, WindowShape, WindowSpec};

mod emit;

pub use emit::{out, traffic_aggregate_schema, traffic_window_schema};

/// Running sums of one sensor in one window.
#[derive(Debug, Default, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub(crate) struct TrafficAcc {
    observations: u32,
    /// Bit `l` set when lane `l` reported (0 = cross-section total).
    lane_mask: u32,
    vehicles: u64,
    interval_s_sum: u64,
    /// The part of `interval_s_sum` from cross-section (lane 0) reports, which cover every
    /// lane: completeness weights it by the registered lane count.
    cross_section_s: u64,
    heavy: u64,
    heavy_reports: u32,
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

/// Column views of a traffic batch, borrowed once per batch.
struct Columns<'a> {
    lane: &'a UInt8Array,
    interval_s: &'a UInt32Array,
    vehicles: &'a UInt32Array,
    heavy: &'a UInt32Array,
    speed: &'a Float64Array,
    occupancy: &'a Float64Array,
}

impl<'a> Columns<'a> {
    fn of(batch: &'a RecordBatch) -> Result<Self> {
        Ok(Self {
            lane: column(batch, col::LANE)?,
            interval_s: column(batch, col::INTERVAL_S)?,
            vehicles: column(batch, col::VEHICLE_COUNT)?,
            heavy: column(batch, col::HEAVY_VEHICLE_COUNT)?,
            speed: column(batch, col::AVG_SPEED_KMH)?,
            occupancy: column(batch, col::OCCUPANCY_PCT)?,
        })
    }

    fn fold(&self, acc: &mut TrafficAcc, row: usize) {
        let n = u64::from(self.vehicles.value(row));
        let lane = self.lane.value(row);
        let interval_s = u64::from(self.interval_s.value(row));
        acc.observations += 1;
        acc.lane_mask |= 1u32 << (lane & 31);
        acc.vehicles += n;
        acc.interval_s_sum += interval_s;
        if lane == 0 {
            acc.cross_section_s += interval_s;
        }
        if self.heavy.is_valid(row) {
            acc.heavy += u64::from(self.heavy.value(row));
            acc.heavy_reports += 1;
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

/// Aggregates traffic observations into event-time tumbling windows of every configured size.
#[derive(Debug)]
pub struct TrafficWindowOperator {
    /// Keys are (sensor, lane) pairs instead of sensors: per-lane windows.
    per_lane: bool,
    shapes: Vec<WindowShape>,
    windows: Windows<TrafficAcc>,
    watermarks: WatermarkTracker,
    /// The task owning each sensor's state (by sensor key, also for per-lane windows).
    owners: Owners,
}

/// The open state one task owns in a [`TrafficWindowOperator`] (see [`crate::snapshot`]).
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct TrafficSnapshot {
    sensors: Vec<EntityId>,
    /// Entries: (index into `sensors`, lane or 0, accumulator).
    windows: Vec<ShapeWindows<(u32, u8, TrafficAcc)>>,
    watermark: WatermarkState,
}

impl TrafficSnapshot {
    /// Sensors with open state.
    pub fn entities(&self) -> usize {
        self.sensors.len()
    }
}

impl TrafficWindowOperator {
    /// Creates the operator from a validated window spec.
    pub fn new(spec: &WindowSpec) -> Self {
        Self {
            per_lane: false,
            shapes: spec.shapes.clone(),
            windows: Windows::new(
                &spec.shapes.iter().map(|s| s.slab()).collect::<Vec<_>>(),
                spec.timestamps.assign_offset_ms(),
                spec.allowed_lateness_ms,
            ),
            watermarks: WatermarkTracker::new(spec.out_of_orderness_ms, spec.idle_timeout_ms),
            owners: Owners::default(),
        }
    }

    /// Creates an operator that keeps one window per sensor *and lane*: lane reports
    /// (lane ≥ 1) are folded per lane, cross-section totals (lane 0) are left out.
    pub fn per_lane(spec: &WindowSpec) -> Self {
        Self {
            per_lane: true,
            ..Self::new(spec)
        }
    }

    /// Folds a batch from one source into the open windows.
    ///
    /// Lateness is judged against the operator watermark *before* the batch; the batch then
    /// advances its source's watermark. Call [`Self::advance`] afterwards to close windows.
    ///
    /// # Errors
    /// [`ProcessingError::Schema`](crate::ProcessingError::Schema) if the batch is not a traffic batch (a bug).
    pub fn process(
        &mut self,
        source: SourceId,
        now: ProcessingTime,
        batch: &TrafficBatch,
        key_count: usize,
    ) -> Result<ProcessStats> {
        let rb = batch.record_batch();
        let ts: &TimestampMillisecondArray = column(rb, col::TS)?;
        let columns = Columns::of(rb)?;
        self.watermarks.settle();
        let lateness = self.watermarks.lateness(source);
        let update = if self.per_lane {
            let sensor_keys = batch.sensor_keys().values();
            // Only lane rows hold state here: owners are recorded in the same pass. Rows
            // without a lane stay in (keyed `NONE`): they move the source's clock on for
            // the rows after them, as they do in the per-sensor operator.
            let mut owners = self.owners.prepare(key_count, source);
            let mut keys = Vec::with_capacity(rb.num_rows());
            for (row, &sensor) in sensor_keys.iter().enumerate() {
                let lane = columns.lane.value(row);
                if lane == 0 {
                    keys.push(NONE);
                    continue;
                }
                if let Some(owner) = owners
                    .as_deref_mut()
                    .and_then(|o| o.get_mut(sensor as usize))
                {
                    *owner = source;
                }
                keys.push(lane_key(sensor, lane));
            }
            self.windows.update(
                ts.values(),
                &keys,
                key_count * LANE_SLOTS as usize,
                lateness,
                |acc, row| columns.fold(acc, row),
            )
        } else {
            self.owners
                .record(batch.sensor_keys().values(), key_count, source);
            self.windows.update(
                ts.values(),
                batch.sensor_keys().values(),
                key_count,
                lateness,
                |acc, row| columns.fold(acc, row),
            )
        };
        if let Some(max) = arrow_arith_max(ts) {
            self.watermarks.observe(source, max, now);
        }
        Ok(ProcessStats::from_update(
            rb.num_rows(),
            &self.shapes,
            update,
        ))
    }

    /// Registers a source (partition) as soon as it is assigned, so it holds the watermark
    /// until it delivers or turns idle.
    pub fn add_source(&mut self, source: SourceId, now: ProcessingTime) {
        self.watermarks.register(source, now);
    }

    /// Marks a source alive without data (empty fetch).
    pub fn heartbeat(&mut self, source: SourceId, now: ProcessingTime) {
        self.watermarks.heartbeat(source, now);
    }

    /// Forgets a source (partition revoked).
    pub fn remove_source(&mut self, source: SourceId) {
        self.watermarks.remove(source);
    }

    /// The task owning the state of sensor `key`: the source that last fed it.
    pub fn owner(&self, key: EntityKey) -> Option<SourceId> {
        Some(self.owners.get(key)).filter(|&o| o != NO_OWNER)
    }

    /// The open state `source` owns: its sensors' windows and its watermark clock.
    pub fn snapshot(&self, source: SourceId, catalog: &Catalog) -> TrafficSnapshot {
        let per_lane = self.per_lane;
        let mut ids = IdTable::default();
        let windows = self.windows.export(|key, acc| {
            let (sensor, lane) = split_key(key, per_lane);
            if self.owners.get(sensor) != source {
                return None;
            }
            Some((ids.traffic(catalog, sensor)?, lane, *acc))
        });
        TrafficSnapshot {
            sensors: ids.into_ids(),
            windows,
            watermark: self.watermarks.export(source),
        }
    }

    /// Merges a snapshot of task `source` back at processing time `now`, resolving its
    /// sensors in `catalog` (re-admitting those admitted at run time).
    pub fn restore(
        &mut self,
        source: SourceId,
        snapshot: &TrafficSnapshot,
        catalog: &mut Catalog,
        now: ProcessingTime,
    ) -> RestoreStats {
        let keys = resolve_traffic(catalog, &snapshot.sensors);
        for key in keys.iter().flatten() {
            self.owners.set(*key, source);
        }
        let per_lane = self.per_lane;
        let key_count =
            catalog.traffic_sensors().len() * if per_lane { LANE_SLOTS as usize } else { 1 };
        let total: usize = snapshot
            .windows
            .iter()
            .flat_map(|s| &s.windows)
            .map(|w| w.entries.len())
            .sum();
        let restored = self
            .windows
            .import(&snapshot.windows, key_count, |&(i, lane, acc)| {
                let sensor = keys.get(i as usize).copied().flatten()?;
                Some((
                    if per_lane {
                        lane_key(sensor, lane)
                    } else {
                        sensor
                    },
                    acc,
                ))
            });
        self.watermarks.import(source, &snapshot.watermark, now);
        RestoreStats {
            restored,
            dropped: total - restored,
        }
    }

    /// Drops everything `source` owns (partition revoked, after its checkpoint).
    pub fn revoke(&mut self, source: SourceId) {
        let per_lane = self.per_lane;
        let owners = &self.owners;
        self.windows
            .retain(|key| owners.get(split_key(key, per_lane).0) != source);
        self.owners.forget(source);
        self.watermarks.remove(source);
    }

    /// Recomputes the watermark and returns every window it closed, as Arrow batches.
    ///
    /// # Errors
    /// Only if Arrow refuses the output columns (a bug).
    pub fn advance(
        &mut self,
        now: ProcessingTime,
        catalog: &Catalog,
    ) -> Result<Vec<ClosedWindows>> {
        let mut closed = Vec::new();
        self.advance_into(now, catalog, |c| {
            closed.push(c);
            Ok(())
        })?;
        Ok(closed)
    }

    /// Closes every open window (end of input).
    ///
    /// # Errors
    /// Only if Arrow refuses the output columns (a bug).
    pub fn finish(&mut self, catalog: &Catalog) -> Result<Vec<ClosedWindows>> {
        let mut closed = Vec::new();
        self.finish_into(catalog, |c| {
            closed.push(c);
            Ok(())
        })?;
        Ok(closed)
    }

    /// [`Self::advance`], handing each window to `sink` as soon as it is emitted: a replay
    /// closes thousands of small windows in one step, which the caller can merge as they
    /// come instead of holding them all (`ingest/src/pipeline/windows.rs`).
    ///
    /// # Errors
    /// Only if Arrow refuses the output columns (a bug), or `sink`'s error; the windows
    /// closed after it are dropped.
    pub fn advance_into(
        &mut self,
        now: ProcessingTime,
        catalog: &Catalog,
        sink: impl FnMut(ClosedWindows) -> Result<()>,
    ) -> Result<()> {
        let wm = self.watermarks.advance(now);
        self.close(wm, catalog, sink)
    }

    /// [`Self::finish`], handing each window to `sink` (see [`Self::advance_into`]).
    ///
    /// # Errors
    /// As [`Self::advance_into`].
    pub fn finish_into(
        &mut self,
        catalog: &Catalog,
        sink: impl FnMut(ClosedWindows) -> Result<()>,
    ) -> Result<()> {
        let wm = self.watermarks.finish();
        self.close(wm, catalog, sink)
    }

    /// The operator watermark.
    pub fn watermark(&self) -> Watermark {
        self.watermarks.current()
    }

    /// Number of open (sensor, window) states.
    pub fn open_states(&self) -> usize {
        self.windows.open_states()
    }

    /// Bytes of open window state: dense per-window arrays, so this counts the slots of
    /// sensors not seen in a window too.
    pub fn state_bytes(&self) -> usize {
        self.windows.state_bytes()
    }

    fn close(
        &mut self,
        wm: Watermark,
        catalog: &Catalog,
        mut sink: impl FnMut(ClosedWindows) -> Result<()>,
    ) -> Result<()> {
        let Some(t) = wm.time() else {
            return Ok(());
        };
        let per_lane = self.per_lane;
        let owners = &self.owners;
        let mut result = Ok(());
        self.windows.emit(t, |shape, start, revision, entries| {
            if result.is_ok() {
                result = emit::emit(shape, start, revision, entries, catalog, per_lane, owners)
                    .and_then(|closed| closed.into_iter().try_for_each(&mut sink));
            }
        });
        result
    }
}

/// Newest timestamp in the batch.
fn arrow_arith_max(ts: &TimestampMillisecondArray) -> Option<i64> {
    ts.values().iter().copied().max()
}

/// Lane numbers per sensor in the per-lane key space (lanes 0..=16).
pub const LANE_SLOTS: u32 = 17;

/// The per-lane key of `lane` of `sensor`.
fn lane_key(sensor: u32, lane: u8) -> u32 {
    sensor * LANE_SLOTS + u32::from(lane)
}

/// The sensor and lane (0 for cross-section windows) of an operator key.
fn split_key(key: u32, per_lane: bool) -> (u32, u8) {
    if per_lane {
        (key / LANE_SLOTS, (key % LANE_SLOTS) as u8)
    } else {
        (key, 0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::UnknownSensors;
    use crate::model::TimeBounds;
    use crate::model::traffic::{TrafficBatchBuilder, TrafficObservation};
    use crate::window::TimestampSemantics;

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

    /// The `speed_stddev_kmh` of every row that `reports` close, cross-section then lanes.
    fn stddev(reports: &[(i64, i64, i64, Option<f64>)]) -> (Vec<Option<f64>>, Vec<Option<f64>>) {
        let spec = WindowSpec::tumbling(&[MIN], 0, 10 * MIN, TimestampSemantics::IntervalEnd);
        let (catalog, batch) = batch(reports);
        let keys = catalog.traffic_sensors().len();
        let values = |mut op: TrafficWindowOperator| -> Vec<Option<f64>> {
            op.process(0, T0, &batch, keys).expect("process");
            let closed = op.finish(&catalog).expect("close");
            closed
                .iter()
                .flat_map(|c| {
                    let a: &Float64Array = column(&c.batch, "speed_stddev_kmh").expect("column");
                    (0..a.len()).map(|i| a.is_valid(i).then(|| a.value(i)))
                })
                .collect()
        };
        (
            values(TrafficWindowOperator::new(&spec)),
            values(TrafficWindowOperator::per_lane(&spec)),
        )
    }

    /// Σv = 180, Σv² = 2500 + 1600 + 3600 + 900 = 8600 over n = 4 intervals with a speed:
    /// s = √((8600 − 180²/4) / 3) = √(500/3) = 12.91 km/h. Per lane: 50, 60 and 40, 30 →
    /// √((25 + 25) / 1) = 7.07 km/h each.
    #[test]
    fn hand_worked_speed_spread_of_a_window_and_its_lanes() {
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
        let (section, lanes) = stddev(&REPORTS);
        assert_eq!(section, [Some((500.0f64 / 3.0).sqrt())]);
        assert_eq!(lanes, [Some(50f64.sqrt()), Some(50f64.sqrt())]);
    }

    #[test]
    fn fewer_than_two_intervals_with_a_speed_have_no_spread() {
        // one report with a speed: on its lane and in the cross-section
        let (section, lanes) = stddev(&REPORTS[..1]);
        assert_eq!((section, lanes), (vec![None], vec![None]));
        let (section, lanes) = stddev(&[(1, 30_000, 10, Some(50.0)), (2, 30_000, 3, None)]);
        assert_eq!((section, lanes), (vec![None], vec![None, None]));
    }
}
