//! The Parquet history sink on a real directory, committing: layout and names,
//! idempotent commits, recovery per task, a half-written epoch, rolling over to the next
//! file, a directory that cannot be written, and retention (which runs after each
//! commit). Compaction is in `history_compaction.rs`.

mod history_support;

use std::fs::{self, File};
use std::time::Duration;

use arrow_array::RecordBatch;
use arrow_schema::DataType;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use parquet::basic::Compression;
use stadtpuls_config::HistoryConfig;
use stadtpuls_ingest::IngestError;
use stadtpuls_ingest::history::HistorySink;
use stadtpuls_ingest::sink::{Stream, WindowSink};

use history_support::{
    DAY, DAY0, MINUTE, commit, config, names_in, parquet_files, read, rows, task, traffic,
};

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
