//! The HTTP push gateway's port and its parts: [`PushSink`] (where an accepted body goes:
//! Kafka in `stadtpuls run`, implemented in `ingest` and adapted in `src/app.rs`, so
//! this crate never touches Kafka), the push keys ([`keys`]) and the per-key rate limit
//! ([`limit`]). The handlers are `routes/ingest.rs`; statuses are chosen in `error.rs`.

pub mod keys;
pub mod limit;

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use bytes::Bytes;
use stadtpuls_config::{Config, FeedFormat, PushConfig};

pub use keys::PushKeys;
pub use limit::RateLimiter;

/// One accepted push, on its way to the city's feed.
#[derive(Debug, Clone)]
pub struct PushRequest {
    /// The configured city it belongs to.
    pub city: String,
    /// Its wire format, from its `Content-Type`.
    pub format: FeedFormat,
    /// The request's `Content-Type`, kept as the record's `content-type` header.
    pub content_type: String,
    /// The principal of the push key: keeps one sender's pushes in order (the record key).
    pub principal: String,
    /// The body as sent.
    pub body: Bytes,
}

/// Where the broker stored a push.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PushAck {
    /// Topic written.
    pub topic: String,
    /// Partition written.
    pub partition: i32,
    /// Offset of the record.
    pub offset: i64,
}

/// Why a sink did not take a push.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PushError {
    /// The body fails the format's syntactic check (not JSON, a native body of no kind).
    #[error("{0}")]
    Unparseable(String),
    /// The city has no topic for the format (answered 415).
    #[error("{0}")]
    NoTopic(String),
    /// The broker refused the record for its size.
    #[error("{0}")]
    TooLarge(String),
    /// The broker is unreachable or did not acknowledge in time; retry later.
    #[error("{0}")]
    Unavailable(String),
}

/// The boxed future a [`PushSink`] returns (object safe, no extra crate).
pub type PushFuture<'a> = Pin<Box<dyn Future<Output = Result<PushAck, PushError>> + Send + 'a>>;

/// Where accepted pushes go. Resolves only once the record is durable (Kafka: acknowledged
/// by all in-sync replicas), because the gateway answers 202 on it.
pub trait PushSink: Send + Sync {
    /// Writes one push.
    fn push(&self, request: PushRequest) -> PushFuture<'_>;
}

/// What the push routes need: the sink, the keys, the limits.
#[derive(Clone)]
pub struct PushGateway {
    /// Where accepted pushes go.
    pub sink: Arc<dyn PushSink>,
    /// The configured push keys.
    pub keys: Arc<PushKeys>,
    /// The per-key token buckets.
    pub limiter: Arc<RateLimiter>,
    /// `[push]`.
    pub limits: PushConfig,
    /// Seconds a client is told to wait after a 503.
    pub retry_after_unavailable_s: u64,
}

impl PushGateway {
    /// The gateway of `config`'s `[push]` and `[[push_keys]]` in front of `sink`.
    pub fn new(config: &Config, sink: Arc<dyn PushSink>) -> Self {
        Self {
            sink,
            keys: Arc::new(PushKeys::new(&config.push_keys)),
            limiter: Arc::new(RateLimiter::new(config.push.rate_per_s, config.push.burst)),
            limits: config.push.clone(),
            retry_after_unavailable_s: 5,
        }
    }
}
