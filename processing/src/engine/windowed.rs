//! The bookkeeping every windowed operator shares, written once: its window families and
//! open windows, the clocks of its sources and the watermark they make, and which task
//! owns each entity.
//!
//! An operator adds only what is its own: which key a row folds under and how (the
//! accumulator), how a window's rows are built (the emitter), and how its entities are
//! named in a snapshot. Everything about sources — lateness judged before a batch, the
//! source's clock moved after it, the watermark closing windows, a task's windows and
//! clock exported and imported, its state dropped on revoke — happens here, the same way
//! for traffic and parking.

use crate::Result;
use crate::catalog::EntityKey;
use crate::time::{EventTime, ProcessingTime};
use crate::window::owners::{NO_OWNER, Owners, by_owner};
use crate::window::restore::RestoreStats;
use crate::window::slab::Windows;
use crate::window::slab::snapshot::ShapeWindows;
use crate::window::watermark::{SourceId, WatermarkState, WatermarkTracker};
use crate::window::{ClosedWindows, Emission, ProcessStats, WindowShape, WindowSpec};

use super::operator::Close;

/// Open windows of accumulators `A`, with their sources' clocks and entity owners.
#[derive(Debug)]
pub(crate) struct Windowed<A> {
    shapes: Vec<WindowShape>,
    windows: Windows<A>,
    watermarks: WatermarkTracker,
    /// The task owning each entity's state.
    owners: Owners,
    /// The entity (owner key) of a window key: the key itself, or the sensor of a
    /// (sensor, lane) key.
    entity: fn(u32) -> EntityKey,
}

/// The open windows and the clock a task's snapshot keeps.
pub(crate) type TaskWindows<E> = (Vec<ShapeWindows<E>>, WatermarkState);

impl<A: Default> Windowed<A> {
    /// Windows of `spec`'s families; a row at `t` falls in the windows containing
    /// `t − assign_offset_ms` (1 ms for interval ends, 0 for instants).
    pub(crate) fn new(
        spec: &WindowSpec,
        assign_offset_ms: i64,
        entity: fn(u32) -> EntityKey,
    ) -> Self {
        Self {
            shapes: spec.shapes.clone(),
            windows: Windows::new(
                &spec.shapes.iter().map(|s| s.slab()).collect::<Vec<_>>(),
                assign_offset_ms,
                spec.allowed_lateness_ms,
            ),
            watermarks: WatermarkTracker::new(spec.out_of_orderness_ms, spec.idle_timeout_ms),
            owners: Owners::default(),
            entity,
        }
    }

    /// The sources' clocks (registration, heartbeats, the watermark).
    pub(crate) fn clocks(&self) -> &WatermarkTracker {
        &self.watermarks
    }

    /// The sources' clocks, to register or forget a source.
    pub(crate) fn clocks_mut(&mut self) -> &mut WatermarkTracker {
        &mut self.watermarks
    }

    /// Who owns which entity.
    pub(crate) fn owners(&self) -> &Owners {
        &self.owners
    }

    /// Who owns which entity, for an operator recording the owners of its rows itself.
    pub(crate) fn owners_mut(&mut self) -> &mut Owners {
        &mut self.owners
    }

    /// The source owning entity `key` ([`NO_OWNER`] if none).
    pub(crate) fn owner_of(&self, key: EntityKey) -> SourceId {
        self.owners.get(key)
    }

    /// The task owning the state of entity `key`, if any.
    pub(crate) fn owner(&self, key: EntityKey) -> Option<SourceId> {
        Some(self.owners.get(key)).filter(|&o| o != NO_OWNER)
    }

    /// Folds rows of one source into every window they belong to: `fold(acc, row)` folds
    /// row `row` (keyed `keys[row]`, below `key_count`; [`NONE`](crate::window::slab::NONE)
    /// rows only move the clock).
    ///
    /// Lateness is judged against the watermark *before* the batch (settled first if a
    /// restore came in since); then the batch moves its source's clock. Call
    /// [`Self::close`] afterwards to emit what the watermark passed.
    pub(crate) fn fold(
        &mut self,
        source: SourceId,
        now: ProcessingTime,
        ts: &[EventTime],
        keys: &[u32],
        key_count: usize,
        fold: impl FnMut(&mut A, usize),
    ) -> ProcessStats {
        self.watermarks.settle();
        let lateness = self.watermarks.lateness(source);
        let update = self.windows.update(ts, keys, key_count, lateness, fold);
        if let Some(&max) = ts.iter().max() {
            self.watermarks.observe(source, max, now);
        }
        ProcessStats::from_update(ts.len(), &self.shapes, update)
    }

    /// Moves the watermark (`until`) and hands every window it passed to `sink`, one
    /// [`ClosedWindows`] per window, revision and owning task, built by `rows`.
    ///
    /// # Errors
    /// `rows`' or `sink`'s error; the windows after it are dropped.
    pub(crate) fn close(
        &mut self,
        until: Close,
        sink: &mut dyn FnMut(ClosedWindows) -> Result<()>,
        rows: impl Fn(Emission, Vec<(u32, &A)>) -> Result<ClosedWindows>,
    ) -> Result<()> {
        let wm = match until {
            Close::Due(now) => self.watermarks.advance(now),
            Close::All => self.watermarks.finish(),
        };
        let Some(t) = wm.time() else {
            return Ok(());
        };
        let (owners, entity) = (&self.owners, self.entity);
        let mut result = Ok(());
        self.windows.emit(t, |shape, start, revision, entries| {
            if result.is_err() {
                return;
            }
            result = by_owner(entries, owners, |key| owners.get(entity(key)))
                .into_iter()
                .try_for_each(|(owner, entries)| {
                    let window = Emission {
                        shape,
                        start,
                        revision,
                        owner,
                    };
                    sink(rows(window, entries)?)
                });
        });
        result
    }

    /// The open windows of the entities `source` owns, each entry as `select` maps it
    /// (`None` leaves it out), and the source's clock.
    pub(crate) fn export<E>(
        &self,
        source: SourceId,
        mut select: impl FnMut(u32, &A) -> Option<E>,
    ) -> TaskWindows<E> {
        let (owners, entity) = (&self.owners, self.entity);
        let windows = self.windows.export(|key, acc| {
            if owners.get(entity(key)) != source {
                return None;
            }
            select(key, acc)
        });
        (windows, self.watermarks.export(source))
    }

    /// Merges a task's windows and clock back at processing time `now`; `resolve` maps an
    /// entry to its key (below `key_count`) and accumulator here, `None` drops it. The
    /// caller has made `source` the owner of the resolved entities.
    pub(crate) fn import<E>(
        &mut self,
        source: SourceId,
        (windows, watermark): (&[ShapeWindows<E>], &WatermarkState),
        key_count: usize,
        now: ProcessingTime,
        resolve: impl FnMut(&E) -> Option<(u32, A)>,
    ) -> RestoreStats {
        let total: usize = windows
            .iter()
            .flat_map(|s| &s.windows)
            .map(|w| w.entries.len())
            .sum();
        let restored = self.windows.import(windows, key_count, resolve);
        self.watermarks.import(source, watermark, now);
        RestoreStats {
            restored,
            dropped: total - restored,
        }
    }

    /// Makes `source` the owner of entity `key` (restore).
    pub(crate) fn set_owner(&mut self, key: EntityKey, source: SourceId) {
        self.owners.set(key, source);
    }

    /// Drops the windows of every entity `source` owns and forgets the source (partition
    /// revoked, after its checkpoint). An operator drops its own state of those entities
    /// first (see [`Self::owner_of`]).
    pub(crate) fn revoke(&mut self, source: SourceId) {
        let (owners, entity) = (&self.owners, self.entity);
        self.windows.retain(|key| owners.get(entity(key)) != source);
        self.owners.forget(source);
        self.watermarks.remove(source);
    }

    /// Number of open (entity, window) states.
    pub(crate) fn open_states(&self) -> usize {
        self.windows.open_states()
    }

    /// Bytes of open window state.
    pub(crate) fn state_bytes(&self) -> usize {
        self.windows.state_bytes()
    }
}
