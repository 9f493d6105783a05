//! The push gateway's doors: `POST /v1/ingest/{city}` (format by `Content-Type`),
//! `POST /v1/ingest/{city}/{format}` (format by the path: webhook targets such as The
//! Things Stack's, which post `application/json`) and the NGSI-LD batch upsert
//! `POST /ngsi-ld/v1/entityOperations/upsert` (city from the key).
//!
//! Checks run cheapest first and before the body is read: key (401), city (403), format
//! (415), the key's formats (403), rate (429), `Content-Length` (413); then the body is
//! read up to `push.max_body_bytes` (413) and handed to the [`PushSink`](crate::push::PushSink),
//! which answers once the broker acknowledged it (202; 400 unparseable, 503 broker down).

use std::time::Instant;

use axum::Json;
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use stadtpuls_config::{FeedFormat, PushKeyConfig};
use tracing::Instrument;

use crate::error::ApiError;
use crate::metrics::{PUSH_BYTES, PUSH_REQUESTS};
use crate::push::{PushGateway, PushKeys, PushRequest};
use crate::state::AppState;

/// Which door a push came through: they differ in where the city comes from, which formats
/// they take and what success looks like.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Door {
    /// `/v1/ingest/{city}` (format by `Content-Type`) and `/v1/ingest/{city}/{format}`
    /// (format by the path): 202 with where the record went.
    City(Option<FeedFormat>),
    /// The NGSI-LD batch upsert: 204 No Content, what the spec answers a batch upsert whose
    /// entities all succeeded (the entities are decoded later, from the topic, so the
    /// gateway cannot tell created from updated (201) or report per-entity errors (207);
    /// 204 is success to every NGSI-LD client, e.g. the FIWARE IoT agents).
    NgsiLd,
}

/// `POST /v1/ingest/{city}`.
pub async fn city(
    State(state): State<AppState>,
    Path(city): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    handle(state, Some(city), headers, body, Door::City(None)).await
}

/// `POST /v1/ingest/{city}/{format}`: the format named by the path, for senders that
/// cannot set a specific `Content-Type` — a The Things Stack webhook posts
/// `application/json`, which the city door would take as the key's format or native.
pub async fn city_format(
    State(state): State<AppState>,
    Path((city, format)): Path<(String, String)>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    match format.parse::<FeedFormat>() {
        Ok(format) => handle(state, Some(city), headers, body, Door::City(Some(format))).await,
        // A path that names no format is no door; the labels are not touched for it.
        Err(reason) => ApiError::NotFound(format!(
            "no push door `/v1/ingest/{{city}}/{format}`: {reason}"
        ))
        .into_response(),
    }
}

/// `POST /ngsi-ld/v1/entityOperations/upsert`.
pub async fn ngsi_ld_upsert(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    handle(state, None, headers, body, Door::NgsiLd).await
}

async fn handle(
    state: AppState,
    city: Option<String>,
    headers: HeaderMap,
    body: Body,
    door: Door,
) -> Response {
    let Some(gateway) = state.push.clone() else {
        return ApiError::NotFound("this server has no push gateway".into()).into_response();
    };
    // Labels are configured ids or `unknown`: a path segment never becomes a label value.
    let mut labels = ("unknown".to_owned(), "unknown");
    let span = tracing::info_span!(
        "push",
        city = tracing::field::Empty,
        format = tracing::field::Empty,
        principal = tracing::field::Empty,
        bytes = tracing::field::Empty,
        status = tracing::field::Empty,
    );
    let mut body = Some(body);
    let result = accept(
        &gateway,
        &state,
        city,
        &headers,
        &mut body,
        door,
        &mut labels,
    )
    .instrument(span.clone())
    .await;
    let mut response = match result {
        Ok(response) => response,
        Err(error) => {
            tracing::debug!(parent: &span, error = %error, "push refused");
            error.into_response()
        }
    };
    let unread = body.is_some() && declares_body(&headers);
    if unread || response.status() == StatusCode::PAYLOAD_TOO_LARGE {
        // Refused before the body was read (or read to the limit only): the server drops
        // the connection rather than read the rest, so the client must not send its next
        // request on it (a pooled connection reused after a silent close fails with a
        // broken message).
        response.headers_mut().insert(
            header::CONNECTION,
            axum::http::HeaderValue::from_static("close"),
        );
    }
    span.record("status", response.status().as_u16());
    PUSH_REQUESTS
        .with_label_values(&[&labels.0, labels.1, response.status().as_str()])
        .inc();
    response
}

async fn accept(
    gateway: &PushGateway,
    state: &AppState,
    city: Option<String>,
    headers: &HeaderMap,
    body: &mut Option<Body>,
    door: Door,
    labels: &mut (String, &'static str),
) -> Result<Response, ApiError> {
    let span = tracing::Span::current();
    let presented = PushKeys::presented(headers).ok_or_else(|| {
        ApiError::Unauthorized(
            "missing push key (`Authorization: Bearer <key>` or `X-Push-Key`)".into(),
        )
    })?;
    let key = gateway
        .keys
        .authenticate(&presented)
        .ok_or_else(|| ApiError::Unauthorized("unknown push key".into()))?;
    span.record("principal", key.principal.as_str());
    let city = city.unwrap_or_else(|| key.city.clone());
    if state.city(&city).is_some() {
        labels.0.clone_from(&city);
    }
    span.record("city", city.as_str());
    if key.city != city {
        return Err(ApiError::Forbidden(format!(
            "this push key pushes to `{}`, not `{city}`",
            key.city
        )));
    }
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let format = format_of(&content_type, key, door)?;
    // Named by the path: the record says so too, so the Kafka side decodes it as that
    // format on any topic (a generic `application/json` would leave it to the topic's).
    let content_type = match door {
        Door::City(Some(_)) if FeedFormat::from_content_type(&content_type).is_none() => {
            format.media_type().to_owned()
        }
        _ => content_type,
    };
    labels.1 = format.as_str();
    span.record("format", format.as_str());
    if !key.formats.contains(&format) {
        return Err(ApiError::Forbidden(format!(
            "this push key may not push format `{format}`"
        )));
    }
    if let Err(wait) = gateway.limiter.take(&key.principal, Instant::now()) {
        return Err(ApiError::RateLimited {
            message: format!(
                "push key over its rate ({}/s, burst {})",
                gateway.limits.rate_per_s, gateway.limits.burst
            ),
            retry_after_s: wait.as_secs_f64().ceil() as u64,
        });
    }
    let limit = gateway.limits.max_body_bytes;
    let too_large = || {
        ApiError::TooLarge(format!(
            "body larger than {limit} bytes (push.max_body_bytes)"
        ))
    };
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|length| length > limit as u64) {
        return Err(too_large());
    }
    let unread = body.take().unwrap_or_else(Body::empty);
    let body = axum::body::to_bytes(unread, limit).await.map_err(|error| {
        let inner = error.into_inner();
        if inner
            .downcast_ref::<http_body_util::LengthLimitError>()
            .is_some()
        {
            too_large()
        } else {
            ApiError::BadRequest(format!("cannot read the body: {inner}"))
        }
    })?;
    let bytes = body.len();
    span.record("bytes", bytes);
    let ack = gateway
        .sink
        .push(PushRequest {
            city: city.clone(),
            format,
            content_type,
            principal: key.principal.clone(),
            body,
        })
        .await
        .map_err(|error| match ApiError::from(error) {
            ApiError::BrokerUnavailable { message, .. } => ApiError::BrokerUnavailable {
                message,
                retry_after_s: gateway.retry_after_unavailable_s,
            },
            other => other,
        })?;
    PUSH_BYTES
        .with_label_values(&[&labels.0, labels.1])
        .inc_by(bytes as u64);
    tracing::debug!(topic = %ack.topic, partition = ack.partition, offset = ack.offset, "push acknowledged");
    Ok(match door {
        Door::NgsiLd => StatusCode::NO_CONTENT.into_response(),
        Door::City(_) => (
            StatusCode::ACCEPTED,
            Json(serde_json::json!({
                "accepted_bytes": bytes,
                "city": city,
                "format": format.as_str(),
                "topic": ack.topic,
                "partition": ack.partition,
                "offset": ack.offset,
            })),
        )
            .into_response(),
    })
}

/// Whether the request announces a body (`Content-Length` above 0, or chunked).
fn declares_body(headers: &HeaderMap) -> bool {
    headers.contains_key(header::TRANSFER_ENCODING)
        || headers
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok())
            .is_some_and(|length| length > 0)
}

/// The format of a push: the media types the Kafka path knows
/// ([`FeedFormat::from_content_type`], so a format added there works here too); generic
/// JSON (`application/json`, `text/json`) is the key's format when it has one, else
/// native. The NGSI-LD door takes JSON-LD and JSON only, as FIWARE. A format door takes
/// its format under any `Content-Type` but one that names another format.
fn format_of(content_type: &str, key: &PushKeyConfig, door: Door) -> Result<FeedFormat, ApiError> {
    let media = content_type.split(';').next().unwrap_or_default().trim();
    if let Door::City(Some(path)) = door {
        return match FeedFormat::from_content_type(content_type) {
            Some(named) if named != path => Err(ApiError::UnsupportedMediaType(format!(
                "Content-Type `{media}` is format `{named}`, the path says `{path}`"
            ))),
            _ => Ok(path),
        };
    }
    let generic_json =
        media.eq_ignore_ascii_case("application/json") || media.eq_ignore_ascii_case("text/json");
    if door == Door::NgsiLd {
        return if generic_json || media.eq_ignore_ascii_case("application/ld+json") {
            Ok(FeedFormat::Fiware)
        } else {
            Err(ApiError::UnsupportedMediaType(format!(
                "NGSI-LD takes application/ld+json or application/json, not `{media}`"
            )))
        };
    }
    if let Some(format) = FeedFormat::from_content_type(content_type) {
        return Ok(format);
    }
    if generic_json {
        return Ok(match key.formats.as_slice() {
            [only] => *only,
            _ => FeedFormat::Native,
        });
    }
    Err(ApiError::UnsupportedMediaType(if media.is_empty() {
        "missing Content-Type: it names the format (docs/api.md, \"Push gateway\")".to_owned()
    } else {
        format!("no format for Content-Type `{media}` (docs/api.md, \"Push gateway\")")
    }))
}
