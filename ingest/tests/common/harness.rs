//! The runner without Kafka, for the checkpoint and dead-letter tests: a sink that commits
//! rows per (task, epoch) into memory shared across runs, and a source replaying the
//! common stream with every task positioned at its checkpoint.

use std::collections::{BTreeMap, HashMap};
use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use stadtpuls_ingest::checkpoint::{Checkpoint, CheckpointStore};
use stadtpuls_ingest::demo::LogDeadLetters;
use stadtpuls_ingest::pipeline::RawMessage;
use stadtpuls_ingest::runner::{self, Assignment, Checkpointing, DeadLetterSink, Source};
use stadtpuls_ingest::sink::{Stream, Task, WindowSink};
use stadtpuls_ingest::{IngestError, Result};
use stadtpuls_processing::window::ClosedWindows;
use tokio::sync::watch;

use super::{TASKS, pipeline, window_lines};

/// Committed rows per (task, epoch), shared by the sinks of successive runs (the files
/// of a history directory, say).
#[derive(Debug, Clone, Default)]
pub struct Committed(pub Arc<Mutex<EpochRows>>);

/// Rows by (task, epoch).
pub type EpochRows = BTreeMap<(String, u64), Vec<String>>;

impl Committed {
    pub fn rows(&self) -> Vec<String> {
        let map = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        let mut rows: Vec<String> = map.values().flatten().cloned().collect();
        rows.sort();
        rows
    }
}

/// A sink that stages in memory and commits into [`Committed`], honouring `recover`.
#[derive(Debug, Default)]
pub struct TestSink {
    pub staged: HashMap<Task, Vec<String>>,
    pub committed: Committed,
    /// Panics right after committing this epoch (a crash before the snapshot).
    pub die_after_commit: Option<u64>,
    /// Fails the commits of this epoch this many times first.
    pub fail_commits: Option<(u64, u32)>,
    /// Fails every commit of an epoch from this one on while the flag is set (a full
    /// disk), counting the failures.
    pub stuck_from: Option<(u64, Arc<AtomicBool>, Arc<AtomicU32>)>,
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
pub struct ReplaySource {
    batches: std::vec::IntoIter<Vec<RawMessage>>,
    assignments: Vec<Assignment>,
    start: HashMap<u32, i64>,
    read: usize,
    pub crash_at: Option<usize>,
    pub stop_after: Option<(usize, watch::Sender<bool>)>,
    /// At read `.0` a rebalance happens that the source reports through
    /// `Source::rebalanced`; from read `.1` on it loses the next `.3` messages of source
    /// `.2`, as Tansu does when a kept partition is fetched again from inside a record
    /// batch (`.1 > .0`: the batch in hand ended at the rebalance).
    pub lose_at_rebalance: Option<(usize, usize, u32, usize)>,
    /// A source that delivers nothing until the runner seeks it back, as Tansu does for a
    /// checkpoint inside a partition's last record batch.
    pub withhold: Option<u32>,
    /// After the last batch, empty reads for this long before the input ends (the runner
    /// keeps polling, as it does a quiet broker).
    pub idle_for: Duration,
    idle_since: Option<std::time::Instant>,
    /// Seeks the runner asked for (`Source::rewind`).
    pub rewinds: Vec<(u32, i64)>,
    rebalanced: bool,
    losing: Option<(u32, usize)>,
    /// Every message handed out or lost, for rewinds.
    seen: Vec<RawMessage>,
    /// Messages to hand out again (a rewind), before the next batch.
    again: Vec<RawMessage>,
}

impl ReplaySource {
    pub fn new(batches: &[(i64, Vec<RawMessage>)], store: &CheckpointStore) -> Self {
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
            lose_at_rebalance: None,
            withhold: None,
            idle_for: Duration::ZERO,
            idle_since: None,
            rewinds: Vec::new(),
            rebalanced: false,
            losing: None,
            seen: Vec::new(),
            again: Vec::new(),
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
        if let Some((at, from, source, count)) = self.lose_at_rebalance {
            self.rebalanced |= self.read == at;
            if self.read == from {
                self.losing = Some((source, count));
            }
        }
        self.read += 1;
        let Some(batch) = self.batches.next() else {
            if !self.again.is_empty() {
                return Ok(Some(std::mem::take(&mut self.again)));
            }
            let since = *self.idle_since.get_or_insert_with(std::time::Instant::now);
            if since.elapsed() < self.idle_for {
                tokio::time::sleep(Duration::from_millis(50)).await;
                return Ok(Some(Vec::new()));
            }
            return Ok(None);
        };
        let mut out = std::mem::take(&mut self.again);
        for m in batch {
            if m.offset < self.start.get(&m.source).copied().unwrap_or(0) {
                continue;
            }
            self.seen.push(m.clone());
            if self.withhold == Some(m.source) {
                continue;
            }
            if let Some((source, left)) = &mut self.losing
                && *source == m.source
                && *left > 0
            {
                *left -= 1;
                continue;
            }
            out.push(m);
        }
        Ok(Some(out))
    }

    fn rebalanced(&mut self) -> bool {
        std::mem::take(&mut self.rebalanced)
    }

    fn rewind(&mut self, source: u32, offset: i64) -> Result<()> {
        self.rewinds.push((source, offset));
        if self.withhold == Some(source) {
            self.withhold = None;
        }
        self.again.retain(|m| m.source != source);
        self.again.extend(
            self.seen
                .iter()
                .filter(|m| m.source == source && m.offset >= offset)
                .cloned(),
        );
        Ok(())
    }

    fn commit(&mut self, _batch: &[RawMessage]) -> Result<()> {
        Ok(())
    }

    fn assigned(&mut self) -> Vec<Assignment> {
        std::mem::take(&mut self.assignments)
    }
}

pub fn checkpointing(store: &CheckpointStore, max_staged_rows: usize) -> Checkpointing {
    Checkpointing {
        store: Some(store.clone()),
        interval: Duration::from_secs(3600),
        max_staged_rows,
    }
}

/// One run of the runner over what is left of the stream; `Err` when it crashed.
pub fn run(
    source: &mut ReplaySource,
    sink: &mut TestSink,
    checkpointing: &Checkpointing,
    stop: watch::Receiver<bool>,
) -> std::result::Result<(), String> {
    run_with(
        source,
        sink,
        &mut LogDeadLetters::default(),
        checkpointing,
        stop,
    )
}

/// [`run`] with a dead-letter sink of the test's.
pub fn run_with<D: DeadLetterSink>(
    source: &mut ReplaySource,
    sink: &mut TestSink,
    dead_letters: &mut D,
    checkpointing: &Checkpointing,
    stop: watch::Receiver<bool>,
) -> std::result::Result<(), String> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .map_err(|e| e.to_string())?;
    let mut p = pipeline();
    std::panic::catch_unwind(AssertUnwindSafe(|| {
        runtime.block_on(runner::run(
            &mut p,
            source,
            dead_letters,
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
pub fn t0() -> i64 {
    let hour = 3_600_000;
    (runner::now_ms() / hour - 3) * hour
}

/// The rows of one run of the whole stream from an empty store.
pub fn reference_rows(batches: &[(i64, Vec<RawMessage>)]) -> Vec<String> {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = CheckpointStore::new(dir.path());
    let mut sink = TestSink::default();
    let mut source = ReplaySource::new(batches, &store);
    let (_stop, stop_rx) = watch::channel(false);
    run(&mut source, &mut sink, &checkpointing(&store, 40), stop_rx).expect("clean run");
    sink.committed.rows()
}

/// The newest checkpoint of every task of [`TASKS`], in order.
pub fn checkpoints(store: &CheckpointStore) -> Vec<Option<Checkpoint>> {
    TASKS
        .iter()
        .map(|&(_, topic, partition)| {
            let task = Task {
                topic: Arc::from(topic),
                partition,
            };
            store.load(&task).ok().flatten()
        })
        .collect()
}

/// The latest revision of every (stream, window, entity) among committed `rows` (as
/// [`window_lines`] writes them), revision left out: what a reader keeping the highest
/// revision sees.
pub fn latest_rows(rows: &[String]) -> BTreeMap<String, String> {
    let mut latest: BTreeMap<String, (u32, String)> = BTreeMap::new();
    for row in rows {
        let Some((head, values)) = row.split_once(": ") else {
            continue;
        };
        let (window, revision) = head.split_once(" rev ").unwrap_or((head, "0"));
        let revision: u32 = revision.trim().parse().unwrap_or(0);
        let entity: Vec<&str> = values
            .split(' ')
            .filter(|cell| {
                ["city=", "sensor_id=", "lane=", "facility_id="]
                    .iter()
                    .any(|k| cell.starts_with(k))
            })
            .collect();
        let key = format!("{window} {}", entity.join(" "));
        let slot = latest.entry(key).or_insert((revision, values.to_owned()));
        if revision >= slot.0 {
            *slot = (revision, values.to_owned());
        }
    }
    latest.into_iter().map(|(k, (_, v))| (k, v)).collect()
}
