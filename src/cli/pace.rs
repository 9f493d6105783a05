//! A rate limit for the commands that write to Kafka (`produce`, `replay`).

use std::time::{Duration, Instant};

/// Holds a writer to `rate` messages per second on average since its start (0: no limit),
/// sleeping only when ahead, so a slow broker is not made up for by a burst later.
#[derive(Debug)]
pub struct Pace {
    rate: u64,
    started: Instant,
    sent: u64,
}

impl Pace {
    pub fn new(rate: u64) -> Self {
        Self {
            rate,
            started: Instant::now(),
            sent: 0,
        }
    }

    /// Counts one message and waits until the rate allows the next.
    pub async fn sent_one(&mut self) {
        self.sent += 1;
        if self.rate > 0 {
            let due = Duration::from_secs_f64(self.sent as f64 / self.rate as f64);
            if let Some(wait) = due.checked_sub(self.started.elapsed()) {
                tokio::time::sleep(wait).await;
            }
        }
    }

    pub fn sent(&self) -> u64 {
        self.sent
    }

    pub fn elapsed(&self) -> Duration {
        self.started.elapsed()
    }

    /// Messages per second so far.
    pub fn per_second(&self) -> f64 {
        self.sent as f64 / self.started.elapsed().as_secs_f64().max(1e-3)
    }
}
