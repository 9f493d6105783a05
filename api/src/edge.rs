//! The listeners' edge: what a client may hold before it has sent anything useful.
//!
//! Without bounds, a client that opens connections and sends half a request (slowloris)
//! holds each connection for ever: 1,000 of them exhaust file descriptors the pipeline
//! needs too, and a graceful shutdown waits for them. Three bounds, shared by the HTTP API
//! ([`http`]) and the Flight SQL server ([`grpc`]):
//!
//! - **a time for the request head** (`api.header_read_timeout`): an HTTP/1.1 request's
//!   head, or the HTTP/2 preface of a Flight SQL connection, must arrive within it, or the
//!   connection is closed. On the API it also ends keep-alive connections idle that long
//!   (hyper starts the same timer when it waits for the next request).
//! - **a connection budget** (`api.max_connections`) over both listeners. A connection
//!   over it is accepted and closed at once (the API writes a 503 first) rather than left
//!   in the kernel's backlog: a flood would otherwise fill the backlog, and good clients
//!   would wait there behind it with no answer; this way they get an immediate answer to
//!   retry on, the accept loop keeps running so a freed slot goes to the next client at
//!   once, and every refusal is counted.
//! - **a bounded drain** at shutdown ([`Edge::drain`]): connections still busy after it are
//!   closed, so no client can hold the exit.

pub mod grpc;
pub mod http;

use std::io;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use stadtpuls_config::ApiConfig;
use tracing::warn;

use crate::metrics;

/// How long connections still busy at shutdown may finish their requests before they are
/// closed: as long as the pipeline's grace for its last commit, so both end together.
pub const SHUTDOWN_DRAIN: Duration = Duration::from_secs(5);

/// A request's handle on its own connection, in the request's extensions (HTTP API only):
/// [`ConnectionAbort::abort`] closes the connection even while hyper waits, for ever, to
/// write to a client that reads nothing — the one case no timeout of hyper's covers. The
/// push stream uses it for a subscriber it cut off ([`crate::stream`]).
#[derive(Debug, Clone, Default)]
pub struct ConnectionAbort(Arc<tokio::sync::Notify>);

impl ConnectionAbort {
    /// Closes the connection (now, or as soon as its accept loop task looks).
    pub fn abort(&self) {
        self.0.notify_one();
    }

    /// Completes once [`Self::abort`] was called.
    pub async fn aborted(&self) {
        self.0.notified().await;
    }
}

/// A listener, for metric labels and logs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Server {
    /// The HTTP API (`api.bind`).
    Api,
    /// The Flight SQL server (`sql.flight_bind`).
    Flight,
}

impl Server {
    /// The metric label.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Api => "api",
            Self::Flight => "flight",
        }
    }
}

/// The bounds every listener enforces on its clients (see the module docs).
#[derive(Debug, Clone)]
pub struct Edge {
    /// Time allowed for a request head (or HTTP/2 preface).
    pub header_read_timeout: Duration,
    /// The connection budget, shared by the listeners given clones of this `Edge`.
    pub connections: ConnectionLimit,
    /// How long a shutdown waits for busy connections.
    pub drain: Duration,
}

impl Edge {
    /// The configured bounds with the default drain, [`SHUTDOWN_DRAIN`].
    pub fn from_config(api: &ApiConfig) -> Self {
        Self {
            header_read_timeout: api.header_read_timeout,
            connections: ConnectionLimit::new(api.max_connections),
            drain: SHUTDOWN_DRAIN,
        }
    }
}

impl Default for Edge {
    fn default() -> Self {
        Self::from_config(&ApiConfig::default())
    }
}

/// A budget of open connections, shared by clones.
#[derive(Debug, Clone)]
pub struct ConnectionLimit {
    open: Arc<AtomicUsize>,
    max: usize,
}

impl ConnectionLimit {
    /// A budget of `max` connections (at least one).
    pub fn new(max: usize) -> Self {
        Self {
            open: Arc::new(AtomicUsize::new(0)),
            max: max.max(1),
        }
    }

    /// The budget.
    pub fn max(&self) -> usize {
        self.max
    }

    /// Connections open now, over every listener sharing the budget.
    pub fn open(&self) -> usize {
        self.open.load(Ordering::Acquire)
    }

    /// Takes a slot for a connection of `server`, or counts a refusal when none is free.
    pub fn admit(&self, server: Server) -> Option<Admitted> {
        let taken = self
            .open
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |open| {
                (open < self.max).then_some(open + 1)
            })
            .is_ok();
        if !taken {
            metrics::HTTP_CONNECTIONS_REFUSED
                .with_label_values(&[server.as_str()])
                .inc();
            return None;
        }
        metrics::HTTP_CONNECTIONS
            .with_label_values(&[server.as_str()])
            .inc();
        Some(Admitted {
            open: self.open.clone(),
            server,
        })
    }
}

/// A connection's slot in a [`ConnectionLimit`], given back when dropped (also when the
/// connection's task is aborted).
#[derive(Debug)]
pub struct Admitted {
    open: Arc<AtomicUsize>,
    server: Server,
}

impl Drop for Admitted {
    fn drop(&mut self) {
        self.open.fetch_sub(1, Ordering::AcqRel);
        metrics::HTTP_CONNECTIONS
            .with_label_values(&[self.server.as_str()])
            .dec();
    }
}

/// Counts a connection closed by the header-read timeout.
fn timed_out(server: Server) {
    metrics::HTTP_CONNECTIONS_TIMED_OUT
        .with_label_values(&[server.as_str()])
        .inc();
}

/// What to do after `accept` failed: errors of one connection (it was reset before it was
/// accepted) are skipped; others (`EMFILE`: out of file descriptors) are logged and
/// followed by a pause, so the loop does not spin until descriptors are freed.
fn accept_failed(server: Server, error: &io::Error) -> Option<Duration> {
    if matches!(
        error.kind(),
        io::ErrorKind::ConnectionRefused
            | io::ErrorKind::ConnectionAborted
            | io::ErrorKind::ConnectionReset
    ) {
        return None;
    }
    warn!(%error, server = server.as_str(), "accepting a connection failed; accepting again in 1 s");
    Some(Duration::from_secs(1))
}
