//! One step of the pipeline: raw messages in, dead letters and closed windows out.
//!
//! Synchronous and free of Kafka: the Kafka runner and the demo runner both feed it, and
//! tests drive it directly. Messages are grouped by source (topic-partition) because each
//! source has its own watermark.

use std::sync::Arc;
use std::time::Instant;

use stadtpuls_config::{CityRegistry, Config, FeedFormat};
use stadtpuls_processing::catalog::{Catalog, UnknownSensors};
use stadtpuls_processing::engine::{Close, Engine, EngineSpec};
use stadtpuls_processing::live::{FEED_STALE_AFTER_MS, FeedWatch, LiveEvent, LiveState};
use stadtpuls_processing::model::TimeBounds;
use stadtpuls_processing::model::parking::ParkingBatchBuilder;
use stadtpuls_processing::model::traffic::TrafficBatchBuilder;
use stadtpuls_processing::time::ProcessingTime;
use stadtpuls_processing::window::parking::ParkingSpec;
use stadtpuls_processing::window::{TimestampSemantics, WindowSpec};
use tracing::debug_span;

use crate::decode::external::ExternalIds;
use crate::decode::feed::FeedTopics;
use crate::decode::precheck::Checked;
use crate::decode::ttn::RecentBySource;
use crate::metrics;

mod clock;
mod conflict_log;
mod conflicts;
mod counts;
mod decode_feed;
mod decode_message;
mod prepare;
mod step_output;
mod tally;
mod tasks;
mod windows;

/// The step's input and its refusals, defined at the bottom of the crate (`message.rs`).
pub use crate::message::{DeadLetter, RawMessage};
use conflict_log::ConflictLog;
use counts::Counts;
pub use prepare::{Prepared, Preparer};
pub use step_output::StepOutput;

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

/// Input limits of the pipeline.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Larger messages are refused as `oversized`.
    pub max_message_bytes: usize,
    /// Events further ahead of the wall clock are refused as `future_timestamp`.
    pub max_future_ms: i64,
    /// Events further ahead of their partition's progress are refused as `clock_jump`
    /// unless confirmed ([`stadtpuls_processing::window::clock_guard`]).
    pub max_clock_jump_ms: i64,
}

/// Decoding, validation and windowing for every city, fed one batch of messages at a time.
///
/// The windowing is the [`Engine`]'s, which returns what it did as values; the pipeline
/// decodes, counts (Prometheus), turns refused and late rows into dead letters and hands
/// closed windows to the live view and the step's output.
pub struct Pipeline {
    /// Shared with a [`Preparer`] checking the next batch while this one is applied.
    catalog: Arc<Catalog>,
    /// Every operator, the clock-jump screen included.
    engine: Engine,
    traffic_rows: TrafficBatchBuilder,
    parking_rows: ParkingBatchBuilder,
    /// Whether each city's feeds still deliver (the push stream's `feed` events).
    feed_watch: FeedWatch,
    /// Feed changes of this step, published with its closed windows.
    feed_events: Vec<LiveEvent>,
    /// Index (in the current batch) of the message each pending row came from.
    traffic_origin: Vec<u32>,
    parking_origin: Vec<u32>,
    live: Arc<LiveState>,
    options: PipelineOptions,
    max_message_bytes: usize,
    max_future_ms: i64,
    counts: Counts,
    conflict_log: ConflictLog,
    /// `[[cities.feeds]]`: topics in a format other than native JSON.
    feeds: FeedTopics,
    /// The registries' `external_id`s, for partner feeds.
    external_ids: ExternalIds,
    /// The recent TTN uplinks of each partition, so a copy counts once (`decode/ttn/recent.rs`).
    ttn_recent: RecentBySource,
    /// Facilities of the catalog already looked at for the live view's list of those
    /// admitted at run time ([`Self::publish_admitted`]).
    facilities_published: usize,
    /// Whether the last step registered entities ([`Self::admitting`]).
    admitted_last_step: bool,
}

impl Pipeline {
    /// Builds the pipeline for the configured cities.
    pub fn new(
        config: &Config,
        registries: &[CityRegistry],
        live: Arc<LiveState>,
        options: PipelineOptions,
    ) -> Self {
        let mut catalog =
            Catalog::from_registries(registries, &config.traffic, options.unknown_sensors);
        for city in &config.cities {
            if let Some(key) = catalog.city(&city.id) {
                catalog.set_admitting(key, city.admit_unmapped_facilities);
            }
        }
        let mut spec = WindowSpec::from_config(&config.windows);
        spec.timestamps = options.timestamps;
        let limits = Limits {
            max_message_bytes: config.kafka.max_message_bytes,
            max_future_ms: config.windows.max_future.as_millis() as i64,
            max_clock_jump_ms: config.windows.max_clock_jump.as_millis() as i64,
        };
        let parking = ParkingSpec::from_config(&config.parking);
        let feeds = FeedTopics::from_config(config, &catalog);
        let external_ids = ExternalIds::from_registries(registries, &catalog);
        Self::from_parts(catalog, &spec, &parking, limits, live, options)
            .with_feeds(feeds, external_ids)
    }

    /// Reads `feeds` in their formats and maps partner ids with `external_ids` (set by
    /// [`Self::new`] from the config and registries; for pipelines built from parts).
    pub fn with_feeds(mut self, feeds: FeedTopics, external_ids: ExternalIds) -> Self {
        self.feeds = feeds;
        self.external_ids = external_ids;
        self
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
        let engine = EngineSpec {
            windows: spec.clone(),
            parking: *parking,
            per_lane: options.per_lane,
            max_clock_jump_ms: limits.max_clock_jump_ms,
        };
        Self {
            engine: Engine::new(&engine, &catalog),
            catalog: Arc::new(catalog),
            traffic_rows: TrafficBatchBuilder::default(),
            parking_rows: ParkingBatchBuilder::default(),
            traffic_origin: Vec::new(),
            parking_origin: Vec::new(),
            live,
            feed_watch: FeedWatch::new(FEED_STALE_AFTER_MS),
            feed_events: Vec::new(),
            options,
            max_message_bytes: limits.max_message_bytes,
            max_future_ms: limits.max_future_ms,
            counts: Counts::default(),
            conflict_log: ConflictLog::default(),
            feeds: FeedTopics::default(),
            external_ids: ExternalIds::default(),
            ttn_recent: RecentBySource::default(),
            facilities_published: 0,
            admitted_last_step: false,
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
        Preparer::new(
            self.catalog.clone(),
            self.max_future_ms,
            self.max_message_bytes,
        )
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
        let entities_before = self.entity_count();
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
            self.conflict_log.source_seen(
                source,
                &messages[start].topic,
                messages[start].partition,
            );
            // Once per run of one topic-partition: the format its topic is configured for.
            let route = self.feeds.route(&messages[start].topic).cloned();
            let topic_format = route.as_ref().map(|r| r.format);
            for (index, message) in messages.iter().enumerate().take(end).skip(start) {
                // Native JSON (no feed, no specific content-type) costs this one branch.
                let feed_format = message
                    .format
                    .or(topic_format)
                    .filter(|format| *format != FeedFormat::Native);
                if feed_format.is_none() {
                    match prepared.0.get(index) {
                        Some(Checked::One(validated, values)) => {
                            self.traffic_rows
                                .push_validated(*validated, &values.observation());
                            self.traffic_origin.push(index as u32);
                            continue;
                        }
                        Some(Checked::Many(rows)) => {
                            for (validated, values) in rows.iter() {
                                self.traffic_rows
                                    .push_validated(*validated, &values.observation());
                            }
                            self.traffic_origin
                                .extend(std::iter::repeat_n(index as u32, rows.len()));
                            continue;
                        }
                        Some(Checked::Serial) | None => {}
                    }
                }
                let (traffic_before, parking_before) =
                    (self.traffic_rows.len(), self.parking_rows.len());
                match feed_format {
                    None => self.decode_message(message, bounds, &mut rejected, &mut out),
                    Some(format) => self.decode_feed_message(
                        message,
                        format,
                        route.as_ref(),
                        bounds,
                        &mut rejected,
                        &mut out,
                    ),
                }
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
        self.publish_admitted();
        self.close(now, &mut out)?;
        self.record_metrics(messages.len(), now);
        let gauges = self.engine.gauges();
        out.open_states = gauges.traffic_open_states;
        out.state_bytes = gauges.traffic_state_bytes;
        self.admitted_last_step = self.entity_count() != entities_before;
        Ok(out)
    }

    /// Whether the last step registered sensors or facilities, as while a network is
    /// first seen with unknown sensors admitted. A [`Preparer`] holding the catalog
    /// meanwhile makes the first admission of a batch copy the whole catalog (with 10
    /// million sensors, seconds per batch), so past a size the runner then applies the
    /// next batch before checking the one after it ([`Self::entity_count`]).
    pub fn admitting(&self) -> bool {
        self.admitted_last_step
    }

    /// Sensors, facilities and spots in the catalog.
    pub fn entity_count(&self) -> usize {
        self.catalog.traffic_sensors().len()
            + self.catalog.facilities().len()
            + self.catalog.spots().len()
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

    /// Hands facilities admitted at run time since the last call (by a feed or a restore)
    /// to the live view, which lists them beside the registry's.
    fn publish_admitted(&mut self) {
        let facilities = self.catalog.facilities();
        for info in facilities.iter().skip(self.facilities_published) {
            if let Some(site) = &info.admitted {
                self.live.admit_facility(site.clone());
            }
        }
        self.facilities_published = facilities.len();
    }

    /// Closes every open window (end of input).
    ///
    /// # Errors
    /// Only engine bugs.
    pub fn finish(&mut self) -> stadtpuls_processing::Result<StepOutput> {
        let mut out = StepOutput::default();
        self.emit(Close::All, &mut out)?;
        Ok(out)
    }
}
