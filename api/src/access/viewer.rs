//! The REST door: every data route takes a [`Viewer`], so it cannot answer without the
//! policy's say.

use std::sync::Arc;

use axum::extract::FromRequestParts;
use axum::http::header;
use axum::http::request::Parts;
use stadtpuls_config::DataKind;

use super::{Denied, Principal};
use crate::error::ApiError;
use crate::state::{AppState, CityView};

/// The principal of a REST request: the key's in `Authorization`, or the anonymous one.
/// Extracting it fails with 401 for an unknown key, or for no key when
/// `api.anonymous = "deny"`.
#[derive(Debug, Clone)]
pub struct Viewer(pub Arc<Principal>);

impl FromRequestParts<AppState> for Viewer {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let authorization = match parts.headers.get(header::AUTHORIZATION) {
            None => None,
            Some(value) => Some(
                value
                    .to_str()
                    .map_err(|_| ApiError::Unauthorized(Denied::UnknownKey.to_string()))?,
            ),
        };
        state
            .policy
            .principal(authorization)
            .map(Viewer)
            .map_err(|denied| ApiError::Unauthorized(denied.to_string()))
    }
}

impl Viewer {
    /// The city `id` if this viewer sees its `kind` data; otherwise 404 with the same
    /// message as for a city that is not configured, so a key cannot probe which cities
    /// exist (see docs/api.md, "Who sees what").
    pub fn city<'a>(
        &self,
        state: &'a AppState,
        id: &str,
        kind: DataKind,
    ) -> Result<&'a CityView, ApiError> {
        match state.city(id) {
            Some(city) if self.0.sees(&city.id, kind) => Ok(city),
            _ => Err(not_visible(id, kind)),
        }
    }

    /// The city `id` if this viewer sees any of its data (zones: each kind is then
    /// shown only if visible).
    pub fn any_city<'a>(&self, state: &'a AppState, id: &str) -> Result<&'a CityView, ApiError> {
        match state.city(id) {
            Some(city) if self.0.sees_city(&city.id) => Ok(city),
            _ => Err(ApiError::NotFound(format!(
                "no city `{id}` is visible to this key"
            ))),
        }
    }

    /// Whether this viewer sees `kind` data of `city`.
    pub fn sees(&self, city: &str, kind: DataKind) -> bool {
        self.0.sees(city, kind)
    }
}

fn not_visible(id: &str, kind: DataKind) -> ApiError {
    ApiError::NotFound(format!(
        "no {} of a city `{id}` is visible to this key",
        kind.as_str()
    ))
}
