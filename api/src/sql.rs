//! SQL for analysts: one DataFusion engine behind three doors (`POST /v1/sql`, Flight
//! SQL, `stadtpuls sql`).
//!
//! - [`catalog`]: the tables — Parquet history (listing tables, Hive partitions `city`
//!   and `date`), reference tables from the registries, the live view, latest-revision
//!   views; [`schema`] has their columns, [`reference`](mod@reference) and [`live`] build the
//!   in-memory ones.
//! - [`udf`]: `haversine_m`, `los`, `flow_veh_h`; [`date_trunc`](mod@date_trunc): the
//!   built-in `date_trunc` with integer arithmetic on UTC timestamps.
//! - [`tuning`]: the session settings (`DATAFUSION_*` overrides) and the file metadata
//!   every session shares.
//! - [`guard`]: read-only, decided on the parsed statement and the logical plan.
//! - [`access`]: the policy's cities (`crate::access`) enforced by wrapping every table.
//! - [`limits`]: memory pool, timeout, row cap, concurrency.
//! - [`format`](mod@format): results as JSON, CSV, Arrow IPC, Parquet or a text table.
//! - [`route`] (HTTP) and [`flight`] (Flight SQL) are the network doors.
//!
//! A query gets a fresh session (its own memory pool and tables wrapped for its
//! principal), so nothing one query does can reach another.

pub mod access;
pub mod catalog;
pub mod date_trunc;
pub mod flight;
pub mod format;
pub mod guard;
pub mod limits;
pub mod live;
pub mod partition_aggregate;
pub mod reference;
pub mod route;
pub mod schema;
pub mod tuning;
pub mod udf;
pub mod unordered;

use std::sync::Arc;

use datafusion::arrow::array::RecordBatch;
use datafusion::arrow::datatypes::{Schema, SchemaRef};
use datafusion::common::ScalarValue;
use datafusion::execution::SessionStateBuilder;
use datafusion::logical_expr::LogicalPlan;
use datafusion::prelude::{SessionConfig, SessionContext};
use futures::StreamExt;
use stadtpuls_config::{CityRegistry, Config, HistoryStream, HistoryTable};
use stadtpuls_processing::live::LiveState;
use tokio::sync::Semaphore;
use tracing::{Instrument, debug, info_span};

pub use crate::access::{Access, Policy, Principal, Scope, hash_key};
pub use limits::SqlLimits;

use crate::error::SqlError;
use crate::metrics;
use catalog::Catalog;
use live::Clock;

/// The catalog every session's tables live in (`stadtpuls.public.traffic_1m`).
pub const CATALOG: &str = "stadtpuls";
/// The schema every session's tables live in.
pub const SCHEMA: &str = "public";

/// One table as the catalog lists it.
#[derive(Debug, Clone)]
pub struct TableInfo {
    /// Table name.
    pub name: String,
    /// `TABLE` or `VIEW`.
    pub table_type: &'static str,
    /// Its columns.
    pub schema: SchemaRef,
}

/// A query's result: its columns and rows.
#[derive(Debug, Clone)]
pub struct QueryResult {
    /// The columns, also when there are no rows.
    pub schema: SchemaRef,
    /// The rows.
    pub batches: Vec<RecordBatch>,
}

impl QueryResult {
    /// Number of rows.
    pub fn num_rows(&self) -> usize {
        self.batches.iter().map(RecordBatch::num_rows).sum()
    }
}

struct Inner {
    enabled: bool,
    catalog: Catalog,
    keys: Policy,
    limits: SqlLimits,
    slots: Semaphore,
    tuning: tuning::Tuning,
    caches: tuning::SharedCaches,
}

/// The SQL engine: cheap to clone, shared by the doors.
#[derive(Clone)]
pub struct SqlEngine {
    inner: Arc<Inner>,
    /// Where queries execute; `None`: on the caller's runtime.
    runtime: Option<Arc<limits::QueryRuntime>>,
}

impl std::fmt::Debug for SqlEngine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqlEngine")
            .field("catalog", &self.inner.catalog)
            .field("keys", &self.inner.keys)
            .field("limits", &self.inner.limits)
            .finish_non_exhaustive()
    }
}

impl SqlEngine {
    /// Builds the engine from the config (history dir and tables, `[sql]`, keys) and the
    /// loaded registries; `live` is the pipeline's live view (`None` in the CLI, whose
    /// live tables are empty).
    ///
    /// # Errors
    /// [`SqlError::Internal`] when a table cannot be built (a bug).
    pub fn new(
        config: &Config,
        registries: &[CityRegistry],
        live: Option<Arc<LiveState>>,
    ) -> Result<Self, SqlError> {
        let now_ms: Clock = Arc::new(|| chrono::Utc::now().timestamp_millis());
        let catalog = Catalog::new(
            &config.history.dir,
            &config.history.tables,
            config.history.archive_raw,
            reference::tables(registries, &config.regions)?,
            live,
            config.parking.stale_after.as_millis() as i64,
            now_ms,
        )?;
        let limits = SqlLimits::from_config(&config.sql);
        metrics::register();
        Ok(Self {
            inner: Arc::new(Inner {
                enabled: config.sql.enabled,
                catalog,
                keys: Policy::from_config(config),
                slots: Semaphore::new(limits.max_concurrent),
                limits,
                tuning: tuning::Tuning::from_env()?,
                caches: tuning::SharedCaches::new(),
            }),
            runtime: None,
        })
    }

    /// Runs queries on a runtime of their own with `threads` workers, so a heavy query
    /// cannot starve the API's request handling.
    ///
    /// # Errors
    /// When the threads cannot be started.
    pub fn with_dedicated_runtime(mut self, threads: usize) -> std::io::Result<Self> {
        self.runtime = Some(Arc::new(limits::QueryRuntime::new(threads)?));
        Ok(self)
    }

    /// The principal holding `key`.
    ///
    /// # Errors
    /// [`SqlError::Unauthorized`] for a key that is not configured.
    pub fn authenticate(&self, key: &str) -> Result<Principal, SqlError> {
        self.inner
            .keys
            .authenticate(key)
            .map(|principal| principal.as_ref().clone())
            .ok_or(SqlError::Unauthorized)
    }

    /// The limits queries run under.
    pub fn limits(&self) -> &SqlLimits {
        &self.inner.limits
    }

    /// The columns `sql` would return for `principal`, without running it (Flight SQL's
    /// `GetFlightInfo` and prepared statements).
    ///
    /// # Errors
    /// As [`Self::query`], short of execution.
    pub async fn plan_schema(&self, principal: &Principal, sql: &str) -> Result<Schema, SqlError> {
        if !self.inner.enabled {
            return Err(SqlError::Disabled);
        }
        let timeout = self.inner.limits.timeout;
        let planned =
            tokio::time::timeout(timeout, self.inner.plan(principal, sql, &Bound::none())).await;
        let (_, plan) = planned.map_err(|_| limits::timeout_error(timeout))??;
        // As the result will be handed out (`run_unbounded`): text as `Utf8`.
        Ok(
            schema::without_string_views(&Arc::new(plan.schema().as_arrow().clone()))
                .as_ref()
                .clone(),
        )
    }

    /// The tables `principal`'s sessions have, by name (Flight SQL's `GetTables`; the same
    /// list as `SHOW TABLES` without `information_schema`).
    ///
    /// # Errors
    /// [`SqlError::Disabled`], or a table that cannot be built (a bug).
    pub async fn tables(&self, principal: &Principal) -> Result<Vec<TableInfo>, SqlError> {
        if !self.inner.enabled {
            return Err(SqlError::Disabled);
        }
        let ctx = self.inner.session(false)?;
        self.inner.catalog.register(&ctx, principal).await?;
        let schema = ctx
            .catalog(CATALOG)
            .and_then(|catalog| catalog.schema(SCHEMA))
            .ok_or_else(|| {
                SqlError::Internal("the session has no stadtpuls.public schema".into())
            })?;
        let mut names = schema.table_names();
        names.sort();
        let mut tables = Vec::with_capacity(names.len());
        for name in names {
            let Some(table) = schema.table(&name).await.map_err(limits::classify)? else {
                continue;
            };
            let table_type = match table.table_type() {
                datafusion::logical_expr::TableType::View => "VIEW",
                _ => "TABLE",
            };
            tables.push(TableInfo {
                name,
                table_type,
                schema: schema::without_string_views(&table.schema()),
            });
        }
        Ok(tables)
    }

    /// Runs one read-only statement for `principal` and collects its result.
    ///
    /// # Errors
    /// [`SqlError`]: refused, invalid, past a limit, or failed reading the history.
    pub async fn query(&self, principal: &Principal, sql: &str) -> Result<QueryResult, SqlError> {
        if !self.inner.enabled {
            return Err(SqlError::Disabled);
        }
        self.execute(principal, sql, Bound::none()).await
    }

    /// Runs one of the server's own read-only statements with its `$1`, `$2`, …
    /// placeholders bound to `params` (values never become SQL text, so an id cannot
    /// change the query), for `principal`, under the same checks, per-city wrapping and
    /// limits as [`Self::query`]. Used by the REST history (`crate::history`), which is
    /// served also when `sql.enabled = false` switches the analysts' doors off. Parquet
    /// filters are pushed into the scan (rows of other sensors are skipped before the
    /// other columns are decoded): the statement is known to filter on an entity.
    ///
    /// # Errors
    /// As [`Self::query`]; [`SqlError::Invalid`] when a value does not fit its placeholder.
    pub async fn query_bound(
        &self,
        principal: &Principal,
        sql: &str,
        params: Vec<ScalarValue>,
    ) -> Result<QueryResult, SqlError> {
        self.execute(
            principal,
            sql,
            Bound {
                params: Some(params),
                pushdown: true,
            },
        )
        .await
    }

    /// The finest tumbling history table of `stream` (smallest window), if configured.
    pub fn finest_history(&self, stream: HistoryStream) -> Option<&HistoryTable> {
        self.inner.catalog.finest(stream)
    }

    async fn execute(
        &self,
        principal: &Principal,
        sql: &str,
        bound: Bound,
    ) -> Result<QueryResult, SqlError> {
        let inner = self.inner.clone();
        let principal = principal.clone();
        let sql = sql.to_owned();
        let span = info_span!("sql_query", principal = %principal.name);
        let work = async move { inner.run(&principal, &sql, &bound).await }.instrument(span);
        let started = std::time::Instant::now();
        let result = match &self.runtime {
            Some(runtime) => runtime
                .spawn(work)
                .await
                .map_err(|e| SqlError::Internal(format!("query task failed: {e}")))?,
            None => work.await,
        };
        metrics::record_sql(&result, started.elapsed());
        result
    }
}

/// What a statement is run with beyond its text: bound placeholder values, and whether
/// Parquet filters are pushed into the scan.
#[derive(Debug, Default)]
struct Bound {
    params: Option<Vec<ScalarValue>>,
    pushdown: bool,
}

impl Bound {
    fn none() -> Self {
        Self::default()
    }
}

impl Inner {
    async fn run(
        &self,
        principal: &Principal,
        sql: &str,
        bound: &Bound,
    ) -> Result<QueryResult, SqlError> {
        let timeout = self.limits.timeout;
        match tokio::time::timeout(timeout, self.run_unbounded(principal, sql, bound)).await {
            Ok(result) => result,
            Err(_) => Err(limits::timeout_error(timeout)),
        }
    }

    async fn run_unbounded(
        &self,
        principal: &Principal,
        sql: &str,
        bound: &Bound,
    ) -> Result<QueryResult, SqlError> {
        let _slot = self
            .slots
            .acquire()
            .await
            .map_err(|_| SqlError::Internal("query slots closed".into()))?;
        let (ctx, plan) = self.plan(principal, sql, bound).await?;
        let frame = ctx
            .execute_logical_plan(plan)
            .await
            .map_err(limits::classify)?;
        let schema: SchemaRef =
            schema::without_string_views(&Arc::new(frame.schema().as_arrow().clone()));
        let mut stream = frame.execute_stream().await.map_err(limits::classify)?;
        let mut batches = Vec::new();
        let mut rows = 0usize;
        while let Some(batch) = stream.next().await {
            let batch = batch.map_err(limits::classify)?;
            rows += batch.num_rows();
            if rows > self.limits.max_rows {
                return Err(SqlError::Limit {
                    limit: limits::MAX_ROWS_KEY,
                    message: format!(
                        "the result has more than {} rows (`sql.max_rows`); aggregate, filter or add a LIMIT",
                        self.limits.max_rows
                    ),
                });
            }
            if batch.num_rows() > 0 {
                batches.push(schema::utf8_result(batch, &schema)?);
            }
        }
        debug!(rows, "sql query done");
        Ok(QueryResult { schema, batches })
    }

    /// Parses, checks and plans `sql` in a fresh session for `principal`, its
    /// placeholders replaced by `bound`'s values.
    async fn plan(
        &self,
        principal: &Principal,
        sql: &str,
        bound: &Bound,
    ) -> Result<(SessionContext, LogicalPlan), SqlError> {
        let statement = guard::parse(sql)?;
        let ctx = self.session(bound.pushdown)?;
        let registered = self.catalog.register(&ctx, principal).await?;
        let mut plan = ctx
            .state()
            .statement_to_plan(statement)
            .await
            .map_err(limits::classify)?;
        if let Some(params) = &bound.params {
            plan = plan
                .with_param_values(params.clone())
                .map_err(limits::classify)?;
        }
        guard::check_plan(&plan, &registered)?;
        Ok((ctx, plan))
    }

    /// A fresh session: its own memory pool, the scan settings, the domain functions,
    /// `information_schema` for `SHOW TABLES`; `pushdown`: Parquet filters evaluated inside
    /// the scan (the REST history's reads of one sensor).
    fn session(&self, pushdown: bool) -> Result<SessionContext, SqlError> {
        let mut config = self.tuning.apply(
            SessionConfig::new()
                .with_information_schema(true)
                .with_default_catalog_and_schema(CATALOG, SCHEMA),
        )?;
        if pushdown {
            let parquet = &mut config.options_mut().execution.parquet;
            parquet.pushdown_filters = true;
            parquet.reorder_filters = true;
        }
        let state = SessionStateBuilder::new()
            .with_config(config)
            .with_runtime_env(self.limits.runtime_env(&self.caches)?)
            .with_default_features()
            .with_physical_optimizer_rule(Arc::new(partition_aggregate::PartitionKeyAggregate))
            .build();
        let ctx = SessionContext::new_with_state(state);
        register_functions(&ctx);
        Ok(ctx)
    }
}

/// The domain functions, and `date_trunc` in place of the built-in one (same name and
/// alias).
fn register_functions(ctx: &SessionContext) {
    for function in udf::all() {
        ctx.register_udf(function);
    }
    ctx.register_udf(date_trunc::UtcDateTrunc::udf());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn date_trunc_is_the_utc_fast_one_under_both_names() {
        let ctx = SessionContext::new();
        register_functions(&ctx);
        for name in ["date_trunc", "datetrunc"] {
            let function = ctx
                .state()
                .scalar_functions()
                .get(name)
                .cloned()
                .expect("registered");
            assert!(
                function
                    .inner()
                    .downcast_ref::<date_trunc::UtcDateTrunc>()
                    .is_some(),
                "{name} is DataFusion's own"
            );
        }
    }
}
