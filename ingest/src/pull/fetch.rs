//! One conditional GET: the validators of the last document written go out as
//! `If-None-Match` / `If-Modified-Since`; a 304 is "not modified"; a 200's body is read up
//! to the size limit (announced or counted, so a larger document is never held whole).

use bytes::{Bytes, BytesMut};
use reqwest::header::{ETAG, HeaderValue, IF_MODIFIED_SINCE, IF_NONE_MATCH, LAST_MODIFIED};
use reqwest::{Client, StatusCode, Url};

use super::client::chain;

/// What the last written (or unchanged) document answered with; sent with the next
/// request. Only updated once a document is safely written, so a failed write is fetched
/// (200) and written again at the next tick.
#[derive(Debug, Default, Clone)]
pub(super) struct Validators {
    /// `ETag` of the last 200.
    pub etag: Option<HeaderValue>,
    /// `Last-Modified` of the last 200.
    pub last_modified: Option<HeaderValue>,
}

/// A successful answer.
pub(super) enum Fetched {
    /// 304: the server says nothing changed.
    NotModified,
    /// 200 with its body and validators.
    Document {
        /// The body, at most the limit.
        body: Bytes,
        /// Its validators, for the next request.
        validators: Validators,
    },
}

/// Why a fetch failed: a low-cardinality kind (the metric's `outcome`) and the detail for
/// the log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// DNS, TCP connect or TLS handshake failed.
    Connect,
    /// No complete answer within `timeout`.
    Timeout,
    /// The connection failed after it was made (a TLS alert, a reset, a broken body).
    Request,
    /// The server answered 4xx (401/403: credentials or certificate).
    Http4xx,
    /// The server answered 5xx.
    Http5xx,
    /// Any other status: a redirect (not followed: only the configured URL is fetched) or
    /// an informational one.
    Unexpected,
    /// The body is larger than `kafka.max_message_bytes`.
    TooLarge,
    /// The broker did not acknowledge the document.
    Kafka,
    /// The document was refused before it was written (not JSON where the format is, no
    /// topic, too large for the broker).
    Refused,
}

impl ErrorKind {
    /// The `outcome` label.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Connect => "connect",
            Self::Timeout => "timeout",
            Self::Request => "request",
            Self::Http4xx => "http_4xx",
            Self::Http5xx => "http_5xx",
            Self::Unexpected => "unexpected_status",
            Self::TooLarge => "too_large",
            Self::Kafka => "kafka",
            Self::Refused => "refused",
        }
    }
}

/// A failed fetch or write.
#[derive(Debug, Clone)]
pub(super) struct Failure {
    pub kind: ErrorKind,
    pub detail: String,
}

impl Failure {
    pub fn new(kind: ErrorKind, detail: impl Into<String>) -> Self {
        Self {
            kind,
            detail: detail.into(),
        }
    }
}

fn transport(error: &reqwest::Error) -> Failure {
    let kind = if error.is_timeout() {
        ErrorKind::Timeout
    } else if error.is_connect() {
        ErrorKind::Connect
    } else {
        ErrorKind::Request
    };
    Failure::new(kind, chain(error))
}

/// GETs `url` with `validators`; a body over `max_bytes` is refused.
pub(super) async fn fetch(
    client: &Client,
    url: &Url,
    validators: &Validators,
    max_bytes: usize,
) -> Result<Fetched, Failure> {
    let mut request = client.get(url.clone());
    if let Some(etag) = &validators.etag {
        request = request.header(IF_NONE_MATCH, etag.clone());
    }
    if let Some(modified) = &validators.last_modified {
        request = request.header(IF_MODIFIED_SINCE, modified.clone());
    }
    let mut response = request.send().await.map_err(|e| transport(&e))?;
    let status = response.status();
    if status == StatusCode::NOT_MODIFIED {
        return Ok(Fetched::NotModified);
    }
    if status != StatusCode::OK {
        let kind = if status.is_client_error() {
            ErrorKind::Http4xx
        } else if status.is_server_error() {
            ErrorKind::Http5xx
        } else {
            ErrorKind::Unexpected
        };
        let detail = match response.headers().get(reqwest::header::LOCATION) {
            Some(location) if status.is_redirection() => format!(
                "{status}, to {} (not followed: configure the final URL)",
                String::from_utf8_lossy(location.as_bytes())
            ),
            _ => status.to_string(),
        };
        return Err(Failure::new(kind, detail));
    }
    let validators = Validators {
        etag: response.headers().get(ETAG).cloned(),
        last_modified: response.headers().get(LAST_MODIFIED).cloned(),
    };
    let too_large = |size: &str| {
        Failure::new(
            ErrorKind::TooLarge,
            format!("the body is {size}, more than kafka.max_message_bytes ({max_bytes} bytes)"),
        )
    };
    let announced = response.content_length();
    if let Some(length) = announced
        && length > max_bytes as u64
    {
        return Err(too_large(&format!("{length} bytes (Content-Length)")));
    }
    // `announced` is within the limit here.
    let mut body = BytesMut::with_capacity(announced.map_or(64 * 1024, |n| n as usize));
    while let Some(chunk) = response.chunk().await.map_err(|e| transport(&e))? {
        if body.len() + chunk.len() > max_bytes {
            return Err(too_large("longer (cut off while read)"));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(Fetched::Document {
        body: body.freeze(),
        validators,
    })
}
