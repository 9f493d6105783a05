//! Every Prometheus metric the ingest side records, in the default registry.
//!
//! Labels are bounded: `city` is a configured city id or `unknown`, `kind` is
//! traffic|parking, `reason` a [`stadtpuls_processing::RejectReason`] (or one of a fixed
//! set of failure reasons, for dropped dead letters and history write failures), `window` a
//! configured size, `table` a configured history table. Sensor ids are never labels.

use std::sync::LazyLock;

use prometheus::{
    Histogram, HistogramVec, IntCounter, IntCounterVec, IntGauge, IntGaugeVec, register_histogram,
    register_histogram_vec, register_int_counter, register_int_counter_vec, register_int_gauge,
    register_int_gauge_vec,
};

/// Label value for events whose city could not be determined or is not configured.
pub const UNKNOWN_CITY: &str = "unknown";

fn counter(name: &str, help: &str, labels: &[&str]) -> IntCounterVec {
    register_int_counter_vec!(name, help, labels).unwrap_or_else(|e| panic!("metric {name}: {e}"))
}

fn gauge(name: &str, help: &str, labels: &[&str]) -> IntGaugeVec {
    register_int_gauge_vec!(name, help, labels).unwrap_or_else(|e| panic!("metric {name}: {e}"))
}

/// Messages read from the source, by kind.
pub static MESSAGES_RECEIVED: LazyLock<IntCounterVec> = LazyLock::new(|| {
    counter(
        "stadtpuls_messages_received_total",
        "Messages read from Kafka or the simulated feed",
        &["kind"],
    )
});

/// Observations accepted into the windows, by city and kind.
pub static EVENTS_ACCEPTED: LazyLock<IntCounterVec> = LazyLock::new(|| {
    counter(
        "stadtpuls_events_accepted_total",
        "Observations decoded, validated and folded into windows",
        &["city", "kind"],
    )
});

/// Observations refused, by city, kind and reason.
pub static EVENTS_REJECTED: LazyLock<IntCounterVec> = LazyLock::new(|| {
    counter(
        "stadtpuls_events_rejected_total",
        "Observations refused and dead-lettered, by reason",
        &["city", "kind", "reason"],
    )
});

/// Messages of partner feeds (every format but native JSON), by city and format.
pub static FEED_MESSAGES: LazyLock<IntCounterVec> = LazyLock::new(|| {
    counter(
        "stadtpuls_feed_messages_received_total",
        "Messages of partner feeds (FIWARE, ParkAPI, …) read, by city and format",
        &["city", "format"],
    )
});

/// Observations of partner feeds decoded and validated, by city and format.
pub static FEED_ACCEPTED: LazyLock<IntCounterVec> = LazyLock::new(|| {
    counter(
        "stadtpuls_feed_observations_accepted_total",
        "Observations of partner feeds decoded and validated, by city and format",
        &["city", "format"],
    )
});

/// Facilities admitted at run time: a partner feed's car park no `external_id` maps, which
/// stated its capacity, in a city with `admit_unmapped_facilities` (one per facility and
/// instance: a restore admitting it again from a checkpoint does not count).
pub static FACILITIES_ADMITTED: LazyLock<IntCounterVec> = LazyLock::new(|| {
    counter(
        "stadtpuls_facilities_admitted_total",
        "Facilities not in the registry admitted at run time from a partner feed, by city and format",
        &["city", "format"],
    )
});

/// Observations (or whole messages) of partner feeds refused, by city, format and reason.
pub static FEED_REJECTED: LazyLock<IntCounterVec> = LazyLock::new(|| {
    counter(
        "stadtpuls_feed_observations_rejected_total",
        "Observations of partner feeds refused and dead-lettered, by city, format and reason",
        &["city", "format", "reason"],
    )
});

/// Observations that arrived after their window closed, by kind and window size.
pub static EVENTS_LATE: LazyLock<IntCounterVec> = LazyLock::new(|| {
    counter(
        "stadtpuls_events_late_total",
        "Observations whose window had already closed when they arrived",
        &["kind", "window"],
    )
});

/// Late observations that updated an already emitted window (within the allowed lateness).
pub static EVENTS_LATE_ACCEPTED: LazyLock<IntCounterVec> = LazyLock::new(|| {
    counter(
        "stadtpuls_events_late_accepted_total",
        "Late observations within the allowed lateness: their window was re-emitted with a new revision",
        &["kind", "window"],
    )
});

/// Closed (entity, window) results emitted, by kind and window size.
pub static WINDOWS_EMITTED: LazyLock<IntCounterVec> = LazyLock::new(|| {
    counter(
        "stadtpuls_windows_emitted_total",
        "Closed window results emitted (one per sensor or facility and window)",
        &["kind", "window"],
    )
});

/// Observations of an entity that came through another partition than the one holding its
/// state: the producer does not key the entity's events to one partition (spots of one
/// zone keyed by spot id), so its windows depend on how the partitions interleave.
pub static PARTITION_CONFLICTS: LazyLock<IntCounterVec> = LazyLock::new(|| {
    counter(
        "stadtpuls_partition_conflicts_total",
        "Observations of a facility or zone that arrived on a different partition than its earlier ones (producer keying)",
        &["city", "kind"],
    )
});

/// Dead-letter messages that could not be written.
pub static DEADLETTER_FAILURES: LazyLock<IntCounterVec> = LazyLock::new(|| {
    counter(
        "stadtpuls_deadletter_failures_total",
        "Dead-letter messages the sink failed to write (retried)",
        &["sink"],
    )
});

/// Dead letters given up because the broker can never take the record (too large,
/// invalid), by the broker's reason; see `kafka::deadletter::unwritable`.
pub static DEADLETTERS_DROPPED: LazyLock<IntCounterVec> = LazyLock::new(|| {
    counter(
        "stadtpuls_deadletters_dropped_total",
        "Dead letters given up because the broker refuses the record itself (not retried)",
        &["reason"],
    )
});

/// Consumer lag per topic, summed over its assigned partitions.
pub static CONSUMER_LAG: LazyLock<IntGaugeVec> = LazyLock::new(|| {
    gauge(
        "stadtpuls_consumer_lag_messages",
        "Messages between the consumer position and the partition end, per topic",
        &["topic"],
    )
});

/// Messages librdkafka has fetched but the runner has not taken yet, per topic: its
/// prefetch queue, Σ over assigned partitions of `next_offset − app_offset` (librdkafka
/// statistics). librdkafka stops fetching at `queued.min.messages` or
/// `queued.max.messages.kbytes`, overshot by one fetch response; while a slow sink pauses
/// reading it stays within that bound instead of growing with the backlog.
pub static CONSUMER_PREFETCHED: LazyLock<IntGaugeVec> = LazyLock::new(|| {
    gauge(
        "stadtpuls_consumer_prefetched_messages",
        "Messages fetched by librdkafka but not yet handed to the pipeline, per topic",
        &["topic"],
    )
});

/// Payload bytes in librdkafka's consumer queue (its `fetchq_size`): the prefetch item of
/// the memory model (`docs/operating.md`, "Memory"), the quantity
/// `queued.max.messages.kbytes` bounds. One queue serves every partition, and each
/// partition's statistics report that queue, so this is their maximum, not their sum
/// (which counted the queue once per partition).
pub static CONSUMER_PREFETCHED_BYTES: LazyLock<IntGauge> = LazyLock::new(|| {
    register_int_gauge!(
        "stadtpuls_consumer_prefetched_bytes",
        "Payload bytes fetched by librdkafka but not yet handed to the pipeline"
    )
    .unwrap_or_else(|e| panic!("metric stadtpuls_consumer_prefetched_bytes: {e}"))
});

/// Processing time minus the operator watermark, by kind.
pub static WATERMARK_DELAY: LazyLock<IntGaugeVec> = LazyLock::new(|| {
    gauge(
        "stadtpuls_watermark_delay_seconds",
        "Wall-clock time minus the operator watermark",
        &["kind"],
    )
});

/// Open (entity, window) states, by kind.
pub static OPEN_STATES: LazyLock<IntGaugeVec> = LazyLock::new(|| {
    gauge(
        "stadtpuls_window_open_states",
        "Open (entity, window) accumulators",
        &["kind"],
    )
});

/// Time to decode, validate, aggregate and emit one source batch.
pub static BATCH_DURATION: LazyLock<HistogramVec> = LazyLock::new(|| {
    register_histogram_vec!(
        "stadtpuls_batch_duration_seconds",
        "Time to process one batch of messages",
        &["stage"],
        vec![
            0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0
        ]
    )
    .unwrap_or_else(|e| panic!("metric stadtpuls_batch_duration_seconds: {e}"))
});

/// Output records acknowledged by the broker, by output topic.
pub static OUTPUT_RECORDS: LazyLock<IntCounterVec> = LazyLock::new(|| {
    counter(
        "stadtpuls_output_records_total",
        "Closed-window records the output topics acknowledged (a replay after a crash produces some again, with the same key and value)",
        &["topic"],
    )
});

/// Output records whose delivery failed, by output topic; their commit is retried.
pub static OUTPUT_FAILURES: LazyLock<IntCounterVec> = LazyLock::new(|| {
    counter(
        "stadtpuls_output_failures_total",
        "Closed-window records the output topics did not acknowledge (the commit fails and is retried)",
        &["topic"],
    )
});

/// Standard output records (DATEX II status publications, NGSI-LD upserts) the broker
/// acknowledged, by format (`datex2`, `ngsi_ld`).
pub static STANDARD_OUTPUT_RECORDS: LazyLock<IntCounterVec> = LazyLock::new(|| {
    counter(
        "stadtpuls_standard_output_records_total",
        "Standard output records (DATEX II status publications, NGSI-LD upserts) the broker acknowledged",
        &["format"],
    )
});

/// Standard output records not acknowledged, by format; sent again at the next look.
pub static STANDARD_OUTPUT_FAILURES: LazyLock<IntCounterVec> = LazyLock::new(|| {
    counter(
        "stadtpuls_standard_output_failures_total",
        "Standard output records not acknowledged (sent again at the next look)",
        &["format"],
    )
});

/// Time of one output commit: producing a task's staged records and awaiting every
/// delivery report.
pub static OUTPUT_COMMIT_DURATION: LazyLock<Histogram> = LazyLock::new(|| {
    register_histogram!(
        "stadtpuls_output_commit_duration_seconds",
        "Time to produce one task's staged windows to the output topics and await every acknowledgement",
        vec![0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0]
    )
    .unwrap_or_else(|e| panic!("metric stadtpuls_output_commit_duration_seconds: {e}"))
});

/// Rows written to Parquet history by commits, by table (compactions not counted).
pub static HISTORY_ROWS_WRITTEN: LazyLock<IntCounterVec> = LazyLock::new(|| {
    counter(
        "stadtpuls_history_rows_written_total",
        "Closed-window rows committed to Parquet history",
        &["table"],
    )
});

/// Parquet files written by commits, by table.
pub static HISTORY_FILES_WRITTEN: LazyLock<IntCounterVec> = LazyLock::new(|| {
    counter(
        "stadtpuls_history_files_written_total",
        "Parquet history files written by commits",
        &["table"],
    )
});

/// Compactions of a partition's small files, by table.
pub static HISTORY_COMPACTIONS: LazyLock<IntCounterVec> = LazyLock::new(|| {
    counter(
        "stadtpuls_history_compactions_total",
        "Compactions that merged small Parquet history files of one partition",
        &["table"],
    )
});

/// Date partitions deleted by retention, by table.
pub static HISTORY_PARTITIONS_EXPIRED: LazyLock<IntCounterVec> = LazyLock::new(|| {
    counter(
        "stadtpuls_history_partitions_expired_total",
        "Date partitions of Parquet history deleted by history.retention",
        &["table"],
    )
});

/// Failed history writes, by reason (`disk_full`, `permission`, `io`, `encode`,
/// `compaction`, `retention`).
pub static HISTORY_WRITE_FAILURES: LazyLock<IntCounterVec> = LazyLock::new(|| {
    counter(
        "stadtpuls_history_write_failures_total",
        "Parquet history operations that failed (commits are retried, their rows stay staged)",
        &["reason"],
    )
});

/// Rows staged for history and not yet committed, over all tasks.
pub static HISTORY_STAGED_ROWS: LazyLock<IntGauge> = LazyLock::new(|| {
    register_int_gauge!(
        "stadtpuls_history_staged_rows",
        "Closed-window rows staged for Parquet history, not yet committed"
    )
    .unwrap_or_else(|e| panic!("metric stadtpuls_history_staged_rows: {e}"))
});

/// Time to commit one task's epoch to history (files, fsyncs, retention and compaction).
pub static HISTORY_COMMIT_SECONDS: LazyLock<Histogram> = LazyLock::new(|| {
    register_histogram!(
        "stadtpuls_history_commit_seconds",
        "Time to commit one task's staged rows to Parquet history",
        vec![
            0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0
        ]
    )
    .unwrap_or_else(|e| panic!("metric stadtpuls_history_commit_seconds: {e}"))
});

/// Time of one checkpoint round: sink commits and snapshots of every owned task.
pub static CHECKPOINT_DURATION: LazyLock<Histogram> = LazyLock::new(|| {
    register_histogram!(
        "stadtpuls_checkpoint_duration_seconds",
        "Time of one checkpoint round (sink commits, snapshot writes) over all owned tasks",
        vec![
            0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0
        ]
    )
    .unwrap_or_else(|e| panic!("metric stadtpuls_checkpoint_duration_seconds: {e}"))
});

/// Task checkpoints written.
pub static CHECKPOINTS: LazyLock<IntCounter> = LazyLock::new(|| {
    register_int_counter!(
        "stadtpuls_checkpoints_total",
        "Task checkpoints (snapshot files) written"
    )
    .unwrap_or_else(|e| panic!("metric stadtpuls_checkpoints_total: {e}"))
});

/// Bytes of the snapshot files of the last checkpoint round.
pub static CHECKPOINT_BYTES: LazyLock<IntGauge> = LazyLock::new(|| {
    register_int_gauge!(
        "stadtpuls_checkpoint_bytes",
        "Bytes of the snapshot files written by the last checkpoint round, over all tasks"
    )
    .unwrap_or_else(|e| panic!("metric stadtpuls_checkpoint_bytes: {e}"))
});

/// Snapshot files refused on load (bad checksum, truncated, unknown format).
pub static CHECKPOINT_CORRUPT: LazyLock<IntCounter> = LazyLock::new(|| {
    register_int_counter!(
        "stadtpuls_checkpoint_corrupt_total",
        "Snapshot files refused on load (checksum, truncation, format); the previous one is used"
    )
    .unwrap_or_else(|e| panic!("metric stadtpuls_checkpoint_corrupt_total: {e}"))
});

/// Tasks dropped because another instance had claimed them (this one was replaced in the
/// group while it was stuck): their uncommitted output was discarded, not written.
pub static TASKS_FENCED: LazyLock<IntCounter> = LazyLock::new(|| {
    register_int_counter!(
        "stadtpuls_tasks_fenced_total",
        "Tasks dropped without committing because another instance claimed them (zombie fencing)"
    )
    .unwrap_or_else(|e| panic!("metric stadtpuls_tasks_fenced_total: {e}"))
});

/// Failed sink commits, by sink; the runner retries them.
pub static SINK_COMMIT_FAILURES: LazyLock<IntCounterVec> = LazyLock::new(|| {
    counter(
        "stadtpuls_sink_commit_failures_total",
        "Failed commits of staged windows to a sink; retried with backoff while consumption pauses",
        &["sink"],
    )
});

/// Input messages a task had already applied (offset below its checkpoint's), skipped so
/// nothing counts twice; and offsets skipped forward (gaps: transaction markers,
/// compaction, retention, or a bug), by kind.
pub static INPUT_OFFSET_ANOMALIES: LazyLock<IntCounterVec> = LazyLock::new(|| {
    counter(
        "stadtpuls_input_offset_anomalies_total",
        "Input messages at an offset a task had already applied (kind=replayed, skipped) or offsets jumped over (kind=gap)",
        &["kind"],
    )
});

/// Rows staged in the window sinks and not yet committed (the larger of history and
/// output topics), as the runner sees it after every batch and checkpoint; above
/// `checkpoint.max_staged_rows` it checkpoints early.
pub static SINK_STAGED_ROWS: LazyLock<IntGauge> = LazyLock::new(|| {
    register_int_gauge!(
        "stadtpuls_sink_staged_rows",
        "Closed-window rows staged in the window sinks and not yet committed"
    )
    .unwrap_or_else(|e| panic!("metric stadtpuls_sink_staged_rows: {e}"))
});

/// Bytes of the Arrow buffers behind [`SINK_STAGED_ROWS`], summed over the sinks (an upper
/// bound: history and output topics may share a batch): the staged-rows item of the
/// memory model (`docs/operating.md`, "Memory").
pub static SINK_STAGED_BYTES: LazyLock<IntGauge> = LazyLock::new(|| {
    register_int_gauge!(
        "stadtpuls_sink_staged_bytes",
        "Bytes of the closed-window rows staged in the window sinks and not yet committed"
    )
    .unwrap_or_else(|e| panic!("metric stadtpuls_sink_staged_bytes: {e}"))
});

/// Time the runner waited for one task's epoch commit on every window sink, retries and
/// backoff included; the runner does not read meanwhile, so a slow sink shows here first.
pub static SINK_COMMIT_DURATION: LazyLock<Histogram> = LazyLock::new(|| {
    register_histogram!(
        "stadtpuls_sink_commit_duration_seconds",
        "Time to commit one task's staged windows on every window sink, retries included (reading pauses meanwhile)",
        vec![
            0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0
        ]
    )
    .unwrap_or_else(|e| panic!("metric stadtpuls_sink_commit_duration_seconds: {e}"))
});

/// 1 while the Kafka clients reach a broker, 0 from the first "all brokers down" until a
/// client hears from a broker again (`kafka/health.rs`). Registered by the Kafka clients,
/// so a run without Kafka (the demo) does not show a broker that is down.
pub static KAFKA_BROKER_UP: LazyLock<IntGauge> = LazyLock::new(|| {
    register_int_gauge!(
        "stadtpuls_kafka_broker_up",
        "1 while the Kafka clients reach a broker, 0 while none is reachable (reading and output wait)"
    )
    .unwrap_or_else(|e| panic!("metric stadtpuls_kafka_broker_up: {e}"))
});

/// Times every Kafka broker became unreachable.
pub static KAFKA_OUTAGES: LazyLock<IntCounter> = LazyLock::new(|| {
    register_int_counter!(
        "stadtpuls_kafka_outages_total",
        "Times no Kafka broker was reachable any more (each outage counts once)"
    )
    .unwrap_or_else(|e| panic!("metric stadtpuls_kafka_outages_total: {e}"))
});

/// Fetches of `[[cities.pull]]` sources, by city, format and outcome (`pull::Outcome`:
/// `changed`, `not_modified`, `unchanged` or an error kind). Never the URL.
pub static PULL_REQUESTS: LazyLock<IntCounterVec> = LazyLock::new(|| {
    counter(
        "stadtpuls_pull_requests_total",
        "Fetches of [[cities.pull]] sources, by city, format and outcome (changed, not_modified, unchanged or an error kind)",
        &["city", "format", "outcome"],
    )
});

/// Body bytes received from `[[cities.pull]]` sources (200 answers), by city and format.
pub static PULL_BYTES: LazyLock<IntCounterVec> = LazyLock::new(|| {
    counter(
        "stadtpuls_pull_bytes_total",
        "Body bytes received from [[cities.pull]] sources, by city and format",
        &["city", "format"],
    )
});

/// When a `[[cities.pull]]` source of the city and format last answered successfully
/// (written, not modified or unchanged), Unix seconds; absent until it first did.
pub static PULL_LAST_SUCCESS: LazyLock<IntGaugeVec> = LazyLock::new(|| {
    gauge(
        "stadtpuls_pull_last_success_timestamp_seconds",
        "Unix time of the last successful fetch of a [[cities.pull]] source, by city and format",
        &["city", "format"],
    )
});

/// Forces registration so `/metrics` lists every family (at zero) from the start.
pub fn register() {
    LazyLock::force(&MESSAGES_RECEIVED);
    LazyLock::force(&EVENTS_ACCEPTED);
    LazyLock::force(&EVENTS_REJECTED);
    LazyLock::force(&FEED_MESSAGES);
    LazyLock::force(&FEED_ACCEPTED);
    LazyLock::force(&FEED_REJECTED);
    LazyLock::force(&FACILITIES_ADMITTED);
    LazyLock::force(&EVENTS_LATE);
    LazyLock::force(&EVENTS_LATE_ACCEPTED);
    LazyLock::force(&WINDOWS_EMITTED);
    LazyLock::force(&PARTITION_CONFLICTS);
    LazyLock::force(&DEADLETTER_FAILURES);
    LazyLock::force(&DEADLETTERS_DROPPED);
    LazyLock::force(&CONSUMER_LAG);
    LazyLock::force(&CONSUMER_PREFETCHED);
    LazyLock::force(&CONSUMER_PREFETCHED_BYTES);
    LazyLock::force(&WATERMARK_DELAY);
    LazyLock::force(&OPEN_STATES);
    LazyLock::force(&BATCH_DURATION);
    LazyLock::force(&OUTPUT_RECORDS);
    LazyLock::force(&OUTPUT_FAILURES);
    LazyLock::force(&STANDARD_OUTPUT_RECORDS);
    LazyLock::force(&STANDARD_OUTPUT_FAILURES);
    LazyLock::force(&OUTPUT_COMMIT_DURATION);
    LazyLock::force(&HISTORY_ROWS_WRITTEN);
    LazyLock::force(&HISTORY_FILES_WRITTEN);
    LazyLock::force(&HISTORY_COMPACTIONS);
    LazyLock::force(&HISTORY_PARTITIONS_EXPIRED);
    LazyLock::force(&HISTORY_WRITE_FAILURES);
    LazyLock::force(&HISTORY_STAGED_ROWS);
    LazyLock::force(&HISTORY_COMMIT_SECONDS);
    LazyLock::force(&CHECKPOINT_DURATION);
    LazyLock::force(&CHECKPOINTS);
    LazyLock::force(&CHECKPOINT_BYTES);
    LazyLock::force(&CHECKPOINT_CORRUPT);
    LazyLock::force(&TASKS_FENCED);
    LazyLock::force(&SINK_COMMIT_FAILURES);
    LazyLock::force(&INPUT_OFFSET_ANOMALIES);
    LazyLock::force(&SINK_STAGED_ROWS);
    LazyLock::force(&SINK_STAGED_BYTES);
    LazyLock::force(&SINK_COMMIT_DURATION);
    LazyLock::force(&PULL_REQUESTS);
    LazyLock::force(&PULL_BYTES);
    LazyLock::force(&PULL_LAST_SUCCESS);
}
