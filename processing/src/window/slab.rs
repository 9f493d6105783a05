//! Open windows of every configured shape, each a compact array of accumulators.
//!
//! Events mostly arrive in order, so only a handful of windows per shape are open at once;
//! a short vector searched from the newest end finds the right one in a step or two. Inside
//! a window, a dense `key → slot` index (4 bytes per known entity) points into a compact
//! array of the accumulators of entities actually seen, so memory follows the data and the
//! hot path never hashes.
//!
//! A window is emitted when the watermark passes its end and kept for the allowed lateness:
//! a late row within it updates its entity's entry, which is emitted again with the next
//! revision; a row later than that is dropped and reported.

mod entries;
pub(crate) mod snapshot;

use self::entries::Entries;
use crate::time::{EventTime, window_start};

/// How many rows ahead [`Windows::update`] asks for an accumulator.
const FOLD_PREFETCH: usize = 8;

/// Slot index meaning "entity not seen in this window"; as a row's key, a row that holds no
/// state here but moves its source's clock on (see [`Windows::update`]).
pub(crate) const NONE: u32 = u32::MAX;

/// The size and slide of a window family; `slide == size` is a tumbling window.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Shape {
    pub(crate) size_ms: i64,
    pub(crate) slide_ms: i64,
}

/// The accumulators of one window.
///
/// Emission is tracked per entry, not per window: an entry's row is emitted when its window
/// closes and again, with the next revision, each time a late row changes it. So what one
/// entity's rows show depends on that entity's data only — not on other tasks' entries of
/// the same window, which may come from snapshots of other moments after a restore.
#[derive(Debug)]
pub(crate) struct Slab<A> {
    pub(crate) start: EventTime,
    /// Key → slot in `entries`, [`NONE`] for entities not seen in this window. It is also
    /// the only list of the window's keys: walked in order, it gives them sorted.
    index: Vec<u32>,
    entries: Entries<A>,
    /// Whether an entry may be due: set by folds and restores, cleared by emission, so
    /// emission skips windows nothing happened to.
    pending: bool,
}

impl<A> Slab<A> {
    /// The (key, slot) of every entity seen, by key.
    fn slots(&self) -> impl Iterator<Item = (u32, u32)> + '_ {
        slots_of(&self.index)
    }

    /// Marks the entries due — never emitted, or changed since their last emission — as
    /// emitted, and returns them by revision (ascending), each run ordered by key.
    fn take_due(&mut self) -> Vec<(u32, Vec<(u32, &A)>)> {
        let Self { index, entries, .. } = self;
        entries.take_due(slots_of(index))
    }

    /// Number of entities seen.
    pub(crate) fn len(&self) -> usize {
        self.entries.len()
    }
}

fn slots_of(index: &[u32]) -> impl Iterator<Item = (u32, u32)> + '_ {
    index
        .iter()
        .enumerate()
        .filter(|(_, slot)| **slot != NONE)
        .map(|(key, &slot)| (key as u32, slot))
}

#[derive(Debug)]
struct ShapeState<A> {
    shape: Shape,
    /// Open windows sorted by start.
    open: Vec<Slab<A>>,
}

/// What [`Windows::update`] did with a batch.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub(crate) struct UpdateStats {
    /// Per shape: rows dropped from at least one window because they were later than the
    /// allowed lateness.
    pub(crate) dropped: Vec<u64>,
    /// Per shape: rows that updated an already emitted window (late within lateness).
    pub(crate) updated_late: Vec<u64>,
    /// Every (row, window) a row was dropped from, by shape, then row, then window start
    /// (newest first): what the dead letter of the row's message names.
    pub(crate) dropped_windows: Vec<DroppedWindow>,
}

/// A window that dropped a row as later than the allowed lateness.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct DroppedWindow {
    /// The row's index in the batch.
    pub(crate) row: u32,
    /// The window family's index in the configured shapes.
    pub(crate) shape: usize,
    /// The window's start.
    pub(crate) start: EventTime,
}

/// What a row's lateness is judged against: the later of the operator watermark when the
/// batch began and its own source's watermark just before the row.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Lateness {
    /// The operator watermark (`None` before the first): the highest it has been, or for a
    /// source catching up after a restore the current one (see `watermark.rs`).
    pub(crate) watermark: Option<EventTime>,
    /// The newest event time of the batch's source before the batch.
    pub(crate) source_max: Option<EventTime>,
    /// A source's watermark trails its newest event by this much (out-of-orderness + 1 ms).
    pub(crate) lag_ms: i64,
}

/// Open windows for every configured shape.
#[derive(Debug)]
pub(crate) struct Windows<A> {
    shapes: Vec<ShapeState<A>>,
    /// 1 ms when timestamps mark the *end* of an interval, so an interval ending exactly on a
    /// window boundary belongs to the window it closes; 0 for instants.
    assign_offset_ms: i64,
    allowed_lateness_ms: i64,
    /// Index arrays of retired windows, reset, for reuse.
    spare_index: Vec<Vec<u32>>,
}

impl<A: Default> Windows<A> {
    pub(crate) fn new(shapes: &[Shape], assign_offset_ms: i64, allowed_lateness_ms: i64) -> Self {
        Self {
            shapes: shapes
                .iter()
                .map(|&shape| ShapeState {
                    shape,
                    open: Vec::new(),
                })
                .collect(),
            assign_offset_ms,
            allowed_lateness_ms,
            spare_index: Vec::new(),
        }
    }

    /// Feeds rows of one source into every window they belong to; `update(acc, row)` folds
    /// row `row`. A row keyed [`NONE`] is not folded.
    ///
    /// A row is judged against `wm = max(operator watermark, source_max' − lag)`,
    /// `source_max'` being the newest event time of its source before it (earlier batches
    /// and the rows before it in this one, [`NONE`] rows included): a window with
    /// `end ≤ wm` has been emitted; a row for it still counts while
    /// `end + allowed_lateness > wm` (the window is re-emitted), and is dropped after.
    ///
    /// While a source is active the operator watermark is never ahead of its own, so
    /// whether a row is late depends only on the rows of its partition before it — not on
    /// how far other partitions had got, nor on where batches were cut. A replay after a
    /// restore, when the others are further ahead than they were the first time, drops
    /// exactly the rows the first run dropped.
    pub(crate) fn update<F>(
        &mut self,
        ts: &[EventTime],
        keys: &[u32],
        key_count: usize,
        lateness: Lateness,
        mut update: F,
    ) -> UpdateStats
    where
        F: FnMut(&mut A, usize),
    {
        debug_assert_eq!(ts.len(), keys.len());
        let offset = self.assign_offset_ms;
        let allowed = self.allowed_lateness_ms;
        let operator = lateness.watermark.unwrap_or(EventTime::MIN);
        let lag = lateness.lag_ms;
        let n_shapes = self.shapes.len();
        let mut stats = UpdateStats {
            dropped: vec![0; n_shapes],
            updated_late: vec![0; n_shapes],
            dropped_windows: Vec::new(),
        };
        for (shape_index, state) in self.shapes.iter_mut().enumerate() {
            let Shape { size_ms, slide_ms } = state.shape;
            let per_row = (size_ms / slide_ms).max(1);
            // One cache entry per overlapping window: in-order rows hit it nearly always.
            let mut cache: Vec<(EventTime, usize)> = vec![(EventTime::MIN, 0); per_row as usize];
            let mut source_max = lateness.source_max.unwrap_or(EventTime::MIN);
            for (row, (&t, &key)) in ts.iter().zip(keys).enumerate() {
                let wm = operator.max(source_max.saturating_sub(lag));
                source_max = source_max.max(t);
                if key == NONE {
                    continue;
                }
                // Accumulators are read in event order, at random: load a few rows ahead
                // in the window most rows go to.
                if let (Some(&ahead), Some(slab)) =
                    (keys.get(row + FOLD_PREFETCH), state.open.get(cache[0].1))
                    && let Some(acc) = slab
                        .index
                        .get(ahead as usize)
                        .and_then(|&slot| slab.entries.get(slot))
                {
                    crate::prefetch::prefetch(acc);
                }
                let newest = window_start(t - offset, slide_ms);
                let mut row_dropped = false;
                let mut row_late = false;
                for k in 0..per_row {
                    let start = newest - k * slide_ms;
                    let end = start + size_ms;
                    if end <= t - offset {
                        break;
                    }
                    if end.saturating_add(allowed) <= wm {
                        row_dropped = true;
                        stats.dropped_windows.push(DroppedWindow {
                            row: row as u32,
                            shape: shape_index,
                            start,
                        });
                        continue;
                    }
                    row_late |= end <= wm;
                    let cached = &mut cache[k as usize];
                    let position = if cached.0 == start
                        && state.open.get(cached.1).is_some_and(|s| s.start == start)
                    {
                        cached.1
                    } else {
                        let p =
                            find_or_open(&mut state.open, start, key_count, &mut self.spare_index);
                        *cached = (start, p);
                        p
                    };
                    let slab = &mut state.open[position];
                    let s = slot(slab, key, key_count);
                    if let Some(acc) = slab.entries.touch(s) {
                        update(acc, row);
                    }
                    slab.pending = true;
                }
                if row_dropped {
                    stats.dropped[shape_index] += 1;
                } else if row_late {
                    stats.updated_late[shape_index] += 1;
                }
            }
        }
        stats
    }

    /// Emits, of every window the watermark has passed, the entries that are new or changed
    /// since their last emission — `emit(shape, window start, revision, entries)`, once per
    /// revision, entries ordered by key — then retires windows older than the allowed
    /// lateness.
    pub(crate) fn emit<T, F>(&mut self, watermark: EventTime, mut emit: F) -> Vec<T>
    where
        F: FnMut(Shape, EventTime, u32, Vec<(u32, &A)>) -> T,
    {
        let mut out = Vec::new();
        for state in &mut self.shapes {
            let shape = state.shape;
            for slab in &mut state.open {
                if slab.start.saturating_add(shape.size_ms) > watermark {
                    break;
                }
                if !std::mem::take(&mut slab.pending) {
                    continue;
                }
                let start = slab.start;
                for (revision, entries) in slab.take_due() {
                    out.push(emit(shape, start, revision, entries));
                }
            }
            let lateness = self.allowed_lateness_ms;
            let retire = state
                .open
                .iter()
                .take_while(|s| {
                    s.start
                        .saturating_add(shape.size_ms)
                        .saturating_add(lateness)
                        <= watermark
                })
                .count();
            for slab in state.open.drain(..retire) {
                let mut index = slab.index;
                index.fill(NONE);
                self.spare_index.push(index);
            }
        }
        out
    }

    /// Number of (entity, window) states currently open, for observability.
    pub(crate) fn open_states(&self) -> usize {
        self.shapes
            .iter()
            .flat_map(|s| s.open.iter())
            .map(Slab::len)
            .sum()
    }

    /// Bytes held by open window state.
    pub(crate) fn state_bytes(&self) -> usize {
        self.shapes
            .iter()
            .flat_map(|s| s.open.iter())
            .map(|slab| slab.index.capacity() * 4 + slab.entries.bytes())
            .sum()
    }
}

/// The slot of `key` in `slab`, created on first sight.
fn slot<A: Default>(slab: &mut Slab<A>, key: u32, key_count: usize) -> u32 {
    let k = key as usize;
    if k >= slab.index.len() {
        slab.index.resize(key_count.max(k + 1), NONE);
    }
    let mut s = slab.index[k];
    if s == NONE {
        s = slab.entries.push(A::default());
        slab.index[k] = s;
    }
    s
}

fn find_or_open<A>(
    open: &mut Vec<Slab<A>>,
    start: EventTime,
    key_count: usize,
    spare: &mut Vec<Vec<u32>>,
) -> usize {
    if let Some(pos) = open.iter().rposition(|s| s.start == start) {
        return pos;
    }
    let pos = open.partition_point(|s| s.start < start);
    let mut index = spare.pop().unwrap_or_default();
    if index.len() < key_count {
        index.resize(key_count, NONE);
    }
    open.insert(
        pos,
        Slab {
            start,
            index,
            entries: Entries::default(),
            pending: false,
        },
    );
    pos
}

#[cfg(test)]
mod tests;
