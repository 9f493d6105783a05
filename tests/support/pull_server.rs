//! The partner's HTTP endpoint of the pull tests (`ingest/tests/pull.rs`,
//! `tests/e2e_datex2.rs`, included by `#[path]`): serves one document with an `ETag` and a
//! `Last-Modified`, answers 304 when `If-None-Match` names the current `ETag`, and 500
//! while told to fail; it records the conditional headers of every request.

#![allow(dead_code)] // not every test uses every part

use std::net::SocketAddr;
use std::sync::{Arc, Mutex, PoisonError};

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;

/// What the endpoint serves now, and what it was asked.
#[derive(Default)]
pub struct Served {
    pub body: Vec<u8>,
    pub etag: String,
    pub fail: bool,
    /// (`If-None-Match`, `If-Modified-Since`) of each request, in order.
    pub asked: Vec<(Option<String>, Option<String>)>,
}

/// Shared with the handler.
pub type Shared = Arc<Mutex<Served>>;

/// Locks `shared` (a panicked test thread leaves the data usable).
pub fn lock(shared: &Shared) -> std::sync::MutexGuard<'_, Served> {
    shared.lock().unwrap_or_else(PoisonError::into_inner)
}

const LAST_MODIFIED: &str = "Mon, 07 Dec 2026 06:00:00 GMT";

async fn document(State(shared): State<Shared>, headers: HeaderMap) -> Response {
    let text = |name| {
        headers
            .get(name)
            .and_then(|v: &header::HeaderValue| v.to_str().ok())
            .map(str::to_owned)
    };
    let mut served = lock(&shared);
    let if_none_match = text(header::IF_NONE_MATCH);
    served
        .asked
        .push((if_none_match.clone(), text(header::IF_MODIFIED_SINCE)));
    if served.fail {
        return (StatusCode::INTERNAL_SERVER_ERROR, "down for maintenance").into_response();
    }
    if if_none_match.as_deref() == Some(served.etag.as_str()) {
        return StatusCode::NOT_MODIFIED.into_response();
    }
    (
        [
            (header::ETAG, served.etag.clone()),
            (header::LAST_MODIFIED, LAST_MODIFIED.to_owned()),
            (header::CONTENT_TYPE, "application/xml".to_owned()),
        ],
        served.body.clone(),
    )
        .into_response()
}

/// Serves `shared` at `/status.xml` on a free local port until the test ends.
pub async fn start(shared: Shared) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind the test server");
    let addr = listener.local_addr().expect("its address");
    let app = Router::new()
        .route("/status.xml", get(document))
        .with_state(shared);
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    addr
}
