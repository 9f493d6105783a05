//! `GET /v1/cities`.

use axum::Json;
use axum::extract::State;
use serde::Serialize;

use crate::state::AppState;

/// One configured city.
#[derive(Debug, Serialize)]
pub struct CityItem {
    id: String,
    name: String,
    timezone: String,
    traffic_sensors: usize,
    parking_facilities: usize,
}

/// The list of configured cities.
#[derive(Debug, Serialize)]
pub struct CitiesResponse {
    cities: Vec<CityItem>,
}

/// `GET /v1/cities`: configured cities with their sensor counts.
pub async fn list(State(state): State<AppState>) -> Json<CitiesResponse> {
    let cities = state
        .cities
        .iter()
        .map(|c| CityItem {
            id: c.id.clone(),
            name: c.name.clone(),
            timezone: c.timezone.clone(),
            traffic_sensors: c.traffic_sensors.len(),
            parking_facilities: c.facilities.len(),
        })
        .collect();
    Json(CitiesResponse { cities })
}
