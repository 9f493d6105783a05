//! [`RawConfig`] → [`Config`]: every range, format and cross-field rule, with all
//! problems collected before returning.

mod feeds;
mod history;
mod kafka;
mod keys;
mod map;
mod output;
mod parking;
mod pull;
mod push;
mod region;
mod sql;
mod traffic;
mod windows;

use std::collections::HashSet;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::env::Overrides;
use crate::error::{ENVIRONMENT, Errors};
use crate::model::{
    ApiConfig, CheckpointConfig, CityConfig, RegistrySource, WindowsConfig, ZoneSource,
};
use crate::raw::{CURRENT_VERSION, RawApi, RawCheckpoint, RawCity, RawConfig};
use crate::{Config, fields};

const KIB: i64 = 1024;
const MIB: i64 = 1024 * KIB;
const SECONDS_PER_DAY: u64 = 86_400;
const MAX_TOPIC_LEN: usize = 249;
const MAX_CITY_ID_LEN: usize = 64;
const MAX_HEADER_READ_TIMEOUT: Duration = Duration::from_secs(300);
const MAX_CONNECTIONS: i64 = 65_536;

pub(crate) use region::corridor_sensors;

/// Turns raw registry and zone paths into sources; the demo swaps in embedded files here.
pub(crate) struct Resolve<'a> {
    /// For `cities[i].registry`.
    pub registry: &'a dyn Fn(&str) -> Result<RegistrySource, String>,
    /// For `cities[i].zones`.
    pub zones: &'a dyn Fn(&str) -> Result<ZoneSource, String>,
}

/// Where each error goes: the config file, or the variable that overrode the value.
struct Ctx<'a> {
    origin: &'a Path,
    overrides: &'a Overrides,
    errors: &'a mut Errors,
}

impl Ctx<'_> {
    fn error(&mut self, path: &str, message: impl Into<String>) {
        match self.overrides.variable(path) {
            Some(variable) => self.errors.push(Path::new(ENVIRONMENT), variable, message),
            None => self.errors.push(self.origin, path, message),
        }
    }

    /// Parses a duration, reporting a failure at `path`.
    fn duration(&mut self, path: &str, text: &str) -> Option<Duration> {
        fields::parse_duration(text)
            .map_err(|message| self.error(path, message))
            .ok()
    }

    fn non_empty(&mut self, path: &str, text: &str) {
        if text.trim().is_empty() {
            self.error(path, "must not be empty");
        }
    }
}

/// Validates `raw`; problems go to `errors`, and the returned value is only
/// meaningful when none were added.
pub(crate) fn validate(
    raw: RawConfig,
    origin: &Path,
    overrides: &Overrides,
    resolve: &Resolve<'_>,
    errors: &mut Errors,
) -> Config {
    let mut ctx = Ctx {
        origin,
        overrides,
        errors,
    };
    if raw.version != CURRENT_VERSION {
        ctx.error(
            "version",
            format!(
                "unsupported version {}, expected {CURRENT_VERSION}",
                raw.version
            ),
        );
    }
    let kafka = kafka::kafka(&mut ctx, raw.kafka);
    let windows = windows::windows(&mut ctx, &raw.windows);
    let api = api(&mut ctx, &raw.api, &windows);
    let history = history::history(&mut ctx, &raw.history, &windows);
    let output = output::output(&mut ctx, raw.output, &kafka);
    let checkpoint = checkpoint(&mut ctx, &raw.checkpoint);
    let parking = parking::parking(&mut ctx, &raw.parking);
    let traffic = traffic::traffic(&mut ctx, &raw.traffic);
    let sql = sql::sql(&mut ctx, &raw.sql, &api);
    let own = feeds::own_topics(&kafka, &output);
    let cities = cities(&mut ctx, raw.cities, resolve, &own);
    output::output_topics_per_city(&mut ctx, &output, &cities, &kafka);
    let api_keys = sql::api_keys(&mut ctx, raw.api_keys, &cities);
    let push = push::push(&mut ctx, &raw.push);
    let push_keys = push::push_keys(&mut ctx, raw.push_keys, &cities);
    let regions = region::regions(&mut ctx, raw.regions, &cities);
    Config {
        kafka,
        windows,
        api,
        history,
        output,
        checkpoint,
        parking,
        traffic,
        sql,
        api_keys,
        push,
        push_keys,
        cities,
        regions,
        origin: origin.to_path_buf(),
    }
}

fn checkpoint(ctx: &mut Ctx<'_>, raw: &RawCheckpoint) -> CheckpointConfig {
    let defaults = CheckpointConfig::default();
    ctx.non_empty("checkpoint.dir", &raw.dir);
    let interval = positive(ctx, "checkpoint.interval", &raw.interval);
    let max_staged_rows = in_range(
        ctx,
        "checkpoint.max_staged_rows",
        raw.max_staged_rows,
        1,
        i64::MAX,
        "at least 1",
    );
    CheckpointConfig {
        dir: PathBuf::from(&raw.dir),
        interval: interval.unwrap_or(defaults.interval),
        max_staged_rows: max_staged_rows.unwrap_or(defaults.max_staged_rows),
    }
}

fn positive(ctx: &mut Ctx<'_>, path: &str, text: &str) -> Option<Duration> {
    let duration = ctx.duration(path, text)?;
    if duration.is_zero() {
        ctx.error(path, "must be greater than zero");
        return None;
    }
    Some(duration)
}

fn in_range(
    ctx: &mut Ctx<'_>,
    path: &str,
    value: i64,
    min: i64,
    max: i64,
    expected: &str,
) -> Option<usize> {
    let converted = usize::try_from(value)
        .ok()
        .filter(|_| (min..=max).contains(&value));
    if converted.is_none() {
        ctx.error(
            path,
            format!("{value} is out of range, expected {expected}"),
        );
    }
    converted
}

fn api(ctx: &mut Ctx<'_>, raw: &RawApi, windows: &WindowsConfig) -> ApiConfig {
    let defaults = ApiConfig::default();
    let bind = match raw.bind.trim().parse::<SocketAddr>() {
        Ok(bind) => Some(bind),
        Err(_) => {
            ctx.error(
                "api.bind",
                format!(
                    "invalid socket address `{}`, expected e.g. `127.0.0.1:8080`",
                    raw.bind
                ),
            );
            None
        }
    };
    let live_retention = positive(ctx, "api.live_retention", &raw.live_retention);
    if let (Some(retention), Some(largest)) = (live_retention, windows.sizes.last())
        && retention < *largest
    {
        let message = format!(
            "`{}` is shorter than the largest window ({}), so closed windows would vanish before the API could show them",
            raw.live_retention,
            humantime::format_duration(*largest)
        );
        ctx.error("api.live_retention", message);
    }
    let header_read_timeout = positive(ctx, "api.header_read_timeout", &raw.header_read_timeout)
        .filter(|timeout| {
            let fits = *timeout <= MAX_HEADER_READ_TIMEOUT;
            if !fits {
                let message = format!(
                    "`{}` is longer than the maximum of 5m: a half-sent request would hold its connection that long",
                    raw.header_read_timeout
                );
                ctx.error("api.header_read_timeout", message);
            }
            fits
        });
    let max_connections = in_range(
        ctx,
        "api.max_connections",
        raw.max_connections,
        1,
        MAX_CONNECTIONS,
        "1 ..= 65536",
    );
    let ring = in_range(
        ctx,
        "api.stream_ring",
        raw.stream_ring,
        16,
        1 << 22,
        "16 ..= 4194304",
    );
    let queue = in_range(
        ctx,
        "api.stream_client_queue",
        raw.stream_client_queue,
        1,
        1 << 20,
        "1 ..= 1048576",
    );
    let heartbeat = positive(ctx, "api.stream_heartbeat", &raw.stream_heartbeat);
    if heartbeat.is_some_and(|h| h > MAX_HEADER_READ_TIMEOUT) {
        ctx.error("api.stream_heartbeat", "must be at most 5m");
    }
    let heartbeat = heartbeat.filter(|h| *h <= MAX_HEADER_READ_TIMEOUT);
    ApiConfig {
        stream_ring: ring.unwrap_or(defaults.stream_ring),
        stream_client_queue: queue.unwrap_or(defaults.stream_client_queue),
        stream_heartbeat: heartbeat.unwrap_or(defaults.stream_heartbeat),
        bind: bind.unwrap_or(defaults.bind),
        live_retention: live_retention.unwrap_or(defaults.live_retention),
        header_read_timeout: header_read_timeout.unwrap_or(defaults.header_read_timeout),
        max_connections: max_connections.unwrap_or(defaults.max_connections),
        anonymous: sql::anonymous(ctx, raw.anonymous.as_deref()),
        map_tiles: map::tiles(
            ctx,
            raw.map_tile_url.as_deref(),
            raw.map_tile_attribution.as_deref(),
        ),
    }
}

fn cities(
    ctx: &mut Ctx<'_>,
    raw: Vec<Option<RawCity>>,
    resolve: &Resolve<'_>,
    own_topics: &[&str],
) -> Vec<CityConfig> {
    if raw.is_empty() {
        ctx.error("cities", "at least one city is required (`[[cities]]`)");
    }
    let mut seen = HashSet::new();
    let mut claimed = feeds::Claimed::new();
    let mut cities = Vec::with_capacity(raw.len());
    let mut indices = Vec::with_capacity(raw.len());
    for (index, city) in raw.into_iter().enumerate() {
        // `None` failed to deserialize and is already reported.
        let Some(city) = city else { continue };
        let base = format!("cities[{index}]");
        if let Err(message) = fields::check_city_id(&city.id, MAX_CITY_ID_LEN) {
            ctx.error(&format!("{base}.id"), message);
        } else if !seen.insert(city.id.clone()) {
            ctx.error(
                &format!("{base}.id"),
                format!("duplicate city id `{}`", city.id),
            );
        }
        ctx.non_empty(&format!("{base}.name"), &city.name);
        let timezone = city.timezone.parse::<chrono_tz::Tz>();
        if timezone.is_err() {
            let message = format!(
                "unknown timezone `{}`, expected an IANA name like `Europe/Berlin`",
                city.timezone
            );
            ctx.error(&format!("{base}.timezone"), message);
        }
        let mut centre_ok = true;
        if let Err(message) = fields::check_lat(city.lat) {
            ctx.error(&format!("{base}.lat"), message);
            centre_ok = false;
        }
        if let Err(message) = fields::check_lon(city.lon) {
            ctx.error(&format!("{base}.lon"), message);
            centre_ok = false;
        }
        let registry = (resolve.registry)(&city.registry);
        if let Err(message) = &registry {
            ctx.error(&format!("{base}.registry"), message.clone());
        }
        let zones = city.zones.as_deref().map(resolve.zones).transpose();
        if let Err(message) = &zones {
            ctx.error(&format!("{base}.zones"), message.clone());
        }
        let share = sql::share(ctx, &base, city.share.as_ref(), city.partners);
        let feeds = feeds::feeds(ctx, &base, &city.id, city.feeds, own_topics, &mut claimed);
        let origin = ctx.origin;
        let pull = pull::pulls(ctx, &base, &city.id, city.pull, &feeds, origin);
        // A city with other problems is kept (the config is refused anyway), so that
        // `config check` still reads its registry and zone file: a placeholder timezone,
        // and a centre of NaN when it is out of range — no distance from it exceeds a
        // limit, so the files' distance checks stay quiet instead of failing every row.
        if let (Ok(registry), Ok(zones)) = (registry, zones) {
            let (lat, lon) = if centre_ok {
                (city.lat, city.lon)
            } else {
                (f64::NAN, f64::NAN)
            };
            indices.push(index);
            cities.push(CityConfig {
                id: city.id,
                name: city.name,
                timezone: timezone.unwrap_or(chrono_tz::UTC),
                lat,
                lon,
                registry,
                zones,
                share,
                feeds,
                pull,
                admit_unmapped_facilities: city.admit_unmapped_facilities,
            });
        }
    }
    let indexed: Vec<(usize, &CityConfig)> = indices.into_iter().zip(&cities).collect();
    sql::partners(ctx, &indexed);
    cities
}

/// The registry resolver for config files: paths relative to the file's directory.
pub(crate) fn resolve_file(origin: &Path) -> impl Fn(&str) -> Result<RegistrySource, String> + '_ {
    move |raw: &str| {
        fields::check_registry_name(raw)?;
        let base = origin.parent().unwrap_or(Path::new(""));
        Ok(RegistrySource::File(base.join(raw)))
    }
}

/// The zone-file resolver for config files: paths relative to the file's directory.
pub(crate) fn resolve_zones_file(
    origin: &Path,
) -> impl Fn(&str) -> Result<ZoneSource, String> + '_ {
    move |raw: &str| {
        fields::check_zones_name(raw)?;
        let base = origin.parent().unwrap_or(Path::new(""));
        Ok(ZoneSource::File(base.join(raw)))
    }
}
