//! The raw message archive (`history.archive_raw`) on a real directory: every message as
//! read, once, committed and recovered per task and epoch like the windows, merged by
//! compaction without losing a row.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use arrow_array::RecordBatch;
use arrow_array::cast::AsArray;
use arrow_array::types::{Int32Type, Int64Type};
use bytes::Bytes;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use stadtpuls_config::HistoryConfig;
use stadtpuls_ingest::history::HistorySink;
use stadtpuls_ingest::history::raw::{NO_CITY, TABLE};
use stadtpuls_ingest::pipeline::RawMessage;
use stadtpuls_ingest::sink::{Task, WindowSink};

fn config(dir: &Path, compact_after: usize) -> HistoryConfig {
    HistoryConfig {
        enabled: true,
        dir: dir.to_path_buf(),
        tables: Vec::new(),
        retention: Duration::from_secs(400 * 86_400),
        max_file_rows: 1_000_000,
        compact_after,
        archive_raw: true,
    }
}

fn task(topic: &str, partition: i32) -> Task {
    Task {
        topic: Arc::from(topic),
        partition,
    }
}

fn messages(task: &Task, offsets: std::ops::Range<i64>) -> Vec<RawMessage> {
    offsets
        .map(|offset| RawMessage {
            source: 0,
            topic: task.topic.clone(),
            partition: task.partition,
            offset,
            key: (offset % 2 == 0).then(|| Bytes::from(format!("k{offset}"))),
            payload: Bytes::from(format!("payload {offset}")),
            format: None,
        })
        .collect()
}

fn commit(sink: &mut HistorySink, task: &Task, epoch: u64) {
    block_on(sink.commit(task, epoch)).unwrap_or_else(|e| panic!("commit: {e}"));
}

/// The sink's commit does its I/O synchronously: one poll completes it.
fn block_on<F: std::future::Future>(future: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("runtime")
        .block_on(future)
}

fn parquet_files(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            let name = entry.file_name().to_string_lossy().into_owned();
            if path.is_dir() && !name.starts_with('_') {
                stack.push(path);
            } else if name.ends_with(".parquet") {
                files.push(path);
            }
        }
    }
    files.sort();
    files
}

/// Every archived (topic, partition, offset, payload), in file order.
fn archived(root: &Path) -> Vec<(String, i32, i64, String)> {
    let mut rows = Vec::new();
    for file in parquet_files(&root.join(TABLE)) {
        let reader =
            ParquetRecordBatchReaderBuilder::try_new(std::fs::File::open(&file).expect("open"))
                .expect("footer")
                .build()
                .expect("reader");
        for batch in reader {
            let batch: RecordBatch = batch.expect("batch");
            let topic = batch.column(0).as_string::<i32>();
            let partition = batch.column(1).as_primitive::<Int32Type>();
            let offset = batch.column(2).as_primitive::<Int64Type>();
            let payload = batch.column(4).as_binary::<i32>();
            for i in 0..batch.num_rows() {
                rows.push((
                    topic.value(i).to_owned(),
                    partition.value(i),
                    offset.value(i),
                    String::from_utf8_lossy(payload.value(i)).into_owned(),
                ));
            }
        }
    }
    rows
}

#[test]
fn every_message_is_archived_once_per_city_and_an_uncommitted_epoch_is_rolled_back() {
    let dir = tempfile::tempdir().expect("tempdir");
    let ulm = task("sensors.ulm.traffic", 0);
    let legacy = task("legacy-feed", 3);
    let mut sink =
        HistorySink::from_config(&config(dir.path(), 0)).expect("a raw archive alone is a history");
    assert!(sink.wants_input());
    sink.stage_input(&ulm, &messages(&ulm, 0..100))
        .expect("stage");
    sink.stage_input(&legacy, &messages(&legacy, 0..10))
        .expect("stage");
    assert_eq!(sink.staged_rows(), 110);
    commit(&mut sink, &ulm, 1);
    commit(&mut sink, &legacy, 1);
    assert_eq!(sink.staged_rows(), 0);
    // epoch 2 of ulm is written, then the process dies before its checkpoint
    sink.stage_input(&ulm, &messages(&ulm, 100..150))
        .expect("stage");
    commit(&mut sink, &ulm, 2);
    assert_eq!(archived(dir.path()).len(), 160);

    let mut restarted = HistorySink::new(&config(dir.path(), 0));
    restarted.recover(&ulm, 1).expect("recover");
    restarted.recover(&legacy, 1).expect("recover");
    // the replay from epoch 1's offset archives the same messages again, as epoch 2
    restarted
        .stage_input(&ulm, &messages(&ulm, 100..150))
        .expect("stage");
    commit(&mut restarted, &ulm, 2);

    let rows = archived(dir.path());
    let keys: BTreeSet<(String, i32, i64)> = rows
        .iter()
        .map(|(t, p, o, _)| (t.clone(), *p, *o))
        .collect();
    assert_eq!(rows.len(), 160, "each message once");
    assert_eq!(keys.len(), 160);
    assert!(rows.contains(&("sensors.ulm.traffic".into(), 0, 149, "payload 149".into())));
    let cities: BTreeSet<String> = parquet_files(&dir.path().join(TABLE))
        .iter()
        .filter_map(|f| f.strip_prefix(dir.path().join(TABLE)).ok())
        .filter_map(|r| r.components().next())
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect();
    assert_eq!(
        cities,
        BTreeSet::from(["city=ulm".to_owned(), format!("city={NO_CITY}")])
    );
}

#[test]
fn compaction_merges_archive_files_without_dropping_a_row() {
    let dir = tempfile::tempdir().expect("tempdir");
    let ulm = task("sensors.ulm.traffic", 1);
    let mut sink = HistorySink::new(&config(dir.path(), 3));
    for epoch in 1..=6u64 {
        let first = (epoch as i64 - 1) * 20;
        sink.stage_input(&ulm, &messages(&ulm, first..first + 20))
            .expect("stage");
        commit(&mut sink, &ulm, epoch);
    }
    let names: Vec<String> = parquet_files(&dir.path().join(TABLE))
        .iter()
        .filter_map(|f| f.file_name().map(|n| n.to_string_lossy().into_owned()))
        .collect();
    assert!(
        names.iter().any(|n| n.starts_with("compact-")),
        "settled epochs were merged: {names:?}"
    );
    let offsets: Vec<i64> = {
        let mut o: Vec<i64> = archived(dir.path()).iter().map(|r| r.2).collect();
        o.sort_unstable();
        o
    };
    assert_eq!(offsets, (0..120).collect::<Vec<_>>());
}
