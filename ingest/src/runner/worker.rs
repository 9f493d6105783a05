//! A long-lived thread that checks the next batch while the pipeline applies the current one.
//!
//! Starting a thread per batch cost about a millisecond before it ran (on a 2-vCPU VM the
//! idle vCPU must first be woken by the hypervisor), a third of a batch's checking time. The
//! worker lives as long as the run and briefly spins while it waits for work, so a batch
//! handed over starts at once; after the spin it sleeps, so an idle pipeline costs no CPU.

use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::message::RawMessage;
use crate::pipeline::{Prepared, Preparer};
use stadtpuls_processing::time::ProcessingTime;

/// How long a waiting side spins before it sleeps: longer than the usual gap between two
/// batches under load, far shorter than a scheduler tick.
const SPIN: Duration = Duration::from_micros(500);

/// A one-item hand-over between two threads, with a spinning receive.
struct Slot<T> {
    item: Mutex<Option<T>>,
    full: AtomicBool,
    wake: Condvar,
}

impl<T> Slot<T> {
    fn new() -> Self {
        Self {
            item: Mutex::new(None),
            full: AtomicBool::new(false),
            wake: Condvar::new(),
        }
    }

    fn put(&self, value: T) {
        let mut item = self.item.lock().unwrap_or_else(PoisonError::into_inner);
        *item = Some(value);
        self.full.store(true, Ordering::Release);
        self.wake.notify_one();
    }

    fn take(&self) -> T {
        let started = Instant::now();
        let mut spins = 0u32;
        while !self.full.load(Ordering::Acquire) {
            std::hint::spin_loop();
            spins += 1;
            if spins.is_multiple_of(64) && started.elapsed() > SPIN {
                break;
            }
        }
        let mut item = self.item.lock().unwrap_or_else(PoisonError::into_inner);
        loop {
            if let Some(value) = item.take() {
                self.full.store(false, Ordering::Release);
                return value;
            }
            item = self.wake.wait(item).unwrap_or_else(PoisonError::into_inner);
        }
    }
}

/// Checks of `messages[..end]`.
pub(crate) struct Job {
    pub(crate) preparer: Preparer,
    pub(crate) messages: Arc<Vec<RawMessage>>,
    pub(crate) end: usize,
    pub(crate) now: ProcessingTime,
}

/// The checks of a job and how long they took.
pub(crate) type Done = (Prepared, Duration);

struct Shared {
    jobs: Slot<Option<Job>>,
    done: Slot<Done>,
}

/// The checking thread; stopped and joined on drop.
pub(crate) struct CheckWorker {
    shared: Arc<Shared>,
    thread: Option<JoinHandle<()>>,
}

impl CheckWorker {
    /// Starts the thread; `None` if the OS refuses (the caller then checks serially).
    pub(crate) fn start() -> Option<Self> {
        let shared = Arc::new(Shared {
            jobs: Slot::new(),
            done: Slot::new(),
        });
        let theirs = shared.clone();
        let thread = std::thread::Builder::new()
            .name("check".into())
            .spawn(move || {
                while let Some(job) = theirs.jobs.take() {
                    let started = Instant::now();
                    // A panicking check is a bug; its messages then take the serial path
                    // (no checks = every message decoded by the pipeline itself).
                    let checked = std::panic::catch_unwind(AssertUnwindSafe(|| {
                        job.preparer.prepare_with_room(
                            &job.messages[..job.end],
                            job.now,
                            job.messages.len(),
                        )
                    }))
                    .unwrap_or_default();
                    // Release the batch before reporting, so the caller owns it again.
                    drop(job);
                    theirs.done.put((checked, started.elapsed()));
                }
            })
            .ok()?;
        Some(Self {
            shared,
            thread: Some(thread),
        })
    }

    /// Hands a job over; [`Self::finish`] returns its result.
    pub(crate) fn submit(&self, job: Job) {
        self.shared.jobs.put(Some(job));
    }

    /// Waits for the job handed over last.
    pub(crate) fn finish(&self) -> Done {
        self.shared.done.take()
    }
}

impl Drop for CheckWorker {
    fn drop(&mut self) {
        self.shared.jobs.put(None);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}
