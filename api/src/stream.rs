//! `GET /v1/stream`: the live view's changes as server-sent events — closed traffic
//! windows, parking level changes, feeds going stale or recovering — filtered per
//! subscriber, resumable with `Last-Event-ID` from a bounded ring, with heartbeats.
//!
//! The pipeline publishes into [`Hub`] and never waits for a subscriber: each has a
//! bounded queue and is cut off with a final `dropped` event when it overflows
//! (`stadtpuls_sse_dropped_total{reason="slow_client"}`). Event schema: `docs/api.md`
//! ("Push stream").

pub mod encode;
pub mod filter;
pub mod hub;

use std::collections::{HashSet, VecDeque};
use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::Body;
use axum::extract::{Extension, Query, State};
use axum::http::{HeaderMap, header};
use axum::response::{IntoResponse, Response};
use bytes::{Bytes, BytesMut};
use futures::Stream;
use serde::Deserialize;
use tokio::sync::{mpsc, oneshot};

pub use filter::{Filter, Kind};
pub use hub::{Counted, Cut, Entry, Hub, HubLimits, Missed, Subscription};

use stadtpuls_config::DataKind;

use crate::access::viewer::Viewer;
use crate::edge::ConnectionAbort;
use crate::error::{ApiError, Result};
use crate::metrics::SSE_EVENTS;
use crate::routes::regions::region_not_found;
use crate::state::AppState;

/// The stream's hub and its heartbeat, in the API state.
#[derive(Debug, Clone)]
pub struct StreamDoor {
    /// Where the pipeline publishes.
    pub hub: Arc<Hub>,
    /// A comment line is sent after this long without an event.
    pub heartbeat: Duration,
    /// How long a cut-off subscriber's connection stays open for it to read its final
    /// `dropped` event; then it is closed, read or not ([`CUT_GRACE`] in the product).
    pub cut_grace: Duration,
}

impl StreamDoor {
    /// The door of `hub` with the product's [`CUT_GRACE`].
    pub fn new(hub: Arc<Hub>, heartbeat: Duration) -> Self {
        Self {
            hub,
            heartbeat,
            cut_grace: CUT_GRACE,
        }
    }
}

/// The product's [`StreamDoor::cut_grace`]: a client that has read nothing for as long as
/// it took to fill its queue and socket buffers gets ten more seconds, then its connection
/// is closed, so a subscriber that stopped reading holds no connection slot and no queue.
pub const CUT_GRACE: Duration = Duration::from_secs(10);

/// Query of `GET /v1/stream`; every list is comma-separated.
#[derive(Debug, Deserialize)]
pub struct StreamQuery {
    cities: Option<String>,
    /// Region ids: only their member cities' events (within `cities` when both are given).
    regions: Option<String>,
    kinds: Option<String>,
    window: Option<String>,
    entities: Option<String>,
    /// For clients that cannot set the `Last-Event-ID` header on their first connect.
    last_event_id: Option<String>,
}

/// The cities a request may see some data of, and the (city, kind) pairs among them it may
/// not see, under the sharing policy (docs/api.md, "Who sees what").
pub fn visible_cities(
    state: &AppState,
    viewer: &Viewer,
) -> (HashSet<String>, HashSet<(String, &'static str)>) {
    let mut visible = HashSet::new();
    let mut hidden = HashSet::new();
    for city in state.cities.iter() {
        if !viewer.0.sees_city(&city.id) {
            continue;
        }
        visible.insert(city.id.clone());
        for (kind, name) in [
            (DataKind::Traffic, "traffic"),
            (DataKind::Parking, "parking"),
        ] {
            if !viewer.0.sees(&city.id, kind) {
                hidden.insert((city.id.clone(), name));
            }
        }
    }
    (visible, hidden)
}

/// Builds a subscriber's filter from the query, within `visible`.
///
/// # Errors
/// [`ApiError::NotFound`] for a city not visible or a region none of whose member cities
/// is visible (the wording of the REST routes for each), [`ApiError::BadRequest`] for an
/// unknown kind or a window family that is not configured.
pub fn filter(
    state: &AppState,
    query: &StreamQuery,
    (visible, hidden): (HashSet<String>, HashSet<(String, &'static str)>),
) -> Result<Filter> {
    let regional = list(query.regions.as_deref())
        .map(|regions| region_members(state, &regions, &visible))
        .transpose()?;
    let cities = match list(query.cities.as_deref()) {
        None => visible,
        Some(requested) => {
            let mut cities = HashSet::new();
            for city in requested {
                if !visible.contains(city) {
                    // The REST routes' wording (`Viewer::any_city`): a hidden city reads
                    // like an unknown one.
                    return Err(ApiError::NotFound(format!(
                        "no city `{city}` is visible to this key"
                    )));
                }
                cities.insert(city.to_owned());
            }
            cities
        }
    };
    let cities = match regional {
        None => cities,
        Some(members) => cities.into_iter().filter(|c| members.contains(c)).collect(),
    };
    let mut kinds = HashSet::new();
    for kind in list(query.kinds.as_deref()).unwrap_or_default() {
        let parsed = Kind::parse(kind).ok_or_else(|| {
            ApiError::BadRequest(format!(
                "kind `{kind}` is not one of traffic, parking, feed"
            ))
        })?;
        kinds.insert(parsed);
    }
    let window = match query.window.as_deref() {
        None => None,
        Some(param) => Some(crate::routes::traffic::window(state, Some(param))?.0),
    };
    let entities = list(query.entities.as_deref())
        .unwrap_or_default()
        .into_iter()
        .map(str::to_owned)
        .collect();
    Ok(Filter {
        cities,
        kinds,
        window,
        entities,
        hidden,
    })
}

/// The member cities of `regions` among `visible`: a region counts as on the REST routes
/// (`/v1/regions/{region}/…`), so one not configured, or of which no member city is
/// visible, is not found, in their wording.
fn region_members(
    state: &AppState,
    regions: &[&str],
    visible: &HashSet<String>,
) -> Result<HashSet<String>> {
    let mut members = HashSet::new();
    for id in regions {
        let region = state
            .region(id)
            .filter(|r| r.city_ids().any(|c| visible.contains(c)))
            .ok_or_else(|| region_not_found(id))?;
        members.extend(
            region
                .city_ids()
                .filter(|c| visible.contains(*c))
                .map(str::to_owned),
        );
    }
    Ok(members)
}

/// The items of a comma-separated list; `None` when absent or empty.
fn list(param: Option<&str>) -> Option<Vec<&str>> {
    let items: Vec<&str> = param?
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .collect();
    (!items.is_empty()).then_some(items)
}

/// `GET /v1/stream?cities=&regions=&kinds=&window=&entities=` with an optional
/// `Last-Event-ID`.
pub async fn stream(
    State(state): State<AppState>,
    connection: Option<Extension<ConnectionAbort>>,
    viewer: Viewer,
    headers: HeaderMap,
    Query(query): Query<StreamQuery>,
) -> Result<Response> {
    let Some(door) = state.stream.clone() else {
        return Err(ApiError::NotFound(
            "the push stream is not served here".into(),
        ));
    };
    let visible = visible_cities(&state, &viewer);
    let filter = filter(&state, &query, visible)?;
    let header = headers
        .get("last-event-id")
        .map(|v| v.to_str().unwrap_or("").to_owned());
    let last_event_id = header
        .or_else(|| query.last_event_id.clone())
        .map(|text| {
            text.trim().parse::<u64>().map_err(|_| {
                ApiError::BadRequest(format!("Last-Event-ID `{text}` is not an event id"))
            })
        })
        .transpose()?;
    let subscription = door.hub.subscribe(Arc::new(filter), last_event_id);
    let (body, gone) = ClientStream::new(subscription, door.heartbeat).watched();
    if let Some(Extension(connection)) = connection {
        tokio::spawn(close_when_cut(
            Arc::clone(&body.cut),
            gone,
            door.cut_grace,
            connection,
        ));
    }
    Ok(body.into_response())
}

/// Closes a cut-off subscriber's connection after `grace`, unless its stream ended first
/// (`gone`: the client read to the final event, or went away). hyper polls a response
/// body only when the socket takes more, so a client that reads nothing would otherwise
/// hold its connection, and the events queued for it, for as long as TCP lets it.
async fn close_when_cut(
    cut: Arc<Cut>,
    gone: oneshot::Receiver<()>,
    grace: Duration,
    connection: ConnectionAbort,
) {
    tokio::select! {
        () = cut.wait() => {}
        _ = gone => return,
    }
    tokio::time::sleep(grace).await;
    tracing::info!(
        grace_s = grace.as_secs_f64(),
        "closing a cut-off stream subscriber's connection"
    );
    connection.abort();
}

/// Most events written in one chunk: a burst (a window close) goes out in few writes.
const MAX_BATCH: usize = 256;

/// One subscriber's SSE body: a `missed` notice if its resume point is gone, its backlog,
/// then its queue, each poll writing what is ready in one chunk; a heartbeat comment after
/// the interval without an event; a final `dropped` event when it was cut off.
pub struct ClientStream {
    missed: Option<Missed>,
    backlog: VecDeque<Arc<Entry>>,
    queue: mpsc::Receiver<Arc<Entry>>,
    cut: Arc<Cut>,
    _counted: Counted,
    heartbeat: Duration,
    idle: Pin<Box<tokio::time::Sleep>>,
    done: bool,
    /// Dropped with the stream: tells a watcher the body is gone ([`Self::watched`]).
    _gone: Option<oneshot::Sender<()>>,
}

impl ClientStream {
    /// The stream of a new subscription.
    pub fn new(subscription: Subscription, heartbeat: Duration) -> Self {
        Self {
            missed: subscription.missed,
            backlog: subscription.backlog.into(),
            queue: subscription.queue,
            cut: subscription.cut,
            _counted: subscription.counted,
            heartbeat,
            idle: Box::pin(tokio::time::sleep(heartbeat)),
            done: false,
            _gone: None,
        }
    }

    /// This stream and a receiver that completes (with an error) once it is dropped.
    pub fn watched(mut self) -> (Self, oneshot::Receiver<()>) {
        let (tx, rx) = oneshot::channel();
        self._gone = Some(tx);
        (self, rx)
    }

    /// The HTTP response carrying this stream.
    pub fn into_response(self) -> Response {
        (
            [
                (header::CONTENT_TYPE, "text/event-stream"),
                (header::CACHE_CONTROL, "no-cache"),
            ],
            Body::from_stream(self),
        )
            .into_response()
    }

    fn append(chunk: &mut BytesMut, entry: &Entry) {
        SSE_EVENTS.with_label_values(&[entry.event.kind()]).inc();
        chunk.extend_from_slice(encode::frame(entry));
    }

    fn sent(&mut self, chunk: BytesMut) -> Poll<Option<std::result::Result<Bytes, Infallible>>> {
        let next = tokio::time::Instant::now() + self.heartbeat;
        self.idle.as_mut().reset(next);
        Poll::Ready(Some(Ok(chunk.freeze())))
    }
}

impl Stream for ClientStream {
    type Item = std::result::Result<Bytes, Infallible>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let mut chunk = BytesMut::new();
        if let Some(missed) = self.missed.take() {
            chunk.extend_from_slice(&encode::missed(missed));
        }
        while chunk.len() < 64 * 1024 {
            let Some(entry) = self.backlog.pop_front() else {
                break;
            };
            Self::append(&mut chunk, &entry);
        }
        if !chunk.is_empty() {
            return self.sent(chunk);
        }
        if self.done {
            return Poll::Ready(None);
        }
        match self.queue.poll_recv(cx) {
            Poll::Ready(Some(entry)) => {
                Self::append(&mut chunk, &entry);
                for _ in 1..MAX_BATCH {
                    let Ok(entry) = self.queue.try_recv() else {
                        break;
                    };
                    Self::append(&mut chunk, &entry);
                }
                self.sent(chunk)
            }
            Poll::Ready(None) => {
                self.done = true;
                Poll::Ready(self.cut.reason().map(|r| Ok(encode::dropped(r))))
            }
            Poll::Pending => match self.idle.as_mut().poll(cx) {
                Poll::Ready(()) => self.sent(BytesMut::from(encode::HEARTBEAT)),
                Poll::Pending => Poll::Pending,
            },
        }
    }
}

#[cfg(test)]
mod tests;
