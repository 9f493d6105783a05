//! `GET /ngsi-ld/v1/entities?type=…` and `GET /ngsi-ld/v1/entities/{id}`: the facilities
//! and traffic sensors of every city a request may see, as NGSI-LD entities of the Smart
//! Data Models (rendered by `stadtpuls_processing::publish::ngsi_ld`); normalized by
//! default, keyValues with `options=keyValues` (or `format=simplified`).

use axum::extract::{Path, Query, State};
use axum::http::HeaderValue;
use axum::http::header::CONTENT_TYPE;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::Value;
use stadtpuls_processing::publish::ngsi_ld::{
    self, Form, OFF_STREET, ON_STREET, PublishedSensor, TRAFFIC, parking_entity, parking_type,
    traffic_entity,
};

use stadtpuls_config::DataKind;

use crate::access::viewer::Viewer;

use super::publish::{VisibleCities, facilities, publication, visible_cities};
use crate::error::{ApiError, Result};
use crate::state::{AppState, CityView};

/// Query of the entity endpoints (the NGSI-LD parameters Stadtpuls reads).
#[derive(Debug, Deserialize)]
pub struct EntitiesQuery {
    /// Entity types, comma-separated.
    #[serde(rename = "type")]
    types: Option<String>,
    /// `keyValues` (NGSI-LD 1.3 and older).
    options: Option<String>,
    /// `simplified` (NGSI-LD 1.6+; the same as `options=keyValues`).
    format: Option<String>,
}

impl EntitiesQuery {
    fn form(&self) -> Form {
        let key_values = self
            .options
            .as_deref()
            .is_some_and(|o| o.split(',').any(|o| o.trim() == "keyValues"))
            || matches!(self.format.as_deref(), Some("simplified" | "keyValues"));
        if key_values {
            Form::KeyValues
        } else {
            Form::Normalized
        }
    }
}

/// `GET /ngsi-ld/v1/entities?type=OffStreetParking,TrafficFlowObserved`: every entity of
/// those types in the visible cities, in config and registry order. `type` is required (as
/// NGSI-LD requires a type, id or query); an unknown type has no entities.
pub async fn entities(
    State(state): State<AppState>,
    viewer: Viewer,
    Query(query): Query<EntitiesQuery>,
) -> Result<Response> {
    let Some(types) = query.types.as_deref() else {
        return Err(ApiError::BadRequest(format!(
            "`type` is required: one or more of {OFF_STREET}, {ON_STREET}, {TRAFFIC}"
        )));
    };
    let types: Vec<&str> = types.split(',').map(str::trim).collect();
    let visible = visible_cities(&viewer);
    let mut out = Vec::new();
    for city in visible.cities(&state) {
        city_entities(
            &state,
            city,
            &visible,
            query.form(),
            &mut |kind| types.contains(&kind),
            &mut out,
        );
    }
    ld_json(&Value::Array(out))
}

/// `GET /ngsi-ld/v1/entities/{id}`: one entity by its `urn:ngsi-ld:<type>:<city>:<id>`.
pub async fn entity(
    State(state): State<AppState>,
    viewer: Viewer,
    Path(id): Path<String>,
    Query(query): Query<EntitiesQuery>,
) -> Result<Response> {
    let not_found = || ApiError::NotFound(format!("entity `{id}` not found"));
    let mut parts = id.splitn(5, ':');
    let (Some("urn"), Some("ngsi-ld"), Some(kind), Some(city), Some(_)) = (
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
    ) else {
        return Err(not_found());
    };
    let visible: VisibleCities<'_> = visible_cities(&viewer);
    let city = visible
        .cities(&state)
        .find(|c| c.id == city)
        .ok_or_else(not_found)?;
    let mut found = Vec::new();
    city_entities(
        &state,
        city,
        &visible,
        query.form(),
        &mut |k| k == kind,
        &mut found,
    );
    let entity = found
        .into_iter()
        .find(|e| e["id"].as_str() == Some(id.as_str()))
        .ok_or_else(not_found)?;
    ld_json(&entity)
}

/// The entities of `city` whose type `wanted` accepts, appended to `out`.
fn city_entities(
    state: &AppState,
    city: &CityView,
    visible: &VisibleCities<'_>,
    form: Form,
    wanted: &mut dyn FnMut(&str) -> bool,
    out: &mut Vec<Value>,
) {
    let publication = publication(state, &city.id);
    let parking = visible.contains(&city.id, DataKind::Parking);
    if parking && (wanted(OFF_STREET) || wanted(ON_STREET)) {
        for facility in facilities(state, city) {
            if wanted(parking_type(&facility)) {
                out.push(parking_entity(&publication, &facility, form));
            }
        }
    }
    if !wanted(TRAFFIC) || !visible.contains(&city.id, DataKind::Traffic) {
        return;
    }
    // The newest closed window of the smallest tumbling size: the freshest figures.
    let Some(&size) = state.window_sizes_s.first() else {
        return;
    };
    let latest: std::collections::HashMap<String, _> = state
        .live
        .latest_traffic(&city.id, size, size)
        .into_iter()
        .collect();
    for place in &city.traffic_places {
        let Some(window) = latest.get(&place.id) else {
            continue;
        };
        let sensor = PublishedSensor {
            id: &place.id,
            name: place.name.as_deref(),
            lat: place.lat,
            lon: place.lon,
            window,
        };
        out.push(traffic_entity(&publication, &sensor, form));
    }
}

fn ld_json(body: &Value) -> Result<Response> {
    let bytes =
        serde_json::to_vec(body).map_err(|e| ApiError::Internal(format!("ngsi-ld: {e}")))?;
    let content_type = HeaderValue::from_static(ngsi_ld::CONTENT_TYPE);
    Ok(([(CONTENT_TYPE, content_type)], bytes).into_response())
}
