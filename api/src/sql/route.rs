//! `POST /v1/sql`: `{"sql": "..."}` with `Authorization: Bearer <key>` → the result as
//! JSON (default), CSV (`Accept: text/csv`) or an Arrow IPC stream
//! (`Accept: application/vnd.apache.arrow.stream`); errors are JSON with a 4xx status
//! (see `error.rs`).

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;

use super::{SqlEngine, access, format};
use crate::error::{ApiError, SqlError};
use crate::state::AppState;

/// The request body.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SqlRequest {
    /// One read-only statement.
    sql: String,
}

/// The result encodings, chosen by `Accept`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Encoding {
    Json,
    Csv,
    Arrow,
}

/// The first supported media type in `Accept` (in the client's order; q-values are not
/// weighed), JSON when none is given or `*/*`.
fn encoding(headers: &HeaderMap) -> Result<Encoding, ApiError> {
    let Some(accept) = headers.get(header::ACCEPT).and_then(|v| v.to_str().ok()) else {
        return Ok(Encoding::Json);
    };
    for item in accept.split(',') {
        let media = item
            .split(';')
            .next()
            .unwrap_or("")
            .trim()
            .to_ascii_lowercase();
        match media.as_str() {
            format::JSON | "*/*" | "application/*" | "" => return Ok(Encoding::Json),
            format::CSV | "text/*" => return Ok(Encoding::Csv),
            format::ARROW_STREAM => return Ok(Encoding::Arrow),
            _ => {}
        }
    }
    Err(ApiError::NotAcceptable(format!(
        "cannot answer `{accept}`; ask for {}, {} or {}",
        format::JSON,
        format::CSV,
        format::ARROW_STREAM
    )))
}

fn engine(state: &AppState) -> Result<&SqlEngine, ApiError> {
    state
        .sql
        .as_ref()
        .ok_or_else(|| ApiError::from(SqlError::Disabled))
}

/// `POST /v1/sql`.
pub async fn query(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let engine = engine(&state)?;
    let key = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(access::key_from_authorization)
        .ok_or(SqlError::Unauthorized)?;
    let principal = engine.authenticate(&key)?;
    let encoding = encoding(&headers)?;
    let request: SqlRequest = serde_json::from_slice(&body).map_err(|e| {
        ApiError::BadRequest(format!("expected a JSON body `{{\"sql\": \"...\"}}`: {e}"))
    })?;
    let result = engine.query(&principal, &request.sql).await?;
    let (content_type, bytes) = match encoding {
        Encoding::Json => (format::JSON, format::to_json(&result)?),
        Encoding::Csv => ("text/csv; charset=utf-8", format::to_csv(&result)?),
        Encoding::Arrow => (format::ARROW_STREAM, format::to_arrow_stream(&result)?),
    };
    Ok(([(header::CONTENT_TYPE, content_type)], bytes).into_response())
}
