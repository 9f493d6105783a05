//! `GET /v1/cities/{city}/parkapi/parking-sites` and `…/parking-sites/{id}`: a city's
//! facilities as ParkAPI v3 parking sites (JSON, mapped by
//! `stadtpuls_processing::publish::parkapi`), with conditional GET.

use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::response::Response;
use stadtpuls_processing::publish::live_revision;
use stadtpuls_processing::publish::parkapi::{parking_site, parking_sites};

use stadtpuls_config::DataKind;

use crate::access::viewer::Viewer;

use super::publish::{conditional, facilities, publication};
use crate::error::{ApiError, Result};
use crate::state::AppState;

const JSON: &str = "application/json";

/// `GET /v1/cities/{city}/parkapi/parking-sites`: `{"items": [...]}`, one site per
/// registered facility with a known capacity.
pub async fn list(
    State(state): State<AppState>,
    viewer: Viewer,
    Path(city): Path<String>,
    headers: HeaderMap,
) -> Result<Response> {
    let city = viewer.city(&state, &city, DataKind::Parking)?;
    let facilities = facilities(&state, city);
    let publication = publication(&state, &city.id);
    let revision = live_revision(&publication, &facilities);
    conditional(&headers, "parkapi-list", revision, JSON, || {
        serde_json::to_vec(&parking_sites(&publication, &facilities))
            .map_err(|e| ApiError::Internal(format!("parkapi list: {e}")))
    })
}

/// `GET /v1/cities/{city}/parkapi/parking-sites/{id}`: one site; 404 for an id that is
/// not a facility of the city (or has no known capacity).
pub async fn item(
    State(state): State<AppState>,
    viewer: Viewer,
    Path((city, id)): Path<(String, String)>,
    headers: HeaderMap,
) -> Result<Response> {
    let city = viewer.city(&state, &city, DataKind::Parking)?;
    let facilities = facilities(&state, city);
    let publication = publication(&state, &city.id);
    let not_found = || ApiError::NotFound(format!("`{id}` is not a parking site of `{}`", city.id));
    let facility = facilities
        .iter()
        .find(|f| f.id == id)
        .ok_or_else(not_found)?;
    let site = parking_site(&publication, facility).ok_or_else(not_found)?;
    let revision = live_revision(&publication, std::slice::from_ref(facility));
    conditional(&headers, "parkapi-site", revision, JSON, || {
        serde_json::to_vec(&site).map_err(|e| ApiError::Internal(format!("parkapi site: {e}")))
    })
}
