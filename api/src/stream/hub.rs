//! The push stream's hub: a bounded ring of numbered events the pipeline publishes into,
//! and one dispatcher task that copies each new event into the bounded queue of every
//! subscriber whose filter it matches.
//!
//! Publishing takes one short lock and never waits for a reader: the ring drops its
//! oldest event when full, and a subscriber whose queue is full is cut off (it gets a
//! final `dropped` event when its connection takes more), never waited for. The ring
//! also serves `Last-Event-ID` resumes.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock, PoisonError};

use stadtpuls_processing::live::{LiveEvent, LiveEvents};
use tokio::sync::{Notify, mpsc};

use super::filter::Filter;
use crate::metrics::{SSE_CLIENTS, SSE_DROPPED, SSE_RING_OVERWRITTEN};

/// Why a subscriber was cut off (the `reason` label of `stadtpuls_sse_dropped_total`).
pub const REASON_SLOW_CLIENT: &str = "slow_client";
/// The dispatcher itself fell behind the ring: events were lost for every subscriber.
pub const REASON_SERVER_LAGGED: &str = "server_lagged";

/// The server is stopping: every subscriber's stream ends.
pub const REASON_SHUTDOWN: &str = "shutdown";

/// One published event with its stream id.
#[derive(Debug)]
pub struct Entry {
    /// Stream id: strictly increasing within a process, starting from the hub's first id.
    pub id: u64,
    /// The change.
    pub event: LiveEvent,
    /// The SSE frame of the event, encoded once by the first reader (not by the pipeline).
    pub(super) data: OnceLock<bytes::Bytes>,
}

/// Sizes of the stream (`[api] stream_ring`, `stream_client_queue`).
#[derive(Debug, Clone, Copy)]
pub struct HubLimits {
    /// Events kept for resumes; the oldest is dropped when full.
    pub ring: usize,
    /// Events queued per subscriber before it is cut off.
    pub client_queue: usize,
}

#[derive(Debug)]
struct Ring {
    next_id: u64,
    entries: VecDeque<Arc<Entry>>,
}

impl Ring {
    /// Id of the newest event (one below the first id while empty).
    fn head(&self) -> u64 {
        self.next_id - 1
    }
}

/// A subscriber as the dispatcher sees it.
struct Subscriber {
    filter: Arc<Filter>,
    /// Events up to this id reached it through its start (the backlog), not the queue.
    after: u64,
    queue: mpsc::Sender<Arc<Entry>>,
    cut: Arc<Cut>,
}

/// A subscriber's end: why it was cut off, and whether it is still counted in
/// `stadtpuls_sse_clients` (released once, by the cut or by its stream's drop).
#[derive(Debug, Default)]
pub struct Cut {
    reason: OnceLock<&'static str>,
    counted: AtomicBool,
    /// Wakes [`Cut::wait`]ers when the reason is set.
    done: tokio::sync::Notify,
}

impl Cut {
    /// Why the subscriber was cut off, if it was.
    pub fn reason(&self) -> Option<&'static str> {
        self.reason.get().copied()
    }

    /// Completes once the subscriber is cut off (at once if it already is).
    pub async fn wait(&self) {
        let notified = self.done.notified();
        tokio::pin!(notified);
        // Registered before the check, so a cut in between still wakes this waiter.
        notified.as_mut().enable();
        if self.reason().is_some() {
            return;
        }
        notified.await;
    }

    fn cut(&self, reason: &'static str) {
        if self.reason.set(reason).is_ok() {
            SSE_DROPPED.with_label_values(&[reason]).inc();
            tracing::info!(reason, "stream client cut off");
            self.done.notify_waiters();
        }
        self.release();
    }

    /// Stops counting the subscriber as connected (idempotent).
    pub fn release(&self) {
        if self.counted.swap(false, Ordering::AcqRel) {
            SSE_CLIENTS.dec();
        }
    }
}

/// Counts a subscriber in `stadtpuls_sse_clients` until dropped (or cut off before).
#[derive(Debug)]
pub struct Counted(Arc<Cut>);

impl Drop for Counted {
    fn drop(&mut self) {
        self.0.release();
    }
}

/// What a new subscriber starts with.
#[derive(Debug)]
pub struct Subscription {
    /// Retained events after the requested id that match the filter, oldest first.
    pub backlog: Vec<Arc<Entry>>,
    /// Set when events after the requested id are no longer in the ring (or the id was
    /// never issued by this process): the client missed data.
    pub missed: Option<Missed>,
    /// Events from the dispatcher, after the backlog.
    pub queue: mpsc::Receiver<Arc<Entry>>,
    /// The subscriber's end.
    pub cut: Arc<Cut>,
    /// Keeps it counted as connected while held.
    pub counted: Counted,
}

/// A resume the ring cannot serve completely.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Missed {
    /// The `Last-Event-ID` the client sent.
    pub last_event_id: u64,
    /// The oldest id still in the ring (the head + 1 when it is empty).
    pub oldest_id: u64,
}

/// The bounded hub between the pipeline and the stream's subscribers.
pub struct Hub {
    limits: HubLimits,
    first_id: u64,
    ring: Mutex<Ring>,
    subscribers: Mutex<Vec<Subscriber>>,
    wake: Notify,
}

impl std::fmt::Debug for Hub {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Hub").field("limits", &self.limits).finish()
    }
}

impl Hub {
    /// A hub whose first event gets `first_id` (the binary takes the wall clock in
    /// microseconds, so ids of a restarted process are above the previous one's and a
    /// resume across a restart is reported as missed).
    pub fn new(limits: HubLimits, first_id: u64) -> Self {
        let limits = HubLimits {
            ring: limits.ring.max(1),
            client_queue: limits.client_queue.max(1),
        };
        Self {
            limits,
            first_id: first_id.max(1),
            ring: Mutex::new(Ring {
                next_id: first_id.max(1),
                entries: VecDeque::with_capacity(limits.ring),
            }),
            subscribers: Mutex::new(Vec::new()),
            wake: Notify::new(),
        }
    }

    /// The configured sizes.
    pub fn limits(&self) -> HubLimits {
        self.limits
    }

    /// Numbers `events`, appends them to the ring (dropping the oldest beyond its size)
    /// and wakes the dispatcher. Never waits for a subscriber.
    pub fn push(&self, events: Vec<LiveEvent>) {
        if events.is_empty() {
            return;
        }
        {
            let mut ring = self.ring.lock().unwrap_or_else(PoisonError::into_inner);
            for event in events {
                let id = ring.next_id;
                ring.next_id += 1;
                if ring.entries.len() == self.limits.ring {
                    ring.entries.pop_front();
                }
                ring.entries.push_back(Arc::new(Entry {
                    id,
                    event,
                    data: OnceLock::new(),
                }));
            }
        }
        self.wake.notify_one();
    }

    /// Registers a subscriber: its backlog after `last_event_id` (none without one) and
    /// its queue of what follows, without gap or repetition between the two.
    pub fn subscribe(&self, filter: Arc<Filter>, last_event_id: Option<u64>) -> Subscription {
        let (tx, queue) = mpsc::channel(self.limits.client_queue);
        let cut = Arc::new(Cut::default());
        let ring = self.ring.lock().unwrap_or_else(PoisonError::into_inner);
        let head = ring.head();
        let oldest = ring.entries.front().map_or(head + 1, |e| e.id);
        let mut backlog = Vec::new();
        let mut missed = None;
        if let Some(last) = last_event_id {
            // Ids after `last` are gone when `last` is older than the ring's oldest
            // predecessor, or were never issued here (another process, or a made-up id).
            if last + 1 < oldest || last > head {
                missed = Some(Missed {
                    last_event_id: last,
                    oldest_id: oldest,
                });
            }
            let from = if last > head { 0 } else { last };
            backlog = ring
                .entries
                .iter()
                .filter(|e| e.id > from && filter.matches(&e.event))
                .cloned()
                .collect();
        }
        // Registered under the ring's lock: the dispatcher sends from `head + 1` on.
        let mut subscribers = self
            .subscribers
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        cut.counted.store(true, Ordering::Release);
        SSE_CLIENTS.inc();
        subscribers.push(Subscriber {
            filter,
            after: head,
            queue: tx,
            cut: Arc::clone(&cut),
        });
        drop(subscribers);
        drop(ring);
        Subscription {
            backlog,
            missed,
            queue,
            counted: Counted(Arc::clone(&cut)),
            cut,
        }
    }

    /// Ends every subscriber's stream with a final `dropped` event (reason `shutdown`),
    /// so the API's drain at shutdown is not held by open streams.
    pub fn close(&self) {
        let mut subscribers = self
            .subscribers
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        for s in subscribers.drain(..) {
            s.cut.cut(REASON_SHUTDOWN);
        }
    }

    /// Subscribers registered and not yet removed (cut off or gone).
    pub fn subscribers(&self) -> usize {
        self.subscribers
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .len()
    }

    /// Copies every new event into the queues of the subscribers it matches, for ever
    /// (spawn it once on the API's runtime). A full queue cuts its subscriber off; a
    /// closed one (the client went away) removes it.
    pub async fn dispatch(self: Arc<Self>) {
        // From the first id: events published before this task first ran are sent too.
        let mut cursor = self.first_id - 1;
        loop {
            self.wake.notified().await;
            loop {
                let (batch, lost) = self.take_after(cursor);
                let Some(last) = batch.last() else { break };
                cursor = last.id;
                self.deliver(&batch, lost);
            }
        }
    }

    /// Events after `cursor` (at most 1,024 at a time), and whether some after it were
    /// already dropped from the ring.
    fn take_after(&self, cursor: u64) -> (Vec<Arc<Entry>>, bool) {
        let ring = self.ring.lock().unwrap_or_else(PoisonError::into_inner);
        let oldest = ring.entries.front().map_or(ring.next_id, |e| e.id);
        let skip = usize::try_from((cursor + 1).saturating_sub(oldest)).unwrap_or(usize::MAX);
        let batch: Vec<Arc<Entry>> = ring.entries.iter().skip(skip).take(1024).cloned().collect();
        let lost = batch.first().is_some_and(|e| e.id > cursor + 1);
        if lost && let Some(first) = batch.first() {
            SSE_RING_OVERWRITTEN.inc_by(first.id - cursor - 1);
        }
        (batch, lost)
    }

    fn deliver(&self, batch: &[Arc<Entry>], lost: bool) {
        let mut subscribers = self
            .subscribers
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if lost {
            // Every subscriber missed events: end their streams so they resume and learn it.
            for s in subscribers.drain(..) {
                s.cut.cut(REASON_SERVER_LAGGED);
            }
            return;
        }
        subscribers.retain(|s| {
            for entry in batch {
                if entry.id <= s.after || !s.filter.matches(&entry.event) {
                    continue;
                }
                match s.queue.try_send(Arc::clone(entry)) {
                    Ok(()) => {}
                    Err(mpsc::error::TrySendError::Full(_)) => {
                        s.cut.cut(REASON_SLOW_CLIENT);
                        return false;
                    }
                    Err(mpsc::error::TrySendError::Closed(_)) => {
                        s.cut.release();
                        return false;
                    }
                }
            }
            !s.queue.is_closed()
        });
    }
}

impl LiveEvents for Hub {
    fn publish(&self, events: Vec<LiveEvent>) {
        self.push(events);
    }
}
