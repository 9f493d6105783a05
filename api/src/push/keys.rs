//! Push keys: configured as SHA-256 hashes like `[[api_keys]]`, presented as
//! `Authorization: Bearer <key>` or `X-Push-Key: <key>`.

use std::collections::HashMap;

use axum::http::HeaderMap;
use stadtpuls_config::PushKeyConfig;

use crate::sql::access::{hash_key, key_from_authorization};

/// The header a sender that cannot set `Authorization` (some webhook UIs) uses instead.
pub const PUSH_KEY_HEADER: &str = "x-push-key";

/// The configured push keys by hash.
#[derive(Debug, Clone, Default)]
pub struct PushKeys {
    by_hash: HashMap<String, PushKeyConfig>,
}

impl PushKeys {
    /// Indexes the validated keys.
    pub fn new(keys: &[PushKeyConfig]) -> Self {
        Self {
            by_hash: keys
                .iter()
                .map(|key| (key.key_sha256.clone(), key.clone()))
                .collect(),
        }
    }

    /// The key a request presents (`Authorization: Bearer`, else `X-Push-Key`), if any.
    pub fn presented(headers: &HeaderMap) -> Option<String> {
        let bearer = headers
            .get(axum::http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(key_from_authorization);
        bearer.or_else(|| {
            headers
                .get(PUSH_KEY_HEADER)
                .and_then(|v| v.to_str().ok())
                .map(str::trim)
                .filter(|k| !k.is_empty())
                .map(str::to_owned)
        })
    }

    /// The configured key `key` is, if any.
    pub fn authenticate(&self, key: &str) -> Option<&PushKeyConfig> {
        self.by_hash.get(&hash_key(key.trim()))
    }
}
