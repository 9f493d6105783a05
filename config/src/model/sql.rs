//! SQL for analysts: its limits, the API keys that may run it and which cities' rows
//! each reads.

use std::net::SocketAddr;
use std::time::Duration;

use super::{
    DEFAULT_SQL_ENABLED, DEFAULT_SQL_MAX_CONCURRENT, DEFAULT_SQL_MAX_ROWS,
    DEFAULT_SQL_MEMORY_LIMIT_MIB, DEFAULT_SQL_TIMEOUT,
};

/// SQL for analysts (`POST /v1/sql`, Flight SQL, `stadtpuls sql`): where it listens and
/// the limits every query runs under.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SqlConfig {
    /// Whether the API answers `POST /v1/sql` and the Flight SQL server starts.
    pub enabled: bool,
    /// Flight SQL listen address; `None`: no Flight SQL server. Differs from `api.bind`.
    pub flight_bind: Option<SocketAddr>,
    /// Memory one query's operators (hash tables, sorts) may reserve, bytes; 16 MiB ..=
    /// 1 TiB. There is no spilling to disk: a query past it fails.
    pub memory_limit_bytes: usize,
    /// Longest a query may run (planning, execution and collecting the result); > 0, <= 1h.
    pub timeout: Duration,
    /// Most rows a result may have; a query returning more fails; 1 ..= 100000000.
    pub max_rows: usize,
    /// Queries executing at once; more wait for a slot (within their timeout); 1 ..= 256.
    pub max_concurrent: usize,
}

impl Default for SqlConfig {
    fn default() -> Self {
        Self {
            enabled: DEFAULT_SQL_ENABLED,
            flight_bind: None,
            memory_limit_bytes: DEFAULT_SQL_MEMORY_LIMIT_MIB * 1024 * 1024,
            timeout: DEFAULT_SQL_TIMEOUT,
            max_rows: DEFAULT_SQL_MAX_ROWS,
            max_concurrent: DEFAULT_SQL_MAX_CONCURRENT,
        }
    }
}

/// An API key for SQL: who holds it and whose rows it reads. Only its SHA-256 is
/// configured, so the config file does not hold the secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiKeyConfig {
    /// Who holds the key (logs, metrics); unique, not empty.
    pub principal: String,
    /// SHA-256 of the key as 64 lowercase hex digits; unique.
    pub key_sha256: String,
    /// The cities the key belongs to: it reads their data, and what other cities share
    /// with them as partners or as open data.
    pub cities: CityScope,
}

/// The cities an API key reads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CityScope {
    /// Every city (`cities = ["*"]`).
    All,
    /// These configured city ids, at least one.
    Only(Vec<String>),
}
