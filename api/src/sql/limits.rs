//! What bounds a query: its memory pool, the timeout, the row cap, the number of queries
//! at once — all from `[sql]` — and the runtime queries execute on.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use datafusion::error::DataFusionError;
use datafusion::execution::disk_manager::{DiskManagerBuilder, DiskManagerMode};
use datafusion::execution::memory_pool::GreedyMemoryPool;
use datafusion::execution::runtime_env::{RuntimeEnv, RuntimeEnvBuilder};
use stadtpuls_config::SqlConfig;
use tokio::runtime::Runtime;
use tokio::task::JoinHandle;

use crate::error::SqlError;

/// Config key named by a timeout error.
pub const TIMEOUT_KEY: &str = "sql.timeout";
/// Config key named by a memory error.
pub const MEMORY_KEY: &str = "sql.memory_limit_mib";
/// Config key named by a row-cap error.
pub const MAX_ROWS_KEY: &str = "sql.max_rows";

/// The limits of `[sql]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SqlLimits {
    /// Bytes one query's operators may reserve.
    pub memory_limit_bytes: usize,
    /// Longest a query may take, waiting for a slot included.
    pub timeout: Duration,
    /// Most rows of a result.
    pub max_rows: usize,
    /// Queries executing at once.
    pub max_concurrent: usize,
}

impl SqlLimits {
    /// The limits configured in `[sql]`.
    pub fn from_config(config: &SqlConfig) -> Self {
        Self {
            memory_limit_bytes: config.memory_limit_bytes,
            timeout: config.timeout,
            max_rows: config.max_rows,
            max_concurrent: config.max_concurrent,
        }
    }

    /// A runtime environment for one query: a pool of `memory_limit_bytes` and no
    /// spilling, so an operator past the pool fails the query instead of filling the disk.
    ///
    /// DataFusion counts what its operators reserve (hash tables of aggregates and
    /// joins, sort buffers), not every allocation: the limit bounds the large, data-sized
    /// state, while batches in flight come on top.
    ///
    /// The file metadata caches are the engine's, shared by every query
    /// ([`SharedCaches`](super::tuning::SharedCaches)).
    pub(crate) fn runtime_env(
        &self,
        caches: &super::tuning::SharedCaches,
    ) -> Result<Arc<RuntimeEnv>, SqlError> {
        RuntimeEnvBuilder::new()
            .with_cache_manager(caches.config())
            .with_memory_pool(Arc::new(GreedyMemoryPool::new(self.memory_limit_bytes)))
            .with_disk_manager_builder(
                DiskManagerBuilder::default().with_mode(DiskManagerMode::Disabled),
            )
            .build_arc()
            .map_err(|e| SqlError::Internal(e.strip_backtrace()))
    }
}

/// The error of a query stopped by `sql.timeout`.
pub(crate) fn timeout_error(timeout: Duration) -> SqlError {
    SqlError::Limit {
        limit: TIMEOUT_KEY,
        message: format!(
            "query stopped after {} (`sql.timeout`)",
            humantime::format_duration(timeout)
        ),
    }
}

/// Sorts a DataFusion error into whose fault it is: a memory-pool refusal is the memory
/// limit; reading failures (I/O, Parquet, object store) and DataFusion bugs are
/// internal; everything else (planning, types, casts, division by zero) is the query's.
pub(crate) fn classify(error: DataFusionError) -> SqlError {
    let message = error.strip_backtrace();
    match error.find_root() {
        DataFusionError::ResourcesExhausted(_) => SqlError::Limit {
            limit: MEMORY_KEY,
            message: format!(
                "query needs more memory than `sql.memory_limit_mib` allows: {message}"
            ),
        },
        DataFusionError::IoError(_)
        | DataFusionError::ParquetError(_)
        | DataFusionError::ObjectStore(_)
        | DataFusionError::Internal(_) => SqlError::Internal(message),
        _ => SqlError::Invalid(message),
    }
}

/// A multi-thread runtime of its own for query execution (DataFusion's operators are
/// CPU-bound and would otherwise compete with request handling).
pub(crate) struct QueryRuntime(Option<Runtime>);

impl QueryRuntime {
    pub(crate) fn new(threads: usize) -> std::io::Result<Self> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(threads.max(1))
            .thread_name("sql")
            .enable_all()
            .build()?;
        Ok(Self(Some(runtime)))
    }

    pub(crate) fn spawn<F>(&self, future: F) -> JoinHandle<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        match &self.0 {
            Some(runtime) => runtime.spawn(future),
            // Only after drop began; never reached through a live engine.
            None => tokio::spawn(future),
        }
    }
}

impl Drop for QueryRuntime {
    fn drop(&mut self) {
        // Dropping a runtime inside another runtime's async context panics; the engine
        // is dropped there (by the API at shutdown), so let the threads go in the
        // background instead.
        if let Some(runtime) = self.0.take() {
            runtime.shutdown_background();
        }
    }
}
