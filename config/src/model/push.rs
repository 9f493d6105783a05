//! The HTTP push gateway (`POST /v1/ingest/{city}`, the NGSI-LD batch upsert): its limits
//! and the push keys, each bound to one city and the formats it may send.

use super::FeedFormat;

/// Default most bytes one pushed body may have: 10 MiB.
pub const DEFAULT_PUSH_MAX_BODY_BYTES: usize = 10 * 1024 * 1024;
/// Default sustained pushes per second and key.
pub const DEFAULT_PUSH_RATE_PER_S: f64 = 10.0;
/// Default pushes a key may send at once after being idle.
pub const DEFAULT_PUSH_BURST: u32 = 20;

/// `[push]`: limits of the push gateway.
#[derive(Debug, Clone, PartialEq)]
pub struct PushConfig {
    /// Most bytes a pushed body may have; a larger one is refused with 413. 1 ..= 1 GiB.
    pub max_body_bytes: usize,
    /// Sustained requests per second per push key (token bucket refill); > 0.
    pub rate_per_s: f64,
    /// Requests a key may send at once (token bucket size); >= 1.
    pub burst: u32,
}

impl Default for PushConfig {
    fn default() -> Self {
        Self {
            max_body_bytes: DEFAULT_PUSH_MAX_BODY_BYTES,
            rate_per_s: DEFAULT_PUSH_RATE_PER_S,
            burst: DEFAULT_PUSH_BURST,
        }
    }
}

/// One `[[push_keys]]` entry: a key a partner pushes with. Only its SHA-256 is configured
/// (like `[[api_keys]]`), so the config file does not hold the secret; one key binds one
/// city, so the NGSI-LD door, whose path names none, knows the city from the key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PushKeyConfig {
    /// Who holds the key (logs, the Kafka record key); unique, not empty.
    pub principal: String,
    /// SHA-256 of the key as 64 lowercase hex digits; unique among push keys.
    pub key_sha256: String,
    /// The configured city it pushes to.
    pub city: String,
    /// The formats it may push, at least one.
    pub formats: Vec<FeedFormat>,
}
