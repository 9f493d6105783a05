//! `GET /v1/cities/{city}/parking`.

use axum::Json;
use axum::extract::{Path, State};
use serde::Serialize;
use stadtpuls_processing::formulas::parking_occupancy_pct;
use stadtpuls_processing::time::to_rfc3339;

use crate::error::Result;
use crate::state::AppState;

/// Current level of one facility.
#[derive(Debug, Serialize)]
pub struct FacilityItem {
    facility_id: String,
    name: Option<String>,
    lat: f64,
    lon: f64,
    free: Option<u32>,
    total: Option<u32>,
    occupancy_pct: Option<f64>,
    updated_at: Option<String>,
    stale: bool,
}

/// Every registered facility of a city.
#[derive(Debug, Serialize)]
pub struct CityParking {
    city: String,
    facilities: Vec<FacilityItem>,
}

/// `GET /v1/cities/{city}/parking`: every registered facility with its latest level;
/// `stale` when it never reported or not within `parking.stale_after`.
pub async fn city(
    State(state): State<AppState>,
    Path(city): Path<String>,
) -> Result<Json<CityParking>> {
    let city = super::city(&state, &city)?;
    let levels = state.live.facilities(&city.id);
    let now = (state.now_ms)();
    let facilities = city
        .facilities
        .iter()
        .map(|f| {
            let level = levels.get(&f.id);
            FacilityItem {
                facility_id: f.id.clone(),
                name: f.name.clone(),
                lat: f.lat,
                lon: f.lon,
                free: level.map(|l| l.free),
                total: level.and_then(|l| l.total),
                occupancy_pct: level
                    .and_then(|l| l.total.and_then(|t| parking_occupancy_pct(l.free, t)))
                    .map(|p| (p * 10.0).round() / 10.0),
                updated_at: level.map(|l| to_rfc3339(l.updated_at)),
                stale: level.is_none_or(|l| now - l.updated_at > state.stale_after_ms),
            }
        })
        .collect();
    Ok(Json(CityParking {
        city: city.id.clone(),
        facilities,
    }))
}
