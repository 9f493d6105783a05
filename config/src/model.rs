//! Validated, typed configuration sections and their built-in defaults.
//!
//! Values of these types only come out of validation (or `Default`), so code that
//! takes them never needs to re-check ranges.

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

pub(crate) const DEFAULT_BROKERS: &str = "127.0.0.1:9092";
pub(crate) const DEFAULT_GROUP_ID: &str = "stadtpuls";
pub(crate) const DEFAULT_TOPIC_PATTERN: &str = r"^sensors\.[a-z0-9-]+\.(traffic|parking)$";
pub(crate) const DEFAULT_DEADLETTER_TOPIC: &str = "sensors.deadletter";
pub(crate) const DEFAULT_MAX_MESSAGE_BYTES: usize = 1_048_576;
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
pub(crate) const DEFAULT_BIND: SocketAddr =
    SocketAddr::new(IpAddr::V4(Ipv4Addr::new(127, 0, 0, 1)), 8080);
pub(crate) const DEFAULT_LIVE_RETENTION: Duration = Duration::from_secs(6 * 3600);
pub(crate) const DEFAULT_HISTORY_DIR: &str = "./stadtpuls-data";
pub(crate) const DEFAULT_OUTPUT_ENABLED: bool = true;
pub(crate) const DEFAULT_OUTPUT_TRAFFIC_TOPIC: &str = "metrics.traffic";
pub(crate) const DEFAULT_OUTPUT_TRAFFIC_LANES_TOPIC: &str = "metrics.traffic_lanes";
pub(crate) const DEFAULT_OUTPUT_PARKING_TOPIC: &str = "metrics.parking";
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
pub(crate) const DEFAULT_MAX_STAGED_ROWS: usize = 1_000_000;
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
    /// Regex subscription; always starts with `^`, as librdkafka requires.
    pub topic_pattern: String,
    /// Topic that receives messages that could not be decoded.
    pub deadletter_topic: String,
    /// Messages larger than this are rejected, 1 KiB ..= 100 MiB.
    pub max_message_bytes: usize,
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
            topic_pattern: DEFAULT_TOPIC_PATTERN.to_owned(),
            deadletter_topic: DEFAULT_DEADLETTER_TOPIC.to_owned(),
            max_message_bytes: DEFAULT_MAX_MESSAGE_BYTES,
            batch_max_messages: DEFAULT_BATCH_MAX_MESSAGES,
            batch_max_wait: DEFAULT_BATCH_MAX_WAIT,
            librdkafka: BTreeMap::new(),
        }
    }
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
}

impl Default for ApiConfig {
    fn default() -> Self {
        Self {
            bind: DEFAULT_BIND,
            live_retention: DEFAULT_LIVE_RETENTION,
        }
    }
}

/// Where and how closed windows are written as Parquet history (`<dir>/<table>/city=<id>/
/// date=<YYYY-MM-DD>/*.parquet`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HistoryConfig {
    /// Whether closed windows are written at all.
    pub enabled: bool,
    /// Directory of the history files, relative to the working directory unless absolute.
    pub dir: PathBuf,
    /// The tables written, each a stream and a configured window; at least one when
    /// enabled, no duplicates.
    pub tables: Vec<HistoryTable>,
    /// Date partitions whose windows all started this long before the newest window
    /// written are deleted; at least one day.
    pub retention: Duration,
    /// A file holds at most this many rows; larger commits and compactions roll over to
    /// the next file; at least 1.
    pub max_file_rows: usize,
    /// A partition's files of one size tier are merged once there are this many of them;
    /// 0 = never, else at least 2.
    pub compact_after: usize,
    /// Also archive every input message as read — topic, partition, offset, key, payload —
    /// to the `raw_messages` table, committed with its task's epochs like the windows.
    pub archive_raw: bool,
}

impl Default for HistoryConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            dir: PathBuf::from(DEFAULT_HISTORY_DIR),
            tables: DEFAULT_HISTORY_TABLES
                .iter()
                .map(|&(stream, seconds)| HistoryTable::tumbling(stream, seconds))
                .collect(),
            retention: DEFAULT_HISTORY_RETENTION,
            max_file_rows: DEFAULT_HISTORY_MAX_FILE_ROWS,
            compact_after: DEFAULT_HISTORY_COMPACT_AFTER,
            archive_raw: false,
        }
    }
}

/// Output topics: closed windows produced to Kafka, keyed by city/entity/window so that a
/// compacted topic keeps the latest revision of each window (`docs/formats.md`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutputConfig {
    /// Produce closed windows to the topics below (`stadtpuls run` only: the demo has no
    /// Kafka).
    pub enabled: bool,
    /// Per-sensor (cross-section) traffic windows with their MARZ state; a valid topic
    /// name, distinct from the other output topics and the dead-letter topic.
    pub traffic_topic: String,
    /// Per-sensor-and-lane traffic windows (no MARZ state); valid and distinct as above.
    pub traffic_lanes_topic: String,
    /// Per-facility parking windows; valid and distinct as above.
    pub parking_topic: String,
}

impl Default for OutputConfig {
    fn default() -> Self {
        Self {
            enabled: DEFAULT_OUTPUT_ENABLED,
            traffic_topic: DEFAULT_OUTPUT_TRAFFIC_TOPIC.to_owned(),
            traffic_lanes_topic: DEFAULT_OUTPUT_TRAFFIC_LANES_TOPIC.to_owned(),
            parking_topic: DEFAULT_OUTPUT_PARKING_TOPIC.to_owned(),
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

/// SQL for analysts (`POST /v1/sql`, Flight SQL, `stadtpuls sql`): where it listens and
/// the limits every query runs under.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SqlConfig {
    /// Whether the API answers `POST /v1/sql` and the Flight SQL server starts.
    pub enabled: bool,
    /// Flight SQL listen address; `None`: no Flight SQL server. Differs from `api.bind`.
    pub flight_bind: Option<SocketAddr>,
    /// Memory one query's operators (hash tables, sorts) may reserve, bytes; 16 MiB ..=
    /// 1 TiB. There is no spilling to disk: a query past it fails.
    pub memory_limit_bytes: usize,
    /// Longest a query may run (planning, execution and collecting the result); > 0, <= 1h.
    pub timeout: Duration,
    /// Most rows a result may have; a query returning more fails; 1 ..= 100000000.
    pub max_rows: usize,
    /// Queries executing at once; more wait for a slot (within their timeout); 1 ..= 256.
    pub max_concurrent: usize,
}

impl Default for SqlConfig {
    fn default() -> Self {
        Self {
            enabled: DEFAULT_SQL_ENABLED,
            flight_bind: None,
            memory_limit_bytes: DEFAULT_SQL_MEMORY_LIMIT_MIB * 1024 * 1024,
            timeout: DEFAULT_SQL_TIMEOUT,
            max_rows: DEFAULT_SQL_MAX_ROWS,
            max_concurrent: DEFAULT_SQL_MAX_CONCURRENT,
        }
    }
}

/// An API key for SQL: who holds it and whose rows it reads. Only its SHA-256 is
/// configured, so the config file does not hold the secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiKeyConfig {
    /// Who holds the key (logs, metrics); unique, not empty.
    pub principal: String,
    /// SHA-256 of the key as 64 lowercase hex digits; unique.
    pub key_sha256: String,
    /// The cities whose rows the key reads (plus every city shared as open data).
    pub cities: CityScope,
}

/// The cities an API key reads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CityScope {
    /// Every city (`cities = ["*"]`).
    All,
    /// These configured city ids, at least one.
    Only(Vec<String>),
}

/// Whether a city's rows are open data.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Share {
    /// Visible to keys that name the city (the default).
    #[default]
    Private,
    /// Visible to every key (`share = "open"`).
    Open,
}

/// Which result stream a history table holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum HistoryStream {
    /// Traffic windows per sensor (cross-section), classified: `traffic_<window>`.
    Traffic,
    /// Traffic windows per sensor and lane: `traffic_lanes_<window>`.
    TrafficLanes,
    /// Parking windows per facility: `parking_<window>`.
    Parking,
}

impl HistoryStream {
    /// Every stream, longest table-name prefix first (`traffic_lanes_` before `traffic_`).
    pub const ALL: [HistoryStream; 3] = [Self::TrafficLanes, Self::Traffic, Self::Parking];

    /// The table-name prefix, e.g. `traffic_lanes`.
    pub fn prefix(self) -> &'static str {
        match self {
            Self::Traffic => "traffic",
            Self::TrafficLanes => "traffic_lanes",
            Self::Parking => "parking",
        }
    }
}

/// One history table: a stream and one configured window family.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct HistoryTable {
    /// What the rows are.
    pub stream: HistoryStream,
    /// Window size, whole seconds.
    pub window_s: u32,
    /// Distance between window starts, seconds; `== window_s` for tumbling windows.
    pub slide_s: u32,
}

impl HistoryTable {
    /// A table of tumbling windows of `seconds`.
    pub(crate) fn tumbling(stream: HistoryStream, seconds: u64) -> Self {
        let seconds = u32::try_from(seconds).unwrap_or(u32::MAX);
        Self {
            stream,
            window_s: seconds,
            slide_s: seconds,
        }
    }

    /// The directory name: `traffic_15m`, `traffic_lanes_1m`, or `traffic_1h_15m` for
    /// hopping windows of one hour every 15 minutes.
    pub fn name(&self) -> String {
        let prefix = self.stream.prefix();
        if self.window_s == self.slide_s {
            format!("{prefix}_{}", duration_label(self.window_s))
        } else {
            format!(
                "{prefix}_{}_{}",
                duration_label(self.window_s),
                duration_label(self.slide_s)
            )
        }
    }
}

/// `3600` → `1h`, `900` → `15m`, `90` → `90s`: the largest whole unit, as window labels
/// elsewhere (the API's `?window=`) are written.
pub(crate) fn duration_label(seconds: u32) -> String {
    if seconds.is_multiple_of(3600) {
        format!("{}h", seconds / 3600)
    } else if seconds.is_multiple_of(60) {
        format!("{}m", seconds / 60)
    } else {
        format!("{seconds}s")
    }
}

/// Parking-specific settings.
#[derive(Debug, Clone, PartialEq)]
pub struct ParkingConfig {
    /// How often facilities and spot sensors are expected to report (or re-assert their
    /// state by heartbeat), > 0.
    pub feed_interval: Duration,
    /// A facility without a report for this long is shown as stale and left out of the
    /// city totals: the explicit `stale_after` if set, else 3 × `feed_interval`; never
    /// shorter than `feed_interval`.
    pub stale_after: Duration,
    /// Event time over which the occupancy trend is fitted, >= `feed_interval`.
    pub trend_window: Duration,
    /// Slope (percentage points of occupancy per hour) beyond which the trend is
    /// `increasing` or `decreasing` rather than `stable`; finite, > 0.
    pub trend_threshold_pct_per_h: f64,
    /// Occupancy thresholds of the status (DATEX II `ParkingThresholds`).
    pub thresholds: ParkingThresholds,
}

impl Default for ParkingConfig {
    fn default() -> Self {
        Self {
            feed_interval: DEFAULT_FEED_INTERVAL,
            stale_after: DEFAULT_FEED_INTERVAL * STALE_AFTER_INTERVALS,
            trend_window: DEFAULT_TREND_WINDOW,
            trend_threshold_pct_per_h: DEFAULT_TREND_THRESHOLD_PCT_PER_H,
            thresholds: ParkingThresholds::default(),
        }
    }
}

/// Occupancy percentages at which a facility's status changes, as in DATEX II
/// `ParkingThresholds`: a status is entered when occupancy rises to its `*_increasing`
/// threshold and left when it falls below its `*_decreasing` one, so a car park hovering
/// around a threshold does not make the guidance signs flicker.
///
/// Validated: each in (0, 100]; each `*_decreasing` below its `*_increasing`;
/// `almost_full_*` below the matching `full_*`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ParkingThresholds {
    /// `spacesAvailable` → `almostFull` at this occupancy or more, percent.
    pub almost_full_increasing_pct: f64,
    /// `almostFull` → `spacesAvailable` below this occupancy, percent.
    pub almost_full_decreasing_pct: f64,
    /// → `full` at this occupancy or more, percent.
    pub full_increasing_pct: f64,
    /// `full` → `almostFull` below this occupancy, percent.
    pub full_decreasing_pct: f64,
}

impl Default for ParkingThresholds {
    fn default() -> Self {
        Self {
            almost_full_increasing_pct: DEFAULT_ALMOST_FULL_INCREASING_PCT,
            almost_full_decreasing_pct: DEFAULT_ALMOST_FULL_DECREASING_PCT,
            full_increasing_pct: DEFAULT_FULL_INCREASING_PCT,
            full_decreasing_pct: DEFAULT_FULL_DECREASING_PCT,
        }
    }
}

/// One city of the cooperation network.
#[derive(Debug, Clone, PartialEq)]
pub struct CityConfig {
    /// Short id, `^[a-z0-9-]+$`, 1..=64 chars; also the middle part of its topic names.
    pub id: String,
    /// Display name.
    pub name: String,
    /// Local time zone, for daily profiles and DST-aware reports.
    pub timezone: chrono_tz::Tz,
    /// Latitude of the centre, degrees.
    pub lat: f64,
    /// Longitude of the centre, degrees.
    pub lon: f64,
    /// Where its sensor registry is read from.
    pub registry: RegistrySource,
    /// Where its zones (districts, parking zones) are read from, if it has any.
    pub zones: Option<ZoneSource>,
    /// Whether its rows are open data for every SQL key.
    pub share: Share,
}

/// Where a city's sensor registry comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RegistrySource {
    /// A file, already resolved against the config file's directory; the extension
    /// (`.csv`, `.geojson` or `.json`) selects the format.
    File(PathBuf),
    /// Compiled into the binary (the built-in demo); `name` ends in `.csv` or `.geojson`.
    Embedded {
        /// File name, used in messages and to select the format.
        name: &'static str,
        /// The registry itself.
        text: &'static str,
    },
}

impl RegistrySource {
    /// Returns the name used as `file` in error messages.
    pub fn display_path(&self) -> PathBuf {
        match self {
            Self::File(path) => path.clone(),
            Self::Embedded { name, .. } => PathBuf::from(format!("{}/{name}", crate::DEMO_ORIGIN)),
        }
    }
}

/// Where a city's zone file (a GeoJSON FeatureCollection of polygons) comes from.
///
/// Kept apart from [`RegistrySource`] although shaped alike: the two files have different
/// formats and rules, and a zone file is never a CSV.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ZoneSource {
    /// A file, already resolved against the config file's directory.
    File(PathBuf),
    /// Compiled into the binary (the built-in demo).
    Embedded {
        /// File name, used in messages.
        name: &'static str,
        /// The GeoJSON text.
        text: &'static str,
    },
}

impl ZoneSource {
    /// Returns the name used as `file` in error messages.
    pub fn display_path(&self) -> PathBuf {
        match self {
            Self::File(path) => path.clone(),
            Self::Embedded { name, .. } => PathBuf::from(format!("{}/{name}", crate::DEMO_ORIGIN)),
        }
    }
}

/// Lane counts a site class gives density thresholds for; registry sensors have 1..=8 lanes.
pub const MAX_LANES: usize = 8;

/// Built-in site class of roads with a free-flow speed up to 50 km/h.
pub const SITE_CLASS_URBAN: &str = "urban";
/// Built-in site class of roads with a free-flow speed above 50 and up to 80 km/h.
pub const SITE_CLASS_ARTERIAL: &str = "arterial";
/// Built-in site class of roads with a free-flow speed above 80 km/h.
pub const SITE_CLASS_MOTORWAY: &str = "motorway";

/// MARZ 2004 density thresholds k1 / k2 (veh/km, whole cross-section) by lane count 1..=8,
/// as set by the bsvrz `MQMarzParameterSetter`: 20/50 for one lane, 30/60 for two, 40/70
/// for three, 50/80 for four and more.
pub(crate) const MARZ_K1_VEH_KM: [f64; MAX_LANES] =
    [20.0, 30.0, 40.0, 50.0, 50.0, 50.0, 50.0, 50.0];
pub(crate) const MARZ_K2_VEH_KM: [f64; MAX_LANES] =
    [50.0, 60.0, 70.0, 80.0, 80.0, 80.0, 80.0, 80.0];

/// Traffic-state settings: the site classes whose thresholds decide MARZ states Z1–Z4.
#[derive(Debug, Clone, PartialEq)]
pub struct TrafficConfig {
    /// Every site class, sorted by name: the built-in `arterial`, `motorway` and `urban`
    /// (each replaced by a configured table of the same name) plus the configured ones.
    pub site_classes: Vec<SiteClass>,
}

impl Default for TrafficConfig {
    fn default() -> Self {
        Self {
            site_classes: SiteClass::built_in().to_vec(),
        }
    }
}

impl TrafficConfig {
    /// Returns the position of the class called `name` in [`Self::site_classes`].
    pub fn site_class_index(&self, name: &str) -> Option<usize> {
        self.site_classes
            .iter()
            .position(|class| class.name == name)
    }

    /// Returns the class called `name`.
    pub fn site_class(&self, name: &str) -> Option<&SiteClass> {
        self.site_classes.iter().find(|class| class.name == name)
    }
}

/// MARZ 2004 thresholds of one kind of road (`[traffic.site_classes.<name>]`).
///
/// A window with space-mean speed v and density k is free (Z1) at v ≥ v2 and k ≤ k1, dense
/// (Z2) at v ≥ v2 and k1 < k ≤ k2, slow (Z3) at v1 ≤ v < v2 and k ≤ k2 and jammed (Z4) at
/// v < v1 and k > k2 (see `stadtpuls_processing::marz`). Always 0 < v1 < v2 and
/// 0 < k1 < k2 for every lane count.
#[derive(Debug, Clone, PartialEq)]
pub struct SiteClass {
    /// Name used by the registry column `site_class`, `^[a-z0-9_-]+$`.
    pub name: String,
    /// Below this space-mean speed traffic is stop-and-go (Z4 candidate), km/h.
    pub v1_kmh: f64,
    /// At or above this space-mean speed traffic flows (Z1 or Z2), km/h.
    pub v2_kmh: f64,
    /// Density up to which flowing traffic is free, veh/km over the whole cross-section;
    /// entry `i` applies to `i + 1` lanes.
    pub k1_veh_km: [f64; MAX_LANES],
    /// Density above which traffic is jammed (Z4 candidate), veh/km; entry `i` applies to
    /// `i + 1` lanes.
    pub k2_veh_km: [f64; MAX_LANES],
}

impl SiteClass {
    /// Returns the built-in classes, sorted by name.
    ///
    /// They are site defaults for cities without their own calibration, not norms. The
    /// motorway speeds v1 30 / v2 80 km/h and the density table (20/50 veh/km for one
    /// lane up to 50/80 for four and more) are the MARZ 2004 defaults of the bsvrz
    /// parameter setter. Urban (v1 15 / v2 35) and arterial (v1 20 / v2 50) scale the
    /// speed thresholds to 50 and 70 km/h roads: v2 at about 70 % of the free-flow speed,
    /// as 80 is of a motorway's ~115, and v1 at about 30 %, below which urban traffic is
    /// queuing at signals rather than slow. They keep the MARZ density table: density
    /// thresholds express how many vehicles a cross-section holds, which depends on its
    /// lanes more than on its speed limit.
    pub fn built_in() -> [SiteClass; 3] {
        let class = |name: &str, v1_kmh: f64, v2_kmh: f64| SiteClass {
            name: name.to_owned(),
            v1_kmh,
            v2_kmh,
            k1_veh_km: MARZ_K1_VEH_KM,
            k2_veh_km: MARZ_K2_VEH_KM,
        };
        [
            class(SITE_CLASS_ARTERIAL, 20.0, 50.0),
            class(SITE_CLASS_MOTORWAY, 30.0, 80.0),
            class(SITE_CLASS_URBAN, 15.0, 35.0),
        ]
    }

    /// Returns the density thresholds `(k1, k2)` in veh/km for a cross-section of `lanes`
    /// lanes; 0 lanes counts as one, more than [`MAX_LANES`] as that many.
    pub fn density_thresholds(&self, lanes: u8) -> (f64, f64) {
        let index = usize::from(lanes.clamp(1, MAX_LANES as u8)) - 1;
        (self.k1_veh_km[index], self.k2_veh_km[index])
    }
}

/// Returns the built-in site class of a road with this free-flow speed: up to 50 km/h
/// `urban`, up to 80 km/h `arterial`, above `motorway`.
///
/// The bounds follow German speed limits: 50 in towns, 70–80 on arterials and rural
/// roads, more only on motorways and expressways.
pub fn derived_site_class(free_flow_kmh: f64) -> &'static str {
    if free_flow_kmh <= 50.0 {
        SITE_CLASS_URBAN
    } else if free_flow_kmh <= 80.0 {
        SITE_CLASS_ARTERIAL
    } else {
        SITE_CLASS_MOTORWAY
    }
}
