//! A source's decoded rows through the engine (`stadtpuls_processing::engine`) and what it
//! returns into counts and dead letters; closed windows published (live view, emitted
//! counts) and merged per step.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Instant;

use arrow_array::UInt32Array;
use arrow_array::cast::AsArray;
use arrow_array::types::TimestampMillisecondType;
use stadtpuls_processing::ProcessingError;
use stadtpuls_processing::catalog::CityKey;
use stadtpuls_processing::engine::Close;
use stadtpuls_processing::live::{LiveEvent, LiveState};
use stadtpuls_processing::model::contract::HistoryStream;
use stadtpuls_processing::time::ProcessingTime;
use stadtpuls_processing::window::ClosedWindows;
use stadtpuls_processing::window::traffic::out::WINDOW_START;
use stadtpuls_processing::window::watermark::SourceId;

use super::{Pipeline, StepOutput};
use crate::decode::StreamKind;
use crate::merge::MergedBatches;
use crate::message::RawMessage;
use crate::metrics;

impl Pipeline {
    /// Finishes the builders of one source and hands them to the engine: rows refused as
    /// clock jumps and rows dropped as late become dead letters, the rest is counted.
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
            let batch = self.traffic_rows.finish(&self.catalog)?;
            // The cities of the rows as given: clock jumps index them.
            let given = batch.city_keys().clone();
            let folded = self
                .engine
                .fold_traffic(source, now, batch, &self.catalog)?;
            self.dead_letter_jumps(
                StreamKind::Traffic,
                &folded.clock_jumps,
                &|row| Some(given.value(row)),
                &mut traffic_origin,
                messages,
                out,
            );
            // Count per city in a dense array: a map update per row would cost as much as
            // the aggregation itself.
            let mut per_city = vec![0u64; self.catalog.city_count()];
            for &city in folded.batch.city_keys().values().iter() {
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
                let id = self.catalog.city_id(city as CityKey);
                if let Some(change) = self.feed_watch.accepted(id, "traffic", now) {
                    self.feed_events.push(LiveEvent::Feed(change));
                }
            }
            self.tally(StreamKind::Traffic, &folded.stats, out);
            let cities = folded.batch.city_keys();
            self.dead_letter_late(
                StreamKind::Traffic,
                &folded.stats,
                &|row| Some(cities.value(row)),
                &traffic_origin,
                messages,
                out,
            );
        }
        if !self.parking_rows.is_empty() {
            let batch = self.parking_rows.finish(&self.catalog)?;
            let catalog = Arc::clone(&self.catalog);
            let city_of = |facilities: &UInt32Array, row: usize| {
                let facility = facilities.value(row) as usize;
                catalog.facilities().get(facility).map(|f| f.city)
            };
            let given = batch.facility_keys().clone();
            let folded = self
                .engine
                .fold_parking(source, now, batch, &self.catalog)?;
            self.dead_letter_jumps(
                StreamKind::Parking,
                &folded.clock_jumps,
                &|row| city_of(&given, row),
                &mut parking_origin,
                messages,
                out,
            );
            self.note_conflicts(source, now, &folded.stats.partition_conflicts, out);
            let mut fed = vec![false; self.catalog.city_count()];
            for facility in folded.batch.facility_keys().values().iter() {
                if let Some(info) = self.catalog.facilities().get(*facility as usize) {
                    *self
                        .counts
                        .accepted
                        .entry((info.city, StreamKind::Parking))
                        .or_default() += 1;
                    if let Some(seen) = fed.get_mut(info.city as usize) {
                        *seen = true;
                    }
                }
            }
            for city in fed
                .iter()
                .enumerate()
                .filter(|(_, fed)| **fed)
                .map(|(c, _)| c)
            {
                let id = self.catalog.city_id(city as CityKey);
                if let Some(change) = self.feed_watch.accepted(id, "parking", now) {
                    self.feed_events.push(LiveEvent::Feed(change));
                }
            }
            self.tally(StreamKind::Parking, &folded.stats, out);
            let facilities = folded.batch.facility_keys();
            self.dead_letter_late(
                StreamKind::Parking,
                &folded.stats,
                &|row| city_of(facilities, row),
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
        self.emit(Close::Due(now), out)?;
        // Feeds recovered in this step and gone stale by now (the push stream's `feed`).
        let mut changes = std::mem::take(&mut self.feed_events);
        changes.extend(self.feed_watch.check(now).into_iter().map(LiveEvent::Feed));
        if self.options.update_live {
            self.live.publish(changes);
        }
        metrics::BATCH_DURATION
            .with_label_values(&["emit"])
            .observe(started.elapsed().as_secs_f64());
        Ok(())
    }

    /// Closes the windows the watermarks passed, or every open window at the end of input,
    /// into `out`.
    ///
    /// Each window is published as the engine emits it (traffic windows already
    /// classified) — counted and handed to the live view — and then merged with the
    /// step's other windows of its family, revision and owning task (`merge.rs`): a
    /// replay closes thousands of windows of a few rows in one step, which would otherwise
    /// be held at once as as many small batches. So a [`ClosedWindows`] of a step may hold
    /// several windows; its rows carry their own `window_start`.
    pub(super) fn emit(
        &mut self,
        until: Close,
        out: &mut StepOutput,
    ) -> stadtpuls_processing::Result<()> {
        let live: &LiveState = &self.live;
        let update_live = self.options.update_live;
        let mut traffic = StepWindows::default();
        let mut lanes = StepWindows::default();
        let mut parking = StepWindows::default();
        self.engine
            .close(until, &self.catalog, |stream, closed| match stream {
                HistoryStream::Traffic => {
                    count_emitted(StreamKind::Traffic, &closed);
                    if update_live {
                        live.apply_traffic(&closed)?;
                    }
                    traffic.push(closed)
                }
                HistoryStream::TrafficLanes => {
                    if update_live {
                        live.apply_lanes(&closed)?;
                    }
                    lanes.push(closed)
                }
                HistoryStream::Parking => {
                    count_emitted(StreamKind::Parking, &closed);
                    if update_live {
                        live.apply_parking(&closed)?;
                    }
                    parking.push(closed)
                }
            })?;
        traffic.drain_into(&mut out.traffic)?;
        lanes.drain_into(&mut out.traffic_lanes)?;
        parking.drain_into(&mut out.parking)?;
        self.publish_levels();
        Ok(())
    }

    /// Hands the parking levels that changed to the live view.
    fn publish_levels(&mut self) {
        let changed = self.engine.take_changed_levels();
        if self.options.update_live {
            for (key, level) in changed {
                let Some(info) = self.catalog.facilities().get(key as usize) else {
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
