//! The parking operator: current state per facility, spot roll-ups, windowed summaries.
//!
//! Parking is a level, not a count: what matters is the latest free/total per facility and,
//! per window, the last value, the minimum free and the mean occupancy. Spot sensors roll up
//! into their facility (an on-street zone): free = spots reporting `free`; total = spots not
//! `closed`. A spot that never reported, or reports `unknown`, is counted in the total but not
//! as free — the guidance sign must not promise a space nobody has seen.

use std::sync::Arc;

use arrow_array::builder::{Float64Builder, PrimitiveBuilder, StringBuilder, UInt32Builder};
use arrow_array::types::TimestampMillisecondType;
use arrow_array::{Array, ArrayRef, RecordBatch, TimestampMillisecondArray, UInt32Array};
use arrow_schema::{DataType, Field, Schema, SchemaRef, TimeUnit};

use crate::catalog::{Catalog, EntityKey};
use crate::formulas;
use crate::model::parking::{ParkingBatch, SpotStatus, col};
use crate::time::{EventTime, ProcessingTime, Watermark};
use crate::window::slab::{Shape, Slab, Windows};
use crate::window::watermark::{SourceId, WatermarkTracker};
use crate::window::{ClosedWindows, ProcessStats, WindowShape, WindowSpec};
use crate::{ProcessingError, Result};

/// The current state of one facility.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FacilityLive {
    /// Free spaces.
    pub free: u32,
    /// Usable capacity, when known.
    pub total: Option<u32>,
    /// Event time of the newest observation, epoch ms UTC.
    pub updated_at: EventTime,
}

#[derive(Debug, Clone, Copy, Default)]
struct SpotState {
    status: Option<SpotStatus>,
    ts: EventTime,
}

#[derive(Debug, Clone, Copy, Default)]
struct FacilityState {
    live: Option<FacilityLive>,
    spots_free: u32,
    spots_closed: u32,
}

/// Running values of one facility in one window.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct ParkingAcc {
    updates: u32,
    last_ts: EventTime,
    last_free: u32,
    last_total: Option<u32>,
    min_free: u32,
    occupancy_sum: f64,
    occupancy_n: u32,
}

impl ParkingAcc {
    fn fold(&mut self, ts: EventTime, free: u32, total: Option<u32>) {
        self.min_free = if self.updates == 0 {
            free
        } else {
            self.min_free.min(free)
        };
        // Out-of-order arrivals must not overwrite a newer level.
        if self.updates == 0 || ts >= self.last_ts {
            self.last_ts = ts;
            self.last_free = free;
            self.last_total = total;
        }
        if let Some(occ) = total.and_then(|t| formulas::parking_occupancy_pct(free, t)) {
            self.occupancy_sum += occ;
            self.occupancy_n += 1;
        }
        self.updates += 1;
    }
}

/// Tracks facility levels and aggregates them into event-time windows.
#[derive(Debug)]
pub struct ParkingOperator {
    shapes: Vec<WindowShape>,
    windows: Windows<ParkingAcc>,
    watermarks: WatermarkTracker,
    spots: Vec<SpotState>,
    facilities: Vec<FacilityState>,
    changed: Vec<EntityKey>,
}

impl ParkingOperator {
    /// Creates the operator for the facilities and spots of `catalog`.
    pub fn new(spec: &WindowSpec, catalog: &Catalog) -> Self {
        Self {
            shapes: spec.shapes.clone(),
            // Parking observations are instants, not interval ends: offset 0.
            windows: Windows::new(
                &spec.shapes.iter().map(|s| s.slab()).collect::<Vec<_>>(),
                0,
                spec.allowed_lateness_ms,
            ),
            watermarks: WatermarkTracker::new(spec.out_of_orderness_ms, spec.idle_timeout_ms),
            spots: vec![SpotState::default(); catalog.spots().len()],
            facilities: vec![FacilityState::default(); catalog.facilities().len()],
            changed: Vec::new(),
        }
    }

    /// Applies a batch from one source: updates facility levels, then folds them into windows.
    ///
    /// # Errors
    /// [`ProcessingError::Schema`] if the batch is not a parking batch (a bug).
    pub fn process(
        &mut self,
        source: SourceId,
        now: ProcessingTime,
        batch: &ParkingBatch,
        catalog: &Catalog,
    ) -> Result<ProcessStats> {
        let rb = batch.record_batch();
        let ts: &TimestampMillisecondArray = column(rb, col::TS)?;
        let free_col: &UInt32Array = column(rb, col::FREE_SPACES)?;
        let total_col: &UInt32Array = column(rb, col::TOTAL_SPACES)?;
        let facility_keys = batch.facility_keys().values();
        let spot_keys = batch.spot_keys();
        let status = batch.status_codes();
        let n = rb.num_rows();
        let mut levels_free = Vec::with_capacity(n);
        let mut levels_total = Vec::with_capacity(n);
        for row in 0..n {
            let t = ts.value(row);
            let facility = facility_keys[row];
            let level = if spot_keys.is_valid(row) {
                let new = SpotStatus::from_code(status.value(row));
                self.apply_spot(spot_keys.value(row), facility, t, new, catalog)
            } else {
                let total = total_col
                    .is_valid(row)
                    .then(|| total_col.value(row))
                    .or_else(|| registered_total(catalog, facility));
                (free_col.value(row), total)
            };
            self.set_live(facility, t, level);
            levels_free.push(level.0);
            levels_total.push(level.1);
        }
        let update = self.windows.update(
            ts.values(),
            facility_keys,
            self.facilities.len(),
            self.watermarks.current().time(),
            |acc, row| acc.fold(ts.value(row), levels_free[row], levels_total[row]),
        );
        if let Some(max) = ts.values().iter().copied().max() {
            self.watermarks.observe(source, max, now);
        }
        Ok(ProcessStats::from_update(
            n,
            self.shapes.iter().copied(),
            update,
        ))
    }

    /// Updates one spot and returns its facility's level (free, total) afterwards.
    fn apply_spot(
        &mut self,
        spot: EntityKey,
        facility: EntityKey,
        ts: EventTime,
        status: SpotStatus,
        catalog: &Catalog,
    ) -> (u32, Option<u32>) {
        let spots_total = catalog
            .facilities()
            .get(facility as usize)
            .map_or(0, |f| f.spots);
        let (Some(spot_state), Some(fac)) = (
            self.spots.get_mut(spot as usize),
            self.facilities.get_mut(facility as usize),
        ) else {
            return (0, None);
        };
        // An older report than the one we hold does not change the current state.
        if spot_state.status.is_none() || ts >= spot_state.ts {
            let old = spot_state.status;
            if old == Some(SpotStatus::Free) {
                fac.spots_free -= 1;
            }
            if old == Some(SpotStatus::Closed) {
                fac.spots_closed -= 1;
            }
            match status {
                SpotStatus::Free => fac.spots_free += 1,
                SpotStatus::Closed => fac.spots_closed += 1,
                SpotStatus::Occupied | SpotStatus::Unknown => {}
            }
            *spot_state = SpotState {
                status: Some(status),
                ts,
            };
        }
        (
            fac.spots_free,
            Some(spots_total.saturating_sub(fac.spots_closed)),
        )
    }

    fn set_live(&mut self, facility: EntityKey, ts: EventTime, (free, total): (u32, Option<u32>)) {
        let Some(state) = self.facilities.get_mut(facility as usize) else {
            return;
        };
        if state.live.is_some_and(|l| l.updated_at > ts) {
            return;
        }
        state.live = Some(FacilityLive {
            free,
            total,
            updated_at: ts,
        });
        self.changed.push(facility);
    }

    /// Returns the current level of a facility, if it has reported.
    pub fn facility(&self, key: EntityKey) -> Option<FacilityLive> {
        self.facilities.get(key as usize).and_then(|f| f.live)
    }

    /// Returns and clears the facilities whose level changed since the last call.
    pub fn take_changed(&mut self) -> Vec<EntityKey> {
        let mut changed = std::mem::take(&mut self.changed);
        changed.sort_unstable();
        changed.dedup();
        changed
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

    /// The operator watermark.
    pub fn watermark(&self) -> Watermark {
        self.watermarks.current()
    }

    /// Recomputes the watermark and returns every window it closed.
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

    fn close(&mut self, wm: Watermark, catalog: &Catalog) -> Result<Vec<ClosedWindows>> {
        let Some(t) = wm.time() else {
            return Ok(Vec::new());
        };
        self.windows
            .emit(t, |shape, slab| emit(shape, slab, catalog))
            .into_iter()
            .collect()
    }
}

fn registered_total(catalog: &Catalog, facility: EntityKey) -> Option<u32> {
    let info = catalog.facilities().get(facility as usize)?;
    info.capacity.or((info.spots > 0).then_some(info.spots))
}

fn column<'a, T: 'static>(batch: &'a RecordBatch, name: &str) -> Result<&'a T> {
    batch
        .column_by_name(name)
        .and_then(|c| c.as_any().downcast_ref::<T>())
        .ok_or_else(|| {
            ProcessingError::Schema(format!("parking column `{name}` missing or mistyped"))
        })
}

/// Column names of a closed parking window batch (the `parking_<size>` tables).
pub mod out {
    /// `Utf8`: city id.
    pub const CITY: &str = "city";
    /// `Utf8`: facility id.
    pub const FACILITY_ID: &str = "facility_id";
    /// `Timestamp(ms, UTC)`: window start.
    pub const WINDOW_START: &str = "window_start";
    /// `Timestamp(ms, UTC)`: window end.
    pub const WINDOW_END: &str = "window_end";
    /// `UInt32`: observations folded in (counts and spot changes).
    pub const UPDATES: &str = "updates";
    /// `UInt32`: free spaces at the end of the window (latest value).
    pub const FREE: &str = "free";
    /// `UInt32`, nullable: usable capacity at the end of the window.
    pub const TOTAL: &str = "total";
    /// `Float64`, nullable: occupancy at the end of the window, percent.
    pub const OCCUPANCY_PCT: &str = "occupancy_pct";
    /// `Float64`, nullable: mean of the occupancies observed in the window, percent.
    pub const OCCUPANCY_MEAN_PCT: &str = "occupancy_mean_pct";
    /// `UInt32`: fewest free spaces observed in the window.
    pub const FREE_MIN: &str = "free_min";
}

/// Returns the schema of closed parking windows.
pub fn parking_window_schema() -> SchemaRef {
    static SCHEMA: std::sync::OnceLock<SchemaRef> = std::sync::OnceLock::new();
    SCHEMA
        .get_or_init(|| {
            let ts = DataType::Timestamp(TimeUnit::Millisecond, Some("UTC".into()));
            Arc::new(Schema::new(vec![
                Field::new(out::CITY, DataType::Utf8, false),
                Field::new(out::FACILITY_ID, DataType::Utf8, false),
                Field::new(out::WINDOW_START, ts.clone(), false),
                Field::new(out::WINDOW_END, ts, false),
                Field::new(out::UPDATES, DataType::UInt32, false),
                Field::new(out::FREE, DataType::UInt32, false),
                Field::new(out::TOTAL, DataType::UInt32, true),
                Field::new(out::OCCUPANCY_PCT, DataType::Float64, true),
                Field::new(out::OCCUPANCY_MEAN_PCT, DataType::Float64, true),
                Field::new(out::FREE_MIN, DataType::UInt32, false),
            ]))
        })
        .clone()
}

fn emit(shape: Shape, slab: &Slab<ParkingAcc>, catalog: &Catalog) -> Result<ClosedWindows> {
    let entries = slab.sorted();
    let n = entries.len();
    let start = slab.start;
    let end = start + shape.size_ms;
    let mut city = StringBuilder::with_capacity(n, n * 8);
    let mut facility = StringBuilder::with_capacity(n, n * 12);
    let mut starts: PrimitiveBuilder<TimestampMillisecondType> = PrimitiveBuilder::with_capacity(n);
    let mut ends: PrimitiveBuilder<TimestampMillisecondType> = PrimitiveBuilder::with_capacity(n);
    let mut updates = UInt32Builder::with_capacity(n);
    let mut free = UInt32Builder::with_capacity(n);
    let mut total = UInt32Builder::with_capacity(n);
    let mut occ = Float64Builder::with_capacity(n);
    let mut occ_mean = Float64Builder::with_capacity(n);
    let mut free_min = UInt32Builder::with_capacity(n);
    for (key, acc) in entries {
        let Some(info) = catalog.facilities().get(key as usize) else {
            continue;
        };
        city.append_value(catalog.city_id(info.city));
        facility.append_value(&info.id);
        starts.append_value(start);
        ends.append_value(end);
        updates.append_value(acc.updates);
        free.append_value(acc.last_free);
        total.append_option(acc.last_total);
        occ.append_option(
            acc.last_total
                .and_then(|t| formulas::parking_occupancy_pct(acc.last_free, t)),
        );
        occ_mean.append_option(formulas::mean(
            acc.occupancy_sum,
            u64::from(acc.occupancy_n),
        ));
        free_min.append_value(acc.min_free);
    }
    let columns: Vec<ArrayRef> = vec![
        Arc::new(city.finish()),
        Arc::new(facility.finish()),
        Arc::new(starts.finish().with_timezone("UTC")),
        Arc::new(ends.finish().with_timezone("UTC")),
        Arc::new(updates.finish()),
        Arc::new(free.finish()),
        Arc::new(total.finish()),
        Arc::new(occ.finish()),
        Arc::new(occ_mean.finish()),
        Arc::new(free_min.finish()),
    ];
    Ok(ClosedWindows {
        window_s: (shape.size_ms / 1000) as u32,
        slide_s: (shape.slide_ms / 1000) as u32,
        window_start: start,
        revision: slab.revision,
        batch: RecordBatch::try_new(parking_window_schema(), columns)?,
    })
}
