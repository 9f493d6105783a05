//! The real pipeline over the simulated nine-city feed, every closed window staged in the
//! history sink and committed epoch by epoch (with compaction on); then the files are read
//! back with the `parquet` crate and, as an analyst would, with pyarrow and DuckDB from
//! PyPI: the same rows and the same sums per city as the windows staged.
//!
//! The Python readers live in `~/.cache/stadtpuls-pytest/venv` (or `$STADTPULS_PYTEST_VENV`;
//! pyarrow 16.1.0, DuckDB 2.0.1), created here if missing (`scripts/test.sh` creates it up
//! front).

use std::collections::{BTreeMap, HashMap};
use std::fs::File;
use std::path::Path;
use std::process::Command;
use std::sync::Arc;

#[path = "../../tests/support/pyvenv.rs"]
mod pyvenv;

use arrow_array::cast::AsArray;
use arrow_array::types::{TimestampMillisecondType, UInt8Type, UInt32Type, UInt64Type};
use arrow_array::{Array, RecordBatch};
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use serde_json::Value;
use stadtpuls_config::{Config, HistoryConfig};
use stadtpuls_ingest::history::HistorySink;
use stadtpuls_ingest::pipeline::{Pipeline, PipelineOptions, RawMessage};
use stadtpuls_ingest::simulate::SimulatedFeed;
use stadtpuls_ingest::sink::{Stream, Task, WindowSink};
use stadtpuls_processing::live::LiveState;
use stadtpuls_processing::time::window_label;
use stadtpuls_processing::window::ClosedWindows;

/// 2026-11-24T23:45:00Z: the run crosses midnight UTC, so two date partitions.
const START: i64 = 1_795_564_800_000 - 15 * 60_000;
const MINUTES: i64 = 30;
/// Eleven epochs: on each side of midnight enough settle (two behind) to be compacted (three).
const COMMIT_EVERY_MINUTES: i64 = 3;
const TABLES: [&str; 6] = [
    "traffic_1m",
    "traffic_15m",
    "traffic_lanes_1m",
    "traffic_lanes_15m",
    "parking_1m",
    "parking_15m",
];

/// A row's identity in a table and the summed measure.
type Key = (String, String, Option<u8>, i64);

/// What the staged windows say each table must hold.
#[derive(Debug, Default)]
struct Expected {
    rows: usize,
    /// Per (city, entity, lane, window start): (revision, measure) of the newest revision.
    latest: HashMap<Key, (u32, u64)>,
}

impl Expected {
    fn latest_sum_by_city(&self) -> BTreeMap<String, u64> {
        let mut sums = BTreeMap::new();
        for ((city, ..), (_, value)) in &self.latest {
            *sums.entry(city.clone()).or_insert(0) += value;
        }
        sums
    }
}

fn table_name(stream: Stream, closed: &ClosedWindows) -> String {
    let prefix = match stream {
        Stream::Traffic => "traffic",
        Stream::TrafficLanes => "traffic_lanes",
        Stream::Parking => "parking",
    };
    format!("{prefix}_{}", window_label(closed.window_s))
}

/// The measure summed per city: vehicles for traffic, free spaces for parking.
fn measure(stream: Stream) -> (&'static str, &'static str) {
    match stream {
        Stream::Traffic | Stream::TrafficLanes => ("sensor_id", "vehicles"),
        Stream::Parking => ("facility_id", "free"),
    }
}

fn u64_values(batch: &RecordBatch, name: &str) -> Vec<u64> {
    let column = batch.column_by_name(name).expect("measure column");
    if let Some(values) = column.as_primitive_opt::<UInt64Type>() {
        values.iter().map(|v| v.unwrap_or(0)).collect()
    } else {
        let values = column.as_primitive::<UInt32Type>();
        values.iter().map(|v| u64::from(v.unwrap_or(0))).collect()
    }
}

/// Row keys and measures of a batch; `city` from the column, or the partition when the
/// batch is a file's.
fn keyed_rows(batch: &RecordBatch, stream: Stream, city: Option<&str>) -> Vec<(Key, u64)> {
    let (entity, value) = measure(stream);
    let entities = batch
        .column_by_name(entity)
        .expect("entity")
        .as_string::<i32>();
    let starts = batch
        .column_by_name("window_start")
        .expect("start")
        .as_primitive::<TimestampMillisecondType>();
    let lanes = batch
        .column_by_name("lane")
        .map(|c| c.as_primitive::<UInt8Type>().clone());
    let cities = batch
        .column_by_name("city")
        .map(|c| c.as_string::<i32>().clone());
    let values = u64_values(batch, value);
    (0..batch.num_rows())
        .map(|row| {
            let city = match (&cities, city) {
                (Some(cities), _) => cities.value(row).to_owned(),
                (None, Some(city)) => city.to_owned(),
                (None, None) => panic!("no city"),
            };
            let lane = lanes
                .as_ref()
                .and_then(|l| l.is_valid(row).then(|| l.value(row)));
            let key = (
                city,
                entities.value(row).to_owned(),
                lane,
                starts.value(row),
            );
            (key, values[row])
        })
        .collect()
}

fn stage_all(
    sink: &mut HistorySink,
    expected: &mut BTreeMap<String, Expected>,
    tasks: &[Task; 2],
    stream: Stream,
    windows: &[ClosedWindows],
) {
    for closed in windows {
        let task = if stream == Stream::Parking {
            &tasks[1]
        } else {
            &tasks[0]
        };
        sink.stage(task, stream, closed).expect("stage");
        let Some(table) = expected.get_mut(&table_name(stream, closed)) else {
            continue;
        };
        table.rows += closed.batch.num_rows();
        for (key, value) in keyed_rows(&closed.batch, stream, None) {
            let entry = table.latest.entry(key).or_insert((closed.revision, value));
            if closed.revision >= entry.0 {
                *entry = (closed.revision, value);
            }
        }
    }
}

fn stream_of(table: &str) -> Stream {
    if table.starts_with("traffic_lanes_") {
        Stream::TrafficLanes
    } else if table.starts_with("traffic_") {
        Stream::Traffic
    } else {
        Stream::Parking
    }
}

/// A table as read back with the `parquet` crate.
#[derive(Debug, Default)]
struct Read {
    rows: usize,
    sum_by_city: BTreeMap<String, u64>,
    latest: HashMap<Key, (u32, u64)>,
    compacted_files: usize,
}

fn read_table(root: &Path, table: &str) -> Read {
    let stream = stream_of(table);
    let mut read = Read::default();
    for city_dir in std::fs::read_dir(root.join(table)).expect("table dir") {
        let city_dir = city_dir.expect("entry").path();
        let name = city_dir
            .file_name()
            .expect("name")
            .to_string_lossy()
            .into_owned();
        let city = name.strip_prefix("city=").expect("city=").to_owned();
        for date_dir in std::fs::read_dir(&city_dir).expect("city dir") {
            for file in std::fs::read_dir(date_dir.expect("entry").path()).expect("date dir") {
                let path = file.expect("entry").path();
                let file_name = path
                    .file_name()
                    .expect("name")
                    .to_string_lossy()
                    .into_owned();
                assert!(file_name.ends_with(".parquet"), "stray file {file_name}");
                read.compacted_files += usize::from(file_name.starts_with("compact-"));
                let reader =
                    ParquetRecordBatchReaderBuilder::try_new(File::open(&path).expect("open"))
                        .and_then(|b| b.build())
                        .expect("parquet");
                for batch in reader {
                    let batch = batch.expect("batch");
                    assert!(batch.column_by_name("city").is_none());
                    let revisions = batch
                        .column_by_name("revision")
                        .expect("revision")
                        .as_primitive::<UInt32Type>()
                        .clone();
                    read.rows += batch.num_rows();
                    for (row, (key, value)) in keyed_rows(&batch, stream, Some(&city))
                        .into_iter()
                        .enumerate()
                    {
                        *read.sum_by_city.entry(city.clone()).or_insert(0) += value;
                        let revision = revisions.value(row);
                        let entry = read.latest.entry(key).or_insert((revision, value));
                        if revision >= entry.0 {
                            *entry = (revision, value);
                        }
                    }
                }
            }
        }
    }
    read
}

fn as_sums(value: &Value) -> BTreeMap<String, u64> {
    value
        .as_object()
        .expect("object")
        .iter()
        .map(|(city, sum)| (city.clone(), sum.as_u64().expect("sum")))
        .collect()
}

#[test]
fn a_pipeline_run_reads_back_identically_with_parquet_pyarrow_and_duckdb() {
    let dir = tempfile::tempdir().expect("tempdir");
    // No out-of-orderness, 10 s counting intervals, a batch every 15 s: a window closes
    // once a report after its end came, and the feed's delayed messages (1–20 s) often
    // arrive a batch after that, within the allowed lateness, so windows are re-emitted
    // with revisions.
    let env = HashMap::from([(
        "STADTPULS_WINDOWS__OUT_OF_ORDERNESS".to_owned(),
        "0s".to_owned(),
    )]);
    let config = Config::demo(&env).expect("demo config");
    let registries = config.load_registries().expect("registries");
    let mut pipeline = Pipeline::new(
        &config,
        &registries,
        Arc::new(LiveState::new(0)),
        PipelineOptions {
            update_live: false,
            ..PipelineOptions::default()
        },
    );
    let mut sink = HistorySink::new(&HistoryConfig {
        dir: dir.path().to_path_buf(),
        compact_after: 3,
        max_file_rows: 5_000,
        ..config.history.clone()
    });
    let tasks = [
        Task {
            topic: Arc::from("sim.traffic"),
            partition: 0,
        },
        Task {
            topic: Arc::from("sim.parking"),
            partition: 0,
        },
    ];
    let mut expected: BTreeMap<String, Expected> = TABLES
        .iter()
        .map(|t| ((*t).to_owned(), Expected::default()))
        .collect();
    let mut feed = SimulatedFeed::new(&registries, 7, START, 10).with_out_of_order_ratio(0.05);
    let mut sources: HashMap<String, u32> = HashMap::new();
    let mut offsets: HashMap<u32, i64> = HashMap::new();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("runtime");
    let mut epoch = 0;
    for step in 1..=MINUTES * 4 {
        let to = START + step * 15_000;
        let mut batch: Vec<RawMessage> = Vec::new();
        for message in feed.advance_to(to) {
            let next = sources.len() as u32;
            let source = *sources.entry(message.topic.clone()).or_insert_with(|| {
                pipeline.add_source(next, &message.topic, START);
                next
            });
            let offset = offsets.entry(source).or_insert(0);
            batch.push(RawMessage {
                source,
                topic: Arc::from(message.topic.as_str()),
                partition: 0,
                offset: *offset,
                key: None,
                payload: message.payload.into(),
                format: None,
            });
            *offset += 1;
        }
        batch.sort_by_key(|m| m.source);
        let out = pipeline.process(&batch, to + 1_000).expect("process");
        stage_all(
            &mut sink,
            &mut expected,
            &tasks,
            Stream::Traffic,
            &out.traffic,
        );
        stage_all(
            &mut sink,
            &mut expected,
            &tasks,
            Stream::TrafficLanes,
            &out.traffic_lanes,
        );
        stage_all(
            &mut sink,
            &mut expected,
            &tasks,
            Stream::Parking,
            &out.parking,
        );
        if step % (COMMIT_EVERY_MINUTES * 4) == 0 {
            epoch += 1;
            for task in &tasks {
                runtime.block_on(sink.commit(task, epoch)).expect("commit");
            }
        }
    }
    let out = pipeline.finish().expect("finish");
    stage_all(
        &mut sink,
        &mut expected,
        &tasks,
        Stream::Traffic,
        &out.traffic,
    );
    stage_all(
        &mut sink,
        &mut expected,
        &tasks,
        Stream::TrafficLanes,
        &out.traffic_lanes,
    );
    stage_all(
        &mut sink,
        &mut expected,
        &tasks,
        Stream::Parking,
        &out.parking,
    );
    epoch += 1;
    for task in &tasks {
        runtime.block_on(sink.commit(task, epoch)).expect("commit");
    }
    assert_eq!(sink.staged_rows(), 0);

    // The parquet crate: every table holds what was staged, newest revisions identical.
    let mut compacted = 0;
    for table in TABLES {
        let want = &expected[table];
        assert!(want.rows > 0, "{table}: the run closed no windows");
        let got = read_table(dir.path(), table);
        compacted += got.compacted_files;
        // compaction drops superseded revisions, nothing else
        assert!(
            got.rows <= want.rows && got.rows >= want.latest.len(),
            "{table}: {} rows of {} staged",
            got.rows,
            want.rows
        );
        assert_eq!(got.latest, want.latest, "{table}");
    }
    assert!(
        compacted > 0,
        "the run should have compacted some partitions"
    );
    let revised = &expected["traffic_1m"];
    assert!(
        revised.rows > revised.latest.len(),
        "the run should have re-emitted windows with revisions"
    );

    // pyarrow and DuckDB see the same.
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/history_read.py");
    let output = Command::new(pyvenv::python_duckdb())
        .arg(&script)
        .arg(dir.path())
        .args(TABLES)
        .output()
        .expect("run history_read.py");
    assert!(
        output.status.success(),
        "history_read.py failed:\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let read: Value = serde_json::from_slice(&output.stdout).expect("json");
    for table in TABLES {
        let want = &expected[table];
        let got = read_table(dir.path(), table);
        let rows = got.rows;
        let pyarrow = &read[table]["pyarrow"];
        let duckdb = &read[table]["duckdb"];
        assert_eq!(
            pyarrow["rows"].as_u64(),
            Some(rows as u64),
            "{table} pyarrow"
        );
        assert_eq!(duckdb["rows"].as_u64(), Some(rows as u64), "{table} duckdb");
        assert_eq!(
            duckdb["latest_rows"].as_u64(),
            Some(want.latest.len() as u64),
            "{table} duckdb latest"
        );
        assert_eq!(
            as_sums(&duckdb["latest_sum_by_city"]),
            want.latest_sum_by_city(),
            "{table} duckdb sums"
        );
        assert_eq!(
            as_sums(&pyarrow["sum_by_city"]),
            got.sum_by_city,
            "{table} pyarrow sums"
        );
        let columns: Vec<&str> = pyarrow["columns"]
            .as_array()
            .expect("columns")
            .iter()
            .filter_map(Value::as_str)
            .collect();
        assert_eq!(
            columns.iter().filter(|c| **c == "city").count(),
            1,
            "{table}: city once, from the partition: {columns:?}"
        );
        assert_eq!(duckdb["types"]["date"], "DATE", "{table}");
        assert_eq!(duckdb["types"]["city"], "VARCHAR", "{table}");
        assert_eq!(
            duckdb["types"]["window_start"], "TIMESTAMP WITH TIME ZONE",
            "{table}"
        );
        assert_eq!(duckdb["types"]["revision"], "UINTEGER", "{table}");
    }
    assert_eq!(
        read["traffic_1m"]["duckdb"]["dates"],
        serde_json::json!(["2026-11-24", "2026-11-25"])
    );
}
