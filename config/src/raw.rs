//! The config file as written: loosely typed serde structs, one per section.
//!
//! Durations and addresses stay strings and integers stay `i64` here, so that a bad
//! value becomes a validation error next to all the others instead of stopping the
//! parse at the first one.

mod city;
mod defaults;
mod region;
mod values;

use std::collections::BTreeMap;

use serde::Deserialize;

pub(crate) use city::{RawCity, RawFeed, RawPull, RawShare};
pub(crate) use region::RawRegion;
pub(crate) use values::{LaneValues, SettingValue};

use defaults::{
    default_allowed_lateness, default_almost_full_decreasing_pct,
    default_almost_full_increasing_pct, default_batch_max_messages, default_batch_max_wait,
    default_bind, default_brokers, default_checkpoint_dir, default_checkpoint_interval,
    default_deadletter_max_bytes, default_deadletter_topic, default_feed_interval,
    default_full_decreasing_pct, default_full_increasing_pct, default_group_id,
    default_header_read_timeout, default_history_compact_after, default_history_dir,
    default_history_enabled, default_history_max_file_rows, default_history_retention,
    default_idle_timeout, default_live_retention, default_max_connections, default_max_future,
    default_max_message_bytes, default_max_staged_rows, default_out_of_orderness,
    default_output_enabled, default_output_parking_topic, default_output_publish_every,
    default_output_traffic_lanes_topic, default_output_traffic_topic, default_sql_enabled,
    default_sql_max_concurrent, default_sql_max_rows, default_sql_memory_limit_mib,
    default_sql_timeout, default_stale_after, default_stream_client_queue,
    default_stream_heartbeat, default_stream_ring, default_topic_pattern,
    default_trend_threshold_pct_per_h, default_trend_window, default_version, default_window_sizes,
};

/// The only file format version so far.
pub(crate) const CURRENT_VERSION: i64 = 1;

/// The whole file; sections are deserialized one by one (see `document.rs`).
#[derive(Debug, Clone)]
pub(crate) struct RawConfig {
    /// File format version, 1 when missing.
    pub version: i64,
    /// `[kafka]`.
    pub kafka: RawKafka,
    /// `[windows]`.
    pub windows: RawWindows,
    /// `[api]`.
    pub api: RawApi,
    /// `[history]`.
    pub history: RawHistory,
    /// `[output]`.
    pub output: RawOutput,
    /// `[checkpoint]`.
    pub checkpoint: RawCheckpoint,
    /// `[parking]`.
    pub parking: RawParking,
    /// `[traffic]`.
    pub traffic: RawTraffic,
    /// `[sql]`.
    pub sql: RawSql,
    /// `[[api_keys]]`.
    pub api_keys: Vec<RawApiKey>,
    /// `[push]`.
    pub push: RawPush,
    /// `[[push_keys]]`.
    pub push_keys: Vec<RawPushKey>,
    /// `[[cities]]`; `None` for an entry that did not deserialize (already reported).
    pub cities: Vec<Option<RawCity>>,
    /// `[[regions]]`.
    pub regions: Vec<RawRegion>,
}

impl Default for RawConfig {
    fn default() -> Self {
        Self {
            version: default_version(),
            kafka: RawKafka::default(),
            windows: RawWindows::default(),
            api: RawApi::default(),
            history: RawHistory::default(),
            output: RawOutput::default(),
            checkpoint: RawCheckpoint::default(),
            parking: RawParking::default(),
            traffic: RawTraffic::default(),
            sql: RawSql::default(),
            api_keys: Vec::new(),
            push: RawPush::default(),
            push_keys: Vec::new(),
            cities: Vec::new(),
            regions: Vec::new(),
        }
    }
}

/// `[kafka]` as written.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawKafka {
    /// Bootstrap servers, `host:port[,host:port…]`.
    #[serde(default = "default_brokers")]
    pub brokers: String,
    /// Consumer group id.
    #[serde(default = "default_group_id")]
    pub group_id: String,
    /// Static group membership: `None` = derived from host and API port, `""` = off.
    #[serde(default)]
    pub instance_id: Option<String>,
    /// Regex subscription, must start with `^`.
    #[serde(default = "default_topic_pattern")]
    pub topic_pattern: String,
    /// Topic for undecodable messages.
    #[serde(default = "default_deadletter_topic")]
    pub deadletter_topic: String,
    /// Largest accepted message, bytes.
    #[serde(default = "default_max_message_bytes")]
    pub max_message_bytes: i64,
    /// Largest dead-letter record, bytes.
    #[serde(default = "default_deadletter_max_bytes")]
    pub deadletter_max_bytes: i64,
    /// Messages per batch at most.
    #[serde(default = "default_batch_max_messages")]
    pub batch_max_messages: i64,
    /// Longest wait before a partial batch is handed on, humantime.
    #[serde(default = "default_batch_max_wait")]
    pub batch_max_wait: String,
    /// Extra librdkafka settings; strings, numbers and booleans are all passed as text.
    #[serde(default)]
    pub librdkafka: BTreeMap<String, SettingValue>,
}

impl Default for RawKafka {
    fn default() -> Self {
        Self {
            brokers: default_brokers(),
            group_id: default_group_id(),
            instance_id: None,
            topic_pattern: default_topic_pattern(),
            deadletter_topic: default_deadletter_topic(),
            max_message_bytes: default_max_message_bytes(),
            deadletter_max_bytes: default_deadletter_max_bytes(),
            batch_max_messages: default_batch_max_messages(),
            batch_max_wait: default_batch_max_wait(),
            librdkafka: BTreeMap::new(),
        }
    }
}

/// `[windows]` as written.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawWindows {
    /// Tumbling window sizes, humantime each.
    #[serde(default = "default_window_sizes")]
    pub sizes: Vec<String>,
    /// Allowed event disorder, humantime.
    #[serde(default = "default_out_of_orderness")]
    pub out_of_orderness: String,
    /// Silence after which a partition stops holding back the watermark, humantime.
    #[serde(default = "default_idle_timeout")]
    pub idle_timeout: String,
    /// Largest accepted lead of event time over wall-clock time, humantime.
    #[serde(default = "default_max_future")]
    pub max_future: String,
    /// Largest accepted lead of event time over the partition's progress, humantime
    /// (15 min when absent).
    #[serde(default)]
    pub max_clock_jump: Option<String>,
    /// Hopping windows as `"SIZE/SLIDE"`, e.g. `"1h/5m"`.
    #[serde(default)]
    pub hopping: Vec<String>,
    /// Allowed lateness after a window's first emission, humantime.
    #[serde(default = "default_allowed_lateness")]
    pub allowed_lateness: String,
}

impl Default for RawWindows {
    fn default() -> Self {
        Self {
            sizes: default_window_sizes(),
            out_of_orderness: default_out_of_orderness(),
            idle_timeout: default_idle_timeout(),
            max_future: default_max_future(),
            max_clock_jump: None,
            hopping: Vec::new(),
            allowed_lateness: default_allowed_lateness(),
        }
    }
}

/// `[api]` as written.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawApi {
    /// Listen address, `ip:port`.
    #[serde(default = "default_bind")]
    pub bind: String,
    /// How long closed windows stay in memory, humantime.
    #[serde(default = "default_live_retention")]
    pub live_retention: String,
    /// Time allowed for a request head, humantime.
    #[serde(default = "default_header_read_timeout")]
    pub header_read_timeout: String,
    /// Client connections open at once.
    #[serde(default = "default_max_connections")]
    pub max_connections: i64,
    /// Push stream ring size, events.
    #[serde(default = "default_stream_ring")]
    pub stream_ring: i64,
    /// Push stream queue per subscriber, events.
    #[serde(default = "default_stream_client_queue")]
    pub stream_client_queue: i64,
    /// Push stream heartbeat interval, humantime.
    #[serde(default = "default_stream_heartbeat")]
    pub stream_heartbeat: String,
    /// `"open"` (a request without a key sees open data) or `"deny"` (401).
    #[serde(default)]
    pub anonymous: Option<String>,
    /// The live map's tile URL template; empty or absent: no base map.
    #[serde(default)]
    pub map_tile_url: Option<String>,
    /// The attribution shown with the tiles.
    #[serde(default)]
    pub map_tile_attribution: Option<String>,
}

impl Default for RawApi {
    fn default() -> Self {
        Self {
            bind: default_bind(),
            live_retention: default_live_retention(),
            header_read_timeout: default_header_read_timeout(),
            max_connections: default_max_connections(),
            stream_ring: default_stream_ring(),
            stream_client_queue: default_stream_client_queue(),
            stream_heartbeat: default_stream_heartbeat(),
            anonymous: None,
            map_tile_url: None,
            map_tile_attribution: None,
        }
    }
}

/// `[history]` as written.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawHistory {
    /// Whether closed windows are written.
    #[serde(default = "default_history_enabled")]
    pub enabled: bool,
    /// Directory of the Parquet history.
    #[serde(default = "default_history_dir")]
    pub dir: String,
    /// Table names such as `traffic_15m`; unset: the defaults whose windows are configured.
    #[serde(default)]
    pub tables: Option<Vec<String>>,
    /// Age of the newest window after which date partitions are deleted, humantime.
    #[serde(default = "default_history_retention")]
    pub retention: String,
    /// Rows per file at most.
    #[serde(default = "default_history_max_file_rows")]
    pub max_file_rows: i64,
    /// Files of one size tier per partition that trigger a compaction; 0 = never.
    #[serde(default = "default_history_compact_after")]
    pub compact_after: i64,
    /// Also archive every input message as read (`raw_messages` table).
    #[serde(default)]
    pub archive_raw: bool,
}

impl Default for RawHistory {
    fn default() -> Self {
        Self {
            enabled: default_history_enabled(),
            dir: default_history_dir(),
            tables: None,
            retention: default_history_retention(),
            max_file_rows: default_history_max_file_rows(),
            compact_after: default_history_compact_after(),
            archive_raw: false,
        }
    }
}

/// `[output]` as written.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawOutput {
    /// Produce closed windows to the output topics.
    #[serde(default = "default_output_enabled")]
    pub enabled: bool,
    /// Topic of per-sensor traffic windows.
    #[serde(default = "default_output_traffic_topic")]
    pub traffic_topic: String,
    /// Topic of per-lane traffic windows.
    #[serde(default = "default_output_traffic_lanes_topic")]
    pub traffic_lanes_topic: String,
    /// Topic of parking windows.
    #[serde(default = "default_output_parking_topic")]
    pub parking_topic: String,
    /// Topic of the DATEX II status publications (unset: none).
    #[serde(default)]
    pub datex2_topic: Option<String>,
    /// Topic of the NGSI-LD upserts (unset: none).
    #[serde(default)]
    pub ngsi_ld_topic: Option<String>,
    /// How often the standard outputs' topics look for changes.
    #[serde(default = "default_output_publish_every")]
    pub publish_every: String,
}

impl Default for RawOutput {
    fn default() -> Self {
        Self {
            enabled: default_output_enabled(),
            traffic_topic: default_output_traffic_topic(),
            traffic_lanes_topic: default_output_traffic_lanes_topic(),
            parking_topic: default_output_parking_topic(),
            datex2_topic: None,
            ngsi_ld_topic: None,
            publish_every: default_output_publish_every(),
        }
    }
}

/// `[checkpoint]` as written.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawCheckpoint {
    /// Directory of the per-task checkpoint files.
    #[serde(default = "default_checkpoint_dir")]
    pub dir: String,
    /// Time between checkpoints, humantime.
    #[serde(default = "default_checkpoint_interval")]
    pub interval: String,
    /// Staged rows over all sinks above which a checkpoint is taken early.
    #[serde(default = "default_max_staged_rows")]
    pub max_staged_rows: i64,
}

impl Default for RawCheckpoint {
    fn default() -> Self {
        Self {
            dir: default_checkpoint_dir(),
            interval: default_checkpoint_interval(),
            max_staged_rows: default_max_staged_rows(),
        }
    }
}

/// `[parking]` as written.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawParking {
    /// Expected reporting interval of facilities and spot sensors, humantime.
    #[serde(default = "default_feed_interval")]
    pub feed_interval: String,
    /// Explicit staleness age, humantime; unset: 3 × `feed_interval`.
    #[serde(default = "default_stale_after")]
    pub stale_after: Option<String>,
    /// Event time over which the occupancy trend is fitted, humantime.
    #[serde(default = "default_trend_window")]
    pub trend_window: String,
    /// Trend slope threshold, percentage points per hour.
    #[serde(default = "default_trend_threshold_pct_per_h")]
    pub trend_threshold_pct_per_h: f64,
    /// Occupancy entering `almostFull`, percent.
    #[serde(default = "default_almost_full_increasing_pct")]
    pub almost_full_increasing_pct: f64,
    /// Occupancy leaving `almostFull` downwards, percent.
    #[serde(default = "default_almost_full_decreasing_pct")]
    pub almost_full_decreasing_pct: f64,
    /// Occupancy entering `full`, percent.
    #[serde(default = "default_full_increasing_pct")]
    pub full_increasing_pct: f64,
    /// Occupancy leaving `full` downwards, percent.
    #[serde(default = "default_full_decreasing_pct")]
    pub full_decreasing_pct: f64,
}

impl Default for RawParking {
    fn default() -> Self {
        Self {
            feed_interval: default_feed_interval(),
            stale_after: default_stale_after(),
            trend_window: default_trend_window(),
            trend_threshold_pct_per_h: default_trend_threshold_pct_per_h(),
            almost_full_increasing_pct: default_almost_full_increasing_pct(),
            almost_full_decreasing_pct: default_almost_full_decreasing_pct(),
            full_increasing_pct: default_full_increasing_pct(),
            full_decreasing_pct: default_full_decreasing_pct(),
        }
    }
}

/// `[traffic]` as written.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawTraffic {
    /// `[traffic.site_classes.<name>]`: each replaces the built-in class of that name or
    /// adds a class.
    #[serde(default)]
    pub site_classes: BTreeMap<String, RawSiteClass>,
}

/// One `[traffic.site_classes.<name>]` table as written; every key is required, so a
/// table always states a whole class instead of patching a built-in one.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawSiteClass {
    /// Lower speed threshold v1, km/h.
    pub v1_kmh: f64,
    /// Upper speed threshold v2, km/h.
    pub v2_kmh: f64,
    /// Lower density threshold k1, veh/km, per lane count.
    pub k1_veh_km: LaneValues,
    /// Upper density threshold k2, veh/km, per lane count.
    pub k2_veh_km: LaneValues,
}

/// `[sql]` as written.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawSql {
    /// Whether `POST /v1/sql` (and Flight SQL, if bound) answer.
    #[serde(default = "default_sql_enabled")]
    pub enabled: bool,
    /// Flight SQL listen address, `ip:port`; unset: no Flight SQL server.
    #[serde(default)]
    pub flight_bind: Option<String>,
    /// Memory a query's operators may reserve, MiB.
    #[serde(default = "default_sql_memory_limit_mib")]
    pub memory_limit_mib: i64,
    /// Longest a query may run, humantime.
    #[serde(default = "default_sql_timeout")]
    pub timeout: String,
    /// Most rows a result may have.
    #[serde(default = "default_sql_max_rows")]
    pub max_rows: i64,
    /// Queries running at once; more wait.
    #[serde(default = "default_sql_max_concurrent")]
    pub max_concurrent: i64,
}

impl Default for RawSql {
    fn default() -> Self {
        Self {
            enabled: default_sql_enabled(),
            flight_bind: None,
            memory_limit_mib: default_sql_memory_limit_mib(),
            timeout: default_sql_timeout(),
            max_rows: default_sql_max_rows(),
            max_concurrent: default_sql_max_concurrent(),
        }
    }
}

/// One `[[api_keys]]` entry as written; every key is required.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawApiKey {
    /// Who uses the key, for logs and metrics.
    pub principal: String,
    /// SHA-256 of the key, 64 hex digits.
    pub key_sha256: String,
    /// City ids whose rows the key reads, or `["*"]` for all.
    pub cities: Vec<String>,
}

/// `[push]` as written.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawPush {
    /// Most bytes of one pushed body.
    #[serde(default = "default_push_max_body_bytes")]
    pub max_body_bytes: i64,
    /// Sustained requests per second per key.
    #[serde(default = "default_push_rate_per_s")]
    pub rate_per_s: f64,
    /// Requests at once per key.
    #[serde(default = "default_push_burst")]
    pub burst: i64,
}

impl Default for RawPush {
    fn default() -> Self {
        Self {
            max_body_bytes: default_push_max_body_bytes(),
            rate_per_s: default_push_rate_per_s(),
            burst: default_push_burst(),
        }
    }
}

fn default_push_max_body_bytes() -> i64 {
    crate::model::DEFAULT_PUSH_MAX_BODY_BYTES as i64
}

fn default_push_rate_per_s() -> f64 {
    crate::model::DEFAULT_PUSH_RATE_PER_S
}

fn default_push_burst() -> i64 {
    i64::from(crate::model::DEFAULT_PUSH_BURST)
}

/// One `[[push_keys]]` entry as written.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawPushKey {
    /// Who uses the key.
    pub principal: String,
    /// SHA-256 of the key, 64 hex digits.
    pub key_sha256: String,
    /// The city it pushes to.
    pub city: String,
    /// Format names it may push.
    pub formats: Vec<String>,
}
