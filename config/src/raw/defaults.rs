//! The serde defaults of the raw sections: the validated model's defaults written as
//! they would appear in the file (durations as humantime text, sizes as `i64`).

use super::CURRENT_VERSION;
use crate::model;

fn humantime_text(duration: std::time::Duration) -> String {
    humantime::format_duration(duration).to_string()
}

pub(crate) fn default_version() -> i64 {
    CURRENT_VERSION
}

pub(super) fn default_brokers() -> String {
    model::DEFAULT_BROKERS.to_owned()
}

pub(super) fn default_group_id() -> String {
    model::DEFAULT_GROUP_ID.to_owned()
}

pub(super) fn default_topic_pattern() -> String {
    model::DEFAULT_TOPIC_PATTERN.to_owned()
}

pub(super) fn default_deadletter_topic() -> String {
    model::DEFAULT_DEADLETTER_TOPIC.to_owned()
}

pub(super) fn default_max_message_bytes() -> i64 {
    model::DEFAULT_MAX_MESSAGE_BYTES as i64
}

pub(super) fn default_deadletter_max_bytes() -> i64 {
    model::DEFAULT_DEADLETTER_MAX_BYTES as i64
}

pub(super) fn default_batch_max_messages() -> i64 {
    model::DEFAULT_BATCH_MAX_MESSAGES as i64
}

pub(super) fn default_batch_max_wait() -> String {
    humantime_text(model::DEFAULT_BATCH_MAX_WAIT)
}

pub(super) fn default_window_sizes() -> Vec<String> {
    model::DEFAULT_WINDOW_SIZES
        .iter()
        .copied()
        .map(humantime_text)
        .collect()
}

pub(super) fn default_out_of_orderness() -> String {
    humantime_text(model::DEFAULT_OUT_OF_ORDERNESS)
}

pub(super) fn default_idle_timeout() -> String {
    humantime_text(model::DEFAULT_IDLE_TIMEOUT)
}

pub(super) fn default_max_future() -> String {
    humantime_text(model::DEFAULT_MAX_FUTURE)
}

pub(super) fn default_allowed_lateness() -> String {
    humantime_text(model::DEFAULT_ALLOWED_LATENESS)
}

pub(super) fn default_bind() -> String {
    model::DEFAULT_BIND.to_string()
}

pub(super) fn default_live_retention() -> String {
    humantime_text(model::DEFAULT_LIVE_RETENTION)
}

pub(super) fn default_header_read_timeout() -> String {
    humantime_text(model::DEFAULT_HEADER_READ_TIMEOUT)
}

pub(super) fn default_max_connections() -> i64 {
    model::DEFAULT_MAX_CONNECTIONS as i64
}

pub(super) fn default_stream_ring() -> i64 {
    model::DEFAULT_STREAM_RING as i64
}

pub(super) fn default_stream_client_queue() -> i64 {
    model::DEFAULT_STREAM_CLIENT_QUEUE as i64
}

pub(super) fn default_stream_heartbeat() -> String {
    humantime_text(model::DEFAULT_STREAM_HEARTBEAT)
}

pub(super) fn default_history_dir() -> String {
    model::DEFAULT_HISTORY_DIR.to_owned()
}

pub(super) fn default_output_enabled() -> bool {
    model::DEFAULT_OUTPUT_ENABLED
}

pub(super) fn default_output_traffic_topic() -> String {
    model::DEFAULT_OUTPUT_TRAFFIC_TOPIC.to_owned()
}

pub(super) fn default_output_traffic_lanes_topic() -> String {
    model::DEFAULT_OUTPUT_TRAFFIC_LANES_TOPIC.to_owned()
}

pub(super) fn default_output_parking_topic() -> String {
    model::DEFAULT_OUTPUT_PARKING_TOPIC.to_owned()
}

pub(super) fn default_output_publish_every() -> String {
    humantime_text(model::DEFAULT_OUTPUT_PUBLISH_EVERY)
}

pub(super) fn default_history_enabled() -> bool {
    true
}

pub(super) fn default_sql_enabled() -> bool {
    model::DEFAULT_SQL_ENABLED
}

pub(super) fn default_sql_memory_limit_mib() -> i64 {
    model::DEFAULT_SQL_MEMORY_LIMIT_MIB as i64
}

pub(super) fn default_sql_timeout() -> String {
    humantime_text(model::DEFAULT_SQL_TIMEOUT)
}

pub(super) fn default_sql_max_rows() -> i64 {
    model::DEFAULT_SQL_MAX_ROWS as i64
}

pub(super) fn default_sql_max_concurrent() -> i64 {
    model::DEFAULT_SQL_MAX_CONCURRENT as i64
}

/// Written in days: humantime would format 400 days as years and months.
pub(super) fn default_history_retention() -> String {
    format!("{}d", model::DEFAULT_HISTORY_RETENTION.as_secs() / 86_400)
}

pub(super) fn default_history_max_file_rows() -> i64 {
    model::DEFAULT_HISTORY_MAX_FILE_ROWS as i64
}

pub(super) fn default_history_compact_after() -> i64 {
    model::DEFAULT_HISTORY_COMPACT_AFTER as i64
}

pub(super) fn default_checkpoint_dir() -> String {
    model::DEFAULT_CHECKPOINT_DIR.to_owned()
}

pub(super) fn default_checkpoint_interval() -> String {
    humantime_text(model::DEFAULT_CHECKPOINT_INTERVAL)
}

pub(super) fn default_max_staged_rows() -> i64 {
    model::DEFAULT_MAX_STAGED_ROWS as i64
}

pub(super) fn default_feed_interval() -> String {
    humantime_text(model::DEFAULT_FEED_INTERVAL)
}

/// Unset: derived from `feed_interval` during validation, so that changing the feed
/// interval alone moves the staleness age with it.
pub(super) fn default_stale_after() -> Option<String> {
    None
}

pub(super) fn default_trend_window() -> String {
    humantime_text(model::DEFAULT_TREND_WINDOW)
}

pub(super) fn default_trend_threshold_pct_per_h() -> f64 {
    model::DEFAULT_TREND_THRESHOLD_PCT_PER_H
}

pub(super) fn default_almost_full_increasing_pct() -> f64 {
    model::DEFAULT_ALMOST_FULL_INCREASING_PCT
}

pub(super) fn default_almost_full_decreasing_pct() -> f64 {
    model::DEFAULT_ALMOST_FULL_DECREASING_PCT
}

pub(super) fn default_full_increasing_pct() -> f64 {
    model::DEFAULT_FULL_INCREASING_PCT
}

pub(super) fn default_full_decreasing_pct() -> f64 {
    model::DEFAULT_FULL_DECREASING_PCT
}
