//! One step of the pipeline: raw messages in, dead letters and closed windows out.
//!
//! Synchronous and free of Kafka: the Kafka runner and the demo runner both feed it, and
//! tests drive it directly. Messages are grouped by source (topic-partition) because each
//! source has its own watermark.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;

use stadtpuls_config::{CityRegistry, Config};
use stadtpuls_processing::catalog::{Catalog, CityKey, UnknownSensors};
use stadtpuls_processing::live::LiveState;
use stadtpuls_processing::model::TimeBounds;
use stadtpuls_processing::model::parking::ParkingBatchBuilder;
use stadtpuls_processing::model::traffic::TrafficBatchBuilder;
use stadtpuls_processing::time::{MS_PER_S, ProcessingTime};
use stadtpuls_processing::window::parking::{ParkingOperator, ParkingSpec};
use stadtpuls_processing::window::traffic::TrafficWindowOperator;
use stadtpuls_processing::window::traffic_state::TrafficStateClassifier;
use stadtpuls_processing::window::watermark::SourceId;
use stadtpuls_processing::window::{
    ClosedWindows, ProcessStats, TimestampSemantics, WindowShape, WindowSpec, window_family_label,
};
use stadtpuls_processing::{RejectReason, Rejection};
use tracing::debug_span;

use crate::decode::native::{self, Sinks};
use crate::decode::{Rejected, StreamKind, infer_kind, parse_topic};
use crate::metrics;

/// Bytes of an oversized payload kept in its dead letter: enough to identify the sender.
pub const OVERSIZED_KEEP_BYTES: usize = 1024;

/// A message as read from a source, with its origin for dead-lettering and offsets.
#[derive(Debug, Clone)]
pub struct RawMessage {
    /// Dense id of the topic-partition, for per-source watermarks.
    pub source: SourceId,
    /// Topic it was read from.
    pub topic: Arc<str>,
    /// Partition.
    pub partition: i32,
    /// Offset within the partition.
    pub offset: i64,
    /// Message key, if any.
    pub key: Option<Bytes>,
    /// Payload bytes; a cheap slice of the batch's shared buffer.
    pub payload: Bytes,
}

/// A refused observation, ready for the dead-letter topic.
#[derive(Debug, Clone, PartialEq)]
pub struct DeadLetter {
    /// Why it was refused.
    pub reason: RejectReason,
    /// Human-readable detail.
    pub detail: String,
    /// Origin topic.
    pub topic: Arc<str>,
    /// Origin partition.
    pub partition: i32,
    /// Origin offset.
    pub offset: i64,
    /// Element index within a JSON array message.
    pub index: Option<usize>,
    /// Whether `payload` was cut to [`OVERSIZED_KEEP_BYTES`].
    pub truncated: bool,
    /// Origin key.
    pub key: Option<Bytes>,
    /// The refused bytes (the element, for arrays).
    pub payload: Bytes,
}

/// What a step produced.
#[derive(Debug, Default)]
pub struct StepOutput {
    /// Refused observations.
    pub dead_letters: Vec<DeadLetter>,
    /// Closed traffic windows.
    pub traffic: Vec<ClosedWindows>,
    /// Closed parking windows.
    pub parking: Vec<ClosedWindows>,
    /// Observations accepted.
    pub accepted: usize,
    /// Observations late for the smallest window.
    pub late: u64,
    /// Open (sensor, window) traffic states after the step.
    pub open_states: usize,
    /// Bytes of open traffic window state after the step.
    pub state_bytes: usize,
}

/// How the pipeline treats its input.
#[derive(Debug, Clone, Copy)]
pub struct PipelineOptions {
    /// Refuse or admit sensors missing from the registry.
    pub unknown_sensors: UnknownSensors,
    /// What event timestamps mean.
    pub timestamps: TimestampSemantics,
    /// Keep the live view (the API's) up to date.
    pub update_live: bool,
}

impl Default for PipelineOptions {
    fn default() -> Self {
        Self {
            unknown_sensors: UnknownSensors::Reject,
            timestamps: TimestampSemantics::IntervalEnd,
            update_live: true,
        }
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
    catalog: Catalog,
    traffic: TrafficWindowOperator,
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

/// Per-batch tallies, turned into metric increments once per batch.
#[derive(Default)]
struct Counts {
    accepted: HashMap<(CityKey, StreamKind), u64>,
    rejected: HashMap<(Option<CityKey>, StreamKind, RejectReason), u64>,
    late: HashMap<(StreamKind, WindowShape), u64>,
    late_accepted: HashMap<(StreamKind, WindowShape), u64>,
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
            traffic_state: TrafficStateClassifier::new(),
            parking: ParkingOperator::new(spec, parking, &catalog),
            catalog,
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
            Some(StreamKind::Traffic) => self.traffic.add_source(source, now),
            Some(StreamKind::Parking) => self.parking.add_source(source, now),
            None => {
                self.traffic.add_source(source, now);
                self.parking.add_source(source, now);
            }
        }
    }

    /// Forgets a source whose partition was revoked, so it no longer holds the watermark.
    pub fn remove_source(&mut self, source: SourceId) {
        self.traffic.remove_source(source);
        self.parking.remove_source(source);
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
            catalog: &mut self.catalog,
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
            let batch = self.traffic_rows.finish(&mut self.catalog)?;
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
            self.tally(StreamKind::Traffic, &stats, out);
            dead_letter_late(&stats, &traffic_origin, messages, out);
        }
        if !self.parking_rows.is_empty() {
            let batch = self.parking_rows.finish(&mut self.catalog)?;
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

    fn tally(&mut self, kind: StreamKind, stats: &ProcessStats, out: &mut StepOutput) {
        out.accepted += stats.rows;
        out.late += stats.late();
        for &(shape, n) in &stats.dropped_per_shape {
            if n > 0 {
                *self.counts.late.entry((kind, shape)).or_default() += n;
            }
        }
        for &(shape, n) in &stats.updated_late_per_shape {
            if n > 0 {
                *self.counts.late_accepted.entry((kind, shape)).or_default() += n;
            }
        }
    }

    fn close(
        &mut self,
        now: ProcessingTime,
        out: &mut StepOutput,
    ) -> stadtpuls_processing::Result<()> {
        let started = Instant::now();
        out.traffic
            .extend(self.traffic.advance(now, &self.catalog)?);
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

    fn count_emitted(&self, kind: StreamKind, closed: &ClosedWindows) {
        let window = closed.label();
        metrics::WINDOWS_EMITTED
            .with_label_values(&[kind.as_str(), &window])
            .inc_by(closed.batch.num_rows() as u64);
    }

    fn record_metrics(&mut self, messages: usize, now: ProcessingTime) {
        let counts = std::mem::take(&mut self.counts);
        for ((city, kind), n) in counts.accepted {
            metrics::EVENTS_ACCEPTED
                .with_label_values(&[self.catalog.city_id(city), kind.as_str()])
                .inc_by(n);
        }
        for ((city, kind, reason), n) in counts.rejected {
            let city = city.map_or(metrics::UNKNOWN_CITY, |c| self.catalog.city_id(c));
            metrics::EVENTS_REJECTED
                .with_label_values(&[city, kind.as_str(), reason.as_str()])
                .inc_by(n);
        }
        for ((kind, shape), n) in counts.late {
            metrics::EVENTS_LATE
                .with_label_values(&[kind.as_str(), &shape_label(shape)])
                .inc_by(n);
        }
        for ((kind, shape), n) in counts.late_accepted {
            metrics::EVENTS_LATE_ACCEPTED
                .with_label_values(&[kind.as_str(), &shape_label(shape)])
                .inc_by(n);
        }
        if messages > 0 {
            metrics::MESSAGES_RECEIVED
                .with_label_values(&["all"])
                .inc_by(messages as u64);
        }
        for (kind, wm) in [
            (StreamKind::Traffic, self.traffic.watermark()),
            (StreamKind::Parking, self.parking.watermark()),
        ] {
            if let Some(t) = wm.time() {
                metrics::WATERMARK_DELAY
                    .with_label_values(&[kind.as_str()])
                    .set((now - t) / MS_PER_S);
            }
        }
        metrics::OPEN_STATES
            .with_label_values(&["traffic"])
            .set(self.traffic.open_states() as i64);
    }
}

/// Dead-letters the rows a window operator dropped as later than the allowed lateness.
///
/// The payload is the whole message the row came from (for a JSON array, the array).
fn dead_letter_late(
    stats: &ProcessStats,
    origin: &[u32],
    messages: &[RawMessage],
    out: &mut StepOutput,
) {
    let Some((shape, _)) = stats.dropped_per_shape.first() else {
        return;
    };
    let mut last: Option<u32> = None;
    for &row in &stats.dropped_rows {
        let Some(&index) = origin.get(row as usize) else {
            continue;
        };
        // Several late rows of one array message make one dead letter.
        if last == Some(index) {
            continue;
        }
        last = Some(index);
        let Some(message) = messages.get(index as usize) else {
            continue;
        };
        out.dead_letters.push(DeadLetter {
            reason: RejectReason::Late,
            detail: format!(
                "event later than the allowed lateness: its {} window had already closed",
                shape_label(*shape)
            ),
            topic: message.topic.clone(),
            partition: message.partition,
            offset: message.offset,
            index: None,
            truncated: false,
            key: message.key.clone(),
            payload: message.payload.clone(),
        });
    }
}

fn shape_label(shape: WindowShape) -> String {
    window_family_label(
        (shape.size_ms / MS_PER_S) as u32,
        (shape.slide_ms / MS_PER_S) as u32,
    )
}
