//! How a session reads the history: DataFusion's settings for the Parquet scans, the
//! operator's `DATAFUSION_*` overrides, and the file metadata every session shares.
//!
//! Measured with `stadtpuls bench --sql` against DuckDB over the same files
//! (docs/performance.md, "SQL benchmark"); each setting says why it is on.

use std::sync::Arc;

use datafusion::execution::cache::cache_manager::{
    CacheManagerConfig, FileMetadataCache, FileStatisticsCache,
};
use datafusion::execution::cache::default_cache::DefaultCache;
use datafusion::prelude::SessionConfig;

use crate::error::SqlError;

/// Settings the engine chooses, before the environment's overrides. A setting goes here
/// once a measurement shows it pays. Parquet filter pushdown
/// (`datafusion.execution.parquet.pushdown_filters` with `reorder_filters`, late
/// materialisation) was measured on the SQL benchmark and made `WHERE congested` slower,
/// not faster (2026-12-07 and again 2026-12-08, docs/performance.md). The history's text
/// columns are read as `Utf8View` (`schema_force_view_types`, which the catalog follows,
/// [`super::schema::with_string_views`]; DataFusion's own default too): once the scans
/// claimed no file order, it made the top-10 congested query 1.4–1.6× → 1.05–1.1× of
/// DuckDB (`dist`, 2026-12-08), the other queries unchanged.
/// `DATAFUSION_EXECUTION_PARQUET_SCHEMA_FORCE_VIEW_TYPES=false` turns it off.
const SETTINGS: &[(&str, &str)] = &[(
    "datafusion.execution.parquet.schema_force_view_types",
    "true",
)];

/// The session settings: the engine's own (text columns read as `Utf8View`, see the note on
/// `schema_force_view_types` above), then every `DATAFUSION_<KEY>` variable of the process
/// environment (DataFusion's own naming: `datafusion.execution.batch_size` is
/// `DATAFUSION_EXECUTION_BATCH_SIZE`), read once when the engine is built.
#[derive(Debug, Clone)]
pub struct Tuning {
    settings: Vec<(String, String)>,
}

impl Tuning {
    /// The engine's settings with the environment's overrides.
    ///
    /// # Errors
    /// [`SqlError::Internal`] naming a variable whose value DataFusion refuses.
    pub fn from_env() -> Result<Self, SqlError> {
        Self::from_vars(|name| {
            std::env::var_os(name).map(|value| value.to_string_lossy().into_owned())
        })
    }

    /// The engine's settings with the overrides `var` returns for a variable name.
    ///
    /// # Errors
    /// As [`Self::from_env`].
    pub fn from_vars(var: impl Fn(&str) -> Option<String>) -> Result<Self, SqlError> {
        let mut settings: Vec<(String, String)> = SETTINGS
            .iter()
            .map(|(key, value)| ((*key).to_owned(), (*value).to_owned()))
            .collect();
        let keys: Vec<String> = SessionConfig::new()
            .options()
            .entries()
            .into_iter()
            .map(|entry| entry.key)
            .collect();
        for key in keys {
            if let Some(value) = var(&key.to_uppercase().replace('.', "_")) {
                settings.push((key, value));
            }
        }
        let tuning = Self { settings };
        // Refuse a bad value now rather than in every query.
        tuning.apply(SessionConfig::new())?;
        Ok(tuning)
    }

    /// `config` with the settings applied.
    ///
    /// # Errors
    /// [`SqlError::Internal`] for a value DataFusion refuses.
    pub fn apply(&self, mut config: SessionConfig) -> Result<SessionConfig, SqlError> {
        for (key, value) in &self.settings {
            config.options_mut().set(key, value).map_err(|e| {
                SqlError::Internal(format!(
                    "SQL setting {key} = {value}: {}",
                    e.strip_backtrace()
                ))
            })?;
        }
        Ok(config)
    }

    /// The settings set, in order (later ones win).
    pub fn settings(&self) -> &[(String, String)] {
        &self.settings
    }
}

/// The Parquet footers (with their page indexes) and file statistics the sessions share.
///
/// Each query has a runtime of its own (its memory pool), and with it DataFusion would
/// read every file's footer again for every query. Both caches check a cached entry
/// against the file's size and modification time, so a file rewritten by compaction is
/// read afresh; the listing of the directories is not shared (new files must show up in
/// the next query).
#[derive(Clone)]
pub struct SharedCaches {
    metadata: Arc<FileMetadataCache>,
    statistics: Arc<FileStatisticsCache>,
}

impl std::fmt::Debug for SharedCaches {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SharedCaches").finish_non_exhaustive()
    }
}

/// Bytes of Parquet footers kept (DataFusion's default for one session).
const METADATA_CACHE_BYTES: usize = 50 * 1024 * 1024;
/// Bytes of file statistics kept (DataFusion's default for one session).
const STATISTICS_CACHE_BYTES: usize = 20 * 1024 * 1024;

impl SharedCaches {
    /// Empty caches.
    pub fn new() -> Self {
        Self {
            metadata: Arc::new(
                DefaultCache::new(METADATA_CACHE_BYTES).with_name("stadtpuls_file_metadata"),
            ),
            statistics: Arc::new(
                DefaultCache::new(STATISTICS_CACHE_BYTES).with_name("stadtpuls_file_statistics"),
            ),
        }
    }

    /// A query's cache configuration: the shared caches, a listing of its own.
    pub fn config(&self) -> CacheManagerConfig {
        CacheManagerConfig::default()
            .with_file_metadata_cache(Some(self.metadata.clone()))
            .with_metadata_cache_limit(METADATA_CACHE_BYTES)
            .with_file_statistics_cache(Some(self.statistics.clone()))
            .with_file_statistics_cache_limit(STATISTICS_CACHE_BYTES)
    }
}

impl Default for SharedCaches {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
mod tests {
    use datafusion::execution::runtime_env::RuntimeEnvBuilder;

    use super::*;

    fn option(config: &SessionConfig, key: &str) -> Option<String> {
        config
            .options()
            .entries()
            .into_iter()
            .find(|entry| entry.key == key)
            .and_then(|entry| entry.value)
    }

    #[test]
    fn the_engine_settings_apply_and_the_environment_overrides_them() {
        let tuning = Tuning::from_vars(|_| None).expect("defaults");
        let config = tuning.apply(SessionConfig::new()).expect("applies");
        let pushdown = "datafusion.execution.parquet.pushdown_filters";
        for (key, value) in SETTINGS {
            assert_eq!(option(&config, key).as_deref(), Some(*value));
        }

        let tuning = Tuning::from_vars(|name| match name {
            "DATAFUSION_EXECUTION_PARQUET_PUSHDOWN_FILTERS" => Some("true".into()),
            "DATAFUSION_EXECUTION_BATCH_SIZE" => Some("16384".into()),
            _ => None,
        })
        .expect("overrides");
        let config = tuning.apply(SessionConfig::new()).expect("applies");
        assert_eq!(option(&config, pushdown).as_deref(), Some("true"));
        assert_eq!(config.batch_size(), 16384);
    }

    #[test]
    fn a_bad_override_is_refused_when_the_engine_is_built() {
        let error = Tuning::from_vars(|name| {
            (name == "DATAFUSION_EXECUTION_BATCH_SIZE").then(|| "many".to_owned())
        })
        .expect_err("not a number");
        assert!(error.to_string().contains("batch_size"), "{error}");
    }

    #[test]
    fn every_query_runtime_shares_the_file_metadata() {
        let caches = SharedCaches::new();
        let runtime = || {
            RuntimeEnvBuilder::new()
                .with_cache_manager(caches.config())
                .build_arc()
                .expect("runtime")
        };
        let (first, second) = (runtime(), runtime());
        assert!(Arc::ptr_eq(
            &first.cache_manager.get_file_metadata_cache(),
            &second.cache_manager.get_file_metadata_cache()
        ));
        let statistics = |r: &datafusion::execution::runtime_env::RuntimeEnv| {
            r.cache_manager.get_file_statistic_cache().expect("on")
        };
        assert!(Arc::ptr_eq(&statistics(&first), &statistics(&second)));
        // The listing is each query's own: new files show up at once.
        let listing = |r: &datafusion::execution::runtime_env::RuntimeEnv| {
            r.cache_manager.get_list_files_cache()
        };
        match (listing(&first), listing(&second)) {
            (Some(a), Some(b)) => assert!(!Arc::ptr_eq(&a, &b)),
            (None, None) => {}
            _ => panic!("listing caches differ in kind"),
        }
    }
}
