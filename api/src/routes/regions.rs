//! `GET /v1/regions`, `GET /v1/regions/{region}/parking` and
//! `GET /v1/regions/{region}/traffic`: several cities seen as one.
//!
//! Every member city counts only if the caller sees that kind of its data (the same
//! policy as `/v1/cities/{city}/…`, asked through the [`Viewer`]); a city left out adds
//! nothing to any total and is not named, and `cities` says which ones are in. A region
//! of which the caller sees no member city at all answers 404 like one that is not
//! configured, so a key cannot learn whom a region covers. The sums are computed in
//! `stadtpuls_processing::region`; this file only picks the cities and renders.

use axum::Json;
use axum::extract::{Path, Query, State};
use serde::Serialize;
use stadtpuls_config::DataKind;
use stadtpuls_processing::live::ParkingTotals;
use stadtpuls_processing::region::{self, CorridorRollup, CorridorWindow, FacilityKind};
use stadtpuls_processing::time::to_rfc3339;

use super::parking::Totals;
use super::traffic::{TrafficQuery, WindowItem, round2, window};
use crate::access::viewer::Viewer;
use crate::error::{ApiError, Result};
use crate::state::{AppState, RegionView};

/// One region in the list.
#[derive(Debug, Serialize)]
pub struct RegionItem {
    id: String,
    name: String,
    /// The member cities the caller may know of (any kind of their data visible).
    cities: Vec<String>,
}

/// `GET /v1/regions`.
#[derive(Debug, Serialize)]
pub struct RegionList {
    regions: Vec<RegionItem>,
}

/// `GET /v1/regions`: every region of which the caller sees at least one member city,
/// with those cities.
pub async fn list(State(state): State<AppState>, viewer: Viewer) -> Json<RegionList> {
    let regions = state
        .regions
        .iter()
        .filter_map(|region| {
            let cities: Vec<String> = region
                .city_ids()
                .filter(|c| viewer.0.sees_city(c))
                .map(str::to_owned)
                .collect();
            (!cities.is_empty()).then(|| RegionItem {
                id: region.id.clone(),
                name: region.name.clone(),
                cities,
            })
        })
        .collect();
    Json(RegionList { regions })
}

/// A city's share of the region's parking.
#[derive(Debug, Serialize)]
pub struct CityTotals {
    city: String,
    #[serde(flatten)]
    totals: Totals,
}

/// The region's parking per facility kind: they add up to its `totals`.
#[derive(Debug, Serialize)]
pub struct ByKind {
    car_park: Totals,
    park_and_ride: Totals,
    on_street: Totals,
}

impl ByKind {
    fn new(by_kind: &[(FacilityKind, ParkingTotals)]) -> Self {
        let of = |kind: FacilityKind| {
            by_kind
                .iter()
                .find(|(k, _)| *k == kind)
                .map(|(_, totals)| *totals)
                .unwrap_or_default()
                .into()
        };
        Self {
            car_park: of(FacilityKind::CarPark),
            park_and_ride: of(FacilityKind::ParkAndRide),
            on_street: of(FacilityKind::OnStreet),
        }
    }
}

/// `GET /v1/regions/{region}/parking`.
#[derive(Debug, Serialize)]
pub struct RegionParking {
    region: String,
    name: String,
    /// The member cities whose parking is counted, in config order.
    cities: Vec<String>,
    totals: Totals,
    by_kind: ByKind,
    by_city: Vec<CityTotals>,
}

/// `GET /v1/regions/{region}/parking`: free, total and occupancy now over the facilities
/// of the member cities whose parking the caller sees — overall, by facility kind (P+R
/// separately) and per city — with the rule of the city totals (stale facilities left
/// out).
pub async fn parking(
    State(state): State<AppState>,
    viewer: Viewer,
    Path(id): Path<String>,
) -> Result<Json<RegionParking>> {
    let region = visible_region(&state, &viewer, &id)?;
    let members: Vec<_> = region
        .members
        .iter()
        .filter(|m| viewer.sees(&m.city, DataKind::Parking))
        .collect();
    let view = region::parking_now(
        &state.live,
        &members,
        (state.now_ms)(),
        state.stale_after_ms,
    );
    let by_kind = ByKind::new(&view.by_kind);
    Ok(Json(RegionParking {
        region: region.id.clone(),
        name: region.name.clone(),
        cities: members.iter().map(|m| m.city.clone()).collect(),
        totals: view.totals.into(),
        by_kind,
        by_city: members
            .iter()
            .zip(view.by_city)
            .map(|(m, totals)| CityTotals {
                city: m.city.clone(),
                totals: totals.into(),
            })
            .collect(),
    }))
}

/// One corridor sensor with its latest closed window.
#[derive(Debug, Serialize)]
pub struct CorridorItem {
    city: String,
    sensor_id: String,
    name: Option<String>,
    /// Its latest closed window (every measure, as `/v1/cities/{city}/traffic`), `null`
    /// when none is retained.
    latest: Option<WindowItem>,
}

/// The corridors as one.
#[derive(Debug, Serialize)]
pub struct Aggregate {
    sensors: usize,
    sensors_reporting: usize,
    window_end: Option<String>,
    vehicles: Option<u64>,
    flow_veh_h: Option<f64>,
    speed_space_mean_kmh: Option<f64>,
}

impl From<CorridorRollup> for Aggregate {
    fn from(r: CorridorRollup) -> Self {
        Self {
            sensors: r.sensors,
            sensors_reporting: r.sensors_reporting,
            window_end: r.window_end.map(to_rfc3339),
            vehicles: r.vehicles,
            flow_veh_h: r.flow_veh_h.map(round2),
            speed_space_mean_kmh: r.speed_space_mean_kmh.map(round2),
        }
    }
}

/// `GET /v1/regions/{region}/traffic`.
#[derive(Debug, Serialize)]
pub struct RegionTraffic {
    region: String,
    name: String,
    window: String,
    /// The member cities whose traffic is counted, in config order.
    cities: Vec<String>,
    aggregate: Aggregate,
    sensors: Vec<CorridorItem>,
}

/// `GET /v1/regions/{region}/traffic?window=5m`: the corridor sensors of the member
/// cities whose traffic the caller sees, each with its latest closed window of `window`
/// (default: the smallest), and their aggregate: Σ flow and the vehicle-weighted
/// harmonic mean of their space-mean speeds over the newest common window.
pub async fn traffic(
    State(state): State<AppState>,
    viewer: Viewer,
    Path(id): Path<String>,
    Query(query): Query<TrafficQuery>,
) -> Result<Json<RegionTraffic>> {
    let region = visible_region(&state, &viewer, &id)?;
    let ((window_s, slide_s), label) = window(&state, query.window.as_deref())?;
    let cities: Vec<&str> = region
        .city_ids()
        .filter(|c| viewer.sees(c, DataKind::Traffic))
        .collect();
    let mut corridors = Vec::new();
    for city in &cities {
        let latest = state.live.latest_traffic(city, window_s, slide_s);
        let places = state.city(city).map(|c| c.traffic_places.as_slice());
        for (_, sensor) in region.corridors.iter().filter(|(c, _)| c == city) {
            let row = latest
                .iter()
                .find(|(id, _)| id == sensor)
                .map(|(_, row)| row.clone());
            let name = places
                .and_then(|p| p.iter().find(|s| &s.id == sensor))
                .and_then(|s| s.name.clone());
            corridors.push(((*city).to_owned(), sensor.clone(), name, row));
        }
    }
    let aggregate = region::corridors(
        corridors
            .iter()
            .map(|(_, _, _, row)| CorridorWindow { row: row.as_ref() }),
    );
    Ok(Json(RegionTraffic {
        region: region.id.clone(),
        name: region.name.clone(),
        window: label,
        cities: cities.iter().map(|c| (*c).to_owned()).collect(),
        aggregate: aggregate.into(),
        sensors: corridors
            .into_iter()
            .map(|(city, sensor_id, name, row)| CorridorItem {
                city,
                sensor_id,
                name,
                latest: row.map(|row| WindowItem::new(None, row)),
            })
            .collect(),
    }))
}

/// The region `id` if the caller sees any of its member cities; otherwise 404 with the
/// same message as for a region that is not configured.
pub(crate) fn visible_region<'a>(
    state: &'a AppState,
    viewer: &Viewer,
    id: &str,
) -> Result<&'a RegionView> {
    match state.region(id) {
        Some(region) if region.city_ids().any(|c| viewer.0.sees_city(c)) => Ok(region),
        _ => Err(region_not_found(id)),
    }
}

/// The answer for a region that is not configured or of which the caller sees no member
/// city (the REST routes and `GET /v1/stream?regions=` alike: one wording, so neither
/// tells the two apart).
pub(crate) fn region_not_found(id: &str) -> ApiError {
    ApiError::NotFound(format!("no region `{id}` is visible to this key"))
}
