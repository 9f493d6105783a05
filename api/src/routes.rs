//! Handlers, one module per resource.

pub mod cities;
pub mod datex2;
pub mod health;
pub mod history;
pub mod ingest;
pub mod lanes;
pub mod nearby;
pub mod ngsi_ld;
pub mod parkapi;
pub mod parking;
pub mod publish;
pub mod regions;
pub mod traffic;
pub mod zones;

use stadtpuls_config::DataKind;

use crate::access::viewer::Viewer;
use crate::error::ApiError;
use crate::state::{AppState, CityView};

/// Resolves the `{city}` path segment to a city whose `kind` data `viewer` sees, or
/// answers 404 (the same for a city that is not configured).
pub(crate) fn city<'a>(
    state: &'a AppState,
    viewer: &Viewer,
    id: &str,
    kind: DataKind,
) -> Result<&'a CityView, ApiError> {
    viewer.city(state, id, kind)
}

/// Resolves `{city}` and `{sensor}` to a city with that traffic sensor whose traffic
/// `viewer` sees, or answers 404.
pub(crate) fn traffic_sensor<'a>(
    state: &'a AppState,
    viewer: &Viewer,
    id: &str,
    sensor: &str,
) -> Result<&'a CityView, ApiError> {
    let city = city(state, viewer, id, DataKind::Traffic)?;
    if city.traffic_sensors.iter().any(|s| s == sensor) {
        Ok(city)
    } else {
        Err(ApiError::NotFound(format!(
            "sensor `{sensor}` is not a traffic sensor of `{}`",
            city.id
        )))
    }
}
