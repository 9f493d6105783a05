//! What every standard output (DATEX II, ParkAPI, NGSI-LD) shares: which cities a request
//! may see, a city's facilities with their levels as the renderers in
//! `stadtpuls_processing::publish` take them, and conditional GET (`ETag`,
//! `Last-Modified`, `If-None-Match`, `If-Modified-Since` → 304).

use axum::http::header::{
    CACHE_CONTROL, CONTENT_TYPE, ETAG, IF_MODIFIED_SINCE, IF_NONE_MATCH, LAST_MODIFIED,
};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use stadtpuls_processing::publish::{Publication, PublishedFacility, Revision, with_levels};

use stadtpuls_config::DataKind;

use crate::access::viewer::Viewer;
use crate::error::Result;
use crate::state::{AppState, CityView};

/// The cities a request may see, per kind of data, under the sharing policy: the one place
/// the outputs ask (docs/api.md, "Who sees what").
#[derive(Debug, Clone)]
pub struct VisibleCities<'a> {
    viewer: &'a Viewer,
}

impl<'a> VisibleCities<'a> {
    /// Whether `city`'s `kind` data may be seen.
    pub fn contains(&self, city: &str, kind: DataKind) -> bool {
        self.viewer.0.sees(city, kind)
    }

    /// The cities of `state` with some visible data, in config order.
    pub fn cities<'s>(&'s self, state: &'a AppState) -> impl Iterator<Item = &'a CityView> + 's {
        state
            .cities
            .iter()
            .filter(|c| self.viewer.0.sees_city(&c.id))
    }
}

/// The cities the request of `viewer` may see (see [`VisibleCities`]).
pub fn visible_cities(viewer: &Viewer) -> VisibleCities<'_> {
    VisibleCities { viewer }
}

/// Every registered facility of `city` with its current level, in registry order.
pub fn facilities<'a>(state: &AppState, city: &'a CityView) -> Vec<PublishedFacility<'a>> {
    with_levels(&city.facilities, &state.live.facilities(&city.id))
}

/// The publication context of `city` now.
pub fn publication<'a>(state: &AppState, city: &'a str) -> Publication<'a> {
    Publication {
        city,
        published_at: (state.now_ms)(),
        static_since: state.static_since_ms,
        stale_after_ms: state.stale_after_ms,
    }
}

/// A strong entity tag for `revision`, distinct per output `kind`.
fn etag(kind: &str, revision: Revision) -> String {
    format!("\"{kind}-{:016x}\"", revision.tag)
}

/// Whether the request's validators say the client holds `revision` already
/// (RFC 9110 §13.2.2: `If-None-Match` decides when present, else `If-Modified-Since`,
/// compared at whole seconds, the resolution of HTTP dates).
fn not_modified(headers: &HeaderMap, tag: &str, revision: Revision) -> bool {
    if let Some(value) = headers.get(IF_NONE_MATCH) {
        let Ok(value) = value.to_str() else {
            return false;
        };
        return value.split(',').map(str::trim).any(|candidate| {
            candidate == "*" || candidate.strip_prefix("W/").unwrap_or(candidate) == tag
        });
    }
    let since = headers
        .get(IF_MODIFIED_SINCE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| chrono::DateTime::parse_from_rfc2822(v).ok());
    since.is_some_and(|since| revision.last_modified.div_euclid(1_000) <= since.timestamp())
}

/// `Last-Modified` as an HTTP date (IMF-fixdate).
fn http_date(ms: i64) -> Option<HeaderValue> {
    let time = chrono::DateTime::from_timestamp_millis(ms)?;
    let text = time.format("%a, %d %b %Y %H:%M:%S GMT").to_string();
    HeaderValue::from_str(&text).ok()
}

/// Answers 304 when the client holds `revision`, else renders the body with `render`
/// (only then: a revalidation costs no rendering) and answers 200 with `content_type`;
/// both carry `ETag`, `Last-Modified` and `Cache-Control: no-cache` (revalidate each time).
pub fn conditional(
    headers: &HeaderMap,
    kind: &str,
    revision: Revision,
    content_type: &'static str,
    render: impl FnOnce() -> Result<Vec<u8>>,
) -> Result<Response> {
    let tag = etag(kind, revision);
    let mut response = if not_modified(headers, &tag, revision) {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        let body = render()?;
        (
            [(CONTENT_TYPE, HeaderValue::from_static(content_type))],
            body,
        )
            .into_response()
    };
    let response_headers = response.headers_mut();
    if let Ok(value) = HeaderValue::from_str(&tag) {
        response_headers.insert(ETAG, value);
    }
    if let Some(value) = http_date(revision.last_modified) {
        response_headers.insert(LAST_MODIFIED, value);
    }
    response_headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    Ok(response)
}
