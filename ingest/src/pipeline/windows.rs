//! Folding a source's decoded rows into the window operators, closing due windows and
//! publishing them (traffic state, live view, emitted counts).

use std::sync::Arc;
use std::time::Instant;

use arrow_array::{RecordBatch, TimestampMillisecondArray};
use stadtpuls_processing::model::{parking, traffic};

use stadtpuls_processing::catalog::CityKey;
use stadtpuls_processing::time::ProcessingTime;
use stadtpuls_processing::window::watermark::SourceId;

use super::clock::Rows;
use super::{Pipeline, RawMessage, StepOutput};
use crate::decode::StreamKind;
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

    pub(super) fn close(
        &mut self,
        now: ProcessingTime,
        out: &mut StepOutput,
    ) -> stadtpuls_processing::Result<()> {
        let started = Instant::now();
        out.traffic
            .extend(self.traffic.advance(now, &self.catalog)?);
        if self.options.per_lane {
            out.traffic_lanes
                .extend(self.lanes.advance(now, &self.catalog)?);
        }
        out.parking
            .extend(self.parking.advance(now, &self.catalog)?);
        self.publish(out)?;
        metrics::BATCH_DURATION
            .with_label_values(&["emit"])
            .observe(started.elapsed().as_secs_f64());
        Ok(())
    }

    /// Classifies closed traffic windows, hands them and changed parking levels to the live view.
    pub(super) fn publish(&mut self, out: &mut StepOutput) -> stadtpuls_processing::Result<()> {
        for closed in &mut out.traffic {
            *closed = self.traffic_state.classify(closed, &self.catalog)?;
            self.count_emitted(StreamKind::Traffic, closed);
            if self.options.update_live {
                self.live.apply_traffic(closed)?;
            }
        }
        for closed in &out.traffic_lanes {
            if self.options.update_live {
                self.live.apply_lanes(closed)?;
            }
        }
        for closed in &out.parking {
            self.count_emitted(StreamKind::Parking, closed);
            if self.options.update_live {
                self.live.apply_parking(closed)?;
            }
        }
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
