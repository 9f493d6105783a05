//! `GET /v1/cities/{city}/traffic` and `GET /v1/cities/{city}/traffic/{sensor}`.

use axum::Json;
use axum::extract::{Path, Query, State};
use serde::ser::SerializeMap;
use serde::{Deserialize, Serialize, Serializer};
use stadtpuls_config::DataKind;
use stadtpuls_processing::live::{TrafficWindowRow, Value};
use stadtpuls_processing::model::contract::traffic::out;
use stadtpuls_processing::time::{parse_rfc3339, to_rfc3339};
use stadtpuls_processing::window::window_family_label;

use crate::access::viewer::Viewer;
use crate::error::{ApiError, Result};
use crate::state::AppState;

/// Query of the traffic endpoints.
#[derive(Debug, Deserialize)]
pub struct TrafficQuery {
    pub(crate) window: Option<String>,
    from: Option<String>,
    to: Option<String>,
}

/// One closed window of one sensor: `sensor_id` (in a city's list), the window's start
/// and end, then every measure of the live row under its contract name, in the
/// contract's order (derived: a new contract line needs no edit here). Numbers are
/// rounded to two decimals, times are RFC 3339; a measure without a value is `null`.
#[derive(Debug)]
pub struct WindowItem {
    sensor_id: Option<String>,
    row: TrafficWindowRow,
}

impl WindowItem {
    pub(crate) fn new(sensor_id: Option<String>, row: TrafficWindowRow) -> Self {
        Self { sensor_id, row }
    }
}

impl Serialize for WindowItem {
    fn serialize<S: Serializer>(&self, serializer: S) -> std::result::Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(None)?;
        if let Some(id) = &self.sensor_id {
            map.serialize_entry(out::SENSOR_ID, id)?;
        }
        window_entries(&mut map, &self.row)?;
        map.end()
    }
}

/// Writes a window's start, end and measures into `map`: the one shape of a traffic
/// window in the JSON endpoints and the push stream (`GET /v1/stream`).
pub(crate) fn window_entries<M: SerializeMap>(
    map: &mut M,
    row: &TrafficWindowRow,
) -> std::result::Result<(), M::Error> {
    map.serialize_entry(out::WINDOW_START, &to_rfc3339(row.window_start))?;
    map.serialize_entry(out::WINDOW_END, &to_rfc3339(row.window_end))?;
    for (column, value) in row.measures() {
        map.serialize_entry(column.name, &JsonValue(value))?;
    }
    Ok(())
}

/// A measure's value as the API writes it.
struct JsonValue<'a>(&'a Value);

impl Serialize for JsonValue<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> std::result::Result<S::Ok, S::Error> {
        match self.0 {
            Value::Null => serializer.serialize_none(),
            Value::UInt(n) => serializer.serialize_u64(*n),
            // JSON has no NaN or infinity: such a value is shown as missing.
            Value::Float(x) if x.is_finite() => serializer.serialize_f64(round2(*x)),
            Value::Float(_) => serializer.serialize_none(),
            Value::Bool(b) => serializer.serialize_bool(*b),
            Value::Time(t) => serializer.serialize_str(&to_rfc3339(*t)),
            Value::Text(text) => serializer.serialize_str(text),
        }
    }
}

/// Rounds to two decimals: more digits than the detectors measure only add noise.
pub(crate) fn round2(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}

/// Latest closed window per sensor of a city.
#[derive(Debug, Serialize)]
pub struct CityTraffic {
    city: String,
    window: String,
    sensors: Vec<WindowItem>,
}

/// Closed windows of one sensor.
#[derive(Debug, Serialize)]
pub struct SensorTraffic {
    city: String,
    sensor_id: String,
    window: String,
    windows: Vec<WindowItem>,
}

/// `GET /v1/cities/{city}/traffic?window=1m`: the latest closed window of every sensor.
pub async fn city(
    State(state): State<AppState>,
    viewer: Viewer,
    Path(city): Path<String>,
    Query(query): Query<TrafficQuery>,
) -> Result<Json<CityTraffic>> {
    let city = super::city(&state, &viewer, &city, DataKind::Traffic)?;
    let ((window_s, slide_s), window) = window(&state, query.window.as_deref())?;
    let sensors = state
        .live
        .latest_traffic(&city.id, window_s, slide_s)
        .into_iter()
        .map(|(id, row)| WindowItem::new(Some(id), row))
        .collect();
    Ok(Json(CityTraffic {
        city: city.id.clone(),
        window,
        sensors,
    }))
}

/// `GET /v1/cities/{city}/traffic/{sensor}?window=1m&from=&to=`: a sensor's closed windows.
pub async fn sensor(
    State(state): State<AppState>,
    viewer: Viewer,
    Path((city, sensor)): Path<(String, String)>,
    Query(query): Query<TrafficQuery>,
) -> Result<Json<SensorTraffic>> {
    let city = super::traffic_sensor(&state, &viewer, &city, &sensor)?;
    let (family, window) = window(&state, query.window.as_deref())?;
    let from = query
        .from
        .as_deref()
        .map(|t| time_param("from", t))
        .transpose()?;
    let to = query
        .to
        .as_deref()
        .map(|t| time_param("to", t))
        .transpose()?;
    if let (Some(f), Some(t)) = (from, to)
        && f > t
    {
        return Err(ApiError::BadRequest("`from` is after `to`".into()));
    }
    let windows = state
        .live
        .sensor_windows(&city.id, &sensor, family, from, to)
        .into_iter()
        .map(|row| WindowItem::new(None, row))
        .collect();
    Ok(Json(SensorTraffic {
        city: city.id.clone(),
        sensor_id: sensor,
        window,
        windows,
    }))
}

/// Resolves the `window` parameter — a tumbling size (`15m`) or a hopping family
/// (`1h/5m`) — to a configured family (default: the smallest tumbling size).
pub(crate) fn window(state: &AppState, param: Option<&str>) -> Result<((u32, u32), String)> {
    let families = state.window_families();
    let Some(param) = param else {
        let (size, slide) = families.first().copied().unwrap_or((60, 60));
        return Ok(((size, slide), window_family_label(size, slide)));
    };
    let seconds = |text: &str| -> Result<u32> {
        let parsed = humantime::parse_duration(text.trim())
            .map_err(|e| ApiError::BadRequest(format!("window `{param}`: {e}")))?;
        Ok(u32::try_from(parsed.as_secs()).unwrap_or(u32::MAX))
    };
    let family = match param.split_once('/') {
        Some((size, slide)) => (seconds(size)?, seconds(slide)?),
        None => {
            let size = seconds(param)?;
            (size, size)
        }
    };
    if families.contains(&family) {
        return Ok((family, window_family_label(family.0, family.1)));
    }
    let allowed: Vec<String> = families
        .iter()
        .map(|(w, s)| window_family_label(*w, *s))
        .collect();
    Err(ApiError::BadRequest(format!(
        "window `{param}` is not configured; use one of {}",
        allowed.join(", ")
    )))
}

/// Parses a time parameter: RFC 3339 or integer epoch milliseconds.
fn time_param(name: &str, text: &str) -> Result<i64> {
    text.parse::<i64>()
        .ok()
        .or_else(|| parse_rfc3339(text))
        .ok_or_else(|| {
            ApiError::BadRequest(format!(
                "`{name}` = `{text}` is neither RFC 3339 nor epoch milliseconds"
            ))
        })
}
