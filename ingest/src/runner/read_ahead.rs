//! Under load, two cores per batch: while the pipeline applies one batch, the next one is
//! read and most of its messages are checked on the worker thread (`worker.rs`); this
//! thread checks the rest, the split learnt per batch from both threads' speeds
//! ([`Balance`]). Results equal the serial path.

use std::sync::Arc;
use std::time::{Duration, Instant};

use super::worker::{CheckWorker, Job};
use crate::message::RawMessage;
use crate::pipeline::{Pipeline, Prepared, StepOutput};

/// Batches at least this large are applied while the next one is checked.
pub(super) const READ_AHEAD_MIN: usize = 2048;

pub(super) fn process(
    pipeline: &mut Pipeline,
    messages: &[RawMessage],
    prepared: Option<Prepared>,
    now: i64,
) -> stadtpuls_processing::Result<StepOutput> {
    match prepared {
        Some(prepared) => pipeline.process_prepared(messages, prepared, now),
        None => pipeline.process(messages, now),
    }
}

/// How a batch's checks are split between the other core and this one, learnt from the
/// last batches so both finish together.
#[derive(Debug, Clone, Copy)]
pub(super) struct Balance {
    /// Share of the next batch checked on the other core.
    worker_share: f64,
}

impl Default for Balance {
    fn default() -> Self {
        // Applying costs about half as much as checking: start with two thirds.
        Self {
            worker_share: 2.0 / 3.0,
        }
    }
}

/// Time spent checking a number of messages on one thread.
#[derive(Debug, Clone, Copy)]
struct Checks {
    messages: usize,
    time: Duration,
}

impl Checks {
    fn per_message(self) -> Option<f64> {
        (self.messages > 0 && !self.time.is_zero())
            .then(|| self.time.as_secs_f64() / self.messages as f64)
    }
}

impl Balance {
    /// Updates the share from one batch. With `c_w` and `c_m` the time to check one
    /// message on the worker and on this thread (their caches differ) and `a` the time to
    /// apply the batch, both finish together when the worker checks `s·n` messages and this
    /// thread applies and checks `(1 − s)·n`: `s·n·c_w = a + (1 − s)·n·c_m`, so
    /// `s = (a + n·c_m) / (n·(c_w + c_m))`. Smoothed (new = ¾ old + ¼ measured) and kept
    /// within [½, 0.95].
    fn learn(&mut self, worker: Checks, here: Checks, apply_time: Duration, next_len: usize) {
        let Some(c_w) = worker.per_message() else {
            return;
        };
        if next_len == 0 {
            return;
        }
        let c_m = here.per_message().unwrap_or(c_w);
        let n = next_len as f64;
        let ideal = (apply_time.as_secs_f64() + n * c_m) / (n * (c_w + c_m));
        self.worker_share = (0.75 * self.worker_share + 0.25 * ideal).clamp(0.5, 0.95);
    }
}

/// Applies `messages` on this thread while most of `next` is checked by the worker; this
/// thread checks the rest of `next` when done, so both cores stay busy. Gives `next` back.
pub(super) fn overlapped(
    worker: &CheckWorker,
    pipeline: &mut Pipeline,
    messages: &[RawMessage],
    prepared: Option<Prepared>,
    next: Vec<RawMessage>,
    now: i64,
    balance: &mut Balance,
) -> (
    stadtpuls_processing::Result<StepOutput>,
    Vec<RawMessage>,
    Prepared,
) {
    let preparer = pipeline.preparer();
    let prepared = prepared.unwrap_or_else(|| preparer.prepare_parallel(messages, now));
    let split = ((next.len() as f64 * balance.worker_share) as usize).min(next.len());
    let next = Arc::new(next);
    worker.submit(Job {
        preparer: preparer.clone(),
        messages: next.clone(),
        end: split,
        now,
    });
    let started = Instant::now();
    let out = pipeline.process_prepared(messages, prepared, now);
    let apply_time = started.elapsed();
    let tail_started = Instant::now();
    let tail = preparer.prepare(&next[split..], now);
    let here = Checks {
        messages: next.len() - split,
        time: tail_started.elapsed(),
    };
    let (mut checked, check_time) = worker.finish();
    // A batch that closed windows pays for emitting them once a window length; learning
    // from it would skew the split of the many ordinary batches.
    let emitted = out
        .as_ref()
        .is_ok_and(|o| !o.traffic.is_empty() || !o.parking.is_empty());
    if !emitted {
        let worker = Checks {
            messages: split,
            time: check_time,
        };
        balance.learn(worker, here, apply_time, next.len());
    }
    if checked.len() == split {
        checked.extend(tail);
    } else {
        // The worker's checks were lost (a bug): the whole batch takes the serial path.
        checked = Prepared::default();
    }
    // The worker released its handle before reporting; a copy is a fallback only.
    let next = Arc::try_unwrap(next).unwrap_or_else(|shared| shared.as_ref().clone());
    (out, next, checked)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn checks(messages: usize, ms: u64) -> Checks {
        Checks {
            messages,
            time: Duration::from_millis(ms),
        }
    }

    /// Worker: 600 checks in 60 ms (0.1 ms each); here: 300 in 15 ms (0.05 ms each);
    /// applying took 20 ms; the next batch has 900: ideal share = (20 + 900·0.05) /
    /// (900·(0.1 + 0.05)) = 65 / 135 = 0.48148; smoothed from ⅔: ¾·0.66667 + ¼·0.48148 =
    /// 0.62037.
    #[test]
    fn balance_moves_towards_equal_finish_times() {
        let mut b = Balance::default();
        b.learn(
            checks(600, 60),
            checks(300, 15),
            Duration::from_millis(20),
            900,
        );
        assert!(
            (b.worker_share - 0.620_370).abs() < 1e-5,
            "{}",
            b.worker_share
        );
        // an apply far more expensive than checking saturates at 0.95
        for _ in 0..50 {
            b.learn(checks(600, 1), checks(300, 1), Duration::from_secs(1), 900);
        }
        assert!((b.worker_share - 0.95).abs() < 1e-9);
        // nothing measured: unchanged
        b.learn(checks(0, 0), checks(0, 0), Duration::ZERO, 0);
        assert!((b.worker_share - 0.95).abs() < 1e-9);
    }
}
