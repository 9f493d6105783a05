//! Per-source watermarks combined into one operator watermark.
//!
//! Each Kafka partition (a *source*) has its own clock: the newest event time seen on it
//! minus the allowed out-of-orderness, minus 1 ms (no event at or before it is still to
//! come). The operator may only close a window once every source has moved past it, so its
//! watermark is the minimum over sources. A source that has been silent for longer than the
//! idle timeout stops holding the others back — a quiet city must not stall everyone — and
//! rejoins when it speaks again.
//!
//! Whether a row is too late is judged against the later of the operator watermark and its
//! own source's (see `slab::Windows::update`), so it depends on its partition alone.
//!
//! The operator watermark never moves backwards, except when a restore brings in a source
//! behind it: a partition handed over from a crashed instance to a running one replays
//! from its checkpoint, behind what this operator has already closed. Its windows must
//! close by its own progress, as they did on the instance that crashed, so the watermark
//! is computed again from the clocks and may go back. The sources that were here before
//! are still judged by the highest watermark reached, so nothing they could not update
//! before becomes updatable; the restored source is *catching up* and judged by the
//! current one until it has passed that highest mark.

use crate::time::{EventTime, ProcessingTime, Watermark};
use crate::window::slab::Lateness;

/// Dense id of a source (a topic-partition), assigned by the caller.
pub type SourceId = u32;

#[derive(Debug, Clone, Copy)]
struct SourceClock {
    /// `None` until the source delivers its first event: an assigned partition that has
    /// not spoken yet holds the watermark (until it turns idle), so its backlog is not late.
    max_event_time: Option<EventTime>,
    last_seen: ProcessingTime,
    /// Restored or registered behind the highest watermark this operator reached: its
    /// rows are judged by the current watermark (which its own clock holds back), not the
    /// highest.
    catching_up: bool,
}

/// Tracks the watermark of every source and the combined operator watermark (monotonic
/// between restores, see the module documentation).
#[derive(Debug, Clone)]
pub struct WatermarkTracker {
    out_of_orderness_ms: i64,
    idle_timeout_ms: i64,
    sources: Vec<Option<SourceClock>>,
    current: Watermark,
    /// The highest `current` has been: what the rows of sources not catching up are
    /// judged by.
    highest: Watermark,
    /// The latest processing time this tracker was told of: its present, for snapshots.
    latest: ProcessingTime,
    /// When sources were restored since the last [`Self::advance`]: the watermark is
    /// computed from their clocks before the next batch is judged (see [`Self::settle`]).
    restored_at: Option<ProcessingTime>,
}

impl WatermarkTracker {
    /// Creates a tracker with the allowed out-of-orderness and the idle timeout.
    pub fn new(out_of_orderness_ms: i64, idle_timeout_ms: i64) -> Self {
        Self {
            out_of_orderness_ms,
            idle_timeout_ms,
            sources: Vec::new(),
            current: Watermark::Unknown,
            highest: Watermark::Unknown,
            latest: ProcessingTime::MIN,
            restored_at: None,
        }
    }

    /// Registers a source assigned at processing time `now` before it delivered anything.
    ///
    /// A source new to a running operator starts from a position its watermark knows
    /// nothing about (a partition without a checkpoint replays from the group's committed
    /// offset): like a restored one, it is judged by its own progress and holds the
    /// watermark until it delivers (see `import`).
    pub fn register(&mut self, source: SourceId, now: ProcessingTime) {
        let new = self
            .sources
            .get(source as usize)
            .is_none_or(|clock| clock.is_none());
        let running = self.highest != Watermark::Unknown;
        let clock = self.clock(source, now);
        if new && running {
            clock.catching_up = true;
            self.restored_at = Some(self.restored_at.map_or(now, |t| t.max(now)));
        }
    }

    /// Records that `source` delivered events up to `max_event_time` at processing time `now`.
    pub fn observe(&mut self, source: SourceId, max_event_time: EventTime, now: ProcessingTime) {
        let clock = self.clock(source, now);
        clock.max_event_time = Some(
            clock
                .max_event_time
                .map_or(max_event_time, |t| t.max(max_event_time)),
        );
        clock.last_seen = clock.last_seen.max(now);
    }

    fn clock(&mut self, source: SourceId, now: ProcessingTime) -> &mut SourceClock {
        self.latest = self.latest.max(now);
        let index = source as usize;
        if self.sources.len() <= index {
            self.sources.resize(index + 1, None);
        }
        self.sources[index].get_or_insert(SourceClock {
            max_event_time: None,
            last_seen: now,
            catching_up: false,
        })
    }

    /// Records that `source` is alive without events (e.g. an empty fetch), so it is not idle.
    pub fn heartbeat(&mut self, source: SourceId, now: ProcessingTime) {
        self.latest = self.latest.max(now);
        if let Some(Some(clock)) = self.sources.get_mut(source as usize) {
            clock.last_seen = clock.last_seen.max(now);
        }
    }

    /// Forgets a source, e.g. a partition revoked in a rebalance.
    pub fn remove(&mut self, source: SourceId) {
        if let Some(slot) = self.sources.get_mut(source as usize) {
            *slot = None;
        }
    }

    /// What the rows of a batch from `source` are judged against (see
    /// [`crate::window::slab::Windows::update`]): the operator watermark and the source's
    /// newest event time so far.
    ///
    /// A source catching up after a restore is judged by the current watermark, which its
    /// own clock holds back; the others by the highest there has been.
    pub(crate) fn lateness(&self, source: SourceId) -> Lateness {
        let clock = self.sources.get(source as usize).copied().flatten();
        let catching_up = clock.is_some_and(|c| c.catching_up);
        Lateness {
            watermark: if catching_up {
                self.current.time()
            } else {
                self.highest.time()
            },
            source_max: clock.and_then(|c| c.max_event_time),
            lag_ms: self.out_of_orderness_ms.saturating_add(1),
        }
    }

    /// Returns the current operator watermark without recomputing it.
    pub fn current(&self) -> Watermark {
        self.current
    }

    /// Recomputes the operator watermark at processing time `now` and returns it.
    ///
    /// `min` over active sources of `max_event_time − out_of_orderness`; if every source is
    /// idle, the `max` over all of them (nothing is holding back). An active source that has
    /// not delivered an event yet holds the watermark where it is. Never moves backwards,
    /// except on the first call after a restore (see the module documentation).
    pub fn advance(&mut self, now: ProcessingTime) -> Watermark {
        let mut active_min: Option<EventTime> = None;
        let mut all_max: Option<EventTime> = None;
        let mut hold = false;
        self.latest = self.latest.max(now);
        let restored = self.restored_at.take().is_some();
        for clock in self.sources.iter().flatten() {
            let active = now.saturating_sub(clock.last_seen) <= self.idle_timeout_ms;
            let Some(max) = clock.max_event_time else {
                hold |= active;
                continue;
            };
            let wm = self.source_watermark(max);
            all_max = Some(all_max.map_or(wm, |m| m.max(wm)));
            if active {
                active_min = Some(active_min.map_or(wm, |m| m.min(wm)));
            }
        }
        if hold {
            if restored {
                self.current = Watermark::Unknown;
            }
            return self.current;
        }
        if let Some(candidate) = active_min.or(all_max) {
            let next = match self.current {
                Watermark::EventTime(t) if !restored => t.max(candidate),
                _ => candidate,
            };
            self.current = Watermark::EventTime(next);
        }
        if self.current.time() > self.highest.time() {
            self.highest = self.current;
        }
        if let Some(highest) = self.highest.time() {
            let lag = self.out_of_orderness_ms.saturating_add(1);
            for clock in self.sources.iter_mut().flatten() {
                let caught_up = clock
                    .max_event_time
                    .is_some_and(|t| t.saturating_sub(lag) >= highest);
                clock.catching_up &= !caught_up;
            }
        }
        self.current
    }

    /// What a task's snapshot keeps of `source`: its clock and how long it had been
    /// silent.
    pub(crate) fn export(&self, source: SourceId) -> WatermarkState {
        let clock = self.sources.get(source as usize).copied().flatten();
        WatermarkState {
            registered: clock.is_some(),
            max_event_time: clock.and_then(|c| c.max_event_time),
            silent_ms: clock.map_or(0, |c| self.latest.saturating_sub(c.last_seen).max(0)),
        }
    }

    /// Restores `source` from a snapshot at processing time `now`.
    ///
    /// Only the source's clock comes back, never an operator watermark: after a crash a
    /// task replays from its own checkpoint, which may be older than the other tasks'
    /// (a checkpoint round commits task after task, and the crash can fall in between, or
    /// before a task's first checkpoint). The watermark the others saw then included this
    /// task's progress past its checkpoint; taking it over would make the replayed events
    /// late and drop them. So the watermark is computed again from the restored clocks,
    /// and a task without a checkpoint holds it until it delivers: its replay is not late
    /// unless it was late in the first place.
    ///
    /// The source keeps the silence it had when its snapshot was taken, the downtime not
    /// counted: one about to turn idle turns idle as it would have without the restart,
    /// one that was idle stays so instead of stalling every window for another timeout,
    /// and one that was busy holds the watermark until it delivers again.
    pub(crate) fn import(&mut self, source: SourceId, state: &WatermarkState, now: ProcessingTime) {
        self.latest = self.latest.max(now);
        self.restored_at = Some(self.restored_at.map_or(now, |t| t.max(now)));
        if !state.registered {
            return;
        }
        let highest = self.highest.time();
        let lag = self.out_of_orderness_ms.saturating_add(1);
        let clock = self.clock(source, now);
        clock.max_event_time = match (clock.max_event_time, state.max_event_time) {
            (Some(a), Some(b)) => Some(a.max(b)),
            (a, b) => a.or(b),
        };
        clock.last_seen = clock.last_seen.min(now.saturating_sub(state.silent_ms));
        clock.catching_up = highest.is_some_and(|h| {
            clock
                .max_event_time
                .is_none_or(|t| t.saturating_sub(lag) < h)
        });
    }

    /// Computes the watermark from restored clocks, once every task of a restore is in:
    /// a running operator judges a batch's lateness by the watermark its previous batch
    /// left, and a restored one must judge the first batch after the restore the same way.
    pub(crate) fn settle(&mut self) {
        if let Some(at) = self.restored_at {
            self.advance(at);
        }
    }

    /// A source's watermark: its newest event time minus the out-of-orderness, minus 1 ms —
    /// it says that no event *at or before* it is still to come, and another event at the
    /// newest time (a second lane, a second sensor of one report) may still come.
    fn source_watermark(&self, max_event_time: EventTime) -> EventTime {
        max_event_time
            .saturating_sub(self.out_of_orderness_ms)
            .saturating_sub(1)
    }

    /// Moves the watermark to the end of time so every open window closes (end of input).
    pub fn finish(&mut self) -> Watermark {
        self.current = Watermark::EventTime(EventTime::MAX);
        self.current
    }
}

/// A source's clock, as a task snapshot keeps it.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub(crate) struct WatermarkState {
    /// Whether the source was registered or had delivered.
    registered: bool,
    /// Its newest event time.
    max_event_time: Option<EventTime>,
    /// How long it had been silent (processing time) when the snapshot was taken.
    silent_ms: i64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slowest_active_source_holds_the_watermark() {
        let mut w = WatermarkTracker::new(30_000, 60_000);
        w.observe(0, 100_000, 0);
        w.observe(1, 70_000, 0);
        assert_eq!(w.advance(0), Watermark::EventTime(40_000 - 1));
        w.observe(1, 200_000, 1_000);
        assert_eq!(w.advance(1_000), Watermark::EventTime(70_000 - 1));
    }

    #[test]
    fn idle_source_stops_holding_back_and_watermark_never_regresses() {
        let mut w = WatermarkTracker::new(30_000, 60_000);
        w.observe(0, 100_000, 0);
        w.observe(1, 500_000, 0);
        assert_eq!(w.advance(0), Watermark::EventTime(70_000 - 1));
        w.observe(1, 600_000, 61_000);
        // source 0 silent for 61 s: idle
        assert_eq!(w.advance(61_000), Watermark::EventTime(570_000 - 1));
        // it speaks again with old data: the watermark does not go back
        w.observe(0, 120_000, 62_000);
        assert_eq!(w.advance(62_000), Watermark::EventTime(570_000 - 1));
    }

    #[test]
    fn assigned_but_silent_source_holds_until_idle() {
        let mut w = WatermarkTracker::new(30_000, 60_000);
        w.register(1, 0);
        w.observe(0, 500_000, 0);
        assert_eq!(w.advance(1_000), Watermark::Unknown);
        w.heartbeat(0, 61_000);
        assert_eq!(w.advance(61_000), Watermark::EventTime(470_000 - 1));
    }

    #[test]
    fn a_restore_computes_the_watermark_from_the_restored_clocks() {
        // Before the crash: source 1 ran ahead of its last checkpoint (clock 50 s there,
        // 90 s in memory), source 0 was checkpointed after that, with the watermark 49 s
        // the two clocks made then. Source 2 was fed but never checkpointed.
        let mut old = WatermarkTracker::new(1_000, 60_000);
        old.observe(1, 50_000, 0);
        let stale = old.export(1);
        old.observe(0, 95_000, 0);
        old.observe(1, 90_000, 0);
        old.observe(2, 80_000, 0);
        assert_eq!(old.advance(0), Watermark::EventTime(79_000 - 1));
        let fresh_state = old.export(0);
        let mut fresh = WatermarkTracker::new(1_000, 60_000);
        fresh.import(0, &fresh_state, 5);
        fresh.import(1, &stale, 5);
        fresh.register(2, 5);
        assert_eq!(
            fresh.advance(5),
            Watermark::Unknown,
            "source 2 replays from its start: it holds the watermark"
        );
        fresh.observe(2, 20_000, 6);
        assert_eq!(
            fresh.advance(6),
            Watermark::EventTime(19_000 - 1),
            "not 79 s: source 2's and 1's replayed events are not late"
        );
    }

    #[test]
    fn a_source_idle_in_its_snapshot_is_idle_after_the_restore() {
        let mut old = WatermarkTracker::new(1_000, 60_000);
        old.observe(0, 10_000, 0);
        old.observe(1, 500_000, 100_000);
        assert_eq!(old.advance(100_000), Watermark::EventTime(499_000 - 1));
        let (quiet, busy) = (old.export(0), old.export(1));
        let mut fresh = WatermarkTracker::new(1_000, 60_000);
        fresh.import(0, &quiet, 200_000);
        fresh.import(1, &busy, 200_000);
        assert_eq!(
            fresh.advance(200_000),
            Watermark::EventTime(499_000 - 1),
            "the silent feed does not hold the restored watermark for another timeout"
        );
        fresh.observe(0, 520_000, 200_001);
        fresh.observe(1, 510_000, 200_001);
        assert_eq!(
            fresh.advance(200_001),
            Watermark::EventTime(509_000 - 1),
            "and rejoins when it speaks"
        );
    }

    #[test]
    fn a_source_handed_to_a_running_operator_takes_the_watermark_back() {
        // Source 1 was checkpointed at 50 s on an instance that crashed later; this one ran
        // source 0 up to 200 s meanwhile.
        let mut elsewhere = WatermarkTracker::new(1_000, 60_000);
        elsewhere.observe(1, 50_000, 0);
        let handed = elsewhere.export(1);
        let mut w = WatermarkTracker::new(1_000, 60_000);
        w.observe(0, 200_000, 0);
        assert_eq!(w.advance(0), Watermark::EventTime(199_000 - 1));
        w.register(1, 10);
        w.import(1, &handed, 10);
        w.settle();
        assert_eq!(
            w.current(),
            Watermark::EventTime(49_000 - 1),
            "its windows close by its own progress, as on the crashed instance"
        );
        assert_eq!(
            (w.lateness(1).watermark, w.lateness(0).watermark),
            (Some(49_000 - 1), Some(199_000 - 1)),
            "it is judged by the current watermark, source 0 still by the highest"
        );
        w.observe(1, 120_000, 20);
        assert_eq!(w.advance(20), Watermark::EventTime(119_000 - 1));
        w.observe(1, 201_000, 30);
        assert_eq!(w.advance(30), Watermark::EventTime(199_000 - 1));
        assert_eq!(
            w.lateness(1).watermark,
            Some(199_000 - 1),
            "caught up: judged like the others"
        );
        w.observe(0, 150_000, 40);
        assert_eq!(
            w.advance(40),
            Watermark::EventTime(199_000 - 1),
            "monotonic again"
        );
    }

    #[test]
    fn a_partition_without_checkpoint_assigned_to_a_running_operator_holds_from_scratch() {
        let mut w = WatermarkTracker::new(1_000, 60_000);
        w.observe(0, 200_000, 0);
        assert_eq!(w.advance(0), Watermark::EventTime(199_000 - 1));
        w.register(0, 5);
        assert_eq!(
            w.advance(5),
            Watermark::EventTime(199_000 - 1),
            "known: no-op"
        );
        w.register(2, 10);
        assert_eq!(w.advance(10), Watermark::Unknown, "its backlog is not late");
        assert_eq!(w.lateness(2).watermark, None);
        assert_eq!(w.lateness(0).watermark, Some(199_000 - 1));
        w.observe(2, 30_000, 20);
        assert_eq!(w.advance(20), Watermark::EventTime(29_000 - 1));
    }

    #[test]
    fn all_idle_uses_the_newest_source() {
        let mut w = WatermarkTracker::new(1_000, 10);
        w.observe(0, 5_000, 0);
        w.observe(3, 9_000, 0);
        assert_eq!(w.advance(100), Watermark::EventTime(8_000 - 1));
        w.remove(3);
        assert_eq!(w.advance(100), Watermark::EventTime(8_000 - 1));
    }
}
