//! Handlers, one module per resource.

pub mod cities;
pub mod health;
pub mod lanes;
pub mod nearby;
pub mod parking;
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
