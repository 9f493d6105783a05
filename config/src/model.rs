//! Validated, typed configuration sections and their built-in defaults.
//!
//! Values of these types only come out of validation (or `Default`), so code that
//! takes them never needs to re-check ranges.
//!
//! The plumbing sections (Kafka, windows, API, output, checkpoints) stay here; history,
//! SQL, parking, traffic and the cities live in submodules named after them. Every
//! default stays here in one table, because `raw.rs` reads the same values as its serde
//! defaults.

mod city;
mod feeds;
mod history;
mod lora_codec;
mod output;
mod parking;
mod pull;
mod push;
mod region;
mod share;
mod sql;
mod traffic;

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

pub use city::{CityConfig, RegistrySource, ZoneSource};
pub use feeds::{FeedConfig, FeedFormat, LoraCodec};
pub use history::{HistoryConfig, HistoryStream, HistoryTable};
pub use output::{
    AUDIENCE_PLACEHOLDER, CITY_PLACEHOLDER, OPEN_AUDIENCE, OutputConfig, TopicSplit, audience,
    expand_topic,
};
pub use parking::{ParkingConfig, ParkingThresholds};
pub use pull::{ClientIdentity, DEFAULT_PULL_TIMEOUT, MAX_PULL_EVERY, MIN_PULL_EVERY, PullConfig};
pub use push::{
    DEFAULT_PUSH_BURST, DEFAULT_PUSH_MAX_BODY_BYTES, DEFAULT_PUSH_RATE_PER_S, PushConfig,
    PushKeyConfig,
};
pub use region::{Corridor, RegionConfig};
pub use share::{Anonymous, DataKind, Share, SharePolicy};
pub use sql::{ApiKeyConfig, CityScope, SqlConfig};
pub use traffic::{
    MAX_LANES, SITE_CLASS_ARTERIAL, SITE_CLASS_MOTORWAY, SITE_CLASS_URBAN, SiteClass,
    TrafficConfig, derived_site_class,
};

pub(crate) const DEFAULT_BROKERS: &str = "127.0.0.1:9092";
pub(crate) const DEFAULT_GROUP_ID: &str = "stadtpuls";
pub(crate) const DEFAULT_TOPIC_PATTERN: &str = r"^sensors\.[a-z0-9-]+\.(traffic|parking)$";
pub(crate) const DEFAULT_DEADLETTER_TOPIC: &str = "sensors.deadletter";
pub(crate) const DEFAULT_MAX_MESSAGE_BYTES: usize = 1_048_576;
/// 256 KiB: a quarter of what Apache Kafka (`message.max.bytes` 1 048 588), librdkafka
/// (1 000 000) and Redpanda take by default, so a broker or topic configured tighter than
/// the default still takes every dead letter; a cut payload of 256 KiB still shows who
/// sent what, and the raw archive keeps the original.
pub(crate) const DEFAULT_DEADLETTER_MAX_BYTES: usize = 256 * 1024;
pub(crate) const DEFAULT_BATCH_MAX_MESSAGES: usize = 10_000;
pub(crate) const DEFAULT_BATCH_MAX_WAIT: Duration = Duration::from_millis(100);
pub(crate) const DEFAULT_WINDOW_SIZES: [Duration; 4] = [
    Duration::from_secs(60),
    Duration::from_secs(5 * 60),
    Duration::from_secs(15 * 60),
    Duration::from_secs(3600),
];
pub(crate) const DEFAULT_ALLOWED_LATENESS: Duration = Duration::from_secs(2 * 60);
pub(crate) const DEFAULT_OUT_OF_ORDERNESS: Duration = Duration::from_secs(30);
pub(crate) const DEFAULT_IDLE_TIMEOUT: Duration = Duration::from_secs(60);
pub(crate) const DEFAULT_MAX_FUTURE: Duration = Duration::from_secs(5 * 60);
pub(crate) const DEFAULT_MAX_CLOCK_JUMP: Duration = Duration::from_secs(15 * 60);
pub(crate) const DEFAULT_BIND: SocketAddr =
    SocketAddr::new(IpAddr::V4(Ipv4Addr::new(127, 0, 0, 1)), 8080);
pub(crate) const DEFAULT_LIVE_RETENTION: Duration = Duration::from_secs(6 * 3600);
pub(crate) const DEFAULT_HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);
pub(crate) const DEFAULT_MAX_CONNECTIONS: usize = 512;
pub(crate) const DEFAULT_STREAM_RING: usize = 16_384;
pub(crate) const DEFAULT_STREAM_CLIENT_QUEUE: usize = 4_096;
pub(crate) const DEFAULT_STREAM_HEARTBEAT: Duration = Duration::from_secs(15);
pub(crate) const DEFAULT_HISTORY_DIR: &str = "./stadtpuls-data";
pub(crate) const DEFAULT_OUTPUT_ENABLED: bool = true;
pub(crate) const DEFAULT_OUTPUT_TRAFFIC_TOPIC: &str = "metrics.traffic";
pub(crate) const DEFAULT_OUTPUT_TRAFFIC_LANES_TOPIC: &str = "metrics.traffic_lanes";
pub(crate) const DEFAULT_OUTPUT_PARKING_TOPIC: &str = "metrics.parking";
pub(crate) const DEFAULT_OUTPUT_PUBLISH_EVERY: Duration = Duration::from_secs(30);
pub(crate) const DEFAULT_HISTORY_RETENTION: Duration = Duration::from_secs(400 * 86_400);
pub(crate) const DEFAULT_HISTORY_MAX_FILE_ROWS: usize = 1_000_000;
pub(crate) const DEFAULT_HISTORY_COMPACT_AFTER: usize = 16;
/// Tables written when `history.tables` is not set: the 1-minute and 15-minute windows of
/// every stream, each only if its window is configured.
pub(crate) const DEFAULT_HISTORY_TABLES: [(HistoryStream, u64); 6] = [
    (HistoryStream::Traffic, 60),
    (HistoryStream::Traffic, 900),
    (HistoryStream::TrafficLanes, 60),
    (HistoryStream::TrafficLanes, 900),
    (HistoryStream::Parking, 60),
    (HistoryStream::Parking, 900),
];
pub(crate) const DEFAULT_CHECKPOINT_DIR: &str = "state";
pub(crate) const DEFAULT_CHECKPOINT_INTERVAL: Duration = Duration::from_secs(10);
/// ~17 MB of staged rows (~170 bytes each, shared by history and output topics;
/// `docs/operating.md`, "Memory"): a large network's 10 s of windows fits many times over,
/// while a replay of a backlog checkpoints every 100 000 rows instead of holding them all.
pub(crate) const DEFAULT_MAX_STAGED_ROWS: usize = 100_000;
pub(crate) const DEFAULT_SQL_ENABLED: bool = true;
pub(crate) const DEFAULT_SQL_MEMORY_LIMIT_MIB: usize = 512;
pub(crate) const DEFAULT_SQL_TIMEOUT: Duration = Duration::from_secs(30);
pub(crate) const DEFAULT_SQL_MAX_ROWS: usize = 100_000;
pub(crate) const DEFAULT_SQL_MAX_CONCURRENT: usize = 4;
pub(crate) const DEFAULT_FEED_INTERVAL: Duration = Duration::from_secs(5 * 60);
/// Reports a facility may miss before it counts as stale (`stale_after` = this × feed_interval).
pub(crate) const STALE_AFTER_INTERVALS: u32 = 3;
pub(crate) const DEFAULT_TREND_WINDOW: Duration = Duration::from_secs(15 * 60);
pub(crate) const DEFAULT_TREND_THRESHOLD_PCT_PER_H: f64 = 5.0;
pub(crate) const DEFAULT_ALMOST_FULL_INCREASING_PCT: f64 = 90.0;
pub(crate) const DEFAULT_ALMOST_FULL_DECREASING_PCT: f64 = 85.0;
pub(crate) const DEFAULT_FULL_INCREASING_PCT: f64 = 98.0;
pub(crate) const DEFAULT_FULL_DECREASING_PCT: f64 = 95.0;

/// Kafka consumer settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KafkaConfig {
    /// Bootstrap servers, comma separated (`host:port,host:port`).
    pub brokers: String,
    /// Consumer group id; instances with the same id share the partitions.
    pub group_id: String,
    /// This instance's identity in the group (`group.instance.id`, static membership).
    pub instance_id: InstanceId,
    /// Regex subscription; always starts with `^`, as librdkafka requires.
    pub topic_pattern: String,
    /// Topic that receives messages that could not be decoded.
    pub deadletter_topic: String,
    /// Messages larger than this are rejected, 1 KiB ..= 100 MiB.
    pub max_message_bytes: usize,
    /// Largest dead-letter record (payload, key, headers and framing), 4 KiB ..= 100 MiB;
    /// payloads are cut to fit. Keep it at or below the dead-letter topic's
    /// `max.message.bytes`: it is also the dead-letter producer's `message.max.bytes`.
    pub deadletter_max_bytes: usize,
    /// A batch is handed on after this many messages, at least 1.
    pub batch_max_messages: usize,
    /// ... or after this long, whichever comes first; > 0 and <= 10s.
    pub batch_max_wait: Duration,
    /// Extra librdkafka settings passed through verbatim, e.g. `security.protocol`.
    pub librdkafka: BTreeMap<String, String>,
}

impl Default for KafkaConfig {
    fn default() -> Self {
        Self {
            brokers: DEFAULT_BROKERS.to_owned(),
            group_id: DEFAULT_GROUP_ID.to_owned(),
            instance_id: InstanceId::FromHost,
            topic_pattern: DEFAULT_TOPIC_PATTERN.to_owned(),
            deadletter_topic: DEFAULT_DEADLETTER_TOPIC.to_owned(),
            max_message_bytes: DEFAULT_MAX_MESSAGE_BYTES,
            deadletter_max_bytes: DEFAULT_DEADLETTER_MAX_BYTES,
            batch_max_messages: DEFAULT_BATCH_MAX_MESSAGES,
            batch_max_wait: DEFAULT_BATCH_MAX_WAIT,
            librdkafka: BTreeMap::new(),
        }
    }
}

/// How an instance identifies itself in its consumer group (`kafka.instance_id`).
///
/// With an id (Kafka's static membership, KIP-345) an instance restarted after a crash
/// takes its old place and partitions back at once; without one the broker first waits
/// for the crashed member's session to time out (`session.timeout.ms`), and Tansu 0.6
/// may even hand the restarted member no partitions (docs/decisions/002).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InstanceId {
    /// Not set: `<hostname>-<API port>` ([`InstanceId::derive`]), resolved at start-up
    /// by `stadtpuls run`, which knows the host. Stable across restarts on one host (and
    /// of a Kubernetes StatefulSet pod), and distinct for two instances on one host,
    /// which cannot listen on the same port.
    FromHost,
    /// Set: static membership with this `group.instance.id`.
    Fixed(String),
    /// Set to `""`: dynamic membership (a new member id on every start).
    Dynamic,
}

/// Longest `group.instance.id` Kafka accepts (its topic name rule).
pub const MAX_INSTANCE_ID_LEN: usize = 249;

impl InstanceId {
    /// The id derived from `hostname` and the API `port`: characters Kafka does not
    /// accept in an instance id (anything but `[A-Za-z0-9._-]`) become `-`, and it is cut
    /// to 249 characters keeping the port. `None` without a usable hostname or with port
    /// 0 (an ephemeral port differs on every start, so the id would not be stable).
    pub fn derive(hostname: &str, port: u16) -> Option<String> {
        let host: String = hostname
            .trim()
            .chars()
            .map(|c| if is_instance_id_char(c) { c } else { '-' })
            .collect();
        if host.is_empty() || port == 0 {
            return None;
        }
        let suffix = format!("-{port}");
        let room = MAX_INSTANCE_ID_LEN - suffix.len();
        let host: String = host.chars().take(room).collect();
        Some(format!("{host}{suffix}"))
    }
}

/// Whether Kafka accepts `c` in a `group.instance.id`.
pub(crate) fn is_instance_id_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-')
}

/// Tumbling windows and watermark settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WindowsConfig {
    /// Window sizes, sorted ascending, distinct, whole seconds, each dividing a day
    /// evenly so that windows align to midnight UTC.
    pub sizes: Vec<Duration>,
    /// How far behind the newest event the watermark trails, <= 1h.
    pub out_of_orderness: Duration,
    /// A partition silent for this long no longer holds back the watermark, > 0.
    pub idle_timeout: Duration,
    /// Events further in the future than this are rejected.
    pub max_future: Duration,
    /// Events further ahead of their partition's newest accepted event time than this are
    /// refused as `clock_jump` unless the row before announced the jump (see
    /// `stadtpuls_processing::window::clock_guard`); longer than a feed's gaps between
    /// reports, 15 min by default.
    pub max_clock_jump: Duration,
    /// Hopping windows as (size, slide), slide dividing size; empty by default
    pub hopping: Vec<(Duration, Duration)>,
    /// How long after the watermark passed its end a window still accepts late events
    /// (re-emitted with the next revision); later events are dropped and dead-lettered as `late`
    pub allowed_lateness: Duration,
}

impl Default for WindowsConfig {
    fn default() -> Self {
        Self {
            sizes: DEFAULT_WINDOW_SIZES.to_vec(),
            out_of_orderness: DEFAULT_OUT_OF_ORDERNESS,
            idle_timeout: DEFAULT_IDLE_TIMEOUT,
            max_future: DEFAULT_MAX_FUTURE,
            max_clock_jump: DEFAULT_MAX_CLOCK_JUMP,
            hopping: Vec::new(),
            allowed_lateness: DEFAULT_ALLOWED_LATENESS,
        }
    }
}

/// HTTP API settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiConfig {
    /// Listen address.
    pub bind: SocketAddr,
    /// How long closed windows stay in memory for the API; >= the largest window.
    pub live_retention: Duration,
    /// How long a client may take to send a request head (also the longest a keep-alive
    /// connection stays idle, and the time a Flight SQL client has for the HTTP/2
    /// preface): a half-sent request must not hold a connection for ever (slowloris).
    /// Greater than zero, at most 5 minutes.
    pub header_read_timeout: Duration,
    /// Client connections open at once over the API and Flight SQL listeners; the next
    /// one is accepted and closed at once (a 503 on the API). Bounds the file descriptors
    /// and memory a flood of connections can take. 1 ..= 65536.
    pub max_connections: usize,
    /// Push stream (`GET /v1/stream`): events kept for `Last-Event-ID` resumes; the oldest
    /// is dropped when full. 16 ..= 4,194,304.
    pub stream_ring: usize,
    /// Push stream: events queued per subscriber before it is cut off as too slow.
    /// 1 ..= 1,048,576.
    pub stream_client_queue: usize,
    /// Push stream: a comment line after this long without an event, > 0 and ≤ 5m.
    pub stream_heartbeat: Duration,
    /// What a REST request without a key sees (`api.anonymous`): the open data, or 401.
    pub anonymous: Anonymous,
    /// The live map's base map (`api.map_tile_url`, `api.map_tile_attribution`); none by
    /// default, and the map draws the city geometry on a plain background.
    pub map_tiles: Option<MapTiles>,
}

/// A tile server for the live map's base map, e.g. an operator's own OpenStreetMap tile
/// server. The browser fetches the tiles, not Stadtpuls.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MapTiles {
    /// `http(s)://…` with `{z}`, `{x}` and `{y}` (Leaflet's template; `{s}` for
    /// subdomains and `{r}` for retina tiles are allowed too).
    pub url: String,
    /// The attribution shown in the map's corner (an OSM server's licence asks for one).
    pub attribution: Option<String>,
}

impl Default for ApiConfig {
    fn default() -> Self {
        Self {
            bind: DEFAULT_BIND,
            live_retention: DEFAULT_LIVE_RETENTION,
            header_read_timeout: DEFAULT_HEADER_READ_TIMEOUT,
            max_connections: DEFAULT_MAX_CONNECTIONS,
            stream_ring: DEFAULT_STREAM_RING,
            stream_client_queue: DEFAULT_STREAM_CLIENT_QUEUE,
            stream_heartbeat: DEFAULT_STREAM_HEARTBEAT,
            anonymous: Anonymous::Open,
            map_tiles: None,
        }
    }
}

/// Where and how often per-task checkpoints are written (see
/// `docs/decisions/002-effectively-once.md`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckpointConfig {
    /// Directory of the checkpoint files, shared by every instance of the consumer group;
    /// relative to the working directory unless absolute.
    pub dir: PathBuf,
    /// Time between checkpoints.
    pub interval: Duration,
    /// Rows staged in the sinks (over all tasks) above which a checkpoint is taken early;
    /// bounds memory when windows close faster than the interval.
    pub max_staged_rows: usize,
}

impl Default for CheckpointConfig {
    fn default() -> Self {
        Self {
            dir: PathBuf::from(DEFAULT_CHECKPOINT_DIR),
            interval: DEFAULT_CHECKPOINT_INTERVAL,
            max_staged_rows: DEFAULT_MAX_STAGED_ROWS,
        }
    }
}
