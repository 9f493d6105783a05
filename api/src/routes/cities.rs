//! `GET /v1/cities`.

use axum::Json;
use axum::extract::State;
use serde::Serialize;
use stadtpuls_config::DataKind;

use crate::access::viewer::Viewer;
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

/// `GET /v1/cities`: the cities the request sees some data of, with their sensor
/// counts; a kind it does not see counts 0, so nothing is told about it.
pub async fn list(State(state): State<AppState>, viewer: Viewer) -> Json<CitiesResponse> {
    let cities = state
        .cities
        .iter()
        .filter(|c| viewer.0.sees_city(&c.id))
        .map(|c| CityItem {
            id: c.id.clone(),
            name: c.name.clone(),
            timezone: c.timezone.clone(),
            traffic_sensors: if viewer.sees(&c.id, DataKind::Traffic) {
                c.traffic_sensors.len()
            } else {
                0
            },
            parking_facilities: if viewer.sees(&c.id, DataKind::Parking) {
                c.facilities.len()
            } else {
                0
            },
        })
        .collect();
    Json(CitiesResponse { cities })
}
