//! Handlers, one module per resource.

pub mod cities;
pub mod datex2;
pub mod health;
pub mod ingest;
pub mod lanes;
pub mod nearby;
pub mod ngsi_ld;
pub mod parkapi;
pub mod parking;
pub mod publish;
pub mod traffic;
pub mod zones;

use crate::error::ApiError;
use crate::state::{AppState, CityView};

/// Resolves the `{city}` path segment or answers 404.
pub(crate) fn city<'a>(state: &'a AppState, id: &str) -> Result<&'a CityView, ApiError> {
    state
        .city(id)
        .ok_or_else(|| ApiError::NotFound(format!("city `{id}` is not configured")))
}

/// Resolves `{city}` and `{sensor}` to a city with that traffic sensor, or answers 404.
pub(crate) fn traffic_sensor<'a>(
    state: &'a AppState,
    id: &str,
    sensor: &str,
) -> Result<&'a CityView, ApiError> {
    let city = city(state, id)?;
    if city.traffic_sensors.iter().any(|s| s == sensor) {
        Ok(city)
    } else {
        Err(ApiError::NotFound(format!(
            "sensor `{sensor}` is not a traffic sensor of `{}`",
            city.id
        )))
    }
}
