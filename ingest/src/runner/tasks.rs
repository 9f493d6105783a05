//! The runner's tasks (input topic-partitions): their epochs and offsets, staging of their
//! closed windows, and checkpoints. See `docs/decisions/002-effectively-once.md`.
//!
//! A checkpoint of a task with epoch `E` commits every sink for `E+1`, then writes the
//! task's snapshot (state and next offset) as epoch `E+1`, then stores the offset in Kafka
//! for lag monitoring. A failing commit or snapshot write is retried with backoff; the
//! runner does not read meanwhile, so memory stays bounded and nothing is lost. A crash
//! at any point leaves the newest complete snapshot, and `WindowSink::recover` drops
//! output of the epoch that did not complete.
//!
//! An assigned task is claimed in the store before its checkpoint is read, and every
//! commit attempt and snapshot write first checks that the claim still stands
//! (`checkpoint/claim.rs`): a task another instance has taken over meanwhile is *fenced* —
//! dropped with what it staged, its messages ignored until it is assigned again.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use stadtpuls_config::CheckpointConfig;
use stadtpuls_processing::time::ProcessingTime;
use stadtpuls_processing::window::ClosedWindows;
use stadtpuls_processing::window::watermark::SourceId;
use tokio::sync::watch;
use tracing::{debug, info, info_span, warn};

use super::ports::{Assignment, Source};
use super::resume::{Resume, Screen, Screened};
use super::retry::{Round, Written, claim, commit, recover, write};
use crate::checkpoint::CheckpointStore;
use crate::message::RawMessage;
use crate::pipeline::{Pipeline, StepOutput};
use crate::sink::{Stream, Task, WindowSink};
use crate::{IngestError, Result, metrics};

/// How the runner checkpoints.
#[derive(Debug, Clone)]
pub struct Checkpointing {
    /// Where snapshots go; `None` for sources that cannot seek (the demo feed, a file):
    /// sinks are still committed on the interval, but nothing is restored.
    pub store: Option<CheckpointStore>,
    /// Time between checkpoints.
    pub interval: Duration,
    /// Staged rows (over all sinks) above which a checkpoint is taken early.
    pub max_staged_rows: usize,
}

impl Checkpointing {
    /// Checkpoints into `config.dir` on the configured cadence.
    pub fn from_config(config: &CheckpointConfig) -> Self {
        Self {
            store: Some(CheckpointStore::new(&config.dir)),
            interval: config.interval,
            max_staged_rows: config.max_staged_rows,
        }
    }

    /// No snapshots; sinks committed every 10 s (demo, benchmarks, tests).
    pub fn disabled() -> Self {
        let defaults = CheckpointConfig::default();
        Self {
            store: None,
            interval: defaults.interval,
            max_staged_rows: defaults.max_staged_rows,
        }
    }
}

#[derive(Debug)]
struct TaskEntry {
    task: Task,
    /// The last completed epoch.
    epoch: u64,
    /// The next offset to read, once known.
    offset: Option<i64>,
    /// Messages processed or rows staged since the last checkpoint.
    changed: bool,
    /// Until the first message after a restore shows the read resumed at the checkpoint.
    resume: Option<Resume>,
    /// When `resume` was armed or last sought back (see [`Tasks::stalled`]).
    waiting_since: Instant,
    /// Batches with messages of the task in which a gap is verified by seeking back: set
    /// at a rebalance the task was kept through (see [`Tasks::rebalanced`]).
    verify: u8,
}

/// How long a restored task waits for its first message before it is sought back anyway.
const RESUME_PROBE: Duration = Duration::from_secs(3);

/// The tasks this instance owns.
#[derive(Debug)]
pub(crate) struct Tasks {
    config: Checkpointing,
    tasks: BTreeMap<SourceId, TaskEntry>,
    /// Tasks another instance claimed while this one held them: their messages are
    /// dropped until the group assigns them here again.
    fenced: BTreeSet<SourceId>,
    last: Instant,
    warned_unowned: bool,
}

impl Tasks {
    pub(crate) fn new(config: Checkpointing) -> Self {
        Self {
            config,
            tasks: BTreeMap::new(),
            fenced: BTreeSet::new(),
            last: Instant::now(),
            warned_unowned: false,
        }
    }

    /// Whether snapshots are written (and offsets are stored only with them).
    pub(crate) fn snapshots(&self) -> bool {
        self.config.store.is_some()
    }

    /// Takes over an assigned task: drops its sinks' orphans, restores its state.
    ///
    /// # Errors
    /// When the checkpoint could not be read or decoded, or a sink cannot recover: the
    /// task must not start from a state that does not match its position.
    ///
    /// A sink that cannot recover (history directory unwritable) is retried with backoff
    /// while reading pauses, as a failing commit is; `Round::Abandoned` when shutdown was
    /// requested meanwhile (the task is then not assigned).
    pub(crate) async fn assign<K: WindowSink>(
        &mut self,
        pipeline: &mut Pipeline,
        sinks: &mut K,
        assignment: Assignment,
        now: ProcessingTime,
        shutdown: &watch::Receiver<bool>,
    ) -> Result<Round> {
        let Assignment {
            source,
            task,
            checkpoint,
        } = assignment;
        let checkpoint = checkpoint.map_err(|detail| IngestError::Checkpoint {
            path: self
                .config
                .store
                .as_ref()
                .and_then(|s| s.task_dir(&task).ok())
                .unwrap_or_default(),
            detail,
        })?;
        self.fenced.remove(&source);
        let checkpoint = match &self.config.store {
            Some(store) => claim(store, &task, checkpoint)?,
            None => checkpoint,
        };
        let epoch = checkpoint.as_ref().map_or(0, |c| c.epoch);
        if self.snapshots() && recover(sinks, &task, epoch, shutdown).await == Round::Abandoned {
            return Ok(Round::Abandoned);
        }
        match &checkpoint {
            Some(c) => {
                let state = c.state()?;
                let stats = pipeline.restore(source, &task.topic, &state, now);
                info!(
                    task = %task,
                    epoch,
                    offset = c.offset,
                    restored = stats.restored,
                    dropped = stats.dropped,
                    "restored task {task} from epoch {epoch} offset {}",
                    c.offset
                );
                if stats.dropped > 0 {
                    warn!(task = %task, dropped = stats.dropped, "entities of the checkpoint are not in this instance's catalog; their state is dropped");
                }
            }
            None => {
                pipeline.add_source(source, &task.topic, now);
                if self.snapshots() {
                    info!(task = %task, "task {task} has no checkpoint, starting empty");
                }
            }
        }
        self.tasks.insert(
            source,
            TaskEntry {
                task,
                epoch,
                resume: checkpoint.as_ref().map(|c| Resume::new(c.offset)),
                waiting_since: Instant::now(),
                verify: 0,
                offset: checkpoint.map(|c| c.offset),
                changed: false,
            },
        );
        Ok(Round::Done)
    }

    /// Checks where each task's messages resume (see `resume.rs`): drops messages a task
    /// has already applied, and asks for a seek when a restored task's first message lies
    /// beyond its checkpoint.
    pub(crate) fn screen(&mut self, messages: &mut Vec<RawMessage>) -> Screened {
        let verifying = self.verifying(messages);
        let screened = self.screen_messages(messages);
        for source in verifying {
            if let Some(entry) = self.tasks.get_mut(&source) {
                entry.verify = entry.verify.saturating_sub(1);
            }
        }
        screened
    }

    fn screen_messages(&mut self, messages: &mut Vec<RawMessage>) -> Screened {
        if self.continues(messages) {
            return Screened::default();
        }
        let mut screen = Screen::default();
        messages.retain(|m| {
            if self.fenced.contains(&m.source) {
                return screen.reject();
            }
            let Some(entry) = self.tasks.get_mut(&m.source) else {
                return true;
            };
            let mut verify = entry.verify > 0;
            let keep = screen.check(m, &entry.task, &mut entry.resume, entry.offset, &mut verify);
            if !verify {
                entry.verify = 0;
            }
            keep
        });
        let screened = screen.finish();
        for (source, _) in &screened.seeks {
            if let Some(entry) = self.tasks.get_mut(source) {
                entry.waiting_since = Instant::now();
            }
        }
        screened
    }

    /// Seeks for tasks still waiting for their first message [`RESUME_PROBE`] after their
    /// restore (or last seek): a checkpoint inside a partition's last record batch gets no
    /// message at all from a broker that answers a fetch there with the next batch (Tansu
    /// 0.6), so the task is sought back as if a later message had come. On a partition
    /// without new messages this re-reads up to [`super::resume::FIRST_REWIND`] old ones
    /// once, dropped as replayed.
    pub(crate) fn stalled(&mut self) -> Vec<(SourceId, i64)> {
        let mut seeks = Vec::new();
        for (&source, entry) in &mut self.tasks {
            let Some(resume) = entry.resume.as_mut() else {
                continue;
            };
            if entry.waiting_since.elapsed() < RESUME_PROBE {
                continue;
            }
            entry.waiting_since = Instant::now();
            if let Some(to) = resume.step_back() {
                debug!(task = %entry.task, seek = to, "no message since the restore: seeking back");
                seeks.push((source, to));
            }
        }
        seeks
    }

    /// A rebalance happened: the tasks kept through it may be fetched again from where the
    /// application is, and a broker that answers a fetch inside a record batch with the
    /// next batch (Tansu 0.6) then skips the rest of that batch. So a gap in a kept task's
    /// next two batches is verified by seeking back, as a restored task's first message
    /// is (`resume.rs`); a gap that is still there afterwards is real and kept.
    pub(crate) fn rebalanced(&mut self) {
        for entry in self.tasks.values_mut() {
            if entry.resume.is_none() && entry.offset.is_some() {
                entry.verify = 2;
            }
        }
    }

    /// The tasks verifying gaps (see [`Self::rebalanced`]) with messages in this batch:
    /// their count goes down once the batch is screened.
    fn verifying(&self, messages: &[RawMessage]) -> BTreeSet<SourceId> {
        if self.tasks.values().all(|e| e.verify == 0) {
            return BTreeSet::new();
        }
        messages
            .iter()
            .map(|m| m.source)
            .filter(|s| self.tasks.get(s).is_some_and(|e| e.verify > 0))
            .collect()
    }

    /// The common case, checked per run of one source instead of per message: no restored
    /// task is waiting for its first message and every run goes on densely from where its
    /// task (or the batch's previous run of it) left off — the screen would keep it all.
    fn continues(&self, messages: &[RawMessage]) -> bool {
        if !self.fenced.is_empty() {
            return false;
        }
        let mut next: Vec<(SourceId, i64)> = Vec::new();
        let mut start = 0;
        while let Some(first) = messages.get(start) {
            let source = first.source;
            let len = messages[start..]
                .iter()
                .take_while(|m| m.source == source)
                .count();
            let last = &messages[start + len - 1];
            let expected = match next.iter().position(|&(s, _)| s == source) {
                Some(i) => Some(next.swap_remove(i).1),
                None => match self.tasks.get(&source) {
                    Some(entry) if entry.resume.is_some() => return false,
                    Some(entry) => entry.offset,
                    None => Some(first.offset),
                },
            };
            let dense = last.offset - first.offset == len as i64 - 1;
            if !dense || expected.is_some_and(|e| e != first.offset) {
                return false;
            }
            next.push((source, last.offset + 1));
            start += len;
        }
        true
    }

    /// Notes the offsets of processed messages, one run of a source at a time (`runs` of
    /// the step's output); tasks of sources that were never assigned (a file) are learnt
    /// from their messages.
    pub(crate) fn observe(&mut self, messages: &[RawMessage], runs: &[(SourceId, u32)]) {
        for &(source, last) in runs {
            let Some(m) = messages.get(last as usize) else {
                continue;
            };
            let entry = self.tasks.entry(source).or_insert_with(|| TaskEntry {
                task: Task {
                    topic: m.topic.clone(),
                    partition: m.partition,
                },
                epoch: 0,
                offset: None,
                changed: false,
                resume: None,
                waiting_since: Instant::now(),
                verify: 0,
            });
            // offsets grow within a partition: the run's last message is its newest
            let next = m.offset + 1;
            entry.offset = Some(entry.offset.map_or(next, |o| o.max(next)));
            entry.changed = true;
        }
    }

    /// Stages the batch's input messages in sinks that archive them, per task (`runs` of the
    /// step's output: consecutive messages of one source, by last index).
    ///
    /// # Errors
    /// Only sink bugs.
    pub(crate) fn stage_input<K: WindowSink>(
        &mut self,
        sinks: &mut K,
        messages: &[RawMessage],
        runs: &[(SourceId, u32)],
    ) -> Result<()> {
        let mut start = 0;
        for &(source, last) in runs {
            let end = (last as usize + 1).min(messages.len());
            if let (Some(entry), Some(run)) =
                (self.tasks.get_mut(&source), messages.get(start..end))
            {
                sinks.stage_input(&entry.task, run)?;
                entry.changed = true;
            }
            start = end;
        }
        Ok(())
    }

    /// Stages a step's closed windows in the sinks, per owning task.
    ///
    /// # Errors
    /// Only sink bugs (an unexpected schema).
    pub(crate) fn stage<K: WindowSink>(&mut self, sinks: &mut K, out: &StepOutput) -> Result<()> {
        for (stream, closed) in [
            (Stream::Traffic, &out.traffic),
            (Stream::TrafficLanes, &out.traffic_lanes),
            (Stream::Parking, &out.parking),
        ] {
            for windows in closed {
                self.stage_one(sinks, stream, windows)?;
            }
        }
        set_staged_rows(sinks);
        Ok(())
    }

    fn stage_one<K: WindowSink>(
        &mut self,
        sinks: &mut K,
        stream: Stream,
        closed: &ClosedWindows,
    ) -> Result<()> {
        let Some(entry) = self.tasks.get_mut(&closed.owner) else {
            if !self.warned_unowned {
                self.warned_unowned = true;
                warn!(
                    owner = closed.owner,
                    "closed windows of a source without a task are not staged"
                );
            }
            return Ok(());
        };
        entry.changed = true;
        sinks.stage(&entry.task, stream, closed)
    }

    /// Whether a checkpoint is due: the interval passed, or the sinks hold too many rows.
    pub(crate) fn due<K: WindowSink>(&self, sinks: &K) -> bool {
        self.last.elapsed() >= self.config.interval
            || sinks.staged_rows() > self.config.max_staged_rows
    }

    /// Checkpoints every changed task (or only those in `only`).
    ///
    /// # Errors
    /// Only bugs (a state that cannot be encoded); I/O and sink failures are retried until
    /// they pass or shutdown is requested, which abandons the round.
    pub(crate) async fn checkpoint<S: Source, K: WindowSink>(
        &mut self,
        pipeline: &mut Pipeline,
        sinks: &mut K,
        source: &mut S,
        only: Option<&[SourceId]>,
        shutdown: &watch::Receiver<bool>,
    ) -> Result<Round> {
        let started = Instant::now();
        let _span = info_span!("checkpoint").entered();
        let mut bytes = 0u64;
        let mut offsets = Vec::new();
        let mut fenced = Vec::new();
        let store = self.config.store.as_ref();
        for (&id, entry) in &mut self.tasks {
            if !entry.changed || only.is_some_and(|o| !o.contains(&id)) {
                continue;
            }
            let epoch = entry.epoch + 1;
            match commit(sinks, &entry.task, epoch, store, shutdown).await {
                Round::Done => {}
                Round::Abandoned => return Ok(Round::Abandoned),
                Round::Fenced => {
                    fenced.push(id);
                    continue;
                }
            }
            if let (Some(store), Some(offset)) = (store, entry.offset) {
                let body = pipeline.snapshot(id).encode()?;
                match write(store, &entry.task, epoch, offset, &body, shutdown).await {
                    Written::Bytes(written) => bytes += written,
                    Written::Abandoned => return Ok(Round::Abandoned),
                    Written::Fenced => {
                        fenced.push(id);
                        continue;
                    }
                }
                metrics::CHECKPOINTS.inc();
                offsets.push((id, offset));
            }
            entry.epoch = epoch;
            entry.changed = false;
        }
        for id in fenced {
            self.fence(pipeline, sinks, id);
        }
        if !offsets.is_empty()
            && let Err(error) = source.commit_offsets(&offsets)
        {
            warn!(%error, "storing checkpointed offsets in Kafka failed (lag monitoring only)");
        }
        if only.is_none() {
            self.last = Instant::now();
            metrics::CHECKPOINT_BYTES.set(i64::try_from(bytes).unwrap_or(i64::MAX));
        }
        set_staged_rows(sinks);
        metrics::CHECKPOINT_DURATION.observe(started.elapsed().as_secs_f64());
        Ok(Round::Done)
    }

    /// Drops a task another instance has claimed, with everything it staged: its epoch is
    /// that instance's to write now, from the last checkpoint.
    fn fence<K: WindowSink>(&mut self, pipeline: &mut Pipeline, sinks: &mut K, source: SourceId) {
        pipeline.revoke(source);
        let Some(entry) = self.tasks.remove(&source) else {
            return;
        };
        sinks.discard(&entry.task);
        self.fenced.insert(source);
        metrics::TASKS_FENCED.inc();
        warn!(task = %entry.task, epoch = entry.epoch, "task {} was taken over by another instance while this one held it (replaced in the group: stuck longer than max.poll.interval.ms, or cut off from the coordinator); dropped without committing epoch {}", entry.task, entry.epoch + 1);
    }

    /// Drops a revoked task (after its checkpoint).
    pub(crate) fn revoke(&mut self, pipeline: &mut Pipeline, source: SourceId) {
        self.fenced.remove(&source);
        pipeline.revoke(source);
        if let Some(entry) = self.tasks.remove(&source) {
            info!(task = %entry.task, epoch = entry.epoch, "task {} revoked after its checkpoint", entry.task);
        }
    }
}

/// Publishes what the sinks hold, the quantity `checkpoint.max_staged_rows` bounds.
fn set_staged_rows<K: WindowSink>(sinks: &K) {
    metrics::SINK_STAGED_ROWS.set(i64::try_from(sinks.staged_rows()).unwrap_or(i64::MAX));
    metrics::SINK_STAGED_BYTES.set(i64::try_from(sinks.staged_bytes()).unwrap_or(i64::MAX));
}
