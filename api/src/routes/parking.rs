//! `GET /v1/cities/{city}/parking`.

use axum::Json;
use axum::extract::{Path, Query, State};
use serde::{Deserialize, Serialize};
use stadtpuls_config::DataKind;
use stadtpuls_processing::live::{FacilityView, ParkingTotals, ParkingWindowRow, roll_up};
use stadtpuls_processing::time::{to_rfc3339, window_label};

use crate::access::viewer::Viewer;
use crate::error::{ApiError, Result};
use crate::state::AppState;

/// Query of the parking endpoint.
#[derive(Debug, Deserialize)]
pub struct ParkingQuery {
    window: Option<String>,
}

/// The latest closed window of one facility.
#[derive(Debug, Serialize)]
pub struct LastWindow {
    window_start: String,
    window_end: String,
    entries: Option<u64>,
    exits: Option<u64>,
    sessions_ended: Option<u32>,
    mean_dwell_s: Option<f64>,
    turnover: Option<f64>,
    occupancy_mean_pct: Option<f64>,
    free_min: u32,
}

impl LastWindow {
    fn new(row: &ParkingWindowRow) -> Self {
        Self {
            window_start: to_rfc3339(row.window_start),
            window_end: to_rfc3339(row.window_end),
            entries: row.entries,
            exits: row.exits,
            sessions_ended: row.sessions_ended,
            mean_dwell_s: row.mean_dwell_s.map(|s| s.round()),
            turnover: row.turnover.map(round2),
            occupancy_mean_pct: row.occupancy_mean_pct.map(round1),
            free_min: row.free_min,
        }
    }
}

/// Current level of one facility.
#[derive(Debug, Serialize)]
pub struct FacilityItem {
    facility_id: String,
    name: Option<String>,
    /// `None` only for a facility admitted at run time whose feed gave no position.
    lat: Option<f64>,
    lon: Option<f64>,
    /// Not in the registry: admitted at run time from its feed (`admit_unmapped_facilities`).
    admitted: bool,
    free: Option<u32>,
    total: Option<u32>,
    occupied: Option<u32>,
    occupancy_pct: Option<f64>,
    status: Option<&'static str>,
    trend: Option<&'static str>,
    trend_pct_per_h: Option<f64>,
    updated_at: Option<String>,
    stale: bool,
    /// What the operator's newest count said: `open`, `closed` or `unknown`; null when
    /// it said nothing. While `closed`: `status` `closed`, `free` 0, no occupancy.
    opening_status: Option<&'static str>,
    last_window: Option<LastWindow>,
}

/// Sums over a city's facilities that are not stale.
#[derive(Debug, Serialize)]
pub struct Totals {
    free: u64,
    total: u64,
    occupied: u64,
    occupancy_pct: Option<f64>,
    facilities_reporting: u32,
    facilities_stale: u32,
}

impl From<ParkingTotals> for Totals {
    fn from(t: ParkingTotals) -> Self {
        Self {
            free: t.free,
            total: t.total,
            occupied: t.occupied,
            occupancy_pct: t.occupancy_pct.map(round1),
            facilities_reporting: t.facilities_reporting,
            facilities_stale: t.facilities_stale,
        }
    }
}

/// Every registered facility of a city.
#[derive(Debug, Serialize)]
pub struct CityParking {
    city: String,
    window: String,
    totals: Totals,
    facilities: Vec<FacilityItem>,
}

/// `GET /v1/cities/{city}/parking?window=15m`: every registered facility (then every one
/// admitted at run time, `admit_unmapped_facilities`) with its latest
/// level, status and trend, and its latest closed window of `window` (default: the
/// largest configured); `stale` when it never reported or not within
/// `parking.stale_after`. `totals` sum the facilities that are not stale.
pub async fn city(
    State(state): State<AppState>,
    viewer: Viewer,
    Path(city): Path<String>,
    Query(query): Query<ParkingQuery>,
) -> Result<Json<CityParking>> {
    let city = super::city(&state, &viewer, &city, DataKind::Parking)?;
    let (window_s, window) = window(&state, query.window.as_deref())?;
    let views = state.live.facility_views(&city.id, window_s);
    let now = (state.now_ms)();
    // The registry's facilities, then those admitted at run time (by id).
    let admitted = state.live.admitted_facilities(&city.id);
    let listed: Vec<Listed<'_>> = city
        .facilities
        .iter()
        .map(|f| Listed {
            id: &f.id,
            name: f.name.clone(),
            position: Some((f.lat, f.lon)),
            admitted: false,
        })
        .chain(admitted.iter().map(|a| Listed {
            id: &a.id,
            name: a.name.clone(),
            position: a.position,
            admitted: true,
        }))
        .collect();
    let levels = listed
        .iter()
        .map(|f| views.get(f.id).and_then(|v| v.level.as_ref()));
    let totals = roll_up(levels, now, state.stale_after_ms).into();
    let facilities = listed
        .into_iter()
        .map(|f| {
            let view = views.get(f.id).cloned().unwrap_or_default();
            let FacilityView { level, last_window } = view;
            FacilityItem {
                facility_id: f.id.to_owned(),
                name: f.name,
                lat: f.position.map(|p| p.0),
                lon: f.position.map(|p| p.1),
                admitted: f.admitted,
                free: level.map(|l| l.free),
                total: level.and_then(|l| l.total),
                occupied: level.and_then(|l| l.occupied),
                occupancy_pct: level.and_then(|l| l.occupancy_pct).map(round1),
                status: level.and_then(|l| l.status).map(|s| s.as_str()),
                trend: level.and_then(|l| l.trend).map(|t| t.as_str()),
                trend_pct_per_h: level.and_then(|l| l.trend_pct_per_h).map(round1),
                updated_at: level.map(|l| to_rfc3339(l.updated_at)),
                stale: level.is_none_or(|l| l.is_stale(now, state.stale_after_ms)),
                opening_status: level.and_then(|l| l.opening).map(|o| o.as_str()),
                last_window: last_window.as_ref().map(LastWindow::new),
            }
        })
        .collect();
    Ok(Json(CityParking {
        city: city.id.clone(),
        window,
        totals,
        facilities,
    }))
}

/// A facility the city lists: from the registry, or admitted at run time.
struct Listed<'a> {
    id: &'a str,
    name: Option<String>,
    position: Option<(f64, f64)>,
    admitted: bool,
}

/// Resolves the `window` parameter to a configured size. The default is the largest:
/// turnover and dwell over one minute say little.
fn window(state: &AppState, param: Option<&str>) -> Result<(u32, String)> {
    let sizes = &state.window_sizes_s;
    let Some(param) = param else {
        let largest = sizes.last().copied().unwrap_or(900);
        return Ok((largest, window_label(largest)));
    };
    let parsed = humantime::parse_duration(param)
        .map_err(|e| ApiError::BadRequest(format!("window `{param}`: {e}")))?;
    let secs = u32::try_from(parsed.as_secs()).unwrap_or(u32::MAX);
    if parsed.subsec_nanos() == 0 && sizes.contains(&secs) {
        return Ok((secs, window_label(secs)));
    }
    let allowed: Vec<String> = sizes.iter().map(|s| window_label(*s)).collect();
    Err(ApiError::BadRequest(format!(
        "window `{param}` is not configured; use one of {}",
        allowed.join(", ")
    )))
}

/// One decimal for percentages: sensors count whole cars, more digits are noise.
pub(crate) fn round1(x: f64) -> f64 {
    (x * 10.0).round() / 10.0
}

fn round2(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}
