//! One step of the pipeline: raw messages in, dead letters and closed windows out.
//!
//! Synchronous and free of Kafka: the Kafka runner and the demo runner both feed it, and
//! tests drive it directly. Messages are grouped by source (topic-partition) because each
//! source has its own watermark.

use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;

use stadtpuls_config::{CityRegistry, Config};
use stadtpuls_processing::catalog::{Catalog, CityKey, UnknownSensors};
use stadtpuls_processing::live::LiveState;
use stadtpuls_processing::model::TimeBounds;
use stadtpuls_processing::model::parking::ParkingBatchBuilder;
use stadtpuls_processing::model::traffic::TrafficBatchBuilder;
use stadtpuls_processing::snapshot::{RestoreStats, TaskState};
use stadtpuls_processing::time::ProcessingTime;
use stadtpuls_processing::window::parking::{ParkingOperator, ParkingSpec};
use stadtpuls_processing::window::traffic::TrafficWindowOperator;
use stadtpuls_processing::window::traffic_state::TrafficStateClassifier;
use stadtpuls_processing::window::watermark::SourceId;
use stadtpuls_processing::window::{TimestampSemantics, WindowSpec};
use stadtpuls_processing::{RejectReason, Rejection};
use tracing::debug_span;

use crate::decode::native::{self, Sinks};
use crate::decode::precheck;
use crate::decode::{Rejected, StreamKind, infer_kind, parse_topic};
use crate::metrics;

mod messages;
mod tally;

pub use messages::{DeadLetter, RawMessage, StepOutput};
use tally::{Counts, dead_letter_late};

/// Bytes of an oversized payload kept in its dead letter: enough to identify the sender.
pub const OVERSIZED_KEEP_BYTES: usize = 1024;

/// How the pipeline treats its input.
#[derive(Debug, Clone, Copy)]
pub struct PipelineOptions {
    /// Refuse or admit sensors missing from the registry.
    pub unknown_sensors: UnknownSensors,
    /// What event timestamps mean.
    pub timestamps: TimestampSemantics,
    /// Keep the live view (the API's) up to date.
    pub update_live: bool,
    /// Check single-object traffic messages on all cores before appending them in order
    /// (same results; off only to compare against the serial path).
    pub parallel_decode: bool,
    /// Also keep windows per sensor and lane (costs a second fold of every lane report).
    pub per_lane: bool,
}

impl Default for PipelineOptions {
    fn default() -> Self {
        Self {
            unknown_sensors: UnknownSensors::Reject,
            timestamps: TimestampSemantics::IntervalEnd,
            update_live: true,
            parallel_decode: true,
            per_lane: true,
        }
    }
}

/// The checks of a batch's messages, aligned with them (see [`Pipeline::preparer`]).
#[derive(Debug, Default)]
pub struct Prepared(Vec<precheck::Checked>);

impl Prepared {
    /// Appends the checks of the messages that follow.
    pub fn extend(&mut self, next: Prepared) {
        self.0.extend(next.0);
    }

    /// Number of messages checked.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether no message was checked.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// Checks messages against a snapshot of the pipeline's catalog, on any thread.
#[derive(Debug, Clone)]
pub struct Preparer {
    catalog: Arc<Catalog>,
    max_future_ms: i64,
    max_message_bytes: usize,
}

impl Preparer {
    fn bounds(&self, now: ProcessingTime) -> TimeBounds {
        TimeBounds {
            now,
            max_future_ms: self.max_future_ms,
        }
    }

    /// Checks `messages` on this thread.
    pub fn prepare(&self, messages: &[RawMessage], now: ProcessingTime) -> Prepared {
        self.prepare_with_room(messages, now, messages.len())
    }

    /// [`Self::prepare`] into room for `capacity` checks, so the checks of the rest of the
    /// batch can be appended without moving these.
    pub fn prepare_with_room(
        &self,
        messages: &[RawMessage],
        now: ProcessingTime,
        capacity: usize,
    ) -> Prepared {
        let mut checked = Vec::with_capacity(capacity.max(messages.len()));
        precheck::check_into(
            &self.catalog,
            messages,
            self.bounds(now),
            self.max_message_bytes,
            &mut checked,
        );
        Prepared(checked)
    }

    /// Checks `messages` on every core.
    pub fn prepare_parallel(&self, messages: &[RawMessage], now: ProcessingTime) -> Prepared {
        Prepared(precheck::check_all(
            &self.catalog,
            messages,
            self.bounds(now),
            self.max_message_bytes,
        ))
    }
}

/// Input limits of the pipeline.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Larger messages are refused as `oversized`.
    pub max_message_bytes: usize,
    /// Events further ahead of the wall clock are refused as `future_timestamp`.
    pub max_future_ms: i64,
}

/// Decoding, validation and windowing for every city, fed one batch of messages at a time.
pub struct Pipeline {
    /// Shared with a [`Preparer`] checking the next batch while this one is applied.
    catalog: Arc<Catalog>,
    traffic: TrafficWindowOperator,
    /// The same windows per sensor and lane.
    lanes: TrafficWindowOperator,
    traffic_state: TrafficStateClassifier,
    parking: ParkingOperator,
    traffic_rows: TrafficBatchBuilder,
    parking_rows: ParkingBatchBuilder,
    /// Index (in the current batch) of the message each pending row came from.
    traffic_origin: Vec<u32>,
    parking_origin: Vec<u32>,
    live: Arc<LiveState>,
    options: PipelineOptions,
    max_message_bytes: usize,
    max_future_ms: i64,
    counts: Counts,
}

impl Pipeline {
    /// Builds the pipeline for the configured cities.
    pub fn new(
        config: &Config,
        registries: &[CityRegistry],
        live: Arc<LiveState>,
        options: PipelineOptions,
    ) -> Self {
        let catalog =
            Catalog::from_registries(registries, &config.traffic, options.unknown_sensors);
        let mut spec = WindowSpec::from_config(&config.windows);
        spec.timestamps = options.timestamps;
        let limits = Limits {
            max_message_bytes: config.kafka.max_message_bytes,
            max_future_ms: config.windows.max_future.as_millis() as i64,
        };
        let parking = ParkingSpec::from_config(&config.parking);
        Self::from_parts(catalog, &spec, &parking, limits, live, options)
    }

    /// Builds the pipeline from an explicit catalog, window and parking specs (benches, tests).
    pub fn from_parts(
        catalog: Catalog,
        spec: &WindowSpec,
        parking: &ParkingSpec,
        limits: Limits,
        live: Arc<LiveState>,
        options: PipelineOptions,
    ) -> Self {
        metrics::register();
        Self {
            traffic: TrafficWindowOperator::new(spec),
            lanes: TrafficWindowOperator::per_lane(spec),
            traffic_state: TrafficStateClassifier::new(),
            parking: ParkingOperator::new(spec, parking, &catalog),
            catalog: Arc::new(catalog),
            traffic_rows: TrafficBatchBuilder::default(),
            parking_rows: ParkingBatchBuilder::default(),
            traffic_origin: Vec::new(),
            parking_origin: Vec::new(),
            live,
            options,
            max_message_bytes: limits.max_message_bytes,
            max_future_ms: limits.max_future_ms,
            counts: Counts::default(),
        }
    }

    /// The catalog of cities and sensors.
    pub fn catalog(&self) -> &Catalog {
        &self.catalog
    }

    /// Decodes, validates and windows a batch of messages read at processing time `now`.
    ///
    /// # Errors
    /// Only engine bugs (schema mismatches); bad input becomes dead letters.
    pub fn process(
        &mut self,
        messages: &[RawMessage],
        now: ProcessingTime,
    ) -> stadtpuls_processing::Result<StepOutput> {
        let prepared = if self.options.parallel_decode {
            self.preparer().prepare_parallel(messages, now)
        } else {
            Prepared::default()
        };
        self.process_prepared(messages, prepared, now)
    }

    /// Whether single-object traffic messages are checked in parallel (`PipelineOptions`).
    pub fn parallel_decode(&self) -> bool {
        self.options.parallel_decode
    }

    /// A handle that checks batches against the current catalog on any thread, so the
    /// next batch can be prepared while this pipeline applies the current one.
    pub fn preparer(&self) -> Preparer {
        Preparer {
            catalog: self.catalog.clone(),
            max_future_ms: self.max_future_ms,
            max_message_bytes: self.max_message_bytes,
        }
    }

    /// [`Self::process`] with the checks of `messages` already done by a [`Preparer`] (of
    /// this pipeline, at any earlier time: a sensor admitted since simply takes the
    /// serial path). Gives exactly the results of `process`.
    ///
    /// # Errors
    /// Only engine bugs (schema mismatches); bad input becomes dead letters.
    pub fn process_prepared(
        &mut self,
        messages: &[RawMessage],
        prepared: Prepared,
        now: ProcessingTime,
    ) -> stadtpuls_processing::Result<StepOutput> {
        let started = Instant::now();
        let _span = debug_span!("pipeline_batch", messages = messages.len()).entered();
        let mut out = StepOutput::default();
        let bounds = TimeBounds {
            now,
            max_future_ms: self.max_future_ms,
        };
        let mut rejected = Vec::new();
        let mut start = 0;
        while start < messages.len() {
            let source = messages[start].source;
            let end = start
                + messages[start..]
                    .iter()
                    .take_while(|m| m.source == source)
                    .count();
            for (index, message) in messages.iter().enumerate().take(end).skip(start) {
                if let Some((validated, values)) = prepared.0.get(index).copied().flatten() {
                    self.traffic_rows
                        .push_validated(validated, &values.observation());
                    self.traffic_origin.push(index as u32);
                    continue;
                }
                let (traffic_before, parking_before) =
                    (self.traffic_rows.len(), self.parking_rows.len());
                self.decode_message(message, bounds, &mut rejected, &mut out);
                let traffic_new = self.traffic_rows.len() - traffic_before;
                let parking_new = self.parking_rows.len() - parking_before;
                self.traffic_origin
                    .extend(std::iter::repeat_n(index as u32, traffic_new));
                self.parking_origin
                    .extend(std::iter::repeat_n(index as u32, parking_new));
            }
            self.flush(source, now, messages, &mut out)?;
            out.runs.push((source, (end - 1) as u32));
            start = end;
        }
        metrics::BATCH_DURATION
            .with_label_values(&["decode_aggregate"])
            .observe(started.elapsed().as_secs_f64());
        self.close(now, &mut out)?;
        self.record_metrics(messages.len(), now);
        out.open_states = self.traffic.open_states();
        out.state_bytes = self.traffic.state_bytes();
        Ok(out)
    }

    /// Advances watermarks without new data (idle sources) and closes due windows.
    ///
    /// # Errors
    /// Only engine bugs.
    pub fn tick(&mut self, now: ProcessingTime) -> stadtpuls_processing::Result<StepOutput> {
        let mut out = StepOutput::default();
        self.close(now, &mut out)?;
        self.record_metrics(0, now);
        Ok(out)
    }

    /// Closes every open window (end of input).
    ///
    /// # Errors
    /// Only engine bugs.
    pub fn finish(&mut self) -> stadtpuls_processing::Result<StepOutput> {
        let mut out = StepOutput {
            traffic: self.traffic.finish(&self.catalog)?,
            traffic_lanes: self.lanes.finish(&self.catalog)?,
            parking: self.parking.finish(&self.catalog)?,
            ..StepOutput::default()
        };
        self.publish(&mut out)?;
        Ok(out)
    }

    /// Registers a newly assigned topic-partition with the operator of its kind (both, when
    /// the topic does not follow the naming convention), so its backlog is not taken as late.
    pub fn add_source(&mut self, source: SourceId, topic: &str, now: ProcessingTime) {
        match parse_topic(topic).map(|r| r.kind) {
            Some(StreamKind::Traffic) => {
                self.traffic.add_source(source, now);
                self.lanes.add_source(source, now);
            }
            Some(StreamKind::Parking) => self.parking.add_source(source, now),
            None => {
                self.traffic.add_source(source, now);
                self.lanes.add_source(source, now);
                self.parking.add_source(source, now);
            }
        }
    }

    /// Forgets a source whose partition was revoked, so it no longer holds the watermark.
    pub fn remove_source(&mut self, source: SourceId) {
        self.traffic.remove_source(source);
        self.lanes.remove_source(source);
        self.parking.remove_source(source);
    }

    /// The open state task `source` owns (windows, hysteresis, parking, its watermark
    /// clock), for its checkpoint.
    pub fn snapshot(&self, source: SourceId) -> TaskState {
        let traffic = &self.traffic;
        TaskState {
            traffic: traffic.snapshot(source, &self.catalog),
            lanes: self.lanes.snapshot(source, &self.catalog),
            classifier: self
                .traffic_state
                .snapshot(|key| traffic.owner(key) == Some(source), &self.catalog),
            parking: self.parking.snapshot(source, &self.catalog),
        }
    }

    /// Registers task `source` (a newly assigned partition of `topic`) with the state of
    /// its last checkpoint; entities are resolved by id in this pipeline's catalog.
    pub fn restore(
        &mut self,
        source: SourceId,
        topic: &str,
        state: &TaskState,
        now: ProcessingTime,
    ) -> RestoreStats {
        self.add_source(source, topic, now);
        // Copies the catalog only if a preparer still holds it (see `Preparer`).
        let catalog = Arc::make_mut(&mut self.catalog);
        let mut stats = self.traffic.restore(source, &state.traffic, catalog, now);
        stats += self.lanes.restore(source, &state.lanes, catalog, now);
        stats += self.traffic_state.restore(&state.classifier, catalog);
        stats += self.parking.restore(source, &state.parking, catalog, now);
        stats
    }

    /// Drops everything task `source` owns and forgets the source (partition revoked,
    /// after its checkpoint).
    pub fn revoke(&mut self, source: SourceId) {
        let traffic = &self.traffic;
        self.traffic_state
            .revoke(|key| traffic.owner(key) == Some(source));
        self.traffic.revoke(source);
        self.lanes.revoke(source);
        self.parking.revoke(source, &self.catalog);
    }

    fn decode_message(
        &mut self,
        message: &RawMessage,
        bounds: TimeBounds,
        rejected: &mut Vec<Rejected>,
        out: &mut StepOutput,
    ) {
        let route = parse_topic(&message.topic);
        let kind = route
            .as_ref()
            .map_or_else(|| infer_kind(&message.payload), |r| r.kind);
        let topic_city = route.as_ref().and_then(|r| self.catalog.city(r.city));
        let refusal = if message.payload.len() > self.max_message_bytes {
            Some(Rejection::new(
                RejectReason::Oversized,
                format!(
                    "{} bytes exceed kafka.max_message_bytes {}",
                    message.payload.len(),
                    self.max_message_bytes
                ),
            ))
        } else {
            route.as_ref().filter(|_| topic_city.is_none()).map(|r| {
                Rejection::new(
                    RejectReason::UnknownCity,
                    format!("topic city `{}` is not configured", r.city),
                )
            })
        };
        if let Some(rejection) = refusal {
            let truncated = message.payload.len() > OVERSIZED_KEEP_BYTES
                && rejection.reason == RejectReason::Oversized;
            let keep = if truncated {
                OVERSIZED_KEEP_BYTES
            } else {
                message.payload.len()
            };
            rejected.push(Rejected {
                index: None,
                city: topic_city,
                rejection,
                payload: message.payload[..keep].to_vec(),
            });
            self.dead_letter(message, kind, rejected, truncated, out);
            return;
        }
        let mut sinks = Sinks {
            // Copies the catalog only if a preparer still holds the old one and this
            // message admits a sensor or the catalog is shared (see `Preparer`).
            catalog: Arc::make_mut(&mut self.catalog),
            traffic: &mut self.traffic_rows,
            parking: &mut self.parking_rows,
            rejected,
        };
        native::decode(kind, &message.payload, topic_city, bounds, &mut sinks);
        self.dead_letter(message, kind, rejected, false, out);
    }

    fn dead_letter(
        &mut self,
        message: &RawMessage,
        kind: StreamKind,
        rejected: &mut Vec<Rejected>,
        truncated: bool,
        out: &mut StepOutput,
    ) {
        for r in rejected.drain(..) {
            *self
                .counts
                .rejected
                .entry((r.city, kind, r.rejection.reason))
                .or_default() += 1;
            out.dead_letters.push(DeadLetter {
                reason: r.rejection.reason,
                detail: r.rejection.detail,
                topic: message.topic.clone(),
                partition: message.partition,
                offset: message.offset,
                index: r.index,
                truncated,
                key: message.key.clone(),
                payload: Bytes::from(r.payload),
            });
        }
    }

    /// Finishes the builders of one source and folds them into the operators.
    fn flush(
        &mut self,
        source: SourceId,
        now: ProcessingTime,
        messages: &[RawMessage],
        out: &mut StepOutput,
    ) -> stadtpuls_processing::Result<()> {
        let traffic_origin = std::mem::take(&mut self.traffic_origin);
        let parking_origin = std::mem::take(&mut self.parking_origin);
        if !self.traffic_rows.is_empty() {
            let batch = self.traffic_rows.finish(&self.catalog)?;
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
                // Lateness is accounted (and dead-lettered) by the per-sensor windows.
                self.lanes.process(source, now, &batch, keys)?;
            }
            self.tally(StreamKind::Traffic, &stats, out);
            dead_letter_late(&stats, &traffic_origin, messages, out);
        }
        if !self.parking_rows.is_empty() {
            let batch = self.parking_rows.finish(&self.catalog)?;
            let stats = self.parking.process(source, now, &batch, &self.catalog)?;
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
            dead_letter_late(&stats, &parking_origin, messages, out);
        }
        Ok(())
    }

    fn close(
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
    fn publish(&mut self, out: &mut StepOutput) -> stadtpuls_processing::Result<()> {
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
