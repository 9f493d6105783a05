//! Per-source watermarks combined into one operator watermark.
//!
//! Each Kafka partition (a *source*) has its own clock: the newest event time seen on it
//! minus the allowed out-of-orderness. The operator may only close a window once every
//! source has moved past it, so its watermark is the minimum over sources. A source that
//! has been silent for longer than the idle timeout stops holding the others back — a quiet
//! city must not stall everyone — and rejoins when it speaks again.

use crate::time::{EventTime, ProcessingTime, Watermark};

/// Dense id of a source (a topic-partition), assigned by the caller.
pub type SourceId = u32;

#[derive(Debug, Clone, Copy)]
struct SourceClock {
    /// `None` until the source delivers its first event: an assigned partition that has
    /// not spoken yet holds the watermark (until it turns idle), so its backlog is not late.
    max_event_time: Option<EventTime>,
    last_seen: ProcessingTime,
}

/// Tracks the watermark of every source and the combined, monotonic operator watermark.
#[derive(Debug, Clone)]
pub struct WatermarkTracker {
    out_of_orderness_ms: i64,
    idle_timeout_ms: i64,
    sources: Vec<Option<SourceClock>>,
    current: Watermark,
    /// Whether any event was observed: until then restores may set the watermark.
    observed: bool,
}

impl WatermarkTracker {
    /// Creates a tracker with the allowed out-of-orderness and the idle timeout.
    pub fn new(out_of_orderness_ms: i64, idle_timeout_ms: i64) -> Self {
        Self {
            out_of_orderness_ms,
            idle_timeout_ms,
            sources: Vec::new(),
            current: Watermark::Unknown,
            observed: false,
        }
    }

    /// Registers a source assigned at processing time `now` before it delivered anything.
    pub fn register(&mut self, source: SourceId, now: ProcessingTime) {
        self.clock(source, now);
    }

    /// Records that `source` delivered events up to `max_event_time` at processing time `now`.
    pub fn observe(&mut self, source: SourceId, max_event_time: EventTime, now: ProcessingTime) {
        self.observed = true;
        let clock = self.clock(source, now);
        clock.max_event_time = Some(
            clock
                .max_event_time
                .map_or(max_event_time, |t| t.max(max_event_time)),
        );
        clock.last_seen = clock.last_seen.max(now);
    }

    fn clock(&mut self, source: SourceId, now: ProcessingTime) -> &mut SourceClock {
        let index = source as usize;
        if self.sources.len() <= index {
            self.sources.resize(index + 1, None);
        }
        self.sources[index].get_or_insert(SourceClock {
            max_event_time: None,
            last_seen: now,
        })
    }

    /// Records that `source` is alive without events (e.g. an empty fetch), so it is not idle.
    pub fn heartbeat(&mut self, source: SourceId, now: ProcessingTime) {
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

    /// Returns the current operator watermark without recomputing it.
    pub fn current(&self) -> Watermark {
        self.current
    }

    /// Recomputes the operator watermark at processing time `now` and returns it.
    ///
    /// `min` over active sources of `max_event_time − out_of_orderness`; if every source is
    /// idle, the `max` over all of them (nothing is holding back). An active source that has
    /// not delivered an event yet holds the watermark where it is. Never moves backwards.
    pub fn advance(&mut self, now: ProcessingTime) -> Watermark {
        let mut active_min: Option<EventTime> = None;
        let mut all_max: Option<EventTime> = None;
        for clock in self.sources.iter().flatten() {
            let active = now.saturating_sub(clock.last_seen) <= self.idle_timeout_ms;
            let Some(max) = clock.max_event_time else {
                if active {
                    return self.current;
                }
                continue;
            };
            let wm = max.saturating_sub(self.out_of_orderness_ms);
            all_max = Some(all_max.map_or(wm, |m| m.max(wm)));
            if active {
                active_min = Some(active_min.map_or(wm, |m| m.min(wm)));
            }
        }
        if let Some(candidate) = active_min.or(all_max) {
            let next = match self.current {
                Watermark::EventTime(t) => t.max(candidate),
                Watermark::Unknown => candidate,
            };
            self.current = Watermark::EventTime(next);
        }
        self.current
    }

    /// What a task's snapshot keeps of `source`: its clock and the operator watermark.
    pub(crate) fn export(&self, source: SourceId) -> WatermarkState {
        let clock = self.sources.get(source as usize).copied().flatten();
        WatermarkState {
            registered: clock.is_some(),
            max_event_time: clock.and_then(|c| c.max_event_time),
            operator: self.current.time(),
        }
    }

    /// Restores `source` from a snapshot at processing time `now`.
    ///
    /// The source counts as just assigned (seen at `now`, as [`Self::register`] does), so
    /// after a restart it holds the watermark until it delivers or turns idle instead of
    /// being idle at once. Before this tracker has observed any event (a fresh instance
    /// restoring its tasks), the operator watermark becomes the highest of the snapshots':
    /// that of the newest checkpoint round, which every task with messages to replay was
    /// part of (an unchanged task keeps an older snapshot and has nothing to replay). A
    /// tracker already running keeps its own, since raising it could make its other
    /// tasks' events late, and it never goes back.
    pub(crate) fn import(&mut self, source: SourceId, state: &WatermarkState, now: ProcessingTime) {
        if state.registered {
            let clock = self.clock(source, now);
            clock.max_event_time = match (clock.max_event_time, state.max_event_time) {
                (Some(a), Some(b)) => Some(a.max(b)),
                (a, b) => a.or(b),
            };
        }
        if let Some(t) = state.operator.filter(|_| !self.observed) {
            self.current = Watermark::EventTime(self.current.time().map_or(t, |c| c.max(t)));
        }
    }

    /// Moves the watermark to the end of time so every open window closes (end of input).
    pub fn finish(&mut self) -> Watermark {
        self.current = Watermark::EventTime(EventTime::MAX);
        self.current
    }
}

/// A source's clock and the operator watermark, as a task snapshot keeps them.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub(crate) struct WatermarkState {
    /// Whether the source was registered or had delivered.
    registered: bool,
    /// Its newest event time.
    max_event_time: Option<EventTime>,
    /// The operator watermark when the snapshot was taken.
    operator: Option<EventTime>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slowest_active_source_holds_the_watermark() {
        let mut w = WatermarkTracker::new(30_000, 60_000);
        w.observe(0, 100_000, 0);
        w.observe(1, 70_000, 0);
        assert_eq!(w.advance(0), Watermark::EventTime(40_000));
        w.observe(1, 200_000, 1_000);
        assert_eq!(w.advance(1_000), Watermark::EventTime(70_000));
    }

    #[test]
    fn idle_source_stops_holding_back_and_watermark_never_regresses() {
        let mut w = WatermarkTracker::new(30_000, 60_000);
        w.observe(0, 100_000, 0);
        w.observe(1, 500_000, 0);
        assert_eq!(w.advance(0), Watermark::EventTime(70_000));
        w.observe(1, 600_000, 61_000);
        // source 0 silent for 61 s: idle
        assert_eq!(w.advance(61_000), Watermark::EventTime(570_000));
        // it speaks again with old data: the watermark does not go back
        w.observe(0, 120_000, 62_000);
        assert_eq!(w.advance(62_000), Watermark::EventTime(570_000));
    }

    #[test]
    fn assigned_but_silent_source_holds_until_idle() {
        let mut w = WatermarkTracker::new(30_000, 60_000);
        w.register(1, 0);
        w.observe(0, 500_000, 0);
        assert_eq!(w.advance(1_000), Watermark::Unknown);
        w.heartbeat(0, 61_000);
        assert_eq!(w.advance(61_000), Watermark::EventTime(470_000));
    }

    #[test]
    fn restores_take_the_newest_watermark_only_before_the_first_event() {
        let mut old = WatermarkTracker::new(1_000, 60_000);
        old.observe(0, 50_000, 0);
        old.observe(1, 90_000, 0);
        old.advance(0);
        let (a, b) = (old.export(0), old.export(1));
        let mut fresh = WatermarkTracker::new(1_000, 60_000);
        let stale = WatermarkState {
            operator: Some(10_000),
            ..b
        };
        fresh.import(1, &stale, 5);
        fresh.import(0, &a, 5);
        assert_eq!(fresh.current(), Watermark::EventTime(49_000));
        assert_eq!(fresh.advance(5), Watermark::EventTime(49_000));
        let mut running = WatermarkTracker::new(1_000, 60_000);
        running.observe(2, 20_000, 0);
        running.advance(0);
        running.import(0, &a, 5);
        assert_eq!(running.current(), Watermark::EventTime(19_000), "kept");
    }

    #[test]
    fn all_idle_uses_the_newest_source() {
        let mut w = WatermarkTracker::new(1_000, 10);
        w.observe(0, 5_000, 0);
        w.observe(3, 9_000, 0);
        assert_eq!(w.advance(100), Watermark::EventTime(8_000));
        w.remove(3);
        assert_eq!(w.advance(100), Watermark::EventTime(8_000));
    }
}
