//! Open windows of every configured shape, each a compact array of accumulators.
//!
//! Events mostly arrive in order, so only a handful of windows per shape are open at once;
//! a short vector searched from the newest end finds the right one in a step or two. Inside
//! a window, a dense `key → slot` index (4 bytes per known entity) points into a compact
//! array of the accumulators of entities actually seen, so memory follows the data and the
//! hot path never hashes.
//!
//! A window is emitted when the watermark passes its end and kept for the allowed lateness:
//! a late row within it updates the window, which is emitted again with the next revision;
//! a row later than that is dropped and reported.

use crate::time::{EventTime, window_start};

/// How many rows ahead [`Windows::update`] asks for an accumulator.
const FOLD_PREFETCH: usize = 8;

/// Slot index meaning "entity not seen in this window".
const NONE: u32 = u32::MAX;

/// The size and slide of a window family; `slide == size` is a tumbling window.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Shape {
    pub(crate) size_ms: i64,
    pub(crate) slide_ms: i64,
}

/// The accumulators of one window.
#[derive(Debug)]
pub(crate) struct Slab<A> {
    pub(crate) start: EventTime,
    index: Vec<u32>,
    keys: Vec<u32>,
    accs: Vec<A>,
    /// How often this window was emitted before (0 on the first emission).
    pub(crate) revision: u32,
    emitted: bool,
    dirty: bool,
}

impl<A> Slab<A> {
    /// Entities seen in this window with their accumulators, ordered by key.
    ///
    /// A dense window walks its key index in order instead of sorting; a sparse one (few
    /// entities of a large catalog) sorts its few keys.
    pub(crate) fn sorted(&self) -> Vec<(u32, &A)> {
        if self.keys.len() * 8 >= self.index.len() {
            return self
                .index
                .iter()
                .enumerate()
                .filter(|(_, slot)| **slot != NONE)
                .filter_map(|(key, &slot)| Some((key as u32, self.accs.get(slot as usize)?)))
                .collect();
        }
        let mut entries: Vec<(u32, &A)> = self.keys.iter().copied().zip(self.accs.iter()).collect();
        entries.sort_unstable_by_key(|(key, _)| *key);
        entries
    }

    /// Number of entities seen.
    pub(crate) fn len(&self) -> usize {
        self.keys.len()
    }
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
    /// Rows dropped from a window of the first shape, by row index.
    pub(crate) dropped_rows: Vec<u32>,
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

    /// Feeds rows into every window they belong to; `update(acc, row)` folds row `row`.
    ///
    /// Lateness is judged against `watermark`: a window whose end is at or before it has
    /// been emitted; a row for it still counts while `end + allowed_lateness > watermark`
    /// (the window is re-emitted), and is dropped after.
    pub(crate) fn update<F>(
        &mut self,
        ts: &[EventTime],
        keys: &[u32],
        key_count: usize,
        watermark: Option<EventTime>,
        mut update: F,
    ) -> UpdateStats
    where
        F: FnMut(&mut A, usize),
    {
        debug_assert_eq!(ts.len(), keys.len());
        let offset = self.assign_offset_ms;
        let lateness = self.allowed_lateness_ms;
        let wm = watermark.unwrap_or(EventTime::MIN);
        let n_shapes = self.shapes.len();
        let mut stats = UpdateStats {
            dropped: vec![0; n_shapes],
            updated_late: vec![0; n_shapes],
            dropped_rows: Vec::new(),
        };
        for (shape_index, state) in self.shapes.iter_mut().enumerate() {
            let Shape { size_ms, slide_ms } = state.shape;
            let per_row = (size_ms / slide_ms).max(1);
            // One cache entry per overlapping window: in-order rows hit it nearly always.
            let mut cache: Vec<(EventTime, usize)> = vec![(EventTime::MIN, 0); per_row as usize];
            for (row, (&t, &key)) in ts.iter().zip(keys).enumerate() {
                // Accumulators are read in event order, at random: load a few rows ahead
                // in the window most rows go to.
                if let (Some(&ahead), Some(slab)) =
                    (keys.get(row + FOLD_PREFETCH), state.open.get(cache[0].1))
                    && let Some(acc) = slab
                        .index
                        .get(ahead as usize)
                        .and_then(|&slot| slab.accs.get(slot as usize))
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
                    if end.saturating_add(lateness) <= wm {
                        row_dropped = true;
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
                    let acc = slot(slab, key, key_count);
                    update(acc, row);
                    slab.dirty = true;
                }
                if row_dropped {
                    stats.dropped[shape_index] += 1;
                    if shape_index == 0 {
                        stats.dropped_rows.push(row as u32);
                    }
                } else if row_late {
                    stats.updated_late[shape_index] += 1;
                }
            }
        }
        stats
    }

    /// Emits every window the watermark has passed that is new or changed since its last
    /// emission, then retires windows older than the allowed lateness.
    pub(crate) fn emit<T, F>(&mut self, watermark: EventTime, mut emit: F) -> Vec<T>
    where
        F: FnMut(Shape, &Slab<A>) -> T,
    {
        let mut out = Vec::new();
        for state in &mut self.shapes {
            let shape = state.shape;
            for slab in &mut state.open {
                if slab.start.saturating_add(shape.size_ms) > watermark {
                    break;
                }
                if !slab.emitted || slab.dirty {
                    if slab.emitted {
                        slab.revision += 1;
                    }
                    out.push(emit(shape, slab));
                    slab.emitted = true;
                    slab.dirty = false;
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
                for key in slab.keys {
                    if let Some(i) = index.get_mut(key as usize) {
                        *i = NONE;
                    }
                }
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
            .map(|slab| {
                slab.index.capacity() * 4
                    + slab.keys.capacity() * 4
                    + slab.accs.capacity() * std::mem::size_of::<A>()
            })
            .sum()
    }
}

/// One open window as a snapshot holds it: flags and the accumulators of selected entities.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub(crate) struct SlabState<E> {
    pub(crate) start: EventTime,
    pub(crate) revision: u32,
    pub(crate) emitted: bool,
    pub(crate) dirty: bool,
    pub(crate) entries: Vec<E>,
}

/// The open windows of one shape in a snapshot.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub(crate) struct ShapeWindows<E> {
    pub(crate) size_ms: i64,
    pub(crate) slide_ms: i64,
    pub(crate) windows: Vec<SlabState<E>>,
}

impl<A: Default> Windows<A> {
    /// The open windows with the entries `select` maps (`None` leaves an entity out); a
    /// window without a selected entity is left out.
    pub(crate) fn export<E>(
        &self,
        mut select: impl FnMut(u32, &A) -> Option<E>,
    ) -> Vec<ShapeWindows<E>> {
        self.shapes
            .iter()
            .map(|state| ShapeWindows {
                size_ms: state.shape.size_ms,
                slide_ms: state.shape.slide_ms,
                windows: state
                    .open
                    .iter()
                    .filter_map(|slab| {
                        let entries: Vec<E> = slab
                            .keys
                            .iter()
                            .zip(&slab.accs)
                            .filter_map(|(&key, acc)| select(key, acc))
                            .collect();
                        (!entries.is_empty()).then(|| SlabState {
                            start: slab.start,
                            revision: slab.revision,
                            emitted: slab.emitted,
                            dirty: slab.dirty,
                            entries,
                        })
                    })
                    .collect(),
            })
            .collect()
    }

    /// Merges snapshot windows back: entities are added (replacing the accumulator of a
    /// key already present), window flags combine (highest revision; emitted or dirty if
    /// either side is). Shapes no longer configured are skipped; returns the entries kept.
    ///
    /// `resolve` maps an entry to its key and accumulator in this instance, `None` drops it
    /// (an entity no longer in the catalog).
    pub(crate) fn import<E>(
        &mut self,
        shapes: &[ShapeWindows<E>],
        key_count: usize,
        mut resolve: impl FnMut(&E) -> Option<(u32, A)>,
    ) -> usize {
        let mut kept = 0;
        for saved in shapes {
            let Some(state) = self
                .shapes
                .iter_mut()
                .find(|s| s.shape.size_ms == saved.size_ms && s.shape.slide_ms == saved.slide_ms)
            else {
                continue;
            };
            for window in &saved.windows {
                let resolved: Vec<(u32, A)> =
                    window.entries.iter().filter_map(&mut resolve).collect();
                if resolved.is_empty() {
                    continue;
                }
                let count = resolved
                    .iter()
                    .map(|(key, _)| *key as usize + 1)
                    .max()
                    .unwrap_or(0)
                    .max(key_count);
                let position =
                    find_or_open(&mut state.open, window.start, count, &mut self.spare_index);
                let slab = &mut state.open[position];
                // Flags belong to the window, entries to tasks: tasks restored from
                // different moments (a crash between their checkpoints, a partition moved
                // from another instance) may disagree on whether it was emitted. Emitting
                // it again with the next revision then gives every entry its row: the ones
                // not yet emitted are not lost, the others repeat their values.
                let disagree = !slab.keys.is_empty() && slab.emitted != window.emitted;
                slab.revision = slab.revision.max(window.revision);
                slab.emitted |= window.emitted;
                slab.dirty |= window.dirty || disagree;
                for (key, acc) in resolved {
                    *slot(slab, key, count) = acc;
                    kept += 1;
                }
            }
        }
        kept
    }

    /// Drops the entities `keep` refuses from every open window, and windows left empty.
    pub(crate) fn retain(&mut self, mut keep: impl FnMut(u32) -> bool) {
        for state in &mut self.shapes {
            for slab in &mut state.open {
                if slab.keys.iter().all(|&k| keep(k)) {
                    continue;
                }
                let keys = std::mem::take(&mut slab.keys);
                let accs = std::mem::take(&mut slab.accs);
                for (key, acc) in keys.into_iter().zip(accs) {
                    let Some(index) = slab.index.get_mut(key as usize) else {
                        continue;
                    };
                    if keep(key) {
                        *index = slab.keys.len() as u32;
                        slab.keys.push(key);
                        slab.accs.push(acc);
                    } else {
                        *index = NONE;
                    }
                }
            }
            let spare = &mut self.spare_index;
            state.open.retain_mut(|slab| {
                if slab.keys.is_empty() {
                    spare.push(std::mem::take(&mut slab.index));
                    false
                } else {
                    true
                }
            });
        }
    }
}

/// The accumulator of `key` in `slab`, created on first sight.
fn slot<A: Default>(slab: &mut Slab<A>, key: u32, key_count: usize) -> &mut A {
    let k = key as usize;
    if k >= slab.index.len() {
        slab.index.resize(key_count.max(k + 1), NONE);
    }
    let mut s = slab.index[k];
    if s == NONE {
        s = slab.accs.len() as u32;
        slab.index[k] = s;
        slab.keys.push(key);
        slab.accs.push(A::default());
    }
    &mut slab.accs[s as usize]
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
            keys: Vec::new(),
            accs: Vec::new(),
            revision: 0,
            emitted: false,
            dirty: false,
        },
    );
    pos
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Default, Clone, PartialEq)]
    struct Count(u32);

    fn tumbling(ms: i64) -> Shape {
        Shape {
            size_ms: ms,
            slide_ms: ms,
        }
    }

    fn counts(slab: &Slab<Count>) -> Vec<(u32, u32)> {
        slab.sorted().into_iter().map(|(k, c)| (k, c.0)).collect()
    }

    #[test]
    fn interval_ending_on_a_boundary_belongs_to_the_window_it_closes() {
        let mut w: Windows<Count> = Windows::new(&[tumbling(60_000)], 1, 0);
        w.update(&[60_000, 60_001, 120_000], &[0, 0, 1], 2, None, |a, _| {
            a.0 += 1
        });
        let closed = w.emit(120_000, |_, s| (s.start, counts(s)));
        assert_eq!(
            closed,
            vec![(0, vec![(0, 1)]), (60_000, vec![(0, 1), (1, 1)])]
        );
        assert_eq!(w.open_states(), 0);
    }

    #[test]
    fn hopping_rows_land_in_every_overlapping_window() {
        let mut w: Windows<Count> = Windows::new(
            &[Shape {
                size_ms: 60_000,
                slide_ms: 20_000,
            }],
            0,
            0,
        );
        w.update(&[45_000], &[0], 1, None, |a, _| a.0 += 1);
        let starts: Vec<EventTime> = w.emit(EventTime::MAX, |_, s| s.start);
        assert_eq!(starts, vec![0, 20_000, 40_000]);
    }

    #[test]
    fn lateness_updates_then_drops() {
        let mut w: Windows<Count> = Windows::new(&[tumbling(60_000), tumbling(900_000)], 0, 30_000);
        w.update(&[10_000], &[0], 1, None, |a, _| a.0 += 1);
        let first: Vec<(u32, Vec<(u32, u32)>)> = w.emit(70_000, |_, s| (s.revision, counts(s)));
        assert_eq!(first, vec![(0, vec![(0, 1)])]);
        // late, but within 30 s of lateness: updates the 1-min window, emitted as revision 1
        let stats = w.update(&[20_000], &[0], 1, Some(70_000), |a, _| a.0 += 1);
        assert_eq!(
            (stats.dropped, stats.updated_late),
            (vec![0, 0], vec![1, 0])
        );
        let second: Vec<(u32, Vec<(u32, u32)>)> = w.emit(80_000, |_, s| (s.revision, counts(s)));
        assert_eq!(second, vec![(1, vec![(0, 2)])]);
        // beyond lateness: dropped from the 1-min window, still counted in the 15-min one
        let stats = w.update(&[30_000], &[0], 1, Some(95_000), |a, _| a.0 += 1);
        assert_eq!((stats.dropped, stats.dropped_rows), (vec![1, 0], vec![0]));
        let last: Vec<u32> = w.emit(EventTime::MAX, |_, s| s.sorted()[0].1.0);
        assert_eq!(last, vec![3]);
    }

    /// Two tasks' snapshots of one window, one taken after it was emitted and one before
    /// (a crash between their checkpoints): restored together, the window is emitted again
    /// with the next revision, so the entries not yet emitted get their row.
    #[test]
    fn snapshots_disagreeing_on_emission_emit_the_window_again() {
        let mut source: Windows<Count> = Windows::new(&[tumbling(60_000)], 0, 120_000);
        source.update(&[10_000, 20_000], &[0, 1], 2, None, |acc, _| acc.0 += 1);
        let before = source.export(|key, acc| (key == 1).then(|| (key, acc.clone())));
        assert_eq!(source.emit(60_000, |_, slab| slab.revision).len(), 1);
        let after = source.export(|key, acc| (key == 0).then(|| (key, acc.clone())));

        let mut restored: Windows<Count> = Windows::new(&[tumbling(60_000)], 0, 120_000);
        restored.import(&after, 2, |e| Some(e.clone()));
        restored.import(&before, 2, |e| Some(e.clone()));
        let emitted = restored.emit(60_000, |_, slab| (slab.revision, counts(slab)));
        assert_eq!(
            emitted,
            [(1, vec![(0, 1), (1, 1)])],
            "both entries, one revision on"
        );
        // agreeing snapshots change nothing
        let mut agreeing: Windows<Count> = Windows::new(&[tumbling(60_000)], 0, 120_000);
        agreeing.import(&after, 2, |e| Some(e.clone()));
        agreeing.import(&after, 2, |e| Some(e.clone()));
        assert!(agreeing.emit(60_000, |_, slab| slab.revision).is_empty());
    }
}
