//! Who sees what: the one sharing policy of every door (REST, SQL over HTTP, Flight SQL,
//! the CLI on the server, and the standard outputs).
//!
//! A [`Policy`] is built once from the config: each `[[api_keys]]` entry becomes a
//! [`Principal`] whose visible cities per data kind are worked out then — its own cities
//! (the key's `cities`: a city's control centre names one, a regional operator several,
//! an analyst the ones it studies), the cities sharing a kind with one of them as a
//! partner, and the open ones — so a request only hashes its key, looks the digest up and
//! searches a sorted list of at most a few dozen ids. A request without a key gets the
//! anonymous principal (open data only) or nothing, as `api.anonymous` says.
//!
//! The doors ask the principal, never the config: REST through
//! [`viewer::Viewer`], SQL by wrapping every table for [`Principal::access`]
//! (`sql/access.rs`), outputs through [`Principal::visible_cities`].

pub mod viewer;

use std::collections::HashMap;
use std::sync::Arc;

use sha2::{Digest, Sha256};
use stadtpuls_config::{
    Anonymous, ApiKeyConfig, CityConfig, CityScope, Config, DataKind, Share, SharePolicy,
};

/// Returns the SHA-256 of an API key as 64 lowercase hex digits: what `api_keys[].key_sha256`
/// holds (`stadtpuls key hash` prints it; `printf %s KEY | sha256sum` agrees).
pub fn hash_key(key: &str) -> String {
    use std::fmt::Write as _;
    let digest = Sha256::digest(key.as_bytes());
    let mut hex = String::with_capacity(64);
    for byte in digest {
        let _ = write!(hex, "{byte:02x}");
    }
    hex
}

/// The API key in an `Authorization` header value: `Bearer <key>`, or `Basic` with the
/// key as the password (the user name is ignored), as JDBC/ODBC tools send it.
pub fn key_from_authorization(value: &str) -> Option<String> {
    use base64::Engine as _;
    let (scheme, rest) = value.trim().split_once(' ')?;
    let rest = rest.trim();
    if scheme.eq_ignore_ascii_case("bearer") {
        return (!rest.is_empty()).then(|| rest.to_owned());
    }
    if scheme.eq_ignore_ascii_case("basic") {
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(rest)
            .ok()?;
        let text = String::from_utf8(decoded).ok()?;
        let (_, password) = text.split_once(':')?;
        return (!password.is_empty()).then(|| password.to_owned());
    }
    None
}

/// A set of cities: every one, or these.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Access {
    /// Every city (an `*` key, or the local CLI).
    All,
    /// Only these, sorted and distinct; empty: none.
    Cities(Arc<[String]>),
}

impl Access {
    /// Whether `city` is in the set.
    pub fn allows(&self, city: &str) -> bool {
        match self {
            Access::All => true,
            Access::Cities(cities) => cities.binary_search_by(|c| c.as_str().cmp(city)).is_ok(),
        }
    }

    fn from_ids(mut ids: Vec<String>) -> Self {
        ids.sort_unstable();
        ids.dedup();
        Access::Cities(ids.into())
    }
}

/// Which data a table or a route shows, for [`Principal::access`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// One kind of data.
    Kind(DataKind),
    /// That the city exists (its name, its place): visible when any kind is.
    City,
    /// Rows of both kinds mixed (the `sensors` registry table, raw messages): visible only
    /// when every kind is, since rows cannot be told apart by the city alone.
    EveryKind,
}

/// Who asks, and which cities' data it sees per [`Scope`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    /// The configured principal name; `local` for the CLI, `anonymous` without a key.
    pub name: String,
    traffic: Access,
    parking: Access,
    city: Access,
    every_kind: Access,
}

impl Principal {
    /// The CLI user on the server, who can read the history files anyway: every city.
    pub fn local() -> Self {
        Self::everything("local")
    }

    fn everything(name: &str) -> Self {
        Self {
            name: name.to_owned(),
            traffic: Access::All,
            parking: Access::All,
            city: Access::All,
            every_kind: Access::All,
        }
    }

    /// Works out what a principal whose own cities are `own` sees (`None`: every city).
    fn new(name: &str, own: Option<&[String]>, cities: &[CityConfig]) -> Self {
        let Some(own) = own else {
            return Self::everything(name);
        };
        let sees = |city: &CityConfig, kind: DataKind| {
            own.contains(&city.id) || shared(&city.share, kind, own)
        };
        let ids = |keep: &dyn Fn(&CityConfig) -> bool| {
            Access::from_ids(
                cities
                    .iter()
                    .filter(|c| keep(c))
                    .map(|c| c.id.clone())
                    .collect(),
            )
        };
        Self {
            name: name.to_owned(),
            traffic: ids(&|c| sees(c, DataKind::Traffic)),
            parking: ids(&|c| sees(c, DataKind::Parking)),
            city: ids(&|c| DataKind::ALL.iter().any(|&k| sees(c, k))),
            every_kind: ids(&|c| DataKind::ALL.iter().all(|&k| sees(c, k))),
        }
    }

    /// The cities whose `scope` data this principal sees.
    pub fn access(&self, scope: Scope) -> &Access {
        match scope {
            Scope::Kind(DataKind::Traffic) => &self.traffic,
            Scope::Kind(DataKind::Parking) => &self.parking,
            Scope::City => &self.city,
            Scope::EveryKind => &self.every_kind,
        }
    }

    /// Whether this principal sees `kind` data of `city`.
    pub fn sees(&self, city: &str, kind: DataKind) -> bool {
        self.access(Scope::Kind(kind)).allows(city)
    }

    /// Whether this principal may know that `city` exists (some kind of it is visible).
    pub fn sees_city(&self, city: &str) -> bool {
        self.city.allows(city)
    }

    /// Of `cities` (in their order), those whose `kind` data this principal sees: what an
    /// output (a list, a publication, a region's sum) may include for the request.
    pub fn visible_cities<'a>(&self, cities: &'a [String], kind: DataKind) -> Vec<&'a str> {
        cities
            .iter()
            .map(String::as_str)
            .filter(|c| self.sees(c, kind))
            .collect()
    }
}

/// Whether `policy` shares `kind` with a principal of the cities `own` (not its own).
fn shared(policy: &SharePolicy, kind: DataKind, own: &[String]) -> bool {
    match policy.of(kind) {
        Share::Open => true,
        Share::Partners => policy.partners.iter().any(|p| own.contains(p)),
        Share::Private => false,
    }
}

/// Why a request gets no principal.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Denied {
    /// No key, and `api.anonymous = "deny"`.
    #[error("this API needs a key: send `Authorization: Bearer <key>`")]
    KeyRequired,
    /// A key (or an `Authorization` header) that is not configured or does not parse.
    #[error("unknown API key")]
    UnknownKey,
}

/// The configured principals by key digest, and the anonymous one.
#[derive(Clone)]
pub struct Policy {
    by_digest: HashMap<[u8; 32], Arc<Principal>>,
    /// `None`: requests without a key are refused.
    anonymous: Option<Arc<Principal>>,
}

impl std::fmt::Debug for Policy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let names: Vec<&str> = self.by_digest.values().map(|p| p.name.as_str()).collect();
        f.debug_struct("Policy")
            .field("principals", &names)
            .field("anonymous", &self.anonymous.is_some())
            .finish()
    }
}

impl Policy {
    /// The policy of `config`: its keys, its cities' shares and `api.anonymous`.
    pub fn from_config(config: &Config) -> Self {
        Self::new(&config.api_keys, &config.cities, config.api.anonymous)
    }

    /// Builds the policy. Keys whose hash is not 64 hex digits are skipped (validation
    /// refuses them before this).
    pub fn new(keys: &[ApiKeyConfig], cities: &[CityConfig], anonymous: Anonymous) -> Self {
        let by_digest = keys
            .iter()
            .filter_map(|key| {
                let own = match &key.cities {
                    CityScope::All => None,
                    CityScope::Only(ids) => Some(ids.as_slice()),
                };
                let principal = Principal::new(&key.principal, own, cities);
                Some((digest_of_hex(&key.key_sha256)?, Arc::new(principal)))
            })
            .collect();
        let anonymous = match anonymous {
            Anonymous::Open => Some(Arc::new(Principal::new("anonymous", Some(&[]), cities))),
            Anonymous::Deny => None,
        };
        Self {
            by_digest,
            anonymous,
        }
    }

    /// No keys, and every request without one sees every city: for embedding the router
    /// in tests and tools. The servers (`stadtpuls run`, `stadtpuls demo`) always use
    /// [`Policy::from_config`].
    pub fn open_to_everyone() -> Self {
        Self {
            by_digest: HashMap::new(),
            anonymous: Some(Arc::new(Principal::everything("anonymous"))),
        }
    }

    /// The principal holding `key`, if it is configured.
    pub fn authenticate(&self, key: &str) -> Option<&Arc<Principal>> {
        let digest: [u8; 32] = Sha256::digest(key.trim().as_bytes()).into();
        self.by_digest.get(&digest)
    }

    /// The principal of a request with this `Authorization` header value (`None`: no
    /// header): the key's, or the anonymous one.
    ///
    /// # Errors
    /// [`Denied`] for an unknown key, or no key when anonymous requests are refused.
    pub fn principal(&self, authorization: Option<&str>) -> Result<Arc<Principal>, Denied> {
        match authorization {
            None => self.anonymous.clone().ok_or(Denied::KeyRequired),
            Some(value) => {
                // The common case, a bearer token, without copying the key.
                let bearer = value
                    .trim()
                    .split_once(' ')
                    .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
                    .map(|(_, key)| key.trim())
                    .filter(|key| !key.is_empty());
                let principal = match bearer {
                    Some(key) => self.authenticate(key).cloned(),
                    None => key_from_authorization(value)
                        .and_then(|key| self.authenticate(&key).cloned()),
                };
                principal.ok_or(Denied::UnknownKey)
            }
        }
    }

    /// Whether no key is configured.
    pub fn is_empty(&self) -> bool {
        self.by_digest.is_empty()
    }
}

fn digest_of_hex(hex: &str) -> Option<[u8; 32]> {
    let bytes = hex.as_bytes();
    if bytes.len() != 64 {
        return None;
    }
    let mut digest = [0u8; 32];
    for (i, pair) in bytes.chunks_exact(2).enumerate() {
        let text = std::str::from_utf8(pair).ok()?;
        digest[i] = u8::from_str_radix(text, 16).ok()?;
    }
    Some(digest)
}

#[cfg(test)]
mod tests;
