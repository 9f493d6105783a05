//! `GET /v1/cities/{city}/traffic/{sensor}/history` and
//! `GET /v1/cities/{city}/parking/{facility}/history`: buckets of one entity's windows
//! from the Parquet history in the live units ([`crate::history`]), paged by a `next`
//! link whose `from` is the next bucket's start.

use axum::Json;
use axum::extract::{Path, Query, State};
use chrono_tz::Tz;
use serde::ser::SerializeMap;
use serde::{Deserialize, Serialize, Serializer};
use stadtpuls_config::DataKind;
use stadtpuls_processing::time::{parse_rfc3339, to_rfc3339};

use super::traffic::round2;
use crate::access::viewer::Viewer;
use crate::error::{ApiError, Result};
use crate::history::{
    self, Agg, Bucket, BucketRow, DEFAULT_LIMIT, HistoryKind, HistoryRequest, MAX_LIMIT,
    MAX_SPAN_DAYS, fields,
};
use crate::state::{AppState, CityView};

const DAY_MS: i64 = 86_400_000;

/// The query parameters, all optional.
#[derive(Debug, Default, Deserialize)]
pub struct HistoryParams {
    from: Option<String>,
    to: Option<String>,
    bucket: Option<String>,
    agg: Option<String>,
    tz: Option<String>,
    limit: Option<String>,
}

/// The answer: what was asked (with the defaults filled in), the units, the buckets and
/// the link to the next page (`null` on the last).
#[derive(Debug, Serialize)]
pub struct HistoryBody {
    city: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    sensor_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    facility_id: Option<String>,
    table: String,
    from: String,
    to: String,
    bucket: &'static str,
    agg: &'static str,
    tz: String,
    limit: usize,
    units: Units,
    buckets: Vec<BucketItem>,
    next: Option<String>,
}

/// Field → unit, in answer order.
#[derive(Debug)]
struct Units(HistoryKind);

impl Serialize for Units {
    fn serialize<S: Serializer>(&self, serializer: S) -> std::result::Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(None)?;
        for field in fields::of(self.0) {
            map.serialize_entry(field.name, field.unit)?;
        }
        map.end()
    }
}

/// One bucket: `start`, `end` (RFC 3339, UTC), `windows`, then each field (two decimals,
/// `null` without a value).
#[derive(Debug)]
struct BucketItem {
    kind: HistoryKind,
    row: BucketRow,
}

impl Serialize for BucketItem {
    fn serialize<S: Serializer>(&self, serializer: S) -> std::result::Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(None)?;
        map.serialize_entry("start", &to_rfc3339(self.row.start_ms))?;
        map.serialize_entry("end", &to_rfc3339(self.row.end_ms))?;
        map.serialize_entry("windows", &self.row.windows)?;
        for (field, value) in fields::of(self.kind).iter().zip(&self.row.values) {
            let shown = value.filter(|v| v.is_finite()).map(round2);
            map.serialize_entry(field.name, &shown)?;
        }
        map.end()
    }
}

/// `GET /v1/cities/{city}/traffic/{sensor}/history`.
pub async fn traffic(
    State(state): State<AppState>,
    viewer: Viewer,
    Path((city, sensor)): Path<(String, String)>,
    Query(params): Query<HistoryParams>,
) -> Result<Json<HistoryBody>> {
    let city = super::traffic_sensor(&state, &viewer, &city, &sensor)?;
    answer(&state, &viewer, city, HistoryKind::Traffic, sensor, &params).await
}

/// `GET /v1/cities/{city}/parking/{facility}/history`.
pub async fn parking(
    State(state): State<AppState>,
    viewer: Viewer,
    Path((city, facility)): Path<(String, String)>,
    Query(params): Query<HistoryParams>,
) -> Result<Json<HistoryBody>> {
    let city = super::city(&state, &viewer, &city, DataKind::Parking)?;
    let admitted = || {
        state
            .live
            .admitted_facilities(&city.id)
            .iter()
            .any(|a| a.id == facility)
    };
    if !city.facilities.iter().any(|f| f.id == facility) && !admitted() {
        return Err(ApiError::NotFound(format!(
            "facility `{facility}` is not a parking facility of `{}`",
            city.id
        )));
    }
    answer(
        &state,
        &viewer,
        city,
        HistoryKind::Parking,
        facility,
        &params,
    )
    .await
}

async fn answer(
    state: &AppState,
    viewer: &Viewer,
    city: &CityView,
    kind: HistoryKind,
    entity: String,
    params: &HistoryParams,
) -> Result<Json<HistoryBody>> {
    let engine = state.sql.as_ref().ok_or_else(|| {
        ApiError::NotFound(
            "history is read through the SQL engine, which this server does not run".into(),
        )
    })?;
    let request = validate(params, city, kind, entity, (state.now_ms)())?;
    let page = history::query(engine, &viewer.0, &request).await?;
    let next = page
        .next_from_ms
        .map(|from| next_link(&request, from))
        .transpose()?;
    let entity = Some(request.entity.clone());
    let (sensor_id, facility_id) = match kind {
        HistoryKind::Traffic => (entity, None),
        HistoryKind::Parking => (None, entity),
    };
    Ok(Json(HistoryBody {
        city: city.id.clone(),
        sensor_id,
        facility_id,
        table: page.table,
        from: to_rfc3339(request.from_ms),
        to: to_rfc3339(request.to_ms),
        bucket: request.bucket.label(),
        agg: request.agg.label(),
        tz: request.tz.name().to_owned(),
        limit: request.limit,
        units: Units(kind),
        buckets: page
            .buckets
            .into_iter()
            .map(|row| BucketItem { kind, row })
            .collect(),
        next,
    }))
}

fn time(name: &str, text: &str) -> Result<i64> {
    parse_rfc3339(text).ok_or_else(|| {
        ApiError::BadRequest(format!(
            "`{name}` = `{text}` is not an RFC 3339 time (e.g. 2026-11-25T08:00:00Z)"
        ))
    })
}

/// Checks every parameter, naming the one that is wrong; fills in the defaults: `to`
/// now, `from` 24 h before `to`, `bucket` 1h, `agg` avg, `tz` the city's zone, `limit`
/// [`DEFAULT_LIMIT`].
fn validate(
    params: &HistoryParams,
    city: &CityView,
    kind: HistoryKind,
    entity: String,
    now_ms: i64,
) -> Result<HistoryRequest> {
    let to_ms = params.to.as_deref().map_or(Ok(now_ms), |t| time("to", t))?;
    let from_ms = params
        .from
        .as_deref()
        .map_or(Ok(to_ms - DAY_MS), |t| time("from", t))?;
    if from_ms < 0 {
        return Err(ApiError::BadRequest("`from` is before 1970".into()));
    }
    if from_ms >= to_ms {
        return Err(ApiError::BadRequest(format!(
            "`from` ({}) must be before `to` ({})",
            to_rfc3339(from_ms),
            to_rfc3339(to_ms)
        )));
    }
    if to_ms - from_ms > MAX_SPAN_DAYS * DAY_MS {
        return Err(ApiError::BadRequest(format!(
            "`from` … `to` spans more than {MAX_SPAN_DAYS} days; ask in parts"
        )));
    }
    let bucket = match params.bucket.as_deref() {
        None => Bucket::Hour,
        Some(text) => Bucket::parse(text).ok_or_else(|| {
            ApiError::BadRequest(format!(
                "`bucket` = `{text}` is not one of {}",
                Bucket::ALL.map(Bucket::label).join(", ")
            ))
        })?,
    };
    let agg = match params.agg.as_deref() {
        None => Agg::Avg,
        Some(text) => Agg::parse(text).ok_or_else(|| {
            ApiError::BadRequest(format!(
                "`agg` = `{text}` is not one of {}",
                Agg::ALL.map(Agg::label).join(", ")
            ))
        })?,
    };
    let zone = params.tz.as_deref().unwrap_or(&city.timezone);
    let tz: Tz = zone.parse().map_err(|_| {
        ApiError::BadRequest(format!(
            "`tz` = `{zone}` is not an IANA time zone (e.g. Europe/Berlin, UTC)"
        ))
    })?;
    let limit = match params.limit.as_deref() {
        None => DEFAULT_LIMIT,
        Some(text) => text
            .parse::<usize>()
            .ok()
            .filter(|n| (1..=MAX_LIMIT).contains(n))
            .ok_or_else(|| {
                ApiError::BadRequest(format!(
                    "`limit` = `{text}` is not a number of buckets from 1 to {MAX_LIMIT}"
                ))
            })?,
    };
    Ok(HistoryRequest {
        kind,
        city: city.id.clone(),
        entity,
        from_ms,
        to_ms,
        bucket,
        agg,
        tz,
        limit,
    })
}

/// The same request from `from_ms` on: path and query, ids percent-encoded.
fn next_link(request: &HistoryRequest, from_ms: i64) -> Result<String> {
    let broken = |_| ApiError::Internal("cannot build the next link".into());
    let mut url = url::Url::parse("http://localhost/").map_err(broken)?;
    let kind = match request.kind {
        HistoryKind::Traffic => "traffic",
        HistoryKind::Parking => "parking",
    };
    url.path_segments_mut()
        .map_err(|()| ApiError::Internal("cannot build the next link".into()))?
        .clear()
        .extend([
            "v1",
            "cities",
            request.city.as_str(),
            kind,
            request.entity.as_str(),
            "history",
        ]);
    url.query_pairs_mut()
        .append_pair("from", &to_rfc3339(from_ms))
        .append_pair("to", &to_rfc3339(request.to_ms))
        .append_pair("bucket", request.bucket.label())
        .append_pair("agg", request.agg.label())
        .append_pair("tz", request.tz.name())
        .append_pair("limit", &request.limit.to_string());
    Ok(format!(
        "{}?{}",
        url.path(),
        url.query().unwrap_or_default()
    ))
}
