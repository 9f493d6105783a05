//! The Parquet history sink on a real directory: layout and names, idempotent commits,
//! recovery per task, rolling, compaction (and its crash recovery), retention, and a
//! directory that cannot be written.

use std::collections::BTreeMap;
use std::fs::{self, File};
use std::path::{Path, PathBuf};
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
use parquet::basic::Compression;
use stadtpuls_config::{HistoryConfig, HistoryStream, HistoryTable};
use stadtpuls_ingest::IngestError;
use stadtpuls_ingest::history::HistorySink;
use stadtpuls_ingest::sink::{Stream, Task, WindowSink};
use stadtpuls_processing::window::ClosedWindows;
use stadtpuls_processing::window::traffic::traffic_window_schema;

/// 2026-11-24T00:00:00Z.
const DAY0: i64 = 1_795_478_400_000;
const MINUTE: i64 = 60_000;
const DAY: i64 = 86_400_000;

fn task(topic: &str, partition: i32) -> Task {
    Task {
        topic: Arc::from(topic),
        partition,
    }
}

fn config(dir: &Path) -> HistoryConfig {
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
fn traffic(start: i64, revision: u32, rows: &[(&str, &str, u64)]) -> ClosedWindows {
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
fn parquet_files(dir: &Path) -> Vec<String> {
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

fn read(path: &Path) -> Vec<RecordBatch> {
    let file = File::open(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    ParquetRecordBatchReaderBuilder::try_new(file)
        .and_then(|b| b.build())
        .expect("parquet reader")
        .collect::<Result<_, _>>()
        .expect("batches")
}

/// (sensor, window start, revision, vehicles) of every row under `dir`, sorted.
fn rows(dir: &Path) -> Vec<(String, i64, u32, u64)> {
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

fn commit(sink: &mut HistorySink, task: &Task, epoch: u64) -> Result<(), IngestError> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("runtime");
    runtime.block_on(sink.commit(task, epoch))
}

#[test]
fn commits_are_hive_partitioned_zstd_files_named_by_task_and_epoch() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut sink = HistorySink::new(&config(dir.path()));
    let ulm = task("sensors.ulm.traffic", 0);
    // two cities in one window; a window just before midnight and one just after
    let late_evening = DAY0 + DAY - MINUTE;
    sink.stage(
        &ulm,
        Stream::Traffic,
        &traffic(late_evening, 0, &[("ulm", "u1", 5), ("ka", "k1", 7)]),
    )
    .expect("stage");
    sink.stage(
        &ulm,
        Stream::Traffic,
        &traffic(DAY0 + DAY, 0, &[("ulm", "u1", 3)]),
    )
    .expect("stage");
    // windows of a table that is not configured are not staged
    sink.stage(
        &ulm,
        Stream::TrafficLanes,
        &traffic(DAY0, 0, &[("ulm", "u1", 3)]),
    )
    .expect("stage");
    assert_eq!(sink.staged_rows(), 3);
    commit(&mut sink, &ulm, 1).expect("commit");
    assert_eq!(sink.staged_rows(), 0);
    let name = "part-sensors.ulm.traffic-0-e000000000001-0000.parquet";
    assert_eq!(
        parquet_files(dir.path()),
        [
            format!("traffic_1m/city=ka/date=2026-11-24/{name}"),
            format!("traffic_1m/city=ulm/date=2026-11-24/{name}"),
            format!("traffic_1m/city=ulm/date=2026-11-25/{name}"),
        ]
    );
    let path = dir
        .path()
        .join("traffic_1m/city=ulm/date=2026-11-24")
        .join(name);
    let file = File::open(&path).expect("file");
    let builder = ParquetRecordBatchReaderBuilder::try_new(file).expect("parquet");
    let metadata = builder.metadata().clone();
    let schema = builder.schema().clone();
    assert!(
        schema.field_with_name("city").is_err(),
        "city is the partition"
    );
    for column in [
        "sensor_id",
        "window_start",
        "window_end",
        "window_s",
        "revision",
    ] {
        assert!(schema.field_with_name(column).is_ok(), "{column}");
    }
    assert_eq!(
        schema
            .field_with_name("window_start")
            .expect("start")
            .data_type(),
        &DataType::Timestamp(arrow_schema::TimeUnit::Millisecond, Some("UTC".into()))
    );
    let column = metadata.row_group(0).column(0);
    assert!(
        matches!(column.compression(), Compression::ZSTD(_)),
        "{:?}",
        column.compression()
    );
    // no temporary files and no bookkeeping inside the table directories
    let leftovers: Vec<_> = fs::read_dir(path.parent().expect("dir"))
        .expect("list")
        .map(|e| e.expect("entry").file_name())
        .collect();
    assert_eq!(leftovers.len(), 1, "{leftovers:?}");
    assert_eq!(
        rows(dir.path()),
        [
            ("k1".to_owned(), late_evening, 0, 7),
            ("u1".to_owned(), late_evening, 0, 5),
            ("u1".to_owned(), DAY0 + DAY, 0, 3),
        ]
    );
}

#[test]
fn committing_an_epoch_again_replaces_its_files() {
    let dir = tempfile::tempdir().expect("tempdir");
    let t = task("sensors.ulm.traffic", 2);
    for _ in 0..2 {
        let mut sink = HistorySink::new(&config(dir.path()));
        sink.stage(&t, Stream::Traffic, &traffic(DAY0, 0, &[("ulm", "u1", 5)]))
            .expect("stage");
        commit(&mut sink, &t, 7).expect("commit");
    }
    assert_eq!(
        parquet_files(dir.path()),
        [
            "traffic_1m/city=ulm/date=2026-11-24/part-sensors.ulm.traffic-2-e000000000007-0000.parquet"
        ]
    );
    assert_eq!(rows(dir.path()), [("u1".to_owned(), DAY0, 0, 5)]);
}

#[test]
fn recover_keeps_the_committed_epoch_and_deletes_later_ones_of_that_task_only() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut sink = HistorySink::new(&config(dir.path()));
    let ulm = task("sensors.ulm.traffic", 0);
    let ka = task("sensors.ka.traffic", 0);
    sink.stage(
        &ulm,
        Stream::Traffic,
        &traffic(DAY0, 0, &[("ulm", "u1", 1)]),
    )
    .expect("stage");
    commit(&mut sink, &ulm, 1).expect("epoch 1");
    // epoch 2 writes an old date too, as a replay would
    sink.stage(
        &ulm,
        Stream::Traffic,
        &traffic(DAY0 + MINUTE, 0, &[("ulm", "u1", 2)]),
    )
    .expect("stage");
    sink.stage(
        &ulm,
        Stream::Traffic,
        &traffic(DAY0 - 30 * DAY, 0, &[("ulm", "u1", 4)]),
    )
    .expect("stage");
    sink.stage(
        &ka,
        Stream::Traffic,
        &traffic(DAY0 + MINUTE, 0, &[("ka", "k1", 8)]),
    )
    .expect("stage");
    commit(&mut sink, &ulm, 2).expect("epoch 2");
    commit(&mut sink, &ka, 2).expect("ka epoch 2");
    // staged for epoch 3, never committed
    sink.stage(
        &ulm,
        Stream::Traffic,
        &traffic(DAY0 + 2 * MINUTE, 0, &[("ulm", "u1", 16)]),
    )
    .expect("stage");
    assert_eq!(rows(dir.path()).len(), 4);

    // A new owner (here: a new sink, as after a restart) restores ulm's epoch 1.
    let mut restarted = HistorySink::new(&config(dir.path()));
    restarted.recover(&ulm, 1).expect("recover");
    assert_eq!(
        rows(dir.path()),
        [
            ("k1".to_owned(), DAY0 + MINUTE, 0, 8),
            ("u1".to_owned(), DAY0, 0, 1)
        ]
    );
    // The same sink recovering drops what it had staged for the task.
    sink.recover(&ulm, 1).expect("recover");
    assert_eq!(sink.staged_rows(), 0);
    commit(&mut sink, &ulm, 2).expect("empty epoch 2");
    assert_eq!(rows(dir.path()).len(), 2);
    // Recovering again is a no-op.
    restarted.recover(&ulm, 1).expect("again");
    assert_eq!(rows(dir.path()).len(), 2);
}

#[test]
fn an_unwritable_directory_fails_the_commit_keeps_the_rows_and_a_retry_writes_them() {
    // Tests run as root, which ignores permissions: a regular file where the history
    // directory should be makes every write fail instead.
    let parent = tempfile::tempdir().expect("tempdir");
    let root = parent.path().join("history");
    fs::write(&root, b"not a directory").expect("blocker");
    let mut sink = HistorySink::new(&config(&root));
    let t = task("sensors.ulm.traffic", 0);
    sink.stage(
        &t,
        Stream::Traffic,
        &traffic(DAY0, 0, &[("ulm", "u1", 5), ("ulm", "u2", 6)]),
    )
    .expect("stage");
    for _ in 0..2 {
        let error = commit(&mut sink, &t, 1).expect_err("cannot write");
        let IngestError::History { path, .. } = &error else {
            panic!("expected a history error, got {error:?}");
        };
        assert!(path.starts_with(&root), "{}", path.display());
        let text = error.to_string();
        assert!(text.starts_with("history: cannot "), "{text}");
        assert!(text.contains(&root.display().to_string()), "{text}");
        assert_eq!(sink.staged_rows(), 2, "rows stay staged");
    }
    fs::remove_file(&root).expect("unblock");
    commit(&mut sink, &t, 1).expect("retry");
    assert_eq!(sink.staged_rows(), 0);
    assert_eq!(
        rows(&root),
        [("u1".to_owned(), DAY0, 0, 5), ("u2".to_owned(), DAY0, 0, 6)]
    );
}

#[test]
fn an_epoch_that_failed_half_way_is_removed_by_recovery() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut sink = HistorySink::new(&config(dir.path()));
    let t = task("sensors.ulm.traffic", 0);
    // The second partition (ulm, next day) cannot be created: a file blocks its directory.
    let blocked = dir.path().join("traffic_1m/city=ulm/date=2026-11-25");
    fs::create_dir_all(blocked.parent().expect("parent")).expect("mkdir");
    fs::write(&blocked, b"").expect("blocker");
    sink.stage(&t, Stream::Traffic, &traffic(DAY0, 0, &[("ulm", "u1", 1)]))
        .expect("stage");
    sink.stage(
        &t,
        Stream::Traffic,
        &traffic(DAY0 + DAY, 0, &[("ulm", "u1", 2)]),
    )
    .expect("stage");
    let error = commit(&mut sink, &t, 1).expect_err("blocked");
    assert!(matches!(error, IngestError::History { .. }), "{error:?}");
    assert_eq!(rows(dir.path()).len(), 1, "the first partition was written");
    sink.recover(&t, 0).expect("recover");
    assert!(parquet_files(dir.path()).is_empty());
    assert_eq!(sink.staged_rows(), 0);
}

#[test]
fn large_commits_roll_over_to_the_next_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut sink = HistorySink::new(&HistoryConfig {
        max_file_rows: 2,
        ..config(dir.path())
    });
    let t = task("sensors.ulm.traffic", 0);
    let sensors: Vec<String> = (0..5).map(|i| format!("u{i}")).collect();
    let window: Vec<(&str, &str, u64)> = sensors.iter().map(|s| ("ulm", s.as_str(), 1)).collect();
    sink.stage(&t, Stream::Traffic, &traffic(DAY0, 0, &window))
        .expect("stage");
    commit(&mut sink, &t, 3).expect("commit");
    let files = parquet_files(dir.path());
    let names: Vec<&str> = files.iter().filter_map(|f| f.rsplit('/').next()).collect();
    assert_eq!(
        names,
        [
            "part-sensors.ulm.traffic-0-e000000000003-0000.parquet",
            "part-sensors.ulm.traffic-0-e000000000003-0001.parquet",
            "part-sensors.ulm.traffic-0-e000000000003-0002.parquet",
        ]
    );
    let per_file: Vec<usize> = files
        .iter()
        .map(|f| {
            read(&dir.path().join(f))
                .iter()
                .map(RecordBatch::num_rows)
                .sum()
        })
        .collect();
    assert_eq!(per_file, [2, 2, 1]);
    assert_eq!(rows(dir.path()).len(), 5);
}

fn names_in(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(dir)
        .expect("list")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

#[test]
fn compaction_merges_settled_epochs_keeping_the_latest_revision_of_each_window() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut sink = HistorySink::new(&HistoryConfig {
        compact_after: 3,
        ..config(dir.path())
    });
    let t = task("sensors.ulm.traffic", 0);
    let other = task("sensors.ulm.traffic", 1);
    let partition = dir.path().join("traffic_1m/city=ulm/date=2026-11-24");
    // epochs 1..=5, one window each; epoch 3 re-emits epoch 1's window with revision 1
    let windows = [
        traffic(DAY0, 0, &[("ulm", "u1", 1), ("ulm", "u2", 2)]),
        traffic(DAY0 + MINUTE, 0, &[("ulm", "u1", 3)]),
        traffic(DAY0, 1, &[("ulm", "u1", 10)]),
        traffic(DAY0 + 2 * MINUTE, 0, &[("ulm", "u1", 4)]),
        traffic(DAY0 + 3 * MINUTE, 0, &[("ulm", "u1", 5)]),
    ];
    // another task's file in the same partition: never compacted by this owner's epochs
    sink.stage(
        &other,
        Stream::Traffic,
        &traffic(DAY0, 0, &[("ulm", "u9", 9)]),
    )
    .expect("stage");
    commit(&mut sink, &other, 1).expect("other");
    for (epoch, window) in (1..).zip(&windows) {
        sink.stage(&t, Stream::Traffic, window).expect("stage");
        commit(&mut sink, &t, epoch).expect("commit");
        if epoch < 5 {
            // epochs ≤ E − 2 are settled: at E = 4 only 1 and 2 are, fewer than 3
            assert!(
                names_in(&partition).iter().all(|n| n.starts_with("part-")),
                "no compaction before epoch 5"
            );
        }
    }
    let names = names_in(&partition);
    let compacted: Vec<&String> = names
        .iter()
        .filter(|n| n.starts_with("compact-l1-"))
        .collect();
    assert_eq!(compacted.len(), 1, "{names:?}");
    assert_eq!(
        names
            .iter()
            .filter(|n| n.starts_with("part-"))
            .collect::<Vec<_>>(),
        [
            "part-sensors.ulm.traffic-0-e000000000004-0000.parquet",
            "part-sensors.ulm.traffic-0-e000000000005-0000.parquet",
            "part-sensors.ulm.traffic-1-e000000000001-0000.parquet",
        ]
    );
    // the compacted file holds epochs 1–3, one row per window, the newest revision
    let merged = read(&partition.join(compacted[0]));
    let mut merged_rows = Vec::new();
    for batch in &merged {
        let sensors = batch
            .column_by_name("sensor_id")
            .expect("ids")
            .as_string::<i32>();
        let revisions = batch
            .column_by_name("revision")
            .expect("rev")
            .as_primitive::<UInt32Type>();
        let vehicles = batch
            .column_by_name("vehicles")
            .expect("veh")
            .as_primitive::<UInt64Type>();
        for row in 0..batch.num_rows() {
            merged_rows.push((
                sensors.value(row).to_owned(),
                revisions.value(row),
                vehicles.value(row),
            ));
        }
    }
    assert_eq!(
        merged_rows,
        [
            ("u1".to_owned(), 1, 10),
            ("u2".to_owned(), 0, 2),
            ("u1".to_owned(), 0, 3)
        ]
    );
    // the compacted file says what it replaced
    let file = File::open(partition.join(compacted[0])).expect("open");
    let builder = ParquetRecordBatchReaderBuilder::try_new(file).expect("parquet");
    let replaced = builder
        .metadata()
        .file_metadata()
        .key_value_metadata()
        .and_then(|kv| {
            kv.iter()
                .find(|kv| kv.key == stadtpuls_ingest::history::COMPACTED_FROM)
                .and_then(|kv| kv.value.clone())
        })
        .expect("compacted_from");
    assert_eq!(replaced.split(',').count(), 3);
    assert!(replaced.contains("e000000000003"), "{replaced}");
    // recovering epoch 4 deletes epoch 5 only; the compacted rows stay
    sink.recover(&t, 4).expect("recover");
    assert_eq!(
        rows(dir.path()),
        [
            ("u1".to_owned(), DAY0, 1, 10),
            ("u1".to_owned(), DAY0 + MINUTE, 0, 3),
            ("u1".to_owned(), DAY0 + 2 * MINUTE, 0, 4),
            ("u2".to_owned(), DAY0, 0, 2),
            ("u9".to_owned(), DAY0, 0, 9),
        ]
    );
    assert!(names_in(&dir.path().join("_compaction")).is_empty());
}

/// Runs a compaction of three settled epochs and returns (partition dir, the compacted
/// file, copies of its inputs taken before: name → bytes).
fn compacted_partition(dir: &Path) -> (PathBuf, String, BTreeMap<String, Vec<u8>>) {
    let mut sink = HistorySink::new(&HistoryConfig {
        compact_after: 3,
        ..config(dir)
    });
    let t = task("sensors.ulm.traffic", 0);
    let partition = dir.join("traffic_1m/city=ulm/date=2026-11-24");
    let mut inputs = BTreeMap::new();
    for epoch in 1..=5 {
        let start = DAY0 + epoch as i64 * MINUTE;
        sink.stage(
            &t,
            Stream::Traffic,
            &traffic(start, 0, &[("ulm", "u1", epoch)]),
        )
        .expect("stage");
        commit(&mut sink, &t, epoch).expect("commit");
        if epoch == 3 {
            for name in names_in(&partition) {
                let bytes = fs::read(partition.join(&name)).expect("read");
                inputs.insert(name, bytes);
            }
        }
    }
    let compacted = names_in(&partition)
        .into_iter()
        .find(|n| n.starts_with("compact-"))
        .expect("compacted");
    (partition, compacted, inputs)
}

fn host() -> String {
    fs::read_to_string("/proc/sys/kernel/hostname")
        .expect("hostname")
        .trim()
        .to_owned()
}

fn previous_incarnation() -> serde_json::Value {
    serde_json::json!({"host": host(), "pid": std::process::id(), "nonce": 1})
}

const JOURNAL: &str = "_compaction/traffic_1m~city=ulm~date=2026-11-24.json";

/// A compaction journal as a crashed (or running) compaction of the ulm partition leaves it.
fn write_journal(
    root: &Path,
    inputs: &BTreeMap<String, Vec<u8>>,
    outputs: &[&str],
    owner: serde_json::Value,
) {
    let journal = serde_json::json!({
        "partition": "traffic_1m/city=ulm/date=2026-11-24",
        "inputs": inputs.keys().collect::<Vec<_>>(),
        "outputs": outputs,
        "owner": owner,
    });
    fs::write(root.join(JOURNAL), journal.to_string()).expect("journal");
}

#[test]
fn recovery_completes_a_compaction_that_crashed_after_writing_its_output() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (partition, compacted, inputs) = compacted_partition(dir.path());
    assert_eq!(rows(dir.path()).len(), 5);
    // The crash: output renamed, inputs not yet deleted, journal still there.
    for (name, bytes) in &inputs {
        fs::write(partition.join(name), bytes).expect("restore input");
    }
    // Written by this process's previous incarnation: same host and pid (a restarted
    // container), another nonce.
    write_journal(dir.path(), &inputs, &[&compacted], previous_incarnation());
    assert_eq!(
        rows(dir.path()).len(),
        8,
        "duplicates visible before recovery"
    );
    let mut sink = HistorySink::new(&config(dir.path()));
    sink.recover(&task("sensors.ulm.traffic", 0), 5)
        .expect("recover");
    assert_eq!(rows(dir.path()).len(), 5);
    assert!(names_in(&partition).contains(&compacted));
    assert!(names_in(&dir.path().join("_compaction")).is_empty());
}

#[test]
fn recovery_undoes_a_compaction_that_crashed_before_its_output_was_complete() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (partition, compacted, inputs) = compacted_partition(dir.path());
    // The crash: inputs all present, one of two outputs renamed, the other a temp file.
    for (name, bytes) in &inputs {
        fs::write(partition.join(name), bytes).expect("restore input");
    }
    let missing = compacted.replace("-0000.parquet", "-0001.parquet");
    fs::write(partition.join(format!(".{missing}.tmp")), b"half").expect("temp");
    write_journal(
        dir.path(),
        &inputs,
        &[&compacted, &missing],
        previous_incarnation(),
    );
    let mut sink = HistorySink::new(&config(dir.path()));
    sink.recover(&task("sensors.ulm.traffic", 0), 5)
        .expect("recover");
    let names = names_in(&partition);
    assert!(
        !names
            .iter()
            .any(|n| n.starts_with("compact-") || n.starts_with('.')),
        "{names:?}"
    );
    assert_eq!(rows(dir.path()).len(), 5, "the inputs hold every row once");
}

#[test]
fn a_compaction_whose_owner_is_alive_is_left_alone_until_it_is_gone() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (partition, compacted, inputs) = compacted_partition(dir.path());
    for (name, bytes) in &inputs {
        fs::write(partition.join(name), bytes).expect("restore input");
    }
    // Another live process on this host is (as far as the journal says) compacting.
    let mut other = std::process::Command::new("sleep")
        .arg("60")
        .spawn()
        .expect("sleep");
    let live = serde_json::json!({"host": host(), "pid": other.id(), "nonce": 2});
    write_journal(dir.path(), &inputs, &[&compacted], live);
    let t = task("sensors.ulm.traffic", 0);
    let mut sink = HistorySink::new(&HistoryConfig {
        compact_after: 3,
        ..config(dir.path())
    });
    sink.recover(&t, 5).expect("recover");
    assert!(
        dir.path().join(JOURNAL).exists(),
        "a live owner's journal stays"
    );
    assert_eq!(rows(dir.path()).len(), 8, "its partition is not touched");
    // Commits go on; the partition stays locked for compaction meanwhile.
    for epoch in 6..=9 {
        let start = DAY0 + 10 * MINUTE + epoch as i64 * MINUTE;
        sink.stage(
            &t,
            Stream::Traffic,
            &traffic(start, 0, &[("ulm", "u1", epoch)]),
        )
        .expect("stage");
        commit(&mut sink, &t, epoch).expect("commit");
    }
    assert!(dir.path().join(JOURNAL).exists());
    assert_eq!(rows(dir.path()).len(), 12);
    // The owner dies: the next recovery finishes its compaction.
    other.kill().expect("kill");
    other.wait().expect("reap");
    sink.recover(&t, 9).expect("recover");
    assert!(!dir.path().join(JOURNAL).exists());
    assert_eq!(
        rows(dir.path()).len(),
        9,
        "inputs replaced by their compacted file"
    );
}

#[test]
fn a_journal_of_another_host_is_rolled_only_once_it_is_old() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (partition, compacted, inputs) = compacted_partition(dir.path());
    for (name, bytes) in &inputs {
        fs::write(partition.join(name), bytes).expect("restore input");
    }
    let elsewhere = serde_json::json!({"host": "another-host", "pid": 1, "nonce": 3});
    write_journal(dir.path(), &inputs, &[&compacted], elsewhere);
    let t = task("sensors.ulm.traffic", 0);
    let mut sink = HistorySink::new(&config(dir.path()));
    sink.recover(&t, 5).expect("recover");
    assert!(
        dir.path().join(JOURNAL).exists(),
        "young: maybe still running"
    );
    let old = std::time::SystemTime::now() - Duration::from_secs(11 * 60);
    File::options()
        .write(true)
        .open(dir.path().join(JOURNAL))
        .and_then(|f| f.set_modified(old))
        .expect("age the journal");
    sink.recover(&t, 5).expect("recover");
    assert!(!dir.path().join(JOURNAL).exists());
    assert_eq!(rows(dir.path()).len(), 5);
}

#[test]
fn retention_deletes_date_partitions_older_than_the_newest_window_minus_retention() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut sink = HistorySink::new(&HistoryConfig {
        retention: Duration::from_secs(2 * 86_400),
        ..config(dir.path())
    });
    let t = task("sensors.ulm.traffic", 0);
    // Data from 2020: a wall-clock retention would delete all of it at once.
    let start = 1_577_836_800_000; // 2020-01-01T00:00Z
    for day in 0..5 {
        sink.stage(
            &t,
            Stream::Traffic,
            &traffic(
                start + day * DAY + 12 * 60 * MINUTE,
                0,
                &[("ulm", "u1", 1), ("ka", "k1", 1)],
            ),
        )
        .expect("stage");
        commit(&mut sink, &t, day as u64 + 1).expect("commit");
    }
    let dates = |city: &str| names_in(&dir.path().join("traffic_1m").join(city));
    // newest window 2020-01-05T12:00 − 2 days = 2020-01-03T12:00: the 3rd is kept
    let kept = ["date=2020-01-03", "date=2020-01-04", "date=2020-01-05"];
    assert_eq!(dates("city=ulm"), kept);
    assert_eq!(dates("city=ka"), kept);
}
