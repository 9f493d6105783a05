//! Folding a source's decoded rows into the window operators, closing due windows,
//! publishing them (traffic state, live view, emitted counts) and merging a step's windows.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Instant;

use arrow_array::cast::AsArray;
use arrow_array::types::TimestampMillisecondType;
use arrow_array::{RecordBatch, TimestampMillisecondArray};
use stadtpuls_processing::ProcessingError;
use stadtpuls_processing::catalog::{Catalog, CityKey};
use stadtpuls_processing::live::LiveState;
use stadtpuls_processing::model::{parking, traffic};
use stadtpuls_processing::time::ProcessingTime;
use stadtpuls_processing::window::ClosedWindows;
use stadtpuls_processing::window::traffic::out::WINDOW_START;
use stadtpuls_processing::window::watermark::SourceId;

use super::clock::Rows;
use super::{Pipeline, StepOutput};
use crate::decode::StreamKind;
use crate::merge::MergedBatches;
use crate::message::RawMessage;
use crate::metrics;

impl Pipeline {
    /// Finishes the builders of one source and folds them into the operators.
    pub(super) fn flush(
        &mut self,
        source: SourceId,
        now: ProcessingTime,
        messages: &[RawMessage],
        out: &mut StepOutput,
    ) -> stadtpuls_processing::Result<()> {
        let mut traffic_origin = std::mem::take(&mut self.traffic_origin);
        let mut parking_origin = std::mem::take(&mut self.parking_origin);
        if !self.traffic_rows.is_empty() {
            let mut batch = self.traffic_rows.finish(&self.catalog)?;
            let catalog = Arc::clone(&self.catalog);
            let (cities, sensors) = (batch.city_keys().clone(), batch.sensor_keys().clone());
            let refused = self.screen_clock(
                source,
                Rows {
                    kind: StreamKind::Traffic,
                    ts: event_times(batch.record_batch(), traffic::col::TS)?,
                    entity: &|row| {
                        let sensor = catalog.traffic_sensors().get(sensors.value(row) as usize);
                        let city = catalog.city_id(cities.value(row));
                        format!("{city}/{}", sensor.map_or("", |s| s.id.as_ref()))
                    },
                    city: &|row| Some(cities.value(row)),
                },
                &mut traffic_origin,
                messages,
                out,
            );
            if !refused.is_empty() {
                batch = batch.without_rows(&refused)?;
            }
            // Count per city in a dense array: a map update per row would cost as much as
            // the aggregation itself.
            let mut per_city = vec![0u64; self.catalog.city_count()];
            for &city in batch.city_keys().values().iter() {
                if let Some(n) = per_city.get_mut(city as usize) {
                    *n += 1;
                }
            }
            for (city, n) in per_city.into_iter().enumerate().filter(|(_, n)| *n > 0) {
                *self
                    .counts
                    .accepted
                    .entry((city as CityKey, StreamKind::Traffic))
                    .or_default() += n;
            }
            let keys = self.catalog.traffic_sensors().len();
            let stats = self.traffic.process(source, now, &batch, keys)?;
            if self.options.per_lane {
                // Lateness is accounted (and dead-lettered) by the per-sensor windows: the
                // per-lane operator sees the same rows of the same sources, so it drops a
                // lane row from exactly the windows the per-sensor one drops it from.
                self.lanes.process(source, now, &batch, keys)?;
            }
            self.tally(StreamKind::Traffic, &stats, out);
            let cities = batch.city_keys().clone();
            self.dead_letter_late(
                StreamKind::Traffic,
                &stats,
                &|row| Some(cities.value(row)),
                &traffic_origin,
                messages,
                out,
            );
        }
        if !self.parking_rows.is_empty() {
            let mut batch = self.parking_rows.finish(&self.catalog)?;
            let catalog = Arc::clone(&self.catalog);
            let facilities = batch.facility_keys().clone();
            let refused = self.screen_clock(
                source,
                Rows {
                    kind: StreamKind::Parking,
                    ts: event_times(batch.record_batch(), parking::col::TS)?,
                    entity: &|row| {
                        let facility = catalog.facilities().get(facilities.value(row) as usize);
                        facility.map_or_else(String::new, |f| {
                            format!("{}/{}", catalog.city_id(f.city), f.id)
                        })
                    },
                    city: &|row| {
                        let facility = facilities.value(row) as usize;
                        catalog.facilities().get(facility).map(|f| f.city)
                    },
                },
                &mut parking_origin,
                messages,
                out,
            );
            if !refused.is_empty() {
                batch = batch.without_rows(&refused)?;
            }
            let stats = self.parking.process(source, now, &batch, &self.catalog)?;
            self.note_conflicts(source, now, &stats.partition_conflicts, out);
            for facility in batch.facility_keys().values().iter() {
                if let Some(info) = self.catalog.facilities().get(*facility as usize) {
                    *self
                        .counts
                        .accepted
                        .entry((info.city, StreamKind::Parking))
                        .or_default() += 1;
                }
            }
            self.tally(StreamKind::Parking, &stats, out);
            let catalog = Arc::clone(&self.catalog);
            let facilities = batch.facility_keys().clone();
            self.dead_letter_late(
                StreamKind::Parking,
                &stats,
                &|row| {
                    let facility = facilities.value(row) as usize;
                    catalog.facilities().get(facility).map(|f| f.city)
                },
                &parking_origin,
                messages,
                out,
            );
        }
        Ok(())
    }

    /// Advances the watermarks and closes the due windows into `out`.
    pub(super) fn close(
        &mut self,
        now: ProcessingTime,
        out: &mut StepOutput,
    ) -> stadtpuls_processing::Result<()> {
        let started = Instant::now();
        self.emit(Some(now), out)?;
        metrics::BATCH_DURATION
            .with_label_values(&["emit"])
            .observe(started.elapsed().as_secs_f64());
        Ok(())
    }

    /// Closes the windows the watermarks passed (`Some(now)`), or every open window at the
    /// end of input (`None`), into `out`.
    ///
    /// Each window is published as it is emitted — classified (the traffic state's
    /// hysteresis follows each sensor's windows in emission order), counted and handed to
    /// the live view — and then merged with the step's other windows of its family,
    /// revision and owning task (`merge.rs`): a replay closes thousands of windows of a
    /// few rows in one step, which would otherwise be held at once as as many small
    /// batches. So a [`ClosedWindows`] of a step may hold several windows; its rows carry
    /// their own `window_start`.
    pub(super) fn emit(
        &mut self,
        now: Option<ProcessingTime>,
        out: &mut StepOutput,
    ) -> stadtpuls_processing::Result<()> {
        let catalog: &Catalog = &self.catalog;
        let live: &LiveState = &self.live;
        let update_live = self.options.update_live;
        let classifier = &mut self.traffic_state;
        let mut traffic = StepWindows::default();
        let traffic_sink = |closed: ClosedWindows| {
            let closed = classifier.classify(&closed, catalog)?;
            count_emitted(StreamKind::Traffic, &closed);
            if update_live {
                live.apply_traffic(&closed)?;
            }
            traffic.push(closed)
        };
        match now {
            Some(now) => self.traffic.advance_into(now, catalog, traffic_sink)?,
            None => self.traffic.finish_into(catalog, traffic_sink)?,
        }
        traffic.drain_into(&mut out.traffic)?;
        if self.options.per_lane {
            let mut lanes = StepWindows::default();
            let lanes_sink = |closed: ClosedWindows| {
                if update_live {
                    live.apply_lanes(&closed)?;
                }
                lanes.push(closed)
            };
            match now {
                Some(now) => self.lanes.advance_into(now, catalog, lanes_sink)?,
                None => self.lanes.finish_into(catalog, lanes_sink)?,
            }
            lanes.drain_into(&mut out.traffic_lanes)?;
        }
        let mut parking = StepWindows::default();
        let parking_sink = |closed: ClosedWindows| {
            count_emitted(StreamKind::Parking, &closed);
            if update_live {
                live.apply_parking(&closed)?;
            }
            parking.push(closed)
        };
        match now {
            Some(now) => self.parking.advance_into(now, catalog, parking_sink)?,
            None => self.parking.finish_into(catalog, parking_sink)?,
        }
        parking.drain_into(&mut out.parking)?;
        self.publish_levels();
        Ok(())
    }

    /// Hands the parking levels that changed to the live view.
    fn publish_levels(&mut self) {
        let changed = self.parking.take_changed();
        if self.options.update_live {
            for key in changed {
                let (Some(info), Some(level)) = (
                    self.catalog.facilities().get(key as usize),
                    self.parking.facility(key),
                ) else {
                    continue;
                };
                self.live
                    .set_facility(self.catalog.city_id(info.city), &info.id, level);
            }
        }
    }
}

fn count_emitted(kind: StreamKind, closed: &ClosedWindows) {
    metrics::WINDOWS_EMITTED
        .with_label_values(&[kind.as_str(), &closed.label()])
        .inc_by(closed.batch.num_rows() as u64);
}

/// A step's closed windows of one stream, merged per (window family, revision, owning
/// task) as they are emitted.
#[derive(Default)]
struct StepWindows {
    groups: BTreeMap<(u32, u32, u32, SourceId), MergedBatches>,
}

impl StepWindows {
    fn push(&mut self, closed: ClosedWindows) -> stadtpuls_processing::Result<()> {
        let key = (
            closed.window_s,
            closed.slide_s,
            closed.revision,
            closed.owner,
        );
        self.groups
            .entry(key)
            .or_insert_with(|| MergedBatches::new(closed.batch.schema()))
            .push(closed.batch)
    }

    /// Appends one [`ClosedWindows`] per merged batch to `out`, by family, revision and
    /// owner; within one, windows in emission order (by start). Its `window_start` is the
    /// earliest of its rows.
    fn drain_into(self, out: &mut Vec<ClosedWindows>) -> stadtpuls_processing::Result<()> {
        for ((window_s, slide_s, revision, owner), merged) in self.groups {
            for batch in merged.into_batches() {
                let window_start = batch
                    .column_by_name(WINDOW_START)
                    .and_then(|c| c.as_primitive_opt::<TimestampMillisecondType>())
                    .and_then(|starts| starts.values().iter().copied().min())
                    .ok_or_else(|| {
                        ProcessingError::Schema("closed windows without `window_start`".into())
                    })?;
                out.push(ClosedWindows {
                    window_s,
                    slide_s,
                    window_start,
                    revision,
                    owner,
                    batch,
                });
            }
        }
        Ok(())
    }
}

/// The event times of a batch the pipeline built itself.
fn event_times<'a>(batch: &'a RecordBatch, name: &str) -> stadtpuls_processing::Result<&'a [i64]> {
    batch
        .column_by_name(name)
        .and_then(|c| c.as_any().downcast_ref::<TimestampMillisecondArray>())
        .map(|ts| ts.values().as_ref())
        .ok_or_else(|| {
            stadtpuls_processing::ProcessingError::Schema(format!(
                "column `{name}` missing or mistyped"
            ))
        })
}
