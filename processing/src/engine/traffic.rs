//! The traffic window operator: per sensor (or per sensor and lane) and window, the
//! [`TrafficAcc`] of its rows, emitted as the contract's aggregate columns.

use arrow_array::TimestampMillisecondArray;

use super::operator::{Close, Operator};
use super::windowed::Windowed;
use crate::Result;
use crate::catalog::{Catalog, EntityKey};
use crate::error::column;
use crate::model::traffic::{TrafficBatch, col};
use crate::time::ProcessingTime;
use crate::window::restore::{EntityId, IdTable, RestoreStats, resolve_traffic};
use crate::window::slab::NONE;
use crate::window::slab::snapshot::ShapeWindows;
use crate::window::traffic::emit::emit_rows;
use crate::window::traffic::{Columns, LANE_SLOTS, TrafficAcc, lane_key, split_key};
use crate::window::watermark::{SourceId, WatermarkState, WatermarkTracker};
use crate::window::{ClosedWindows, ProcessStats, WindowSpec};

/// Aggregates traffic observations into event-time windows of every configured family.
#[derive(Debug)]
pub struct TrafficWindowOperator {
    /// Keys are (sensor, lane) pairs instead of sensors: per-lane windows.
    per_lane: bool,
    /// Owners are kept by sensor key, also for per-lane windows.
    windowed: Windowed<TrafficAcc>,
}

/// The open state one task owns in a [`TrafficWindowOperator`] (see
/// [`TaskState`](super::TaskState)).
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
            windowed: Windowed::new(spec, spec.timestamps.assign_offset_ms(), |key| key),
        }
    }

    /// Creates an operator that keeps one window per sensor *and lane*: lane reports
    /// (lane ≥ 1) are folded per lane, cross-section totals (lane 0) are left out.
    pub fn per_lane(spec: &WindowSpec) -> Self {
        Self {
            per_lane: true,
            windowed: Windowed::new(spec, spec.timestamps.assign_offset_ms(), |key| {
                split_key(key, true).0
            }),
        }
    }

    /// The task owning the state of sensor `key`: the source that last fed it.
    pub fn owner(&self, key: EntityKey) -> Option<SourceId> {
        self.windowed.owner(key)
    }

    /// Number of open (sensor, window) states.
    pub fn open_states(&self) -> usize {
        self.windowed.open_states()
    }

    /// Bytes of open window state: dense per-window arrays, so this counts the slots of
    /// sensors not seen in a window too.
    pub fn state_bytes(&self) -> usize {
        self.windowed.state_bytes()
    }
}

impl Operator for TrafficWindowOperator {
    type Batch = TrafficBatch;
    type Snapshot = TrafficSnapshot;

    fn fold(
        &mut self,
        source: SourceId,
        now: ProcessingTime,
        batch: &TrafficBatch,
        catalog: &Catalog,
    ) -> Result<ProcessStats> {
        let rb = batch.record_batch();
        let ts: &TimestampMillisecondArray = column(rb, col::TS)?;
        let columns = Columns::of(rb)?;
        let key_count = catalog.traffic_sensors().len();
        let sensor_keys = batch.sensor_keys().values();
        let fold = |acc: &mut TrafficAcc, row| columns.fold(acc, row);
        if !self.per_lane {
            self.windowed
                .owners_mut()
                .record(sensor_keys, key_count, source);
            return Ok(self
                .windowed
                .fold(source, now, ts.values(), sensor_keys, key_count, fold));
        }
        // Only lane rows hold state here: owners are recorded in the same pass. Rows
        // without a lane stay in (keyed `NONE`): they move the source's clock on for the
        // rows after them, as they do in the per-sensor operator.
        let mut owners = self.windowed.owners_mut().prepare(key_count, source);
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
        let lane_keys = key_count * LANE_SLOTS as usize;
        Ok(self
            .windowed
            .fold(source, now, ts.values(), &keys, lane_keys, fold))
    }

    fn close(
        &mut self,
        until: Close,
        catalog: &Catalog,
        sink: &mut dyn FnMut(ClosedWindows) -> Result<()>,
    ) -> Result<()> {
        let per_lane = self.per_lane;
        self.windowed.close(until, sink, |window, entries| {
            emit_rows(window, catalog, per_lane, entries)
        })
    }

    fn snapshot(&self, source: SourceId, catalog: &Catalog) -> TrafficSnapshot {
        let per_lane = self.per_lane;
        let mut ids = IdTable::default();
        let (windows, watermark) = self.windowed.export(source, |key, acc| {
            let (sensor, lane) = split_key(key, per_lane);
            Some((ids.traffic(catalog, sensor)?, lane, *acc))
        });
        TrafficSnapshot {
            sensors: ids.into_ids(),
            windows,
            watermark,
        }
    }

    fn restore(
        &mut self,
        source: SourceId,
        snapshot: &TrafficSnapshot,
        catalog: &mut Catalog,
        now: ProcessingTime,
    ) -> RestoreStats {
        let keys = resolve_traffic(catalog, &snapshot.sensors);
        for key in keys.iter().flatten() {
            self.windowed.set_owner(*key, source);
        }
        let per_lane = self.per_lane;
        let key_count =
            catalog.traffic_sensors().len() * if per_lane { LANE_SLOTS as usize } else { 1 };
        self.windowed.import(
            source,
            (&snapshot.windows, &snapshot.watermark),
            key_count,
            now,
            |&(i, lane, acc)| {
                let sensor = keys.get(i as usize).copied().flatten()?;
                let key = if per_lane {
                    lane_key(sensor, lane)
                } else {
                    sensor
                };
                Some((key, acc))
            },
        )
    }

    fn revoke(&mut self, source: SourceId, _catalog: &Catalog) {
        self.windowed.revoke(source);
    }

    fn clocks(&self) -> &WatermarkTracker {
        self.windowed.clocks()
    }

    fn clocks_mut(&mut self) -> &mut WatermarkTracker {
        self.windowed.clocks_mut()
    }
}
