//! A long-lived thread that checks the next batch while the pipeline applies the current one.
//!
//! Starting a thread per batch cost about a millisecond before it ran (on a 2-vCPU VM the
//! idle vCPU must first be woken by the hypervisor), a third of a batch's checking time. The
//! worker lives as long as the run. A side waiting for the other spins only briefly — most
//! hand-overs of a busy pipeline come within that — and then sleeps until woken, so an idle
//! pipeline costs no CPU and a busy one does not burn a core that a neighbour (or its own
//! other thread) could use (docs/performance.md, "Steady under noise").

use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use tracing::debug;

use crate::message::RawMessage;
use crate::pipeline::{Prepared, Preparer};
use stadtpuls_processing::time::ProcessingTime;

/// How long a waiting side spins before it sleeps. Spinning 500 µs took ~12 % of the CPU
/// samples of the reference run (many waits outlast it and sleep anyway), and on a busy
/// host a spinning thread takes the time slice the thread it waits for, or a neighbour,
/// needs; waking a sleeper costs tens of microseconds.
const SPIN: Duration = Duration::from_micros(50);

/// The item of a [`Slot`], and whether its taker sleeps (so a put must wake it).
struct Held<T> {
    item: Option<T>,
    sleeping: bool,
}

/// A one-item hand-over between two threads: a receive spins [`SPIN`], then sleeps.
struct Slot<T> {
    held: Mutex<Held<T>>,
    full: AtomicBool,
    wake: Condvar,
    waits: WaitStats,
}

/// How the waits of a [`Slot`]'s taker ended (written by the taker only).
#[derive(Default)]
struct WaitStats {
    takes: AtomicU64,
    slept: AtomicU64,
    spun_ns: AtomicU64,
}

impl<T> Slot<T> {
    fn new() -> Self {
        Self {
            held: Mutex::new(Held {
                item: None,
                sleeping: false,
            }),
            full: AtomicBool::new(false),
            wake: Condvar::new(),
            waits: WaitStats::default(),
        }
    }

    fn put(&self, value: T) {
        let mut held = self.held.lock().unwrap_or_else(PoisonError::into_inner);
        held.item = Some(value);
        self.full.store(true, Ordering::Release);
        // The taker checks the item and marks itself sleeping under this lock: no wake
        // is lost, and a spinning taker costs no futex call.
        if held.sleeping {
            self.wake.notify_one();
        }
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
        let spun = started.elapsed();
        let stats = &self.waits;
        stats.takes.fetch_add(1, Ordering::Relaxed);
        stats
            .spun_ns
            .fetch_add(spun.min(SPIN).as_nanos() as u64, Ordering::Relaxed);
        let mut held = self.held.lock().unwrap_or_else(PoisonError::into_inner);
        let mut counted = false;
        loop {
            if let Some(value) = held.item.take() {
                held.sleeping = false;
                self.full.store(false, Ordering::Release);
                return value;
            }
            if !counted {
                stats.slept.fetch_add(1, Ordering::Relaxed);
                counted = true;
            }
            held.sleeping = true;
            held = self.wake.wait(held).unwrap_or_else(PoisonError::into_inner);
        }
    }
}

impl WaitStats {
    /// (waits, waits that slept, time spent spinning).
    fn summary(&self) -> (u64, u64, Duration) {
        (
            self.takes.load(Ordering::Relaxed),
            self.slept.load(Ordering::Relaxed),
            Duration::from_nanos(self.spun_ns.load(Ordering::Relaxed)),
        )
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
        let (worker_waits, worker_slept, worker_spun) = self.shared.jobs.waits.summary();
        let (waits, slept, spun) = self.shared.done.waits.summary();
        debug!(
            worker_waits,
            worker_slept,
            worker_spun_ms = worker_spun.as_millis() as u64,
            waits,
            slept,
            spun_ms = spun.as_millis() as u64,
            "check worker stopped: hand-overs waited for, slept, spun"
        );
    }
}
