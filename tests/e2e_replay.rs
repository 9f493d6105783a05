//! `stadtpuls replay` through the real binary and real brokers.
//!
//! The raw archive of one run, replayed into a second broker (a Tansu of the test's own)
//! and consumed there by a second run, must give the same topics — every partition's
//! messages in the same order, each once — and the same history, window for window. An
//! NDJSON file is keyed by entity like `stadtpuls produce` writes, a malformed line
//! included as it is (the pipeline refuses it, not the replay). Bad invocations fail with
//! a message naming what is wrong.

mod common;

use std::collections::BTreeMap;
use std::process::{Command, Output};

use common::compare::{assert_raw_archive_exact, assert_same_history};
use common::replay::{Ends, Workload, run_to_end, test_dir};
use common::tansu::OwnBroker;
use common::topics::{Record, read_topics};
use common::{ensure_broker, free_port, run_id};

fn replay(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_stadtpuls"))
        .arg("replay")
        .args(args)
        .output()
        .expect("run stadtpuls replay")
}

fn text(output: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

/// A record as (offset, key, payload).
type Entry = (i64, Option<Vec<u8>>, Vec<u8>);

/// Records by (topic, partition), in offset order.
type Partitions = BTreeMap<(String, i32), Vec<Entry>>;

fn by_partition(records: Vec<Record>) -> Partitions {
    let mut out = Partitions::new();
    for r in records {
        out.entry((r.topic, r.partition))
            .or_default()
            .push((r.offset, r.key, r.payload));
    }
    for list in out.values_mut() {
        list.sort_by_key(|(offset, _, _)| *offset);
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_raw_archive_replayed_into_another_broker_gives_the_same_topics_and_history() {
    let _broker = ensure_broker();
    let mut work = Workload::new("replayarc", &run_id(), &common::brokers(), 30_000);
    work.archive_raw = true;
    let ends = work.produce().await;
    let dir = test_dir("replay-archive");
    let (dir_a, dir_b) = (dir.path().join("a"), dir.path().join("b"));
    std::fs::create_dir_all(&dir_a).expect("dir a");
    std::fs::create_dir_all(&dir_b).expect("dir b");
    let port_a = free_port();
    let config_a = work.config(&dir_a, "a", "a", port_a, "");
    run_to_end(&dir_a, &config_a, port_a, &ends, "a.log");
    assert_raw_archive_exact(&dir_a.join("history"), &ends);

    let other = OwnBroker::start(&dir.path().join("broker"));
    let archive = dir_a.join("history/raw_messages");
    let out = replay(&[
        archive.to_str().expect("utf-8 path"),
        "--brokers",
        &other.addr(),
    ]);
    let said = text(&out);
    assert!(out.status.success(), "replay failed: {said}");
    let total: i64 = ends.values().sum();
    assert!(
        said.contains(&format!("replayed {total} messages")) && said.contains(" 0 failed"),
        "{said}"
    );

    let topics: Vec<String> = (0..work.cities).map(|c| work.topic(c)).collect();
    let original = by_partition(read_topics(&common::brokers(), &topics));
    let replayed = by_partition(read_topics(&other.addr(), &topics));
    let replayed_ends: Ends = replayed
        .iter()
        .map(|(tp, list)| (tp.clone(), list.len() as i64))
        .collect();
    assert_eq!(replayed_ends, ends, "every partition replayed whole, once");
    for (tp, list) in &original {
        let strip = |l: &[Entry]| -> Vec<(Option<Vec<u8>>, Vec<u8>)> {
            l.iter().map(|(_, k, p)| (k.clone(), p.clone())).collect()
        };
        assert!(
            strip(list) == strip(&replayed[tp]),
            "{tp:?}: the replayed partition differs from the original in keys, payloads or order"
        );
    }

    let mut work_b = work.clone();
    work_b.brokers = other.addr();
    let port_b = free_port();
    let config_b = work_b.config(&dir_b, "b", "b", port_b, "");
    run_to_end(&dir_b, &config_b, port_b, &ends, "b.log");
    let windows = assert_same_history(&dir_a.join("history"), &dir_b.join("history"));
    assert!(
        windows > 100,
        "a meaningful history compared: {windows} windows"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ndjson_is_keyed_by_entity_in_file_order_and_bad_lines_pass_unkeyed() {
    let _broker = ensure_broker();
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("day.ndjson");
    let mut lines = Vec::new();
    for i in 0..300 {
        let sensor = format!("s{}", i % 7);
        lines.push(format!(
            r#"{{"city":"ulm","sensor_id":"{sensor}","ts":{},"vehicle_count":{}}}"#,
            1_795_478_400_000_i64 + i * 1000,
            i % 13
        ));
        if i == 150 {
            lines.push("{not json".to_owned());
            lines.push(String::new());
            lines.push(
                r#"{"city":"ulm","kind":"spot","id":"sp-1","facility_id":"z-1","ts":1795478400000,"status":"free"}"#
                    .to_owned(),
            );
        }
    }
    std::fs::write(&file, lines.join("\n")).expect("write ndjson");
    let topic = format!("replay-ndjson-{}", run_id());
    let out = replay(&[
        file.to_str().expect("utf-8"),
        "--to-topic",
        &topic,
        "--partitions",
        "3",
        "--rate",
        "5000",
        "--brokers",
        &common::brokers(),
    ]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        text(&out).contains("replayed 302 messages"),
        "{}",
        text(&out)
    );

    let records = read_topics(&common::brokers(), std::slice::from_ref(&topic));
    assert_eq!(records.len(), 302, "every non-blank line once");
    let partitions: std::collections::BTreeSet<i32> = records.iter().map(|r| r.partition).collect();
    assert!(
        partitions.len() > 1,
        "keys spread over partitions: {partitions:?}"
    );
    // One key, one partition, the file's order within it.
    type OnePartition = (i32, Vec<(i64, Vec<u8>)>);
    let mut per_key: BTreeMap<Option<Vec<u8>>, OnePartition> = BTreeMap::new();
    for r in &records {
        let entry = per_key
            .entry(r.key.clone())
            .or_insert((r.partition, Vec::new()));
        assert_eq!(entry.0, r.partition, "key {:?} on one partition", r.key);
        entry.1.push((r.offset, r.payload.clone()));
    }
    for (key, (_, list)) in &mut per_key {
        list.sort();
        let got: Vec<&[u8]> = list.iter().map(|(_, p)| p.as_slice()).collect();
        let want: Vec<&[u8]> = lines
            .iter()
            .filter(|l| !l.is_empty())
            .map(|l| l.as_bytes())
            .filter(|l| stadtpuls_ingest::replay::ndjson::key(l).map(String::into_bytes) == *key)
            .collect();
        assert_eq!(got, want, "key {key:?}: the file's lines in order");
    }
    assert_eq!(
        per_key[&Some(b"z-1".to_vec())].1.len(),
        1,
        "a spot by its zone"
    );
    assert_eq!(per_key[&None].1.len(), 1, "the malformed line, unkeyed");
}

#[test]
fn bad_invocations_fail_naming_the_problem() {
    let dir = tempfile::tempdir().expect("tempdir");
    let ndjson = dir.path().join("a.ndjson");
    std::fs::write(&ndjson, "{}\n").expect("write");
    let path = ndjson.to_str().expect("utf-8");
    let csv = dir.path().join("x.csv");
    let csv = csv.to_str().expect("utf-8");
    let cases: [(&[&str], &str); 4] = [
        (&[path], "--to-topic"),
        (&[path, "--to-topic", "bad topic"], "not a Kafka topic name"),
        (&[csv], "x.csv"),
        (
            &[path, "--to-topic", "t", "--partitions", "0"],
            "--partitions",
        ),
    ];
    for (args, expected) in cases {
        let out = replay(args);
        assert!(!out.status.success(), "{args:?} must fail");
        assert!(text(&out).contains(expected), "{args:?}: {}", text(&out));
    }
    let not_archive = dir.path().join("x.parquet");
    std::fs::write(&not_archive, b"PAR1").expect("write");
    let out = replay(&[not_archive.to_str().expect("utf-8")]);
    assert!(!out.status.success());
    assert!(
        text(&out).contains("not a raw archive file"),
        "{}",
        text(&out)
    );
}
