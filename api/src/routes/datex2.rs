//! `GET /v1/cities/{city}/datex2/parking-table` and `…/parking-status`: a city's parking
//! as DATEX II 2.3 `ParkingTablePublication` and `ParkingStatusPublication` (XML, rendered
//! by `stadtpuls_processing::publish::datex2`), with conditional GET.

use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::response::Response;
use stadtpuls_processing::publish::datex2::{CONTENT_TYPE, parking_status, parking_table};
use stadtpuls_processing::publish::{live_revision, static_revision};

use stadtpuls_config::DataKind;

use crate::access::viewer::Viewer;

use super::publish::{conditional, facilities, publication};
use crate::error::{ApiError, Result};
use crate::state::AppState;

/// `GET /v1/cities/{city}/datex2/parking-table`: name, capacity and position of every
/// registered facility.
pub async fn table(
    State(state): State<AppState>,
    viewer: Viewer,
    Path(city): Path<String>,
    headers: HeaderMap,
) -> Result<Response> {
    let city = viewer.city(&state, &city, DataKind::Parking)?;
    let facilities = facilities(&state, city);
    let publication = publication(&state, &city.id);
    let revision = static_revision(&publication, &facilities);
    conditional(&headers, "datex2-table", revision, CONTENT_TYPE, || {
        parking_table(&publication, &facilities).map_err(|e| ApiError::Internal(e.to_string()))
    })
}

/// `GET /v1/cities/{city}/datex2/parking-status`: the current level of every facility that
/// has reported; stale ones marked (`docs/formats.md`).
pub async fn status(
    State(state): State<AppState>,
    viewer: Viewer,
    Path(city): Path<String>,
    headers: HeaderMap,
) -> Result<Response> {
    let city = viewer.city(&state, &city, DataKind::Parking)?;
    let facilities = facilities(&state, city);
    let publication = publication(&state, &city.id);
    let revision = live_revision(&publication, &facilities);
    conditional(&headers, "datex2-status", revision, CONTENT_TYPE, || {
        parking_status(&publication, &facilities).map_err(|e| ApiError::Internal(e.to_string()))
    })
}
