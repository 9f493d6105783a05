//! Where a task's messages resume, checked message by message.
//!
//! A task restored from a checkpoint must read on from exactly the checkpoint's offset: a
//! message before it is already in the restored state (applied again, it would count
//! twice) and a message skipped after it is lost. Kafka delivers from the requested offset,
//! but a broker may start at the next record batch instead — Tansu 0.6 does: a fetch at an
//! offset inside a record batch returns the batches after it, so a restart silently skipped
//! up to a producer batch per partition (found by `tests/e2e_kill.rs`). So:
//!
//! - messages below the next offset a task expects are dropped (`replayed`);
//! - when a restored task's first message lies beyond its checkpoint, its messages are
//!   dropped and the partition is sought back further (by [`FIRST_REWIND`] offsets, doubling
//!   each time) until a message at or before the checkpoint arrives — the ones before it
//!   are then dropped as replayed. Once the seek reached offset 0 a gap is taken as real
//!   (retention, compaction, transaction markers) and counted;
//! - later gaps are counted but kept: transaction markers and compaction make them normal.

use std::collections::BTreeMap;

use stadtpuls_processing::window::watermark::SourceId;
use tracing::{debug, warn};

use crate::message::RawMessage;
use crate::metrics;
use crate::sink::Task;

/// Offsets sought back on the first miss; doubles on every further one.
pub(crate) const FIRST_REWIND: i64 = 512;

/// A restored task waiting for its first message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Resume {
    /// The checkpoint's offset: the first message must be at or before it.
    target: i64,
    /// How far the next seek goes back from `target`.
    rewind: i64,
    /// Whether the last seek went to offset 0: a gap is then real.
    exhausted: bool,
}

impl Resume {
    pub(crate) fn new(target: i64) -> Self {
        Self {
            target,
            rewind: FIRST_REWIND,
            exhausted: target == 0,
        }
    }
    /// The next seek back from the target — [`FIRST_REWIND`] offsets, doubling each time
    /// — or `None` once a seek has reached offset 0 (a gap is then real). Counted in
    /// `stadtpuls_input_offset_anomalies_total{kind="rewound"}`.
    pub(crate) fn step_back(&mut self) -> Option<i64> {
        if self.exhausted {
            return None;
        }
        let to = (self.target - self.rewind).max(0);
        self.rewind = self.rewind.saturating_mul(2);
        self.exhausted = to == 0;
        metrics::INPUT_OFFSET_ANOMALIES
            .with_label_values(&["rewound"])
            .inc();
        Some(to)
    }
}

/// The outcome of screening one batch.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct Screened {
    /// Whether messages were dropped (checks done ahead must be redone).
    pub(crate) dropped: bool,
    /// Partitions to seek back, to these offsets.
    pub(crate) seeks: Vec<(SourceId, i64)>,
}

/// Screens the messages of one batch in order.
#[derive(Debug, Default)]
pub(crate) struct Screen {
    /// Per source: the next offset expected within this batch.
    expected: BTreeMap<SourceId, i64>,
    replayed: u64,
    out: Screened,
}

impl Screen {
    /// Drops a message no task here may apply (one of a fenced task's); returns false.
    pub(crate) fn reject(&mut self) -> bool {
        self.out.dropped = true;
        false
    }

    /// Whether to keep `m`, a message of `task` whose state expects offset `next` (if
    /// known) and which may be `resume`-ing from a checkpoint.
    ///
    /// With `verify` (a rebalance the task was kept through), a gap starts a resume at the
    /// offset expected, as if restored there, and `verify` turns false: a broker that
    /// skipped the rest of a record batch is sought back, a real gap is verified once.
    pub(crate) fn check(
        &mut self,
        m: &RawMessage,
        task: &Task,
        resume: &mut Option<Resume>,
        next: Option<i64>,
        verify: &mut bool,
    ) -> bool {
        if self.out.seeks.iter().any(|&(s, _)| s == m.source) {
            // Read from before the seek: it comes again.
            self.out.dropped = true;
            return false;
        }
        if *verify
            && resume.is_none()
            && let Some(expected) = self.expected.get(&m.source).copied().or(next)
            && m.offset > expected
        {
            *verify = false;
            debug!(task = %task, expected, first = m.offset, "offsets skipped after a rebalance: seeking back to verify");
            *resume = Some(Resume::new(expected));
        }
        if let Some(r) = resume.as_mut() {
            if m.offset > r.target
                && let Some(to) = r.step_back()
            {
                debug!(task = %task, checkpoint = r.target, first = m.offset, seek = to, "first message after the checkpoint's offset: seeking back");
                self.out.seeks.push((m.source, to));
                self.out.dropped = true;
                return false;
            }
            if m.offset > r.target {
                warn!(task = %task, checkpoint = r.target, first = m.offset, "the messages between the checkpoint and the first one delivered do not exist (retention or compaction)");
            }
            *resume = None;
        }
        let Some(expected) = self.expected.get(&m.source).copied().or(next) else {
            self.expected.insert(m.source, m.offset + 1);
            return true;
        };
        if m.offset < expected {
            self.replayed += 1;
            self.out.dropped = true;
            return false;
        }
        if m.offset > expected {
            metrics::INPUT_OFFSET_ANOMALIES
                .with_label_values(&["gap"])
                .inc_by((m.offset - expected).unsigned_abs());
            debug!(task = %task, expected, offset = m.offset, "offsets skipped in the input");
        }
        self.expected.insert(m.source, m.offset + 1);
        true
    }

    pub(crate) fn finish(self) -> Screened {
        if self.replayed > 0 {
            metrics::INPUT_OFFSET_ANOMALIES
                .with_label_values(&["replayed"])
                .inc_by(self.replayed);
            debug!(
                replayed = self.replayed,
                "dropped messages below their task's next offset"
            );
        }
        self.out
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use bytes::Bytes;

    use super::*;

    fn message(source: SourceId, offset: i64) -> RawMessage {
        RawMessage {
            source,
            topic: Arc::from("sensors.ulm.traffic"),
            partition: 0,
            offset,
            key: None,
            payload: Bytes::new(),
            format: None,
        }
    }

    fn task() -> Task {
        Task {
            topic: Arc::from("sensors.ulm.traffic"),
            partition: 0,
        }
    }

    /// Screens `offsets` of source 0 as one batch; returns the kept offsets.
    fn screen(
        offsets: &[i64],
        resume: &mut Option<Resume>,
        next: Option<i64>,
    ) -> (Vec<i64>, Screened) {
        let mut s = Screen::default();
        let kept = offsets
            .iter()
            .filter(|&&o| s.check(&message(0, o), &task(), resume, next, &mut false))
            .copied()
            .collect();
        (kept, s.finish())
    }

    #[test]
    fn a_broker_resuming_at_the_checkpoint_changes_nothing() {
        let mut resume = Some(Resume::new(100));
        let (kept, out) = screen(&[100, 101, 102], &mut resume, Some(100));
        assert_eq!(kept, [100, 101, 102]);
        assert_eq!(out, Screened::default());
        assert_eq!(resume, None);
    }

    #[test]
    fn messages_already_applied_are_dropped() {
        let (kept, out) = screen(&[98, 99, 100, 101], &mut None, Some(100));
        assert_eq!(kept, [100, 101]);
        assert!(out.dropped && out.seeks.is_empty());
    }

    /// Tansu: the checkpoint is at 10000 inside a batch; the first message delivered is 10087.
    #[test]
    fn a_first_message_past_the_checkpoint_seeks_back_until_it_is_covered() {
        let mut resume = Some(Resume::new(10_000));
        let (kept, out) = screen(&[10_087, 10_088], &mut resume, Some(10_000));
        assert!(
            kept.is_empty(),
            "all of the task's messages wait for the seek"
        );
        assert_eq!(out.seeks, [(0, 10_000 - FIRST_REWIND)]);
        // the broker again starts at a batch after the checkpoint: twice as far back
        let (_, out) = screen(&[10_087], &mut resume, Some(10_000));
        assert_eq!(out.seeks, [(0, 10_000 - 2 * FIRST_REWIND)]);
        // now a batch starting before the checkpoint: replayed ones dropped, the rest kept
        let (kept, out) = screen(&[9_000, 9_999, 10_000, 10_001], &mut resume, Some(10_000));
        assert_eq!(kept, [10_000, 10_001]);
        assert!(out.dropped && out.seeks.is_empty());
        assert_eq!(resume, None);
    }

    #[test]
    fn a_gap_left_after_seeking_to_the_start_is_real_and_kept() {
        let mut resume = Some(Resume::new(300));
        let (_, out) = screen(&[400], &mut resume, Some(300));
        assert_eq!(out.seeks, [(0, 0)], "512 back from 300 is the start");
        let (kept, out) = screen(&[400, 401], &mut resume, Some(300));
        assert_eq!(kept, [400, 401], "nothing before 400 exists");
        assert!(!out.dropped && out.seeks.is_empty());
        assert_eq!(resume, None);
        // a later gap (transaction marker) is kept too
        let (kept, _) = screen(&[402, 404], &mut None, Some(402));
        assert_eq!(kept, [402, 404]);
    }

    /// Tansu after a cooperative rebalance: a partition kept through it is fetched again
    /// from 28972, inside a record batch, and the broker answers from 29133.
    #[test]
    fn a_gap_after_a_rebalance_is_sought_back_once() {
        let mut s = Screen::default();
        let (mut resume, mut verify) = (None, true);
        let kept: Vec<i64> = [28_970, 28_971, 29_133]
            .into_iter()
            .filter(|&o| {
                s.check(
                    &message(0, o),
                    &task(),
                    &mut resume,
                    Some(28_970),
                    &mut verify,
                )
            })
            .collect();
        assert_eq!(kept, [28_970, 28_971]);
        assert!(!verify, "one verification per rebalance");
        assert_eq!(s.finish().seeks, [(0, 28_972 - FIRST_REWIND)]);
        // the broker delivers from before the gap: replayed ones dropped, nothing skipped
        let (kept, _) = screen(&[28_900, 28_971, 28_972, 28_973], &mut resume, Some(28_972));
        assert_eq!(kept, [28_972, 28_973]);
        assert_eq!(resume, None);
        // a real gap (a transaction marker) after the verification is kept
        let mut s = Screen::default();
        let mut verify = false;
        assert!(s.check(
            &message(0, 28_975),
            &task(),
            &mut None,
            Some(28_974),
            &mut verify
        ));
    }

    /// A task waiting for its first message with nothing arriving (a checkpoint inside the
    /// partition's last record batch) is sought back the same way, by the runner's probe.
    #[test]
    fn stepping_back_doubles_until_the_start() {
        let mut r = Resume::new(1_500);
        assert_eq!(r.step_back(), Some(1_500 - FIRST_REWIND));
        assert_eq!(r.step_back(), Some(1_500 - 2 * FIRST_REWIND));
        assert_eq!(
            r.step_back(),
            Some(0),
            "4 × 512 back from 1 500 is the start"
        );
        assert_eq!(r.step_back(), None, "a gap left then is real");
    }
}
