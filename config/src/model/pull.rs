//! `[[cities.pull]]`: an HTTP endpoint Stadtpuls polls for a partner's documents (many
//! DATEX II and ParkAPI publishers, Mobilithek among them, offer nothing else), written
//! unchanged to the city's topic of the document's format.
//!
//! Only these configured URLs are ever fetched: nothing in a feed's payload names a URL
//! Stadtpuls would follow, and the client follows no redirect.

use std::path::PathBuf;
use std::time::Duration;

use super::FeedFormat;

/// The shortest `every`: polling a publisher faster than this is abuse, not freshness
/// (Mobilithek and ParkAPI publishers update once a minute at most).
pub const MIN_PULL_EVERY: Duration = Duration::from_secs(5);
/// The longest `every`: a day; a slower source is not live data.
pub const MAX_PULL_EVERY: Duration = Duration::from_secs(86_400);
/// The default `timeout` (or `every`, when that is shorter): the whole request, body
/// included.
pub const DEFAULT_PULL_TIMEOUT: Duration = Duration::from_secs(30);

/// One `[[cities.pull]]` entry, validated: its paths resolved against the config file's
/// directory and known to exist.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PullConfig {
    /// Where it stands in the config (`cities[0].pull[1]`): the source's name in logs and
    /// start-up errors, since the URL may carry a token.
    pub key: String,
    /// The URL, `http://` or `https://`; fetched as configured, redirects are not followed.
    pub url: String,
    /// The format of the documents; they go to the city's `[[cities.feeds]]` topic of this
    /// format (native: `sensors.<city>.<kind>`).
    pub format: FeedFormat,
    /// Time between the starts of two fetches, [`MIN_PULL_EVERY`] ..= [`MAX_PULL_EVERY`].
    pub every: Duration,
    /// Longest a fetch (connect, headers and body) may take; at most `every`.
    pub timeout: Duration,
    /// A TLS client certificate and its key (PEM), as Mobilithek requires.
    pub client_identity: Option<ClientIdentity>,
    /// Extra CA certificates (PEM) trusted besides the system's, for a private CA.
    pub ca: Option<PathBuf>,
    /// Extra request headers (e.g. an API key), names as written.
    pub headers: Vec<(String, String)>,
}

/// A client certificate chain and its private key, both PEM files.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientIdentity {
    /// The certificate (chain), PEM.
    pub cert: PathBuf,
    /// Its private key, PEM (PKCS#8 `BEGIN PRIVATE KEY`; `openssl pkcs8 -topk8 -nocrypt`
    /// converts others).
    pub key: PathBuf,
}
