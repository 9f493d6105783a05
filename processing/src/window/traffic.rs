//! The traffic window operator: per sensor and window, counts, flow, speeds, occupancy.

use std::sync::Arc;

use arrow_array::builder::{
    Float64Builder, PrimitiveBuilder, StringBuilder, UInt8Builder, UInt32Builder, UInt64Builder,
};
use arrow_array::types::TimestampMillisecondType;
use arrow_array::{
    Array, ArrayRef, Float64Array, RecordBatch, TimestampMillisecondArray, UInt8Array, UInt32Array,
};
use arrow_schema::{DataType, Field, Schema, SchemaRef, TimeUnit};

use crate::Result;
use crate::catalog::{Catalog, EntityKey};
use crate::error::column;
use crate::formulas;
use crate::model::traffic::{TrafficBatch, col};
use crate::snapshot::{EntityId, IdTable, RestoreStats, resolve_traffic};
use crate::time::{EventTime, ProcessingTime, Watermark};
use crate::window::owners::{NO_OWNER, Owners, by_owner};
use crate::window::slab::{NONE, Shape, ShapeWindows, Windows};
use crate::window::watermark::{SourceId, WatermarkState, WatermarkTracker};
use crate::window::{ClosedWindows, ProcessStats, WindowShape, WindowSpec};

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
    /// [`ProcessingError::Schema`] if the batch is not a traffic batch (a bug).
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
            self.shapes.iter().copied(),
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
        let wm = self.watermarks.advance(now);
        self.close(wm, catalog)
    }

    /// Closes every open window (end of input).
    ///
    /// # Errors
    /// Only if Arrow refuses the output columns (a bug).
    pub fn finish(&mut self, catalog: &Catalog) -> Result<Vec<ClosedWindows>> {
        let wm = self.watermarks.finish();
        self.close(wm, catalog)
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

    fn close(&mut self, wm: Watermark, catalog: &Catalog) -> Result<Vec<ClosedWindows>> {
        let Some(t) = wm.time() else {
            return Ok(Vec::new());
        };
        let per_lane = self.per_lane;
        let owners = &self.owners;
        let mut closed = Vec::new();
        for emitted in self.windows.emit(t, |shape, start, revision, entries| {
            emit(shape, start, revision, entries, catalog, per_lane, owners)
        }) {
            closed.extend(emitted?);
        }
        Ok(closed)
    }
}

/// Newest timestamp in the batch.
fn arrow_arith_max(ts: &TimestampMillisecondArray) -> Option<i64> {
    ts.values().iter().copied().max()
}

/// Column names of a closed traffic window batch (the `traffic_<size>` tables).
pub mod out {
    /// `Utf8`: city id.
    pub const CITY: &str = "city";
    /// `Utf8`: sensor id.
    pub const SENSOR_ID: &str = "sensor_id";
    /// `Timestamp(ms, UTC)`: window start (exclusive for interval-end timestamps).
    pub const WINDOW_START: &str = "window_start";
    /// `Timestamp(ms, UTC)`: window end.
    pub const WINDOW_END: &str = "window_end";
    /// `UInt32`: observations (interval reports) folded in.
    pub const OBSERVATIONS: &str = "observations";
    /// `UInt8`: distinct lanes that reported.
    pub const LANES_REPORTING: &str = "lanes_reporting";
    /// `UInt64`: vehicles counted.
    pub const VEHICLES: &str = "vehicles";
    /// `Float64`: flow in veh/h.
    pub const FLOW_VEH_H: &str = "flow_veh_h";
    /// `Float64`, nullable: vehicle-weighted time-mean speed, km/h.
    pub const SPEED_TIME_MEAN_KMH: &str = "speed_time_mean_kmh";
    /// `Float64`, nullable: vehicle-weighted harmonic (space-mean) speed, km/h.
    pub const SPEED_SPACE_MEAN_KMH: &str = "speed_space_mean_kmh";
    /// `Float64`, nullable: unweighted mean of the reported interval speeds, km/h.
    pub const SPEED_REPORTED_MEAN_KMH: &str = "speed_reported_mean_kmh";
    /// `Float64`, nullable: density = flow / space-mean speed, veh/km.
    pub const DENSITY_VEH_KM: &str = "density_veh_km";
    /// `Float64`, nullable: mean detector occupancy, percent.
    pub const OCCUPANCY_PCT: &str = "occupancy_pct";
    /// `Float64`, nullable: highest detector occupancy, percent.
    pub const OCCUPANCY_MAX_PCT: &str = "occupancy_max_pct";
    /// `UInt64`, nullable: heavy vehicles counted.
    pub const HEAVY_VEHICLES: &str = "heavy_vehicles";
    /// `Float64`, nullable: heavy-vehicle share, percent.
    pub const HEAVY_SHARE_PCT: &str = "heavy_share_pct";
    /// `Float64`: share of the expected counting intervals received, percent.
    pub const COMPLETENESS_PCT: &str = "completeness_pct";
    /// `UInt8`, nullable: the lane of a per-lane window; null for the cross-section.
    pub const LANE: &str = "lane";
    /// `Float64`, nullable: space-mean speed / free-flow speed (classifier).
    pub const SPEED_RATIO: &str = "speed_ratio";
    /// `Utf8`, nullable: MARZ traffic state `Z1`…`Z4` (classifier).
    pub const TRAFFIC_STATE: &str = "traffic_state";
    /// `Boolean`, nullable: state Z3 or Z4 (classifier).
    pub const CONGESTED: &str = "congested";
}

/// Returns the schema of closed traffic windows: what the pipeline publishes, the live
/// view reads and the `traffic_<size>` tables hold.
///
/// It is [`traffic_aggregate_schema`], which [`TrafficWindowOperator`] emits, followed by
/// the columns [`TrafficStateClassifier`](super::traffic_state::TrafficStateClassifier)
/// appends because they depend on the sensor's previous window.
pub fn traffic_window_schema() -> SchemaRef {
    static SCHEMA: std::sync::OnceLock<SchemaRef> = std::sync::OnceLock::new();
    SCHEMA
        .get_or_init(|| {
            let mut fields = aggregate_fields();
            fields.extend([
                Field::new(out::SPEED_RATIO, DataType::Float64, true),
                Field::new(out::TRAFFIC_STATE, DataType::Utf8, true),
                Field::new(out::CONGESTED, DataType::Boolean, true),
            ]);
            Arc::new(Schema::new(fields))
        })
        .clone()
}

/// Returns the schema [`TrafficWindowOperator`] emits: [`traffic_window_schema`] without
/// the classifier's columns.
pub fn traffic_aggregate_schema() -> SchemaRef {
    static SCHEMA: std::sync::OnceLock<SchemaRef> = std::sync::OnceLock::new();
    SCHEMA
        .get_or_init(|| Arc::new(Schema::new(aggregate_fields())))
        .clone()
}

fn aggregate_fields() -> Vec<Field> {
    let ts = DataType::Timestamp(TimeUnit::Millisecond, Some("UTC".into()));
    vec![
        Field::new(out::CITY, DataType::Utf8, false),
        Field::new(out::SENSOR_ID, DataType::Utf8, false),
        Field::new(out::WINDOW_START, ts.clone(), false),
        Field::new(out::WINDOW_END, ts, false),
        Field::new(out::OBSERVATIONS, DataType::UInt32, false),
        Field::new(out::LANES_REPORTING, DataType::UInt8, false),
        Field::new(out::VEHICLES, DataType::UInt64, false),
        Field::new(out::FLOW_VEH_H, DataType::Float64, true),
        Field::new(out::SPEED_TIME_MEAN_KMH, DataType::Float64, true),
        Field::new(out::SPEED_SPACE_MEAN_KMH, DataType::Float64, true),
        Field::new(out::SPEED_REPORTED_MEAN_KMH, DataType::Float64, true),
        Field::new(out::DENSITY_VEH_KM, DataType::Float64, true),
        Field::new(out::OCCUPANCY_PCT, DataType::Float64, true),
        Field::new(out::OCCUPANCY_MAX_PCT, DataType::Float64, true),
        Field::new(out::HEAVY_VEHICLES, DataType::UInt64, true),
        Field::new(out::HEAVY_SHARE_PCT, DataType::Float64, true),
        Field::new(out::COMPLETENESS_PCT, DataType::Float64, false),
        Field::new(out::LANE, DataType::UInt8, true),
    ]
}

/// Lane numbers per sensor in the per-lane key space (lanes 0..=16).
pub const LANE_SLOTS: u32 = 17;

/// The per-lane key of `lane` of `sensor`.
fn lane_key(sensor: u32, lane: u8) -> u32 {
    sensor * LANE_SLOTS + u32::from(lane)
}

/// How many rows ahead [`emit`] asks for an accumulator.
const EMIT_PREFETCH: usize = 8;

/// The sensor and lane (0 for cross-section windows) of an operator key.
fn split_key(key: u32, per_lane: bool) -> (u32, u8) {
    if per_lane {
        (key / LANE_SLOTS, (key % LANE_SLOTS) as u8)
    } else {
        (key, 0)
    }
}

/// One batch per owning task of the due entries of a window (all of one revision).
fn emit(
    shape: Shape,
    start: EventTime,
    revision: u32,
    entries: Vec<(u32, &TrafficAcc)>,
    catalog: &Catalog,
    per_lane: bool,
    owners: &Owners,
) -> Result<Vec<ClosedWindows>> {
    by_owner(entries, owners, |key| {
        owners.get(split_key(key, per_lane).0)
    })
    .into_iter()
    .map(|(owner, entries)| {
        let window = Window {
            shape,
            start,
            revision,
            owner,
        };
        emit_rows(window, catalog, per_lane, entries)
    })
    .collect()
}

/// Which rows [`emit_rows`] builds: of one window, revision and owning task.
#[derive(Debug, Clone, Copy)]
struct Window {
    shape: Shape,
    start: EventTime,
    revision: u32,
    owner: SourceId,
}

fn emit_rows(
    window: Window,
    catalog: &Catalog,
    per_lane: bool,
    entries: Vec<(u32, &TrafficAcc)>,
) -> Result<ClosedWindows> {
    let Window {
        shape,
        start,
        revision,
        owner,
    } = window;
    let n = entries.len();
    let window_s = (shape.size_ms / 1000) as u32;
    let end = start + shape.size_ms;
    let mut city = StringBuilder::with_capacity(n, n * 8);
    let mut sensor = StringBuilder::with_capacity(n, n * 12);
    let mut starts: PrimitiveBuilder<TimestampMillisecondType> = PrimitiveBuilder::with_capacity(n);
    let mut ends: PrimitiveBuilder<TimestampMillisecondType> = PrimitiveBuilder::with_capacity(n);
    let mut observations = UInt32Builder::with_capacity(n);
    let mut lanes = UInt8Builder::with_capacity(n);
    let mut vehicles = UInt64Builder::with_capacity(n);
    let mut flow = Float64Builder::with_capacity(n);
    let mut v_time = Float64Builder::with_capacity(n);
    let mut v_space = Float64Builder::with_capacity(n);
    let mut v_reported = Float64Builder::with_capacity(n);
    let mut density = Float64Builder::with_capacity(n);
    let mut occ = Float64Builder::with_capacity(n);
    let mut occ_max = Float64Builder::with_capacity(n);
    let mut heavy = UInt64Builder::with_capacity(n);
    let mut heavy_share = Float64Builder::with_capacity(n);
    let mut completeness = Float64Builder::with_capacity(n);
    let mut lane_numbers = UInt8Builder::with_capacity(n);
    let sensors = catalog.traffic_sensors();
    // Ids from the catalog's contiguous id column, read in key order: following each
    // sensor's own `Arc<str>` cost a cache miss per row.
    let ids = catalog.traffic_values();
    for (i, &(key, acc)) in entries.iter().enumerate() {
        // Accumulators lie in first-seen order, rows go out in key order: load ahead.
        if let Some((_, ahead)) = entries.get(i + EMIT_PREFETCH) {
            crate::prefetch::prefetch(*ahead);
        }
        let (sensor_key, lane) = if per_lane {
            (key / LANE_SLOTS, Some((key % LANE_SLOTS) as u8))
        } else {
            (key, None)
        };
        let Some(info) = sensors.get(sensor_key as usize) else {
            continue;
        };
        lane_numbers.append_option(lane);
        city.append_value(catalog.city_id(info.city));
        if (sensor_key as usize) < ids.len() {
            sensor.append_value(ids.value(sensor_key as usize));
        } else {
            sensor.append_value(&info.id);
        }
        starts.append_value(start);
        ends.append_value(end);
        observations.append_value(acc.observations);
        let lanes_reporting = acc.lane_mask.count_ones();
        lanes.append_value(lanes_reporting as u8);
        vehicles.append_value(acc.vehicles);
        let seconds = formulas::observed_seconds(acc.interval_s_sum, lanes_reporting, window_s);
        let q = formulas::flow_veh_h(acc.vehicles, seconds);
        flow.append_option(q);
        v_time.append_option(formulas::time_mean_speed(
            acc.speed_weighted,
            acc.vehicles_with_speed,
        ));
        let vs = formulas::space_mean_speed(acc.speed_inverse, acc.vehicles_with_speed);
        v_space.append_option(vs);
        v_reported.append_option(formulas::mean(acc.speed_sum, u64::from(acc.speed_n)));
        density.append_option(formulas::density_veh_km(q, vs));
        occ.append_option(formulas::mean(
            acc.occupancy_sum,
            u64::from(acc.occupancy_n),
        ));
        occ_max.append_option((acc.occupancy_n > 0).then_some(acc.occupancy_max));
        heavy.append_option((acc.heavy_reports > 0).then_some(acc.heavy));
        heavy_share.append_option(formulas::heavy_share_pct(
            acc.heavy,
            acc.vehicles_classified,
        ));
        completeness.append_value(formulas::completeness_pct(
            acc.interval_s_sum - acc.cross_section_s,
            acc.cross_section_s,
            // one lane is all a lane window expects
            if per_lane { 1 } else { info.lanes },
            window_s,
        ));
    }
    let columns: Vec<ArrayRef> = vec![
        Arc::new(city.finish()),
        Arc::new(sensor.finish()),
        Arc::new(starts.finish().with_timezone("UTC")),
        Arc::new(ends.finish().with_timezone("UTC")),
        Arc::new(observations.finish()),
        Arc::new(lanes.finish()),
        Arc::new(vehicles.finish()),
        Arc::new(flow.finish()),
        Arc::new(v_time.finish()),
        Arc::new(v_space.finish()),
        Arc::new(v_reported.finish()),
        Arc::new(density.finish()),
        Arc::new(occ.finish()),
        Arc::new(occ_max.finish()),
        Arc::new(heavy.finish()),
        Arc::new(heavy_share.finish()),
        Arc::new(completeness.finish()),
        Arc::new(lane_numbers.finish()),
    ];
    Ok(ClosedWindows {
        window_s,
        slide_s: (shape.slide_ms / 1000) as u32,
        window_start: start,
        revision,
        owner,
        batch: RecordBatch::try_new(traffic_aggregate_schema(), columns)?,
    })
}
