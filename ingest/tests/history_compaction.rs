//! The Parquet history sink on a real directory, compacting: settled epochs merged
//! keeping the latest revision of each window, and the crash journal: a compaction cut
//! short is completed or undone by recovery, unless its owner is still alive.

mod history_support;

use std::collections::BTreeMap;
use std::fs::{self, File};
use std::path::{Path, PathBuf};
use std::time::Duration;

use arrow_array::cast::AsArray;
use arrow_array::types::{UInt32Type, UInt64Type};
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use parquet::basic::Encoding;
use stadtpuls_config::HistoryConfig;
use stadtpuls_ingest::history::HistorySink;
use stadtpuls_ingest::sink::{Stream, WindowSink};

use history_support::{DAY0, MINUTE, commit, config, names_in, read, rows, task, traffic};

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
    // in the order one sensor's query reads: by sensor, then window start
    assert_eq!(
        merged_rows,
        [
            ("u1".to_owned(), 1, 10),
            ("u1".to_owned(), 0, 3),
            ("u2".to_owned(), 0, 2)
        ]
    );
    // the compacted file says what it replaced
    let file = File::open(partition.join(compacted[0])).expect("open");
    let builder = ParquetRecordBatchReaderBuilder::try_new(file).expect("parquet");
    // … and how it is sorted; its floats are not dictionary-encoded
    let group = builder.metadata().row_group(0);
    let schema = builder.schema().clone();
    let sorted_by: Vec<&str> = group
        .sorting_columns()
        .expect("sorting columns")
        .iter()
        .map(|c| schema.field(c.column_idx as usize).name().as_str())
        .collect();
    assert_eq!(sorted_by, ["sensor_id", "window_start"]);
    let speed = schema.index_of("speed_space_mean_kmh").expect("speed");
    assert!(
        !group
            .column(speed)
            .encodings()
            .any(|e| e == Encoding::RLE_DICTIONARY),
        "{:?}",
        group.column(speed).encodings().collect::<Vec<_>>()
    );
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
