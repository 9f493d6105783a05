//! The engine: every operator of the pipeline behind one pure, synchronous interface.
//!
//! It owns the traffic windows per sensor and per (sensor, lane), the traffic-state
//! classifier, the parking operator and the clock-jump screen, and takes a task (an input
//! topic-partition) through its life: registered, fed batch after batch, its windows
//! closed as the watermark passes them, snapshotted for its checkpoint, restored on
//! another instance, revoked. Every operator has one shape ([`Operator`]: fold a batch,
//! close windows, snapshot and restore a task), and the bookkeeping of sources, watermarks
//! and owners they share is written once (`engine/windowed.rs`).
//!
//! The engine does no I/O, reads no clock (processing time is passed in) and counts
//! nothing: what it did comes back as values — the rows it kept and the rows it refused as
//! clock jumps ([`Folded`]), the late rows with the windows that dropped them
//! ([`ProcessStats::late_rows`]), the closed windows by stream, the levels that changed,
//! a task's [`TaskState`]. The caller (`stadtpuls-ingest`'s pipeline) turns them into
//! metrics, dead letters and sink writes.
//!
//! # Example
//! ```
//! use stadtpuls_processing::catalog::{Catalog, UnknownSensors};
//! use stadtpuls_processing::engine::{Close, Engine, EngineSpec, Feed};
//! use stadtpuls_processing::model::TimeBounds;
//! use stadtpuls_processing::model::contract::HistoryStream;
//! use stadtpuls_processing::model::traffic::{TrafficBatchBuilder, TrafficObservation};
//! use stadtpuls_processing::window::{TimestampSemantics, WindowSpec};
//!
//! let mut catalog = Catalog::with_cities(&["ulm"], UnknownSensors::Admit);
//! let windows = WindowSpec::tumbling(&[60_000], 0, 60_000, TimestampSemantics::IntervalEnd);
//! let mut engine = Engine::new(&EngineSpec::new(windows), &catalog);
//! let now = 1_795_478_520_000;
//! engine.add_source(0, Feed::Traffic, now);
//! let bounds = TimeBounds { now, max_future_ms: 300_000 };
//! let mut builder = TrafficBatchBuilder::default();
//! for (ts, n) in [(1_795_478_430_000, 10), (1_795_478_460_000, 20), (1_795_478_520_000, 5)] {
//!     let obs = TrafficObservation { city: "ulm", sensor_id: "ulm-t-1", lane: 0, ts, interval_s: 30,
//!         vehicle_count: n, heavy_vehicle_count: None, avg_speed_kmh: Some(50.0), occupancy_pct: None };
//!     builder.push(&mut catalog, None, &obs, bounds).unwrap();
//! }
//! let folded = engine.fold_traffic(0, now, builder.finish(&catalog).unwrap(), &catalog).unwrap();
//! assert_eq!((folded.stats.rows, folded.stats.late()), (3, 0));
//! // The watermark is 00:02 − 1 ms (no disorder allowed; another report ending 00:02 may
//! // still come): (00:00, 00:01] closes, holding the intervals ending 00:00:30 and 00:01:00.
//! let mut closed = Vec::new();
//! engine.close(Close::Due(now), &catalog, |stream, windows| Ok(closed.push((stream, windows)))).unwrap();
//! assert_eq!(closed.len(), 1);
//! assert_eq!((closed[0].0, closed[0].1.batch.num_rows()), (HistoryStream::Traffic, 1));
//! // At the end of the input (00:01, 00:02] closes too, with the last interval.
//! engine.close(Close::All, &catalog, |_, windows| Ok(closed.push((HistoryStream::Traffic, windows)))).unwrap();
//! assert_eq!(closed.len(), 2);
//! ```

mod operator;
mod parking;
mod task;
#[cfg(test)]
mod tests;
mod traffic;
mod windowed;

use arrow_array::{RecordBatch, TimestampMillisecondArray};

pub use crate::window::restore::RestoreStats;
pub use operator::{Close, Operator};
pub use parking::{ParkingOperator, ParkingSnapshot};
pub use task::TaskState;
pub use traffic::{TrafficSnapshot, TrafficWindowOperator};

use crate::Result;
use crate::catalog::{Catalog, EntityKey};
use crate::error::column;
use crate::model::contract::HistoryStream;
use crate::model::parking::{ParkingBatch, col as parking_col};
use crate::model::traffic::{TrafficBatch, col as traffic_col};
use crate::time::{EventTime, ProcessingTime, Watermark};
use crate::window::clock_guard::{ClockGuard, ClockJump};
use crate::window::parking::{FacilityLive, ParkingSpec};
use crate::window::restore::{admitted, readmit};
use crate::window::traffic_state::TrafficStateClassifier;
use crate::window::watermark::SourceId;
use crate::window::{ProcessStats, WindowSpec};

/// What the engine is built from: validated settings.
#[derive(Debug, Clone, PartialEq)]
pub struct EngineSpec {
    /// Window families, disorder, idleness and lateness, shared by every operator.
    pub windows: WindowSpec,
    /// Parking trend and status settings.
    pub parking: ParkingSpec,
    /// Also keep windows per sensor and lane (costs a second fold of every lane report).
    pub per_lane: bool,
    /// Rows further ahead of their source's progress than this are refused unless
    /// confirmed (see [`crate::window::clock_guard`]).
    pub max_clock_jump_ms: i64,
}

impl EngineSpec {
    /// `windows` with the default parking settings, per-lane windows and a 15-minute
    /// clock-jump limit (the configuration's defaults).
    pub fn new(windows: WindowSpec) -> Self {
        Self {
            windows,
            parking: ParkingSpec::default(),
            per_lane: true,
            max_clock_jump_ms: 15 * 60_000,
        }
    }
}

/// Which streams a source (topic-partition) feeds, by its topic's name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Feed {
    /// `sensors.<city>.traffic`.
    Traffic,
    /// `sensors.<city>.parking`.
    Parking,
    /// A topic whose name does not say: every message is sniffed, so the source may feed
    /// both and holds both watermarks.
    Both,
}

impl Feed {
    fn traffic(self) -> bool {
        matches!(self, Feed::Traffic | Feed::Both)
    }

    fn parking(self) -> bool {
        matches!(self, Feed::Parking | Feed::Both)
    }
}

/// What folding one source's batch of one stream did.
#[derive(Debug, Clone)]
pub struct Folded<B> {
    /// The rows folded: the batch without the rows refused as clock jumps.
    pub batch: B,
    /// Rows refused because their event time jumped ahead of their source (row indices
    /// into the batch as it was given), in row order.
    pub clock_jumps: Vec<ClockJump>,
    /// What the windows did with the folded rows (late rows index into [`Self::batch`]).
    pub stats: ProcessStats,
}

/// Figures of the engine's state after a step, for gauges.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EngineGauges {
    /// The traffic operator's watermark.
    pub traffic_watermark: Watermark,
    /// The parking operator's watermark.
    pub parking_watermark: Watermark,
    /// Open (sensor, window) traffic states.
    pub traffic_open_states: usize,
    /// Bytes of open traffic window state.
    pub traffic_state_bytes: usize,
}

/// Every operator of the pipeline, fed and drained per source (see the module docs).
#[derive(Debug)]
pub struct Engine {
    traffic: TrafficWindowOperator,
    /// The same windows per sensor and lane; fed and closed only with `per_lane`.
    lanes: TrafficWindowOperator,
    per_lane: bool,
    /// Classifies closed traffic windows (per sensor, not per lane) as they are emitted.
    classifier: TrafficStateClassifier,
    parking: ParkingOperator,
    /// Screens each row's event time against its source's progress before any operator.
    clock: ClockGuard,
}

impl Engine {
    /// An engine for the entities of `catalog` (traffic sensors and, where a city admits
    /// them, parking facilities may be added to it later; spots are fixed by the registry).
    pub fn new(spec: &EngineSpec, catalog: &Catalog) -> Self {
        Self {
            traffic: TrafficWindowOperator::new(&spec.windows),
            lanes: TrafficWindowOperator::per_lane(&spec.windows),
            per_lane: spec.per_lane,
            classifier: TrafficStateClassifier::new(),
            parking: ParkingOperator::new(&spec.windows, &spec.parking, catalog),
            clock: ClockGuard::new(spec.max_clock_jump_ms),
        }
    }

    /// Registers a newly assigned source with the operators of the streams it feeds, so
    /// it holds their watermark until it delivers or turns idle (its backlog is not late).
    pub fn add_source(&mut self, source: SourceId, feed: Feed, now: ProcessingTime) {
        if feed.traffic() {
            self.traffic.add_source(source, now);
            self.lanes.add_source(source, now);
        }
        if feed.parking() {
            self.parking.add_source(source, now);
        }
    }

    /// Forgets a source whose partition was revoked, so it no longer holds a watermark.
    pub fn remove_source(&mut self, source: SourceId) {
        self.traffic.remove_source(source);
        self.lanes.remove_source(source);
        self.parking.remove_source(source);
        self.clock.remove(source);
    }

    /// The jump a row may make ahead of its source without confirmation, in ms.
    pub fn max_clock_jump_ms(&self) -> i64 {
        self.clock.max_jump_ms()
    }

    /// Screens a traffic batch of `source` for clock jumps, then folds the rest into the
    /// windows per sensor and, with `per_lane`, per lane.
    ///
    /// Lateness is reported by the per-sensor windows: the per-lane ones see the same rows
    /// of the same sources, so they drop a lane row from exactly the windows the
    /// per-sensor ones drop it from.
    ///
    /// # Errors
    /// [`ProcessingError::Schema`](crate::ProcessingError::Schema) if the batch is not a
    /// traffic batch (a bug).
    pub fn fold_traffic(
        &mut self,
        source: SourceId,
        now: ProcessingTime,
        batch: TrafficBatch,
        catalog: &Catalog,
    ) -> Result<Folded<TrafficBatch>> {
        let (cities, sensors) = (batch.city_keys(), batch.sensor_keys());
        let clock_jumps = self.clock.screen(
            source,
            event_times(batch.record_batch(), traffic_col::TS)?,
            |row| {
                let sensor = catalog.traffic_sensors().get(sensors.value(row) as usize);
                let city = catalog.city_id(cities.value(row));
                format!("{city}/{}", sensor.map_or("", |s| s.id.as_ref()))
            },
        );
        let batch = if clock_jumps.is_empty() {
            batch
        } else {
            batch.without_rows(&rows_of(&clock_jumps))?
        };
        let stats = self.traffic.fold(source, now, &batch, catalog)?;
        if self.per_lane {
            self.lanes.fold(source, now, &batch, catalog)?;
        }
        Ok(Folded {
            batch,
            clock_jumps,
            stats,
        })
    }

    /// Screens a parking batch of `source` for clock jumps, then applies the rest to the
    /// facility levels and folds them into the parking windows. Facilities another source
    /// still held come back in [`ProcessStats::partition_conflicts`].
    ///
    /// # Errors
    /// [`ProcessingError::Schema`](crate::ProcessingError::Schema) if the batch is not a
    /// parking batch (a bug).
    pub fn fold_parking(
        &mut self,
        source: SourceId,
        now: ProcessingTime,
        batch: ParkingBatch,
        catalog: &Catalog,
    ) -> Result<Folded<ParkingBatch>> {
        let facilities = batch.facility_keys();
        let clock_jumps = self.clock.screen(
            source,
            event_times(batch.record_batch(), parking_col::TS)?,
            |row| {
                let facility = catalog.facilities().get(facilities.value(row) as usize);
                facility.map_or_else(String::new, |f| {
                    format!("{}/{}", catalog.city_id(f.city), f.id)
                })
            },
        );
        let batch = if clock_jumps.is_empty() {
            batch
        } else {
            batch.without_rows(&rows_of(&clock_jumps))?
        };
        let stats = self.parking.fold(source, now, &batch, catalog)?;
        Ok(Folded {
            batch,
            clock_jumps,
            stats,
        })
    }

    /// Closes what the watermarks passed ([`Close::Due`]) or every open window
    /// ([`Close::All`]) and hands each window to `sink` with its stream as it is built:
    /// traffic windows classified (the hysteresis follows each sensor's windows in
    /// emission order), then per-lane windows, then parking windows.
    ///
    /// # Errors
    /// Only engine bugs (Arrow refusing output columns), or `sink`'s error; the windows
    /// closed after it are dropped.
    pub fn close(
        &mut self,
        until: Close,
        catalog: &Catalog,
        mut sink: impl FnMut(HistoryStream, crate::window::ClosedWindows) -> Result<()>,
    ) -> Result<()> {
        let classifier = &mut self.classifier;
        self.traffic.close(until, catalog, &mut |closed| {
            sink(
                HistoryStream::Traffic,
                classifier.classify(&closed, catalog)?,
            )
        })?;
        if self.per_lane {
            self.lanes.close(until, catalog, &mut |closed| {
                sink(HistoryStream::TrafficLanes, closed)
            })?;
        }
        self.parking.close(until, catalog, &mut |closed| {
            sink(HistoryStream::Parking, closed)
        })
    }

    /// The facilities whose level changed since the last call (by key, each once), with
    /// their current level.
    pub fn take_changed_levels(&mut self) -> Vec<(EntityKey, FacilityLive)> {
        let changed = self.parking.take_changed();
        changed
            .into_iter()
            .filter_map(|key| Some((key, self.parking.facility(key)?)))
            .collect()
    }

    /// The current level of a facility, if it has reported.
    pub fn facility(&self, key: EntityKey) -> Option<FacilityLive> {
        self.parking.facility(key)
    }

    /// The open state task `source` owns (windows, hysteresis, levels, its clocks), for
    /// its checkpoint.
    pub fn snapshot(&self, source: SourceId, catalog: &Catalog) -> TaskState {
        let traffic = &self.traffic;
        let parking = self.parking.snapshot(source, catalog);
        TaskState {
            traffic: traffic.snapshot(source, catalog),
            lanes: self.lanes.snapshot(source, catalog),
            classifier: self
                .classifier
                .snapshot(|key| traffic.owner(key) == Some(source), catalog),
            admitted: admitted(catalog, parking.facility_ids()),
            parking,
            clock: self.clock.export(source),
        }
    }

    /// Registers task `source` (feeding `feed`) with the state of its last checkpoint;
    /// entities are resolved by id in `catalog`, sensors admitted at run time admitted
    /// again.
    pub fn restore(
        &mut self,
        source: SourceId,
        feed: Feed,
        state: &TaskState,
        catalog: &mut Catalog,
        now: ProcessingTime,
    ) -> RestoreStats {
        self.add_source(source, feed, now);
        self.clock.import(source, state.clock.clone());
        // Facilities admitted at run time first, so that their ids resolve below.
        readmit(catalog, &state.admitted);
        let mut stats = self.traffic.restore(source, &state.traffic, catalog, now);
        stats += self.lanes.restore(source, &state.lanes, catalog, now);
        stats += self.classifier.restore(&state.classifier, catalog);
        stats += self.parking.restore(source, &state.parking, catalog, now);
        stats
    }

    /// Drops everything task `source` owns and forgets the source (partition revoked,
    /// after its checkpoint).
    pub fn revoke(&mut self, source: SourceId, catalog: &Catalog) {
        let traffic = &self.traffic;
        self.classifier
            .revoke(|key| traffic.owner(key) == Some(source));
        self.traffic.revoke(source, catalog);
        self.lanes.revoke(source, catalog);
        self.parking.revoke(source, catalog);
        self.clock.remove(source);
    }

    /// Watermarks and the size of the open traffic state.
    pub fn gauges(&self) -> EngineGauges {
        EngineGauges {
            traffic_watermark: self.traffic.watermark(),
            parking_watermark: self.parking.watermark(),
            traffic_open_states: self.traffic.open_states(),
            traffic_state_bytes: self.traffic.state_bytes(),
        }
    }
}

/// The event times of a batch of the model (column `name`).
fn event_times<'a>(batch: &'a RecordBatch, name: &str) -> Result<&'a [EventTime]> {
    let ts: &TimestampMillisecondArray = column(batch, name)?;
    Ok(ts.values())
}

/// The row indices of refused rows.
fn rows_of(jumps: &[ClockJump]) -> Vec<u32> {
    jumps.iter().map(|j| j.row).collect()
}
