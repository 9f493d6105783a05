//! Shared by the history sink tests (`history_commit.rs`, `history_compaction.rs`): a
//! config with one traffic table, closed windows built from (city, sensor, vehicles)
//! rows, a blocking commit, and the files and rows read back from a directory.

// Each test file uses its own subset of these helpers.
#![allow(dead_code)]

use std::fs::{self, File};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use arrow_array::cast::AsArray;
use arrow_array::types::{UInt32Type, UInt64Type};
use arrow_array::{
    ArrayRef, Float64Array, RecordBatch, StringArray, TimestampMillisecondArray, UInt8Array,
    UInt32Array, UInt64Array, new_null_array,
};
use arrow_schema::DataType;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use stadtpuls_config::{HistoryConfig, HistoryStream, HistoryTable};
use stadtpuls_ingest::IngestError;
use stadtpuls_ingest::history::HistorySink;
use stadtpuls_ingest::sink::{Task, WindowSink};
use stadtpuls_processing::window::ClosedWindows;
use stadtpuls_processing::window::traffic::traffic_window_schema;

/// 2026-11-24T00:00:00Z.
pub const DAY0: i64 = 1_795_478_400_000;
pub const MINUTE: i64 = 60_000;
pub const DAY: i64 = 86_400_000;

pub fn task(topic: &str, partition: i32) -> Task {
    Task {
        topic: Arc::from(topic),
        partition,
    }
}

pub fn config(dir: &Path) -> HistoryConfig {
    HistoryConfig {
        enabled: true,
        dir: dir.to_path_buf(),
        tables: vec![HistoryTable {
            stream: HistoryStream::Traffic,
            window_s: 60,
            slide_s: 60,
        }],
        retention: Duration::from_secs(400 * 86_400),
        max_file_rows: 1_000_000,
        compact_after: 0,
        archive_raw: false,
    }
}

/// A closed 1-minute traffic window starting at `start`: one row per (city, sensor,
/// vehicles); nullable columns null, other counts 1.
pub fn traffic(start: i64, revision: u32, rows: &[(&str, &str, u64)]) -> ClosedWindows {
    let schema = traffic_window_schema();
    let n = rows.len();
    let mut columns: Vec<ArrayRef> = Vec::new();
    for field in schema.fields() {
        let column: ArrayRef = match (field.name().as_str(), field.data_type()) {
            ("city", _) => Arc::new(StringArray::from_iter_values(rows.iter().map(|r| r.0))),
            ("sensor_id", _) => Arc::new(StringArray::from_iter_values(rows.iter().map(|r| r.1))),
            ("window_start", _) => {
                Arc::new(TimestampMillisecondArray::from(vec![start; n]).with_timezone("UTC"))
            }
            ("window_end", _) => Arc::new(
                TimestampMillisecondArray::from(vec![start + MINUTE; n]).with_timezone("UTC"),
            ),
            ("vehicles", _) => Arc::new(UInt64Array::from_iter_values(rows.iter().map(|r| r.2))),
            _ if field.is_nullable() => new_null_array(field.data_type(), n),
            (_, DataType::UInt32) => Arc::new(UInt32Array::from(vec![1; n])),
            (_, DataType::UInt8) => Arc::new(UInt8Array::from(vec![1; n])),
            (_, DataType::Float64) => Arc::new(Float64Array::from(vec![100.0; n])),
            (name, other) => panic!("no test value for {name}: {other}"),
        };
        columns.push(column);
    }
    ClosedWindows {
        window_s: 60,
        slide_s: 60,
        window_start: start,
        revision,
        owner: 0,
        batch: RecordBatch::try_new(schema, columns).expect("batch"),
    }
}

/// Every `.parquet` file under `dir`, relative, sorted.
pub fn parquet_files(dir: &Path) -> Vec<String> {
    fn walk(root: &Path, dir: &Path, out: &mut Vec<String>) {
        let Ok(entries) = fs::read_dir(dir) else {
            return;
        };
        for entry in entries {
            let path = entry.expect("entry").path();
            if path.is_dir() {
                walk(root, &path, out);
            } else if path.extension().is_some_and(|e| e == "parquet") {
                let relative = path.strip_prefix(root).expect("under root");
                out.push(relative.to_string_lossy().into_owned());
            }
        }
    }
    let mut out = Vec::new();
    walk(dir, dir, &mut out);
    out.sort();
    out
}

pub fn read(path: &Path) -> Vec<RecordBatch> {
    let file = File::open(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    ParquetRecordBatchReaderBuilder::try_new(file)
        .and_then(|b| b.build())
        .expect("parquet reader")
        .collect::<Result<_, _>>()
        .expect("batches")
}

/// (sensor, window start, revision, vehicles) of every row under `dir`, sorted.
pub fn rows(dir: &Path) -> Vec<(String, i64, u32, u64)> {
    let mut out = Vec::new();
    for file in parquet_files(dir) {
        for batch in read(&dir.join(file)) {
            let sensors = batch
                .column_by_name("sensor_id")
                .expect("ids")
                .as_string::<i32>();
            let starts = batch
                .column_by_name("window_start")
                .expect("start")
                .as_primitive::<arrow_array::types::TimestampMillisecondType>();
            let revisions = batch
                .column_by_name("revision")
                .expect("revision")
                .as_primitive::<UInt32Type>();
            let vehicles = batch
                .column_by_name("vehicles")
                .expect("vehicles")
                .as_primitive::<UInt64Type>();
            for row in 0..batch.num_rows() {
                out.push((
                    sensors.value(row).to_owned(),
                    starts.value(row),
                    revisions.value(row),
                    vehicles.value(row),
                ));
            }
        }
    }
    out.sort();
    out
}

pub fn commit(sink: &mut HistorySink, task: &Task, epoch: u64) -> Result<(), IngestError> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("runtime");
    runtime.block_on(sink.commit(task, epoch))
}

pub fn names_in(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(dir)
        .expect("list")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}
