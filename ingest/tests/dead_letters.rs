//! A dead-letter topic that refuses writes: the runner retries the batch's dead letters and
//! goes no further — nothing of the batch is staged or checkpointed — and a shutdown while
//! refused gives the batch up after the grace, unacknowledged. The restart (the topic
//! writable again) reads it again: every dead letter arrives once, the windows once.

mod common;

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use common::harness::{
    Committed, ReplaySource, TestSink, checkpointing, checkpoints, reference_rows, run_with, t0,
};
use common::stream;
use stadtpuls_ingest::checkpoint::CheckpointStore;
use stadtpuls_ingest::pipeline::DeadLetter;
use stadtpuls_ingest::runner::DeadLetterSink;
use stadtpuls_ingest::{IngestError, Result};
use tokio::sync::watch;

/// (topic, partition, offset, element) → how often it was acknowledged.
type Letters = BTreeMap<(String, i32, i64, Option<usize>), u32>;

/// A dead-letter topic that refuses every write while `refuse` is set.
#[derive(Debug, Default, Clone)]
struct Topic {
    refuse: Arc<AtomicBool>,
    refused: Arc<AtomicU32>,
    acknowledged: Arc<Mutex<Letters>>,
}

impl Topic {
    fn letters(&self) -> Letters {
        self.acknowledged
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
}

impl DeadLetterSink for Topic {
    async fn send(&mut self, letters: &[DeadLetter]) -> Result<()> {
        if self.refuse.load(Ordering::Acquire) {
            self.refused.fetch_add(1, Ordering::AcqRel);
            return Err(IngestError::Sink {
                sink: "refusing",
                detail: "TOPIC_AUTHORIZATION_FAILED".into(),
            });
        }
        let mut acknowledged = self
            .acknowledged
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        for l in letters {
            let key = (l.topic.to_string(), l.partition, l.offset, l.index);
            *acknowledged.entry(key).or_default() += 1;
        }
        Ok(())
    }

    fn name(&self) -> &'static str {
        "refusing"
    }
}

/// Every task's checkpointed next offset.
fn checkpointed(store: &CheckpointStore) -> Vec<Option<i64>> {
    checkpoints(store)
        .into_iter()
        .map(|c| c.map(|c| c.offset))
        .collect()
}

#[test]
fn a_refusing_dead_letter_topic_holds_the_batch_and_loses_nothing() {
    let batches = stream(23, t0());
    let reference = reference_rows(&batches);
    let expected = {
        let dir = tempfile::tempdir().expect("temp dir");
        let store = CheckpointStore::new(dir.path());
        let topic = Topic::default();
        let mut source = ReplaySource::new(&batches, &store);
        let (_stop, stop_rx) = watch::channel(false);
        run_with(
            &mut source,
            &mut TestSink::default(),
            &mut topic.clone(),
            &checkpointing(&store, 40),
            stop_rx,
        )
        .expect("clean run");
        topic.letters()
    };
    assert!(
        expected.len() >= 3,
        "the stream has dead letters: {expected:?}"
    );
    assert!(expected.values().all(|&n| n == 1));

    let dir = tempfile::tempdir().expect("temp dir");
    let committed = Committed::default();
    let topic = Topic::default();
    topic.refuse.store(true, Ordering::Release);
    let (stop, stop_rx) = watch::channel(false);
    let refused = {
        let store = CheckpointStore::new(dir.path());
        let (batches, committed, topic) = (batches.clone(), committed.clone(), topic.clone());
        std::thread::spawn(move || {
            let mut source = ReplaySource::new(&batches, &store);
            let mut sink = TestSink {
                committed,
                ..TestSink::default()
            };
            run_with(
                &mut source,
                &mut sink,
                &mut topic.clone(),
                &checkpointing(&store, 40),
                stop_rx,
            )
        })
    };
    let deadline = Instant::now() + Duration::from_secs(60);
    while topic.refused.load(Ordering::Acquire) < 3 {
        assert!(
            Instant::now() < deadline,
            "the dead letters were never refused"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    // Held: retrying, neither staging nor checkpointing past the refused batch.
    let store = CheckpointStore::new(dir.path());
    let rows_while_refused = committed.rows().len();
    let offsets_while_refused = checkpointed(&store);
    std::thread::sleep(Duration::from_millis(800));
    assert!(
        topic.refused.load(Ordering::Acquire) >= 4,
        "the runner keeps retrying"
    );
    assert_eq!(committed.rows().len(), rows_while_refused);
    assert_eq!(checkpointed(&store), offsets_while_refused);
    assert!(rows_while_refused < reference.len());

    // SIGTERM while refused: given up after the grace, the batch not checkpointed.
    let asked = Instant::now();
    stop.send(true).expect("runner listens");
    refused
        .join()
        .expect("no panic")
        .expect("a clean exit without the batch");
    assert!(
        asked.elapsed() < Duration::from_secs(15),
        "exit within the grace: {:?}",
        asked.elapsed()
    );
    assert!(topic.letters().is_empty(), "nothing was acknowledged");
    for (task, (before, after)) in offsets_while_refused
        .iter()
        .zip(checkpointed(&store))
        .enumerate()
    {
        assert_eq!(
            *before, after,
            "task {task}: no checkpoint covers the refused batch"
        );
    }

    // The topic takes writes again: the restart delivers every dead letter once.
    topic.refuse.store(false, Ordering::Release);
    let mut source = ReplaySource::new(&batches, &store);
    let mut sink = TestSink {
        committed: committed.clone(),
        ..TestSink::default()
    };
    let (_stop, stop_rx) = watch::channel(false);
    run_with(
        &mut source,
        &mut sink,
        &mut topic.clone(),
        &checkpointing(&store, 40),
        stop_rx,
    )
    .expect("the restart finishes");
    assert_eq!(topic.letters(), expected, "every dead letter, once");
    assert_eq!(committed.rows(), reference, "every window, once");
}
