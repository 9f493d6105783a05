//! `GET /v1/cities/{city}/datex2/parking-table` and `…/parking-status`: a city's parking
//! as DATEX II 2.3 `ParkingTablePublication` and `ParkingStatusPublication` (XML, rendered
//! by `stadtpuls_processing::publish::datex2`), with conditional GET; and
//! `GET /v1/regions/{region}/datex2/…`, the same documents over a region's member cities
//! (`stadtpuls_processing::publish::region`).

use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::response::Response;
use stadtpuls_processing::publish::datex2::{CONTENT_TYPE, parking_status, parking_table};
use stadtpuls_processing::publish::region::{self, Member, RegionFacilities};
use stadtpuls_processing::publish::{
    Publication, PublishedFacility, live_revision, static_revision,
};

use stadtpuls_config::DataKind;

use crate::access::viewer::Viewer;

use super::publish::{conditional, facilities, publication};
use super::regions::visible_region;
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
    table_of(
        &headers,
        &publication(&state, &city.id),
        &facilities(&state, city),
    )
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
    status_of(
        &headers,
        &publication(&state, &city.id),
        &facilities(&state, city),
    )
}

/// `GET /v1/regions/{region}/datex2/parking-table`: the table of every member city whose
/// parking the caller sees, as one publication (`region.<id>`, record ids
/// `<city>/<facility>`; docs/formats.md).
pub async fn region_table(
    State(state): State<AppState>,
    viewer: Viewer,
    Path(region): Path<String>,
    headers: HeaderMap,
) -> Result<Response> {
    let (publisher, members) = region_members(&state, &viewer, &region)?;
    table_of(
        &headers,
        &publication(&state, &publisher),
        &members.published(),
    )
}

/// `GET /v1/regions/{region}/datex2/parking-status`: the current levels of the member
/// cities whose parking the caller sees, as one publication; stale ones marked as in a
/// city's.
pub async fn region_status(
    State(state): State<AppState>,
    viewer: Viewer,
    Path(region): Path<String>,
    headers: HeaderMap,
) -> Result<Response> {
    let (publisher, members) = region_members(&state, &viewer, &region)?;
    status_of(
        &headers,
        &publication(&state, &publisher),
        &members.published(),
    )
}

/// The `ParkingTablePublication` of `facilities`, or 304 when the caller's copy is current.
fn table_of(
    headers: &HeaderMap,
    publication: &Publication<'_>,
    facilities: &[PublishedFacility<'_>],
) -> Result<Response> {
    let revision = static_revision(publication, facilities);
    conditional(headers, "datex2-table", revision, CONTENT_TYPE, || {
        parking_table(publication, facilities).map_err(|e| ApiError::Internal(e.to_string()))
    })
}

/// The `ParkingStatusPublication` of `facilities`, or 304 when the caller's copy is current.
fn status_of(
    headers: &HeaderMap,
    publication: &Publication<'_>,
    facilities: &[PublishedFacility<'_>],
) -> Result<Response> {
    let revision = live_revision(publication, facilities);
    conditional(headers, "datex2-status", revision, CONTENT_TYPE, || {
        parking_status(publication, facilities).map_err(|e| ApiError::Internal(e.to_string()))
    })
}

/// The publisher id of region `id` and its member cities whose parking `viewer` sees,
/// with their facilities and levels; 404 as on the other region routes when the caller
/// sees no member city at all (a caller who sees members but none of their parking gets
/// a publication without records, as `/v1/regions/{region}/parking` answers zeros).
fn region_members<'s>(
    state: &'s AppState,
    viewer: &Viewer,
    id: &str,
) -> Result<(String, RegionFacilities<'s>)> {
    let region = visible_region(state, viewer, id)?;
    let members = region
        .city_ids()
        .filter(|city| viewer.sees(city, DataKind::Parking))
        .filter_map(|city| state.city(city))
        .map(|city| Member {
            city: &city.id,
            facilities: &city.facilities,
            levels: state.live.facilities(&city.id),
        })
        .collect();
    Ok((
        region::publisher(&region.id),
        RegionFacilities::new(members),
    ))
}
