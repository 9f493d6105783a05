//! The tables of a SQL session: the Parquet history, the reference tables, the live view
//! and the `<table>_latest` views, each wrapped for the principal's cities.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use datafusion::arrow::array::RecordBatch;
use datafusion::arrow::datatypes::{Field, Schema, SchemaRef};
use datafusion::catalog::TableProvider;
use datafusion::datasource::MemTable;
use datafusion::datasource::ViewTable;
use datafusion::datasource::empty::EmptyTable;
use datafusion::datasource::file_format::parquet::ParquetFormat;
use datafusion::datasource::listing::{
    ListingOptions, ListingTable, ListingTableConfig, ListingTableUrl,
};
use datafusion::prelude::SessionContext;
use stadtpuls_config::{HistoryStream, HistoryTable};
use stadtpuls_processing::live::LiveState;
use stadtpuls_processing::model::raw::RAW_MESSAGES_TABLE;

use super::access::{CityScoped, Principal, Scope};
use super::guard::Registered;
use super::live::{Clock, LiveKind, LiveTable};
use super::schema::{self, CITY, DATE, REVISION};
use super::unordered::Unordered;
use crate::error::SqlError;
use stadtpuls_config::DataKind;

/// Suffix of the latest-revision views (`traffic_1m_latest`).
pub const LATEST_SUFFIX: &str = "_latest";

/// One history table: its name, stream and columns.
#[derive(Debug, Clone)]
struct History {
    name: String,
    stream: HistoryStream,
    /// The table as configured (window size and slide).
    table: HistoryTable,
    /// The columns inside its files (partition columns not included).
    files: SchemaRef,
}

/// Everything a session is built from; cheap to share, built once per engine.
pub struct Catalog {
    history_dir: PathBuf,
    history: Vec<History>,
    /// The `raw_messages` table's columns (partition columns included) when the raw
    /// archive is on.
    raw: Option<SchemaRef>,
    reference: Vec<(&'static str, RecordBatch)>,
    live: Option<Arc<LiveState>>,
    stale_after_ms: i64,
    now_ms: Clock,
}

impl std::fmt::Debug for Catalog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Catalog")
            .field("history_dir", &self.history_dir)
            .field(
                "history",
                &self.history.iter().map(|h| &h.name).collect::<Vec<_>>(),
            )
            .finish_non_exhaustive()
    }
}

impl Catalog {
    /// A catalog of `tables` under `history_dir` (and `raw_messages` when `archive_raw`),
    /// the reference tables and `live`.
    ///
    /// # Errors
    /// A pipeline schema without SQL mapping or a reference table that does not build
    /// (bugs).
    pub fn new(
        history_dir: &Path,
        tables: &[HistoryTable],
        archive_raw: bool,
        reference: Vec<(&'static str, RecordBatch)>,
        live: Option<Arc<LiveState>>,
        stale_after_ms: i64,
        now_ms: Clock,
    ) -> Result<Self, SqlError> {
        let mut history = Vec::with_capacity(tables.len());
        for table in tables {
            history.push(History {
                name: table.name(),
                stream: table.stream,
                table: *table,
                files: schema::history_file_schema(table.stream)?,
            });
        }
        Ok(Self {
            history_dir: history_dir.to_path_buf(),
            history,
            raw: if archive_raw {
                Some(with_partitions(&schema::raw_file_schema()?))
            } else {
                None
            },
            reference,
            live,
            stale_after_ms,
            now_ms,
        })
    }

    /// The tumbling table of `stream` with the smallest windows, if one is configured
    /// (the REST history reads it: every coarser bucket is built from its windows).
    pub fn finest(&self, stream: HistoryStream) -> Option<&HistoryTable> {
        self.history
            .iter()
            .map(|h| &h.table)
            .filter(|t| t.stream == stream && t.window_s == t.slide_s)
            .min_by_key(|t| t.window_s)
    }

    /// Registers every table, wrapped for what `principal` sees of its kind of data
    /// (traffic, parking, a city's existence, or both kinds mixed), and the
    /// latest-revision views in `ctx`; returns the identities the plan check accepts.
    ///
    /// # Errors
    /// A table that cannot be built (a history path that is not a valid URL, a bug).
    pub async fn register(
        &self,
        ctx: &SessionContext,
        principal: &Principal,
    ) -> Result<Registered, SqlError> {
        let mut registered = Registered::default();
        // Text read as `Utf8View` unless the session's setting says otherwise (DataFusion
        // applies it only to schemas it infers; the history's are given).
        let views = ctx
            .state()
            .config()
            .options()
            .execution
            .parquet
            .schema_force_view_types;
        let mut add = |name: &str, table: Arc<dyn TableProvider>| -> Result<(), SqlError> {
            let scoped = CityScoped::wrap(table, principal.access(table_scope(name)))?;
            registered.insert(&scoped);
            ctx.register_table(name, scoped).map_err(internal)?;
            Ok(())
        };
        for table in &self.history {
            let files = if views {
                schema::with_string_views(&table.files)
            } else {
                table.files.clone()
            };
            let columns = with_partitions(&files);
            add(
                &table.name,
                self.listing_table(&table.name, files, &columns)?,
            )?;
        }
        if let Some(raw) = &self.raw {
            let files = schema::raw_file_schema()?;
            let table = self.listing_table(RAW_MESSAGES_TABLE, files, raw)?;
            add(RAW_MESSAGES_TABLE, table)?;
        }
        for (name, batch) in &self.reference {
            let table =
                MemTable::try_new(batch.schema(), vec![vec![batch.clone()]]).map_err(internal)?;
            add(name, Arc::new(table))?;
        }
        for (name, kind) in [
            ("live_traffic", LiveKind::Traffic),
            ("live_parking", LiveKind::Parking),
        ] {
            let table = LiveTable::new(
                kind,
                self.live.clone(),
                self.stale_after_ms,
                self.now_ms.clone(),
            );
            add(name, Arc::new(table))?;
        }
        for table in &self.history {
            let name = format!("{}{LATEST_SUFFIX}", table.name);
            let sql = latest_view_sql(&table.name, table.stream);
            let plan = ctx
                .state()
                .create_logical_plan(&sql)
                .await
                .map_err(internal)?;
            let view: Arc<dyn TableProvider> = Arc::new(ViewTable::new(plan, Some(sql)));
            registered.insert(&view);
            ctx.register_table(name.as_str(), view).map_err(internal)?;
        }
        Ok(registered)
    }

    /// A listing table of `files` columns over `<dir>/<name>/`, Hive-partitioned by `city`
    /// and `date`; an empty table of the same columns (`schema`) while the directory does
    /// not exist yet.
    fn listing_table(
        &self,
        name: &str,
        files: SchemaRef,
        schema: &SchemaRef,
    ) -> Result<Arc<dyn TableProvider>, SqlError> {
        let dir = self.history_dir.join(name);
        if !dir.is_dir() {
            return Ok(Arc::new(EmptyTable::new(schema.clone())));
        }
        let absolute = std::path::absolute(&dir)
            .map_err(|e| SqlError::Internal(format!("history directory {}: {e}", dir.display())))?;
        // Built from a URL rather than parsed, so characters of the path are never
        // taken for a glob.
        let url = url::Url::from_directory_path(&absolute).map_err(|()| {
            SqlError::Internal(format!(
                "history directory {} is not a valid URL",
                absolute.display()
            ))
        })?;
        let table_url = ListingTableUrl::try_new(url, None).map_err(internal)?;
        let options = ListingOptions::new(Arc::new(ParquetFormat::default()))
            .with_file_extension(".parquet")
            .with_table_partition_cols(schema::partition_columns());
        let config = ListingTableConfig::new(table_url)
            .with_listing_options(options)
            .with_schema(files);
        let table = ListingTable::try_new(config).map_err(internal)?;
        Ok(Unordered::wrap(Arc::new(table)))
    }
}

/// Which data a table holds, by its name: `traffic_*` (lanes too) and `live_traffic`
/// are traffic, `parking_*`, `live_parking` and `facilities` parking, `cities` and
/// `regions` only say a city exists (and which regions it is in); `sensors` (traffic sensors, spots and facilities) and `raw_messages`
/// mix both kinds and need both visible.
fn table_scope(name: &str) -> Scope {
    if name == "cities" || name == "regions" {
        Scope::City
    } else if name.starts_with("traffic_") || name == "live_traffic" {
        Scope::Kind(DataKind::Traffic)
    } else if name.starts_with("parking_") || name == "live_parking" || name == "facilities" {
        Scope::Kind(DataKind::Parking)
    } else {
        Scope::EveryKind
    }
}

/// `files` followed by the partition columns `city`, `date`.
fn with_partitions(files: &SchemaRef) -> SchemaRef {
    let mut fields: Vec<Field> = files.fields().iter().map(|f| f.as_ref().clone()).collect();
    for (name, data_type) in schema::partition_columns() {
        fields.push(Field::new(name, data_type, false));
    }
    Arc::new(Schema::new(fields))
}

fn internal(error: datafusion::error::DataFusionError) -> SqlError {
    SqlError::Internal(error.strip_backtrace())
}

/// The latest revision of every window: rows ranked by `revision` within their upsert
/// key (`city`, `date`, entity, `window_start`), the highest kept. `city` and `date`
/// lead the key so filters on them still prune partitions through the view.
pub fn latest_view_sql(table: &str, stream: HistoryStream) -> String {
    let key: Vec<&str> = [CITY, DATE]
        .into_iter()
        .chain(schema::entity_columns(stream).iter().copied())
        .chain([stadtpuls_processing::model::contract::WINDOW_START])
        .collect();
    format!(
        "SELECT * EXCLUDE (revision_rank) FROM (SELECT *, ROW_NUMBER() OVER (PARTITION BY {} ORDER BY {REVISION} DESC) AS revision_rank FROM {table}) WHERE revision_rank = 1",
        key.join(", ")
    )
}
