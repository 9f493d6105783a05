//! Per-city access: API keys (configured as SHA-256 hashes) → principals and their
//! cities, and the table wrapper that enforces them below SQL.
//!
//! Every table the SQL session sees is wrapped in [`CityScoped`]. Its `scan` asks the
//! wrapped table for the rows with an extra `city IN (…)` predicate (for the history's
//! listing tables that prunes whole `city=` directories) *and* puts a `FilterExec` with
//! the same predicate on top of whatever the table returns, so the rows of other cities
//! never leave the scan, whatever the query says: the planner cannot drop a filter it
//! never saw, and no query text is rewritten. Table statistics are not passed through
//! (a `COUNT(*)` answered from file metadata would count every city).

use std::borrow::Cow;
use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;

use async_trait::async_trait;
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::catalog::{Session, TableProvider};
use datafusion::common::{DFSchema, Result};
use datafusion::logical_expr::{
    Expr, LogicalPlan, TableProviderFilterPushDown, TableType, col, lit,
};
use datafusion::physical_expr::expressions::Column;
use datafusion::physical_plan::ExecutionPlan;
use datafusion::physical_plan::filter::FilterExec;
use datafusion::physical_plan::projection::{ProjectionExec, ProjectionExpr};
use sha2::{Digest, Sha256};
use stadtpuls_config::{ApiKeyConfig, CityConfig, CityScope, Share};

use super::schema::CITY;

/// Returns the SHA-256 of an API key as 64 lowercase hex digits: what `api_keys[].key_sha256`
/// holds (`stadtpuls key hash` prints it; `printf %s KEY | sha256sum` agrees).
pub fn hash_key(key: &str) -> String {
    let digest = Sha256::digest(key.as_bytes());
    let mut hex = String::with_capacity(64);
    for byte in digest {
        hex.push_str(&format!("{byte:02x}"));
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

/// Which cities' rows a principal reads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Access {
    /// Every city's (an `*` key, or the local CLI).
    All,
    /// Only these cities' (the key's own plus the open ones), sorted.
    Cities(Arc<[String]>),
}

impl Access {
    /// Whether rows of `city` are visible.
    pub fn allows(&self, city: &str) -> bool {
        match self {
            Access::All => true,
            Access::Cities(cities) => cities.iter().any(|c| c == city),
        }
    }
}

/// Who runs a query and what it may read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    /// The configured principal name (`local` for the CLI).
    pub name: String,
    /// Its cities.
    pub access: Access,
}

impl Principal {
    /// The CLI user, who can read the history files anyway: every city.
    pub fn local() -> Self {
        Self {
            name: "local".to_owned(),
            access: Access::All,
        }
    }
}

/// The configured keys by hash.
#[derive(Clone, Default)]
pub struct KeyRing {
    by_hash: HashMap<String, Principal>,
}

impl fmt::Debug for KeyRing {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names: Vec<&str> = self.by_hash.values().map(|p| p.name.as_str()).collect();
        f.debug_struct("KeyRing")
            .field("principals", &names)
            .finish()
    }
}

impl KeyRing {
    /// Builds the ring; every key also reads the cities shared as open data.
    pub fn new(keys: &[ApiKeyConfig], cities: &[CityConfig]) -> Self {
        let open: Vec<&str> = cities
            .iter()
            .filter(|c| c.share == Share::Open)
            .map(|c| c.id.as_str())
            .collect();
        let by_hash = keys
            .iter()
            .map(|key| {
                let access = match &key.cities {
                    CityScope::All => Access::All,
                    CityScope::Only(ids) => {
                        let mut cities: Vec<String> = ids
                            .iter()
                            .map(String::as_str)
                            .chain(open.iter().copied())
                            .map(str::to_owned)
                            .collect();
                        cities.sort_unstable();
                        cities.dedup();
                        Access::Cities(cities.into())
                    }
                };
                let principal = Principal {
                    name: key.principal.clone(),
                    access,
                };
                (key.key_sha256.clone(), principal)
            })
            .collect();
        Self { by_hash }
    }

    /// The principal holding `key`, if it is configured.
    pub fn authenticate(&self, key: &str) -> Option<&Principal> {
        self.by_hash.get(&hash_key(key.trim()))
    }

    /// Whether no key is configured (every request is refused).
    pub fn is_empty(&self) -> bool {
        self.by_hash.is_empty()
    }
}

/// A table whose scans only return rows of the allowed cities (see the module docs).
#[derive(Debug)]
pub struct CityScoped {
    inner: Arc<dyn TableProvider>,
    /// Allowed city ids, sorted; never empty-as-all: an empty list allows nothing.
    cities: Arc<[String]>,
    city_index: usize,
}

impl CityScoped {
    /// Wraps `inner` for `access`; `All` needs no wrapper and returns `inner` itself.
    ///
    /// # Errors
    /// When `inner` has no `city` column (a table that cannot be scoped must not be
    /// served to a scoped principal).
    pub fn wrap(
        inner: Arc<dyn TableProvider>,
        access: &Access,
    ) -> std::result::Result<Arc<dyn TableProvider>, crate::error::SqlError> {
        let Access::Cities(cities) = access else {
            return Ok(inner);
        };
        let city_index = inner.schema().index_of(CITY).map_err(|_| {
            crate::error::SqlError::Internal(
                "table without a `city` column cannot be scoped".into(),
            )
        })?;
        Ok(Arc::new(Self {
            inner,
            cities: cities.clone(),
            city_index,
        }))
    }

    /// `city IN (…)`, or `false` for no city.
    fn predicate(&self) -> Expr {
        if self.cities.is_empty() {
            return lit(false);
        }
        col(CITY).in_list(self.cities.iter().map(|c| lit(c.as_str())).collect(), false)
    }
}

#[async_trait]
impl TableProvider for CityScoped {
    fn schema(&self) -> SchemaRef {
        self.inner.schema()
    }

    fn table_type(&self) -> TableType {
        self.inner.table_type()
    }

    fn get_logical_plan(&'_ self) -> Option<Cow<'_, LogicalPlan>> {
        // A wrapped view would be inlined and bypass `scan`; only tables are wrapped.
        None
    }

    async fn scan(
        &self,
        state: &dyn Session,
        projection: Option<&Vec<usize>>,
        filters: &[Expr],
        _limit: Option<usize>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        // The filter needs `city`: scan it too, and project it away again afterwards.
        let (inner_projection, added_city) = match projection {
            Some(columns) if !columns.contains(&self.city_index) => {
                let mut with_city = columns.clone();
                with_city.push(self.city_index);
                (Some(with_city), true)
            }
            other => (other.cloned(), false),
        };
        let predicate = self.predicate();
        let mut inner_filters = filters.to_vec();
        inner_filters.push(predicate.clone());
        // No limit below the filter: it would count rows the filter then drops.
        let scan = self
            .inner
            .scan(state, inner_projection.as_ref(), &inner_filters, None)
            .await?;
        let scan_schema = scan.schema();
        let physical =
            state.create_physical_expr(predicate, &DFSchema::try_from(scan_schema.clone())?)?;
        let filtered: Arc<dyn ExecutionPlan> = Arc::new(FilterExec::try_new(physical, scan)?);
        if !added_city {
            return Ok(filtered);
        }
        let kept = scan_schema.fields().len() - 1;
        let columns: Vec<ProjectionExpr> = scan_schema
            .fields()
            .iter()
            .take(kept)
            .enumerate()
            .map(|(i, field)| ProjectionExpr {
                expr: Arc::new(Column::new(field.name(), i)),
                alias: field.name().clone(),
            })
            .collect();
        Ok(Arc::new(ProjectionExec::try_new(columns, filtered)?))
    }

    fn supports_filters_pushdown(
        &self,
        filters: &[&Expr],
    ) -> Result<Vec<TableProviderFilterPushDown>> {
        // The wrapped table applies what it claims; ours is applied on top regardless.
        self.inner.supports_filters_pushdown(filters)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_come_as_bearer_tokens_or_basic_passwords() {
        assert_eq!(key_from_authorization("Bearer abc").as_deref(), Some("abc"));
        assert_eq!(
            key_from_authorization("bearer  abc ").as_deref(),
            Some("abc")
        );
        // "analyst:s3cret"
        assert_eq!(
            key_from_authorization("Basic YW5hbHlzdDpzM2NyZXQ=").as_deref(),
            Some("s3cret")
        );
        assert_eq!(key_from_authorization("Basic !!!"), None);
        assert_eq!(key_from_authorization("Bearer"), None);
        assert_eq!(key_from_authorization("Token abc"), None);
    }

    #[test]
    fn keys_are_looked_up_by_their_sha256() {
        assert_eq!(
            hash_key("test"),
            "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"
        );
    }
}
