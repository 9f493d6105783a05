//! The embedded default: the simulated feed as a source (with the push gateway's bodies,
//! `demo/push.rs`), dead letters to the log.

pub mod push;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;

use stadtpuls_processing::window::watermark::SourceId;
use tracing::{debug, warn};

use crate::Result;
use crate::clock::now_ms;
use crate::health::Readiness;
use crate::message::{DeadLetter, RawMessage};
use crate::runner::{Assignment, DeadLetterSink, Source};
use crate::simulate::SimulatedFeed;
use crate::sink::Task;
use push::PushQueue;

/// Replays the simulated feed: first a backfill of recent history in event-time steps, as
/// fast as the pipeline takes it, then live at wall-clock pace.
pub struct SimulatedSource {
    feed: SimulatedFeed,
    step_ms: i64,
    live_every: Duration,
    ready: Readiness,
    sources: HashMap<String, (SourceId, Arc<str>)>,
    offsets: HashMap<SourceId, i64>,
    end_ms: Option<i64>,
    topics: Vec<String>,
    pushes: Option<PushQueue>,
}

impl SimulatedSource {
    /// Starts from the feed's current event time; `ready` is set once the backfill is done.
    ///
    /// `city_ids` name the cities whose `sensors.<city>.{traffic,parking}` topics the feed
    /// writes, announced to the pipeline up front like a Kafka assignment.
    pub fn new(feed: SimulatedFeed, ready: Readiness, city_ids: &[&str]) -> Self {
        Self {
            feed,
            step_ms: 60_000,
            live_every: Duration::from_secs(1),
            ready,
            sources: HashMap::new(),
            offsets: HashMap::new(),
            end_ms: None,
            topics: city_ids
                .iter()
                .flat_map(|c| {
                    [
                        format!("sensors.{c}.traffic"),
                        format!("sensors.{c}.parking"),
                    ]
                })
                .collect(),
            pushes: None,
        }
    }

    /// Takes the push gateway's bodies into its batches (`stadtpuls demo`).
    pub fn with_pushes(mut self, pushes: PushQueue) -> Self {
        self.pushes = Some(pushes);
        self
    }

    /// Stops at event time `end_ms` instead of running live (tests, benchmarks).
    pub fn until(mut self, end_ms: i64) -> Self {
        self.end_ms = Some(end_ms);
        self
    }

    fn source_of(&mut self, topic: &str) -> (SourceId, Arc<str>) {
        if let Some(found) = self.sources.get(topic) {
            return found.clone();
        }
        let entry = (self.sources.len() as SourceId, Arc::<str>::from(topic));
        self.sources.insert(topic.to_owned(), entry.clone());
        entry
    }
}

impl Source for SimulatedSource {
    async fn next_batch(&mut self) -> Result<Option<Vec<RawMessage>>> {
        let now = now_ms();
        let horizon = self.end_ms.map_or(now, |end| end.min(now));
        let current = self.feed.now_ms();
        if current >= horizon {
            if self.end_ms.is_some_and(|end| current >= end) {
                return Ok(None);
            }
            self.ready.set(true);
            tokio::time::sleep(self.live_every).await;
            let next = now_ms();
            return Ok(Some(self.take(next)));
        }
        let to = (current + self.step_ms).min(horizon);
        Ok(Some(self.take(to)))
    }

    fn commit(&mut self, _batch: &[RawMessage]) -> Result<()> {
        Ok(())
    }

    fn assigned(&mut self) -> Vec<Assignment> {
        let topics = std::mem::take(&mut self.topics);
        topics
            .iter()
            .map(|t| {
                let (source, topic) = self.source_of(t);
                Assignment {
                    source,
                    task: Task {
                        topic,
                        partition: 0,
                    },
                    checkpoint: Ok(None),
                }
            })
            .collect()
    }
}

impl SimulatedSource {
    fn take(&mut self, to_ms: i64) -> Vec<RawMessage> {
        let messages = self.feed.advance_to(to_ms);
        let mut out = Vec::with_capacity(messages.len());
        for m in messages {
            let (source, topic) = self.source_of(&m.topic);
            let offset = self.offsets.entry(source).or_insert(0);
            out.push(RawMessage {
                source,
                topic,
                partition: 0,
                offset: *offset,
                key: Some(Bytes::from(m.key.into_bytes())),
                payload: Bytes::from(m.payload),
                format: None,
            });
            *offset += 1;
        }
        self.take_pushes(&mut out);
        // Per-source runs keep the pipeline's per-source grouping cheap (stable: a push
        // stays after the simulated messages of its topic).
        out.sort_by_key(|m| m.source);
        out
    }
}

impl SimulatedSource {
    /// Appends the waiting pushes, each with the next offset of its topic, and tells each
    /// sender its offset. A topic seen for the first time (a partner format's feed topic)
    /// is announced with the next [`Source::assigned`], before its batch is processed.
    fn take_pushes(&mut self, out: &mut Vec<RawMessage>) {
        let Some(queue) = self.pushes.as_mut() else {
            return;
        };
        for pushed in queue.drain() {
            if !self.sources.contains_key(&pushed.topic) {
                self.topics.push(pushed.topic.clone());
            }
            let (source, topic) = self.source_of(&pushed.topic);
            let offset = self.offsets.entry(source).or_insert(0);
            out.push(RawMessage {
                source,
                topic,
                partition: 0,
                offset: *offset,
                key: Some(pushed.key),
                payload: pushed.body,
                format: Some(pushed.format),
            });
            // The sender may have given up (its connection closed): the body is read anyway.
            let _ = pushed.reply.send(*offset);
            *offset += 1;
        }
    }
}

/// Dead letters to the log, for runs without a broker: each at DEBUG, a WARN summary at
/// most every 30 s so a noisy feed cannot flood the log.
#[derive(Debug, Default)]
pub struct LogDeadLetters {
    written: u64,
    since_warn: u64,
    last_warn: Option<Instant>,
}

/// Minimum time between two WARN summaries.
const WARN_EVERY: Duration = Duration::from_secs(30);

impl DeadLetterSink for LogDeadLetters {
    async fn send(&mut self, letters: &[DeadLetter]) -> Result<()> {
        for letter in letters {
            debug!(reason = %letter.reason, detail = %letter.detail, topic = %letter.topic, "dead letter");
        }
        self.written += letters.len() as u64;
        self.since_warn += letters.len() as u64;
        let due = self.last_warn.is_none_or(|t| t.elapsed() >= WARN_EVERY);
        if let (true, Some(last)) = (due, letters.last()) {
            warn!(
                rejected = self.since_warn,
                total = self.written,
                last_reason = %last.reason,
                last_detail = %last.detail,
                "observations rejected (details at DEBUG, counts in stadtpuls_events_rejected_total)"
            );
            self.since_warn = 0;
            self.last_warn = Some(Instant::now());
        }
        Ok(())
    }

    fn name(&self) -> &'static str {
        "log"
    }
}
