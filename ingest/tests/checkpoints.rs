//! The runner with a checkpoint store and a committing sink, without Kafka: runs that
//! crash (an error mid-stream, a sink that dies between its commit and the snapshot),
//! stop on shutdown and resume from the checkpoints commit exactly the rows of one
//! uninterrupted run — nothing lost, nothing doubled; and an instance stuck in a failing
//! commit while another takes its tasks over commits nothing once it is unstuck.

mod common;

use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::time::{Duration, Instant};

use common::harness::{
    Committed, ReplaySource, TestSink, checkpointing, checkpoints, latest_rows, reference_rows,
    run, t0,
};
use common::{TASKS, assert_same_latest, stream};
use stadtpuls_ingest::checkpoint::CheckpointStore;
use stadtpuls_ingest::sink::Task;
use tokio::sync::watch;

#[test]
fn crashes_and_restarts_commit_the_rows_of_one_uninterrupted_run() {
    let batches = stream(5, t0());
    let reference = reference_rows(&batches);
    assert!(reference.len() > 500, "{} rows", reference.len());
    let distinct: HashSet<&String> = reference.iter().collect();
    assert_eq!(distinct.len(), reference.len(), "rows are distinct");

    let dir = tempfile::tempdir().expect("temp dir");
    let store = CheckpointStore::new(dir.path());
    let committed = Committed::default();
    let sink = |die_after_commit, fail_commits| TestSink {
        committed: committed.clone(),
        die_after_commit,
        fail_commits,
        ..TestSink::default()
    };
    let never = || watch::channel(false).1;

    // 1. killed at batch 9, after a few early checkpoints (more than 40 rows staged)
    let mut source = ReplaySource::new(&batches, &store);
    source.crash_at = Some(9);
    let crashed = run(
        &mut source,
        &mut sink(None, None),
        &checkpointing(&store, 40),
        never(),
    );
    assert_eq!(crashed, Err("io: killed".to_owned()));
    let after_crash = committed.rows().len();
    assert!(after_crash > 0 && after_crash < reference.len());

    // 2. dies between a sink commit and its snapshot: the committed epoch is an orphan
    let mut source = ReplaySource::new(&batches, &store);
    let epoch = checkpoints(&store)
        .into_iter()
        .flatten()
        .map(|c| c.epoch)
        .max()
        .expect("checkpoints were written before the crash");
    let died = run(
        &mut source,
        &mut sink(Some(epoch + 1), None),
        &checkpointing(&store, 40),
        never(),
    );
    assert_eq!(died, Err("panicked".to_owned()));

    // 3. a sink failing twice (retried), then SIGTERM after 8 more batches: checkpoint
    let mut source = ReplaySource::new(&batches, &store);
    let (stop, stop_rx) = watch::channel(false);
    source.stop_after = Some((8, stop));
    run(
        &mut source,
        &mut sink(None, Some((epoch + 1, 2))),
        &checkpointing(&store, 40),
        stop_rx,
    )
    .expect("stopped cleanly");
    assert_eq!(
        stadtpuls_ingest::metrics::SINK_COMMIT_FAILURES
            .with_label_values(&["test"])
            .get(),
        2,
        "the failing commits were retried"
    );

    // 4. the rest, to the end of the input
    let mut source = ReplaySource::new(&batches, &store);
    run(
        &mut source,
        &mut sink(None, None),
        &checkpointing(&store, 40),
        never(),
    )
    .expect("finished");

    let got = committed.rows();
    if got != reference {
        let missing: Vec<_> = reference
            .iter()
            .filter(|r| !got.contains(r))
            .take(3)
            .collect();
        let extra: Vec<_> = got
            .iter()
            .filter(|r| !reference.contains(r))
            .take(3)
            .collect();
        panic!(
            "{} rows committed vs {} uninterrupted\nmissing: {missing:#?}\nextra: {extra:#?}",
            got.len(),
            reference.len()
        );
    }
}

#[test]
fn an_instance_stuck_in_a_commit_while_another_takes_over_commits_nothing_after() {
    let batches = stream(11, t0());
    let reference = reference_rows(&batches);
    let dir = tempfile::tempdir().expect("temp dir");
    let committed = Committed::default();
    let stuck = Arc::new(AtomicBool::new(true));
    let failures = Arc::new(AtomicU32::new(0));
    // Z: checkpoints twice, then its sink fails (a full disk) from epoch 3 on
    let zombie = {
        let store = CheckpointStore::new(dir.path());
        let mut sink = TestSink {
            committed: committed.clone(),
            stuck_from: Some((3, stuck.clone(), failures.clone())),
            ..TestSink::default()
        };
        let batches = batches.clone();
        std::thread::spawn(move || {
            let mut source = ReplaySource::new(&batches, &store);
            let (_stop, stop_rx) = watch::channel(false);
            run(&mut source, &mut sink, &checkpointing(&store, 40), stop_rx)
        })
    };
    let deadline = Instant::now() + Duration::from_secs(60);
    while failures.load(Ordering::Acquire) < 2 {
        assert!(
            Instant::now() < deadline,
            "the first instance never got stuck"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    // Z retries; its next attempt after N's claim finds it fenced.
    let fenced_before = stadtpuls_ingest::metrics::TASKS_FENCED.get();
    // The group replaced Z (max.poll.interval.ms passed): N takes every task over from
    // Z's last checkpoints and finishes the stream.
    let store = CheckpointStore::new(dir.path());
    let taken_over: Vec<u64> = checkpoints(&store)
        .into_iter()
        .flatten()
        .map(|c| c.epoch)
        .collect();
    assert!(
        taken_over.iter().any(|&e| e >= 2),
        "Z checkpointed before it got stuck: {taken_over:?}"
    );
    let mut source = ReplaySource::new(&batches, &store);
    let mut sink = TestSink {
        committed: committed.clone(),
        ..TestSink::default()
    };
    let (_stop, stop_rx) = watch::channel(false);
    run(&mut source, &mut sink, &checkpointing(&store, 40), stop_rx).expect("N finishes");
    // The disk is back: whatever Z still holds it drops at its next attempt.
    stuck.store(false, Ordering::Release);
    zombie
        .join()
        .expect("Z does not panic")
        .expect("Z runs on to the end of its input");
    let got = committed.rows();
    let extra: Vec<_> = got
        .iter()
        .filter(|r| !reference.contains(r))
        .take(3)
        .collect();
    assert!(
        got == reference,
        "{} rows committed vs {} uninterrupted; extra: {extra:#?}",
        got.len(),
        reference.len()
    );
    assert!(
        stadtpuls_ingest::metrics::TASKS_FENCED.get() > fenced_before,
        "Z fenced its tasks"
    );
    for &(_, topic, partition) in &TASKS {
        let task = Task {
            topic: Arc::from(topic),
            partition,
        };
        let claim = store.read_claim(&task).expect("claim readable");
        assert_eq!(
            claim.map(|c| c.instance.to_string()),
            Some(store.instance().to_owned()),
            "N still owns {task}"
        );
    }
}

/// A broker that loses the rest of a record batch of a partition kept through a rebalance
/// (Tansu under the cooperative protocol): the runner sees the gap after the rebalance,
/// seeks back, and every window ends with the values of an uninterrupted run. A window
/// the other partitions closed while the lost messages were read again gets them as a
/// revision, as a late observation would.
#[test]
fn messages_lost_by_the_broker_after_a_rebalance_are_read_again() {
    let batches = stream(17, t0());
    let reference = latest_rows(&reference_rows(&batches));
    for (at, from, source) in [(3, 3, 0), (10, 11, 2), (20, 21, 3), (8, 9, 1)] {
        let dir = tempfile::tempdir().expect("temp dir");
        let store = CheckpointStore::new(dir.path());
        let mut replay = ReplaySource::new(&batches, &store);
        replay.lose_at_rebalance = Some((at, from, source, 2));
        let mut sink = TestSink::default();
        let (_stop, stop_rx) = watch::channel(false);
        run(&mut replay, &mut sink, &checkpointing(&store, 40), stop_rx).expect("runs");
        assert!(
            replay.rewinds.iter().any(|&(s, _)| s == source),
            "read {at}: the gap of source {source} was sought back: {:?}",
            replay.rewinds
        );
        assert_same_latest(
            &reference,
            &latest_rows(&sink.committed.rows()),
            format_args!("rebalance at read {at}, source {source} losing from read {from}"),
        );
    }
}

/// A restored task whose partition delivers nothing (Tansu, a checkpoint inside the last
/// record batch) is sought back after a few seconds instead of waiting forever.
#[test]
fn a_restored_task_that_gets_no_message_is_sought_back() {
    let batches = stream(29, t0());
    let reference = latest_rows(&reference_rows(&batches));
    let dir = tempfile::tempdir().expect("temp dir");
    let store = CheckpointStore::new(dir.path());
    let committed = Committed::default();
    let sink = || TestSink {
        committed: committed.clone(),
        ..TestSink::default()
    };
    let mut first = ReplaySource::new(&batches, &store);
    let (stop, stop_rx) = watch::channel(false);
    first.stop_after = Some((15, stop));
    run(&mut first, &mut sink(), &checkpointing(&store, 40), stop_rx).expect("stops");
    let mut second = ReplaySource::new(&batches, &store);
    second.withhold = Some(2);
    second.idle_for = Duration::from_secs(5);
    let (_stop, stop_rx) = watch::channel(false);
    run(
        &mut second,
        &mut sink(),
        &checkpointing(&store, 40),
        stop_rx,
    )
    .expect("finishes");
    assert!(
        second.rewinds.iter().any(|&(s, _)| s == 2),
        "the silent task was sought back: {:?}",
        second.rewinds
    );
    assert_same_latest(
        &reference,
        &latest_rows(&committed.rows()),
        format_args!("task 2 silent after the restore"),
    );
}
