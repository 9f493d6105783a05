//! Shared fixture of the SQL tests: the nine demo cities with a small Parquet history
//! written in the pipeline's layout, three API keys, and helpers to run queries.

#![allow(dead_code)]

use std::path::Path;
use std::sync::Arc;

use datafusion::arrow::array::{
    ArrayRef, Float64Array, Int64Array, RecordBatch, StringArray, UInt32Array, new_null_array,
};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::DataType;
use datafusion::parquet::arrow::ArrowWriter;
use datafusion::parquet::file::properties::WriterProperties;
use serde_json::Value;
use stadtpuls_api::SqlError;
use stadtpuls_api::sql::{Principal, QueryResult, SqlEngine, format, hash_key, schema};
use stadtpuls_config::{
    ApiKeyConfig, CityRegistry, CityScope, Config, HistoryStream, Share, SharePolicy,
};
use stadtpuls_processing::live::LiveState;

/// Reads ulm only (plus open data).
pub const ULM_KEY: &str = "ulm-analyst-key";
/// Reads heidelberg only (plus open data).
pub const HEIDELBERG_KEY: &str = "heidelberg-analyst-key";
/// Reads every city.
pub const ADMIN_KEY: &str = "admin-key";
/// The city shared as open data in the fixture.
pub const OPEN_CITY: &str = "ettlingen";

/// 2026-11-25T08:00:00Z.
pub const DAY1_8H: i64 = 1_795_593_600_000;
/// 2026-11-26T08:00:00Z.
pub const DAY2_8H: i64 = DAY1_8H + 86_400_000;

/// One history row: entity, window start, revision, value (vehicles, free spaces …).
#[derive(Debug, Clone, Copy)]
pub struct Row<'a> {
    pub entity: &'a str,
    pub start_ms: i64,
    pub revision: u32,
    pub value: f64,
}

/// The demo config with `dir` as history, only ettlingen open (whatever the demo shares)
/// and the three keys.
pub fn config(dir: &Path) -> Config {
    let mut config = Config::demo(&Default::default()).expect("demo config");
    config.history.dir = dir.to_path_buf();
    for city in &mut config.cities {
        city.share = if city.id == OPEN_CITY {
            SharePolicy::uniform(Share::Open)
        } else {
            SharePolicy::default()
        };
    }
    let key = |principal: &str, key: &str, cities: CityScope| ApiKeyConfig {
        principal: principal.to_owned(),
        key_sha256: hash_key(key),
        cities,
    };
    config.api_keys = vec![
        key("ulm-analyst", ULM_KEY, CityScope::Only(vec!["ulm".into()])),
        key(
            "heidelberg-analyst",
            HEIDELBERG_KEY,
            CityScope::Only(vec!["heidelberg".into()]),
        ),
        key("admin", ADMIN_KEY, CityScope::All),
    ];
    config
}

/// The first traffic sensor and first facility of `city` in the demo registries.
pub fn ids(registries: &[CityRegistry], city: &str) -> (String, String) {
    let registry = registries.iter().find(|r| r.city.id == city).expect("city");
    let sensor = registry
        .traffic_sensors()
        .next()
        .expect("traffic sensor")
        .id
        .clone();
    let facility = registry.facilities().next().expect("facility").id.clone();
    (sensor, facility)
}

/// A batch of `stream`'s history file columns: the entity column, window bounds of one
/// minute, `window_s` 60, the revision; `value` goes to `vehicles`, `flow_veh_h` (×60) and
/// `speed_space_mean_kmh` for traffic, `free` and `occupancy_pct` for parking; other
/// columns null, or zero where not nullable.
pub fn history_batch(stream: HistoryStream, rows: &[Row<'_>]) -> RecordBatch {
    let schema = schema::history_file_schema(stream).expect("schema");
    let n = rows.len();
    let floats = |f: &dyn Fn(&Row<'_>) -> f64| -> ArrayRef {
        Arc::new(rows.iter().map(|r| Some(f(r))).collect::<Float64Array>())
    };
    let columns: Vec<ArrayRef> = schema
        .fields()
        .iter()
        .map(|field| {
            let as_type = |array: ArrayRef| cast(&array, field.data_type()).expect("cast");
            match field.name().as_str() {
                "sensor_id" | "facility_id" => {
                    Arc::new(rows.iter().map(|r| Some(r.entity)).collect::<StringArray>())
                }
                "window_start" => as_type(Arc::new(Int64Array::from(
                    rows.iter().map(|r| r.start_ms).collect::<Vec<_>>(),
                ))),
                "window_end" => as_type(Arc::new(Int64Array::from(
                    rows.iter().map(|r| r.start_ms + 60_000).collect::<Vec<_>>(),
                ))),
                "window_s" => Arc::new(UInt32Array::from(vec![60; n])),
                "revision" => Arc::new(UInt32Array::from(
                    rows.iter().map(|r| r.revision).collect::<Vec<_>>(),
                )),
                "vehicles" | "free" => as_type(floats(&|r| r.value)),
                "flow_veh_h" => floats(&|r| r.value * 60.0),
                "speed_space_mean_kmh" | "occupancy_pct" => floats(&|r| r.value),
                "lane" => as_type(Arc::new(Int64Array::from(vec![1; n]))),
                _ if field.is_nullable() => new_null_array(field.data_type(), n),
                _ if field.data_type() == &DataType::Utf8 => {
                    Arc::new(StringArray::from(vec![""; n]))
                }
                _ => as_type(Arc::new(Int64Array::from(vec![0; n]))),
            }
        })
        .collect();
    RecordBatch::try_new(schema, columns).expect("batch")
}

/// Writes `rows` as one file of `table`'s `city`/`date` partition, as the pipeline lays
/// them out.
pub fn write_partition(
    dir: &Path,
    table: &str,
    stream: HistoryStream,
    city: &str,
    date: &str,
    name: &str,
    rows: &[Row<'_>],
) {
    write_partition_with(dir, table, stream, [city, date, name], rows, None);
}

/// [`write_partition`] with the writer's `properties` (`[city, date, file name]`).
pub fn write_partition_with(
    dir: &Path,
    table: &str,
    stream: HistoryStream,
    [city, date, name]: [&str; 3],
    rows: &[Row<'_>],
    properties: Option<WriterProperties>,
) {
    let partition = dir
        .join(table)
        .join(format!("city={city}"))
        .join(format!("date={date}"));
    std::fs::create_dir_all(&partition).expect("partition dir");
    let batch = history_batch(stream, rows);
    let file = std::fs::File::create(partition.join(name)).expect("file");
    let mut writer = ArrowWriter::try_new(file, batch.schema(), properties).expect("writer");
    writer.write(&batch).expect("write");
    writer.close().expect("close");
}

/// A fixture: its temporary history, config, registries and engine.
pub struct Fixture {
    pub dir: tempfile::TempDir,
    pub config: Config,
    pub registries: Vec<CityRegistry>,
    pub engine: SqlEngine,
    pub live: Arc<LiveState>,
}

impl Fixture {
    /// The demo cities with this history: `traffic_1m` for ulm (two sensors-windows,
    /// one re-emitted as revision 1), karlsruhe, heidelberg and ettlingen (open) on
    /// two days; `parking_1m` for ulm and karlsruhe; nothing in the other tables.
    pub fn new() -> Self {
        Self::with(|_| {})
    }

    /// As [`Fixture::new`], with the config adjusted by `adjust` before the engine is
    /// built.
    pub fn with(adjust: impl FnOnce(&mut Config)) -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut config = config(dir.path());
        adjust(&mut config);
        let registries = config.load_registries().expect("registries");
        let traffic = HistoryStream::Traffic;
        for (city, day, start) in [
            ("ulm", "2026-11-25", DAY1_8H),
            ("ulm", "2026-11-26", DAY2_8H),
            ("karlsruhe", "2026-11-25", DAY1_8H),
            ("heidelberg", "2026-11-25", DAY1_8H),
            (OPEN_CITY, "2026-11-25", DAY1_8H),
        ] {
            let (sensor, _) = ids(&registries, city);
            let rows = [
                Row {
                    entity: &sensor,
                    start_ms: start,
                    revision: 0,
                    value: 10.0,
                },
                Row {
                    entity: &sensor,
                    start_ms: start + 60_000,
                    revision: 0,
                    value: 20.0,
                },
            ];
            write_partition(
                dir.path(),
                "traffic_1m",
                traffic,
                city,
                day,
                "part-a-0-e000000000001-0000.parquet",
                &rows,
            );
        }
        // A late row re-emitted ulm's 08:01 window on day 1 with 25 vehicles.
        let (ulm_sensor, _) = ids(&registries, "ulm");
        write_partition(
            dir.path(),
            "traffic_1m",
            traffic,
            "ulm",
            "2026-11-25",
            "part-a-0-e000000000002-0000.parquet",
            &[Row {
                entity: &ulm_sensor,
                start_ms: DAY1_8H + 60_000,
                revision: 1,
                value: 25.0,
            }],
        );
        for city in ["ulm", "karlsruhe"] {
            let (_, facility) = ids(&registries, city);
            write_partition(
                dir.path(),
                "parking_1m",
                HistoryStream::Parking,
                city,
                "2026-11-25",
                "part-p-0-e000000000001-0000.parquet",
                &[Row {
                    entity: &facility,
                    start_ms: DAY1_8H,
                    revision: 0,
                    value: 42.0,
                }],
            );
        }
        let live = Arc::new(LiveState::new(3_600_000));
        let engine = SqlEngine::new(&config, &registries, Some(live.clone())).expect("engine");
        Self {
            dir,
            config,
            registries,
            engine,
            live,
        }
    }

    /// Runs `sql` as the holder of `key`.
    pub async fn query_as(&self, key: &str, sql: &str) -> Result<QueryResult, SqlError> {
        let principal = self.engine.authenticate(key)?;
        self.engine.query(&principal, sql).await
    }

    /// Runs `sql` with every city visible.
    pub async fn query(&self, sql: &str) -> Result<QueryResult, SqlError> {
        self.engine.query(&Principal::local(), sql).await
    }

    /// Runs `sql` with every city visible and returns its rows as JSON objects.
    pub async fn rows(&self, sql: &str) -> Vec<Value> {
        match self.query(sql).await {
            Ok(result) => json_rows(&result),
            Err(error) => panic!("{sql}: {error}"),
        }
    }

    /// Runs `sql` as `key`'s holder and returns its rows as JSON objects.
    pub async fn rows_as(&self, key: &str, sql: &str) -> Vec<Value> {
        match self.query_as(key, sql).await {
            Ok(result) => json_rows(&result),
            Err(error) => panic!("{sql}: {error}"),
        }
    }
}

/// The rows of a result as JSON objects.
pub fn json_rows(result: &QueryResult) -> Vec<Value> {
    let bytes = format::to_json_rows(result).expect("json");
    serde_json::from_slice(&bytes).expect("json rows")
}

/// The distinct values of `column` in `rows`, sorted.
pub fn distinct(rows: &[Value], column: &str) -> Vec<String> {
    let mut values: Vec<String> = rows
        .iter()
        .map(|row| {
            row[column]
                .as_str()
                .map_or_else(|| row[column].to_string(), str::to_owned)
        })
        .collect();
    values.sort();
    values.dedup();
    values
}
