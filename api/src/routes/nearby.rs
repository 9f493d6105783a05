//! `GET /v1/parking/nearby`: facilities with free spaces around a position, across the
//! cities whose parking the request sees. The search itself is
//! `stadtpuls_processing::geo::nearby`.

use std::collections::{BTreeMap, HashMap};
use std::ops::RangeInclusive;
use std::str::FromStr;

use axum::Json;
use axum::extract::{Query, State};
use serde::{Deserialize, Serialize};
use stadtpuls_config::DataKind;
use stadtpuls_processing::geo::nearby::{
    FacilityPlace, NearbyFacility, NearbyQuery, nearby as search,
};
use stadtpuls_processing::time::to_rfc3339;
use stadtpuls_processing::window::parking::FacilityLive;

use crate::access::viewer::Viewer;
use crate::error::{ApiError, Result};
use crate::state::AppState;

const LAT: RangeInclusive<f64> = -90.0..=90.0;
const LON: RangeInclusive<f64> = -180.0..=180.0;
/// 50 km: beyond that, "nearby" spans half the network and is not a parking search.
const RADIUS_M: RangeInclusive<f64> = 1.0..=50_000.0;
const DEFAULT_RADIUS_M: f64 = 1_000.0;
const DEFAULT_MIN_FREE: u32 = 1;

/// Query of the nearby endpoint, as text so every problem gets a clear 400.
#[derive(Debug, Deserialize)]
pub struct NearbyParams {
    lat: Option<String>,
    lon: Option<String>,
    radius_m: Option<String>,
    min_free: Option<String>,
}

/// One facility found.
#[derive(Debug, Serialize)]
pub struct NearbyItem {
    city: String,
    facility_id: String,
    name: Option<String>,
    lat: f64,
    lon: f64,
    distance_m: f64,
    free: Option<u32>,
    total: Option<u32>,
    occupancy_pct: Option<f64>,
    updated_at: Option<String>,
    stale: bool,
}

impl From<&NearbyFacility<'_>> for NearbyItem {
    fn from(found: &NearbyFacility<'_>) -> Self {
        let level = found.level;
        Self {
            city: found.place.city.clone(),
            facility_id: found.place.facility_id.clone(),
            name: found.place.name.clone(),
            lat: found.place.lat,
            lon: found.place.lon,
            // Decimetres are already below what a position fix gives.
            distance_m: (found.distance_m * 10.0).round() / 10.0,
            free: level.map(|l| l.free),
            total: level.and_then(|l| l.total),
            occupancy_pct: level
                .and_then(|l| l.occupancy_pct)
                .map(|p| (p * 10.0).round() / 10.0),
            updated_at: level.map(|l| to_rfc3339(l.updated_at)),
            stale: found.stale,
        }
    }
}

/// The facilities found, nearest first, with the query as understood.
#[derive(Debug, Serialize)]
pub struct NearbyResponse {
    lat: f64,
    lon: f64,
    radius_m: f64,
    min_free: u32,
    facilities: Vec<NearbyItem>,
}

/// `GET /v1/parking/nearby?lat=&lon=&radius_m=1000&min_free=1`: facilities of every city
/// whose parking the request sees, within `radius_m` with at least `min_free` free
/// spaces, nearest first. Facilities that never reported or are stale are only listed
/// with `min_free=0`. Facilities of other cities are left out before anything is
/// counted or listed: the response has no totals that could include them.
pub async fn nearby(
    State(state): State<AppState>,
    viewer: Viewer,
    Query(params): Query<NearbyParams>,
) -> Result<Json<NearbyResponse>> {
    let query = parse(&params)?;
    // One copy of each city's levels per request instead of one lookup per facility;
    // a few hundred entries in all.
    let levels: HashMap<&str, BTreeMap<String, FacilityLive>> = state
        .cities
        .iter()
        .filter(|city| viewer.sees(&city.id, DataKind::Parking))
        .map(|city| (city.id.as_str(), state.live.facilities(&city.id)))
        .collect();
    let level_of = |place: &FacilityPlace| {
        levels
            .get(place.city.as_str())
            .and_then(|city| city.get(&place.facility_id))
            .copied()
    };
    let now = (state.now_ms)();
    let facilities = search(
        &state.facility_places,
        &query,
        level_of,
        now,
        state.stale_after_ms,
    )
    .iter()
    .filter(|found| viewer.sees(&found.place.city, DataKind::Parking))
    .map(NearbyItem::from)
    .collect();
    Ok(Json(NearbyResponse {
        lat: query.lat,
        lon: query.lon,
        radius_m: query.radius_m,
        min_free: query.min_free,
        facilities,
    }))
}

fn parse(params: &NearbyParams) -> Result<NearbyQuery> {
    let lat = required("lat", params.lat.as_deref())?;
    let lon = required("lon", params.lon.as_deref())?;
    in_range("lat", lat, &LAT)?;
    in_range("lon", lon, &LON)?;
    let radius_m = match params.radius_m.as_deref() {
        None => DEFAULT_RADIUS_M,
        Some(text) => number("radius_m", text)?,
    };
    in_range("radius_m", radius_m, &RADIUS_M)?;
    let min_free = match params.min_free.as_deref() {
        None => DEFAULT_MIN_FREE,
        Some(text) => u32::from_str(text.trim()).map_err(|_| {
            ApiError::BadRequest(format!(
                "`min_free` = `{text}` is not a whole number of spaces (0 or more)"
            ))
        })?,
    };
    Ok(NearbyQuery {
        lat,
        lon,
        radius_m,
        min_free,
    })
}

fn required(name: &str, text: Option<&str>) -> Result<f64> {
    let text = text.ok_or_else(|| ApiError::BadRequest(format!("`{name}` is required")))?;
    number(name, text)
}

fn number(name: &str, text: &str) -> Result<f64> {
    text.trim()
        .parse::<f64>()
        .ok()
        .filter(|value| value.is_finite())
        .ok_or_else(|| ApiError::BadRequest(format!("`{name}` = `{text}` is not a number")))
}

fn in_range(name: &str, value: f64, range: &RangeInclusive<f64>) -> Result<()> {
    if range.contains(&value) {
        Ok(())
    } else {
        Err(ApiError::BadRequest(format!(
            "`{name}` = {value} is out of range {}..={}",
            range.start(),
            range.end()
        )))
    }
}
