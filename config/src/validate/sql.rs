//! `[sql]` limits and listen address, `[[api_keys]]` (hashed keys with their cities), the
//! `share` and `partners` of each city and `api.anonymous`.

use std::collections::HashSet;
use std::net::SocketAddr;
use std::time::Duration;

use super::keys::KeyIds;
use super::{Ctx, in_range, positive};
use crate::model::{
    Anonymous, ApiConfig, ApiKeyConfig, CityConfig, CityScope, DataKind, Share, SharePolicy,
    SqlConfig,
};
use crate::raw::{RawApiKey, RawShare, RawSql};

/// 16 MiB: below this even a small aggregate's hash table does not fit.
const MIN_MEMORY_MIB: i64 = 16;
/// 1 TiB.
const MAX_MEMORY_MIB: i64 = 1024 * 1024;
const MAX_TIMEOUT: Duration = Duration::from_secs(3600);
const MAX_ROWS: i64 = 100_000_000;
const MAX_CONCURRENT: i64 = 256;
/// The `cities` entry that grants every city.
pub(crate) const ALL_CITIES: &str = "*";

pub(super) fn sql(ctx: &mut Ctx<'_>, raw: &RawSql, api: &ApiConfig) -> SqlConfig {
    let defaults = SqlConfig::default();
    let flight_bind =
        raw.flight_bind
            .as_deref()
            .and_then(|text| match text.trim().parse::<SocketAddr>() {
                Ok(bind) if bind == api.bind => {
                    ctx.error(
                        "sql.flight_bind",
                        format!("`{text}` is also `api.bind`, Flight SQL needs a port of its own"),
                    );
                    None
                }
                Ok(bind) => Some(bind),
                Err(_) => {
                    ctx.error(
                        "sql.flight_bind",
                        format!("invalid socket address `{text}`, expected e.g. `127.0.0.1:50051`"),
                    );
                    None
                }
            });
    let memory_mib = in_range(
        ctx,
        "sql.memory_limit_mib",
        raw.memory_limit_mib,
        MIN_MEMORY_MIB,
        MAX_MEMORY_MIB,
        "16 ..= 1048576 (1 TiB)",
    );
    let timeout = positive(ctx, "sql.timeout", &raw.timeout).filter(|timeout| {
        let fits = *timeout <= MAX_TIMEOUT;
        if !fits {
            ctx.error(
                "sql.timeout",
                format!("`{}` is longer than the maximum of 1h", raw.timeout),
            );
        }
        fits
    });
    let max_rows = in_range(
        ctx,
        "sql.max_rows",
        raw.max_rows,
        1,
        MAX_ROWS,
        "1 ..= 100000000",
    );
    let max_concurrent = in_range(
        ctx,
        "sql.max_concurrent",
        raw.max_concurrent,
        1,
        MAX_CONCURRENT,
        "1 ..= 256",
    );
    SqlConfig {
        enabled: raw.enabled,
        flight_bind,
        memory_limit_bytes: memory_mib
            .map(|mib| mib * 1024 * 1024)
            .unwrap_or(defaults.memory_limit_bytes),
        timeout: timeout.unwrap_or(defaults.timeout),
        max_rows: max_rows.unwrap_or(defaults.max_rows),
        max_concurrent: max_concurrent.unwrap_or(defaults.max_concurrent),
    }
}

/// Validates the keys against the configured cities (ids must exist, so a typo cannot
/// silently grant nothing).
pub(super) fn api_keys(
    ctx: &mut Ctx<'_>,
    raw: Vec<RawApiKey>,
    cities: &[CityConfig],
) -> Vec<ApiKeyConfig> {
    let known: HashSet<&str> = cities.iter().map(|c| c.id.as_str()).collect();
    let mut key_ids = KeyIds::default();
    let mut keys = Vec::with_capacity(raw.len());
    for (index, key) in raw.into_iter().enumerate() {
        let base = format!("api_keys[{index}]");
        let ids = key_ids.check(ctx, &base, &key.principal, &key.key_sha256);
        let scope = city_scope(ctx, &base, &key.cities, &known);
        if let (Some((principal, hash)), Some(cities)) = (ids, scope) {
            keys.push(ApiKeyConfig {
                principal,
                key_sha256: hash,
                cities,
            });
        }
    }
    keys
}

fn city_scope(
    ctx: &mut Ctx<'_>,
    base: &str,
    raw: &[String],
    known: &HashSet<&str>,
) -> Option<CityScope> {
    let path = format!("{base}.cities");
    if raw.is_empty() {
        ctx.error(&path, "must name at least one city, or `*` for all");
        return None;
    }
    if raw.iter().any(|c| c == ALL_CITIES) {
        if raw.len() > 1 {
            ctx.error(&path, "`*` (every city) stands alone");
            return None;
        }
        return Some(CityScope::All);
    }
    let mut ok = true;
    let mut ids: Vec<String> = Vec::with_capacity(raw.len());
    for (i, id) in raw.iter().enumerate() {
        if !known.contains(id.as_str()) {
            ctx.error(
                &format!("{path}[{i}]"),
                format!("`{id}` is not a configured city id"),
            );
            ok = false;
        } else if !ids.contains(id) {
            ids.push(id.clone());
        }
    }
    ok.then_some(CityScope::Only(ids))
}

/// `share = "private" | "partners" | "open"`, or `[cities.share]` per kind; unset is
/// private. `partners` are checked against the configured cities later
/// ([`partners`]), once every city id is known.
pub(super) fn share(
    ctx: &mut Ctx<'_>,
    base: &str,
    raw: Option<&RawShare>,
    partners: Vec<String>,
) -> SharePolicy {
    let mut policy = match raw {
        None => SharePolicy::default(),
        Some(RawShare::All(name)) => {
            SharePolicy::uniform(share_name(ctx, &format!("{base}.share"), Some(name)))
        }
        Some(RawShare::PerKind(kinds)) => SharePolicy {
            traffic: share_name(
                ctx,
                &format!("{base}.share.traffic"),
                kinds.traffic.as_deref(),
            ),
            parking: share_name(
                ctx,
                &format!("{base}.share.parking"),
                kinds.parking.as_deref(),
            ),
            partners: Vec::new(),
        },
    };
    policy.partners = partners;
    policy
}

fn share_name(ctx: &mut Ctx<'_>, path: &str, raw: Option<&str>) -> Share {
    match raw {
        None | Some("private") => Share::Private,
        Some("partners") => Share::Partners,
        Some("open") => Share::Open,
        Some(other) => {
            ctx.error(
                path,
                format!("unknown share `{other}`, expected `private`, `partners` or `open`"),
            );
            Share::Private
        }
    }
}

/// Checks each city's `partners` against the configured cities: known ids, not the city
/// itself, no duplicates, and given exactly when some kind is shared with `partners` (a
/// list nobody reads, or a `partners` share with nobody in it, is a mistake).
pub(super) fn partners(ctx: &mut Ctx<'_>, cities: &[(usize, &CityConfig)]) {
    let known: HashSet<&str> = cities.iter().map(|(_, c)| c.id.as_str()).collect();
    for (index, city) in cities {
        let base = format!("cities[{index}]");
        let policy = &city.share;
        let uses_partners = DataKind::ALL
            .iter()
            .any(|&kind| policy.of(kind) == Share::Partners);
        if uses_partners && policy.partners.is_empty() {
            ctx.error(
                &format!("{base}.partners"),
                format!(
                    "city `{}` shares with `partners` but names none; list their city ids",
                    city.id
                ),
            );
        }
        if !uses_partners && !policy.partners.is_empty() {
            ctx.error(
                &format!("{base}.partners"),
                format!(
                    "city `{}` names partners but shares nothing with `partners` (set `share = \"partners\"` or `[cities.share]`)",
                    city.id
                ),
            );
        }
        let mut seen = HashSet::new();
        for (i, partner) in policy.partners.iter().enumerate() {
            let path = format!("{base}.partners[{i}]");
            if !known.contains(partner.as_str()) {
                ctx.error(&path, format!("`{partner}` is not a configured city id"));
            } else if partner == &city.id {
                ctx.error(&path, format!("city `{partner}` cannot be its own partner"));
            } else if !seen.insert(partner.as_str()) {
                ctx.error(&path, format!("partner `{partner}` is named twice"));
            }
        }
    }
}

/// `api.anonymous = "open" | "deny"`; unset is open.
pub(super) fn anonymous(ctx: &mut Ctx<'_>, raw: Option<&str>) -> Anonymous {
    match raw.map(str::trim) {
        None | Some("open") => Anonymous::Open,
        Some("deny") => Anonymous::Deny,
        Some(other) => {
            ctx.error(
                "api.anonymous",
                format!("unknown value `{other}`, expected `open` (a request without a key sees open data) or `deny` (401)"),
            );
            Anonymous::Open
        }
    }
}
