//! The runner with a checkpoint store and a committing sink, without Kafka: runs that
//! crash (an error mid-stream, a sink that dies between its commit and the snapshot),
//! stop on shutdown and resume from the checkpoints commit exactly the rows of one
//! uninterrupted run — nothing lost, nothing doubled; and an instance stuck in a failing
//! commit while another takes its tasks over commits nothing once it is unstuck.

mod common;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use common::{TASKS, pipeline, stream, window_lines};
use stadtpuls_ingest::checkpoint::CheckpointStore;
use stadtpuls_ingest::demo::LogDeadLetters;
use stadtpuls_ingest::pipeline::RawMessage;
use stadtpuls_ingest::runner::{self, Assignment, Checkpointing, Source};
use stadtpuls_ingest::sink::{Stream, Task, WindowSink};
use stadtpuls_ingest::{IngestError, Result};
use stadtpuls_processing::window::ClosedWindows;
use tokio::sync::watch;

/// Committed rows per (task, epoch), shared by the sinks of successive runs (the files
/// of a history directory, say).
#[derive(Debug, Clone, Default)]
struct Committed(Arc<Mutex<EpochRows>>);

/// Rows by (task, epoch).
type EpochRows = BTreeMap<(String, u64), Vec<String>>;

impl Committed {
    fn rows(&self) -> Vec<String> {
        let map = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        let mut rows: Vec<String> = map.values().flatten().cloned().collect();
        rows.sort();
        rows
    }
}

/// A sink that stages in memory and commits into [`Committed`], honouring `recover`.
#[derive(Debug, Default)]
struct TestSink {
    staged: HashMap<Task, Vec<String>>,
    committed: Committed,
    /// Panics right after committing this epoch (a crash before the snapshot).
    die_after_commit: Option<u64>,
    /// Fails the commits of this epoch this many times first.
    fail_commits: Option<(u64, u32)>,
    /// Fails every commit of an epoch from this one on while the flag is set (a full
    /// disk), counting the failures.
    stuck_from: Option<(u64, Arc<AtomicBool>, Arc<AtomicU32>)>,
}

impl WindowSink for TestSink {
    fn name(&self) -> &'static str {
        "test"
    }

    fn stage(&mut self, task: &Task, stream: Stream, closed: &ClosedWindows) -> Result<()> {
        let label = format!("{stream:?}");
        self.staged
            .entry(task.clone())
            .or_default()
            .extend(window_lines(&label, closed));
        Ok(())
    }

    fn staged_rows(&self) -> usize {
        self.staged.values().map(Vec::len).sum()
    }

    async fn commit(&mut self, task: &Task, epoch: u64) -> Result<()> {
        if let Some((failing, left)) = &mut self.fail_commits
            && *failing == epoch
            && *left > 0
        {
            *left -= 1;
            return Err(IngestError::Sink {
                sink: "test",
                detail: "disk full".into(),
            });
        }
        if let Some((from, stuck, failures)) = &self.stuck_from
            && epoch >= *from
            && stuck.load(Ordering::Acquire)
        {
            failures.fetch_add(1, Ordering::AcqRel);
            return Err(IngestError::Sink {
                sink: "stuck",
                detail: "disk full".into(),
            });
        }
        let rows = self.staged.remove(task).unwrap_or_default();
        self.committed
            .0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .entry((task.to_string(), epoch))
            // appends, like a history that rolls several files per epoch: only
            // `recover` removes what an unfinished epoch left
            .or_default()
            .extend(rows);
        assert!(
            self.die_after_commit != Some(epoch),
            "crash after committing epoch {epoch} of {task}"
        );
        Ok(())
    }

    fn recover(&mut self, task: &Task, committed_epoch: u64) -> Result<()> {
        self.staged.remove(task);
        let name = task.to_string();
        self.committed
            .0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .retain(|(t, epoch), _| *t != name || *epoch <= committed_epoch);
        Ok(())
    }

    fn discard(&mut self, task: &Task) {
        self.staged.remove(task);
    }
}

/// The stream's batches, each task starting at its checkpoint's offset like a Kafka
/// consumer positioned by the rebalance; optionally fails at a batch (a crash) or asks
/// for shutdown after one.
struct ReplaySource {
    batches: std::vec::IntoIter<Vec<RawMessage>>,
    assignments: Vec<Assignment>,
    start: HashMap<u32, i64>,
    read: usize,
    crash_at: Option<usize>,
    stop_after: Option<(usize, watch::Sender<bool>)>,
}

impl ReplaySource {
    fn new(batches: &[(i64, Vec<RawMessage>)], store: &CheckpointStore) -> Self {
        let mut assignments = Vec::new();
        let mut start = HashMap::new();
        for (source, topic, partition) in TASKS {
            let task = Task {
                topic: Arc::from(topic),
                partition,
            };
            let checkpoint = store.load(&task).map_err(|e| e.to_string());
            if let Ok(Some(c)) = &checkpoint {
                start.insert(source, c.offset);
            }
            assignments.push(Assignment {
                source,
                task,
                checkpoint,
            });
        }
        Self {
            batches: batches
                .iter()
                .map(|(_, b)| b.clone())
                .collect::<Vec<_>>()
                .into_iter(),
            assignments,
            start,
            read: 0,
            crash_at: None,
            stop_after: None,
        }
    }
}

impl Source for ReplaySource {
    async fn next_batch(&mut self) -> Result<Option<Vec<RawMessage>>> {
        if self.crash_at == Some(self.read) {
            return Err(IngestError::Io(std::io::Error::other("killed")));
        }
        if let Some((after, stop)) = &self.stop_after
            && self.read == *after
        {
            let _ = stop.send(true);
        }
        self.read += 1;
        Ok(self.batches.next().map(|batch| {
            batch
                .into_iter()
                .filter(|m| m.offset >= self.start.get(&m.source).copied().unwrap_or(0))
                .collect()
        }))
    }

    fn commit(&mut self, _batch: &[RawMessage]) -> Result<()> {
        Ok(())
    }

    fn assigned(&mut self) -> Vec<Assignment> {
        std::mem::take(&mut self.assignments)
    }
}

fn checkpointing(store: &CheckpointStore, max_staged_rows: usize) -> Checkpointing {
    Checkpointing {
        store: Some(store.clone()),
        interval: Duration::from_secs(3600),
        max_staged_rows,
    }
}

/// One run of the runner over what is left of the stream; `Err` when it crashed.
fn run(
    source: &mut ReplaySource,
    sink: &mut TestSink,
    checkpointing: &Checkpointing,
    stop: watch::Receiver<bool>,
) -> std::result::Result<(), String> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .map_err(|e| e.to_string())?;
    let mut p = pipeline();
    let mut dead_letters = LogDeadLetters::default();
    std::panic::catch_unwind(AssertUnwindSafe(|| {
        runtime.block_on(runner::run(
            &mut p,
            source,
            &mut dead_letters,
            sink,
            checkpointing,
            stop,
            |_| {},
        ))
    }))
    .map_err(|_| "panicked".to_owned())?
    .map(|_| ())
    .map_err(|e| e.to_string())
}

/// Event times a few hours back: the runner's processing time is the wall clock.
fn t0() -> i64 {
    let hour = 3_600_000;
    (runner::now_ms() / hour - 3) * hour
}

#[test]
fn crashes_and_restarts_commit_the_rows_of_one_uninterrupted_run() {
    let batches = stream(5, t0());
    let reference = {
        let dir = tempfile::tempdir().expect("temp dir");
        let store = CheckpointStore::new(dir.path());
        let mut sink = TestSink::default();
        let mut source = ReplaySource::new(&batches, &store);
        let (_stop, stop_rx) = watch::channel(false);
        run(&mut source, &mut sink, &checkpointing(&store, 40), stop_rx).expect("clean run");
        sink.committed.rows()
    };
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
    let epoch = TASKS
        .iter()
        .filter_map(|&(_, topic, partition)| {
            let task = Task {
                topic: Arc::from(topic),
                partition,
            };
            store.load(&task).ok().flatten().map(|c| c.epoch)
        })
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

/// The rows of one run of the whole stream from an empty store.
fn reference_rows(batches: &[(i64, Vec<RawMessage>)]) -> Vec<String> {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = CheckpointStore::new(dir.path());
    let mut sink = TestSink::default();
    let mut source = ReplaySource::new(batches, &store);
    let (_stop, stop_rx) = watch::channel(false);
    run(&mut source, &mut sink, &checkpointing(&store, 40), stop_rx).expect("clean run");
    sink.committed.rows()
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
    // The group replaced Z (max.poll.interval.ms passed): N takes every task over from
    // Z's last checkpoints and finishes the stream.
    let store = CheckpointStore::new(dir.path());
    let taken_over: Vec<u64> = TASKS
        .iter()
        .filter_map(|&(_, topic, partition)| {
            let task = Task {
                topic: Arc::from(topic),
                partition,
            };
            store.load(&task).ok().flatten().map(|c| c.epoch)
        })
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
    let fenced_before = stadtpuls_ingest::metrics::TASKS_FENCED.get();
    // The disk is back: Z's retry finds its tasks claimed by N and drops them.
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
