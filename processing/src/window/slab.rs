//! Open windows of several sizes, each a dense array of accumulators indexed by entity key.
//!
//! Events mostly arrive in order, so only a handful of windows per size are open at once;
//! a short vector searched from the newest end finds the right one in a step or two, and
//! within it the accumulator is a plain index — no hashing on the hot path.

use crate::time::{EventTime, window_start};

/// An accumulator of one entity in one window.
pub(crate) trait Accumulator: Default + Clone {
    /// Whether nothing was accumulated yet (the entity was not seen in this window).
    fn is_empty(&self) -> bool;
}

/// The accumulators of one window.
#[derive(Debug)]
pub(crate) struct Slab<A> {
    pub(crate) start: EventTime,
    pub(crate) accs: Vec<A>,
    /// Keys seen in this window, in first-seen order, so closing visits only those.
    pub(crate) touched: Vec<u32>,
}

/// A window that closed: its bounds and the accumulators of the entities it saw.
#[derive(Debug)]
pub(crate) struct ClosedSlab<A> {
    pub(crate) size_ms: i64,
    pub(crate) slab: Slab<A>,
}

#[derive(Debug)]
struct SizeState<A> {
    size_ms: i64,
    /// Open windows sorted by start.
    open: Vec<Slab<A>>,
}

/// Open windows for every configured size.
#[derive(Debug)]
pub(crate) struct Windows<A> {
    sizes: Vec<SizeState<A>>,
    /// 1 ms when timestamps mark the *end* of an interval, so an interval ending exactly on a
    /// window boundary belongs to the window it closes; 0 for instants.
    assign_offset_ms: i64,
}

impl<A: Accumulator> Windows<A> {
    pub(crate) fn new(sizes_ms: &[i64], assign_offset_ms: i64) -> Self {
        Self {
            sizes: sizes_ms
                .iter()
                .map(|&size_ms| SizeState {
                    size_ms,
                    open: Vec::new(),
                })
                .collect(),
            assign_offset_ms,
        }
    }

    pub(crate) fn sizes_ms(&self) -> impl Iterator<Item = i64> + '_ {
        self.sizes.iter().map(|s| s.size_ms)
    }

    /// Feeds rows into every size's windows; `update(acc, row)` folds row `row` into `acc`.
    ///
    /// A row whose window already closed (its end ≤ `watermark`) is skipped for that size
    /// and counted in the returned per-size late counts.
    pub(crate) fn update<F>(
        &mut self,
        ts: &[EventTime],
        keys: &[u32],
        key_count: usize,
        watermark: Option<EventTime>,
        mut update: F,
    ) -> Vec<u64>
    where
        F: FnMut(&mut A, usize),
    {
        debug_assert_eq!(ts.len(), keys.len());
        let offset = self.assign_offset_ms;
        let mut late = vec![0u64; self.sizes.len()];
        for (size_index, size) in self.sizes.iter_mut().enumerate() {
            let size_ms = size.size_ms;
            let mut cached: Option<(EventTime, usize)> = None;
            for (row, (&t, &key)) in ts.iter().zip(keys).enumerate() {
                let start = window_start(t - offset, size_ms);
                if watermark.is_some_and(|wm| start + size_ms <= wm) {
                    late[size_index] += 1;
                    continue;
                }
                let slot = match cached {
                    Some((s, slot)) if s == start => slot,
                    _ => {
                        let slot = find_or_open(&mut size.open, start, key_count);
                        cached = Some((start, slot));
                        slot
                    }
                };
                let slab = &mut size.open[slot];
                let index = key as usize;
                if index >= slab.accs.len() {
                    slab.accs.resize(key_count.max(index + 1), A::default());
                }
                let acc = &mut slab.accs[index];
                if acc.is_empty() {
                    slab.touched.push(key);
                }
                update(acc, row);
            }
        }
        late
    }

    /// Removes and returns every window whose end is at or before `watermark`, oldest first
    /// within each size.
    pub(crate) fn close(&mut self, watermark: EventTime) -> Vec<ClosedSlab<A>> {
        let mut closed = Vec::new();
        for size in &mut self.sizes {
            let size_ms = size.size_ms;
            let n = size
                .open
                .iter()
                .take_while(|s| s.start.saturating_add(size_ms) <= watermark)
                .count();
            closed.extend(
                size.open
                    .drain(..n)
                    .map(|slab| ClosedSlab { size_ms, slab }),
            );
        }
        closed
    }

    /// Number of (entity, window) states currently open, for observability.
    pub(crate) fn open_states(&self) -> usize {
        self.sizes
            .iter()
            .flat_map(|s| s.open.iter())
            .map(|slab| slab.touched.len())
            .sum()
    }
}

fn find_or_open<A: Accumulator>(
    open: &mut Vec<Slab<A>>,
    start: EventTime,
    key_count: usize,
) -> usize {
    if let Some(pos) = open.iter().rposition(|s| s.start == start) {
        return pos;
    }
    let pos = open.partition_point(|s| s.start < start);
    open.insert(
        pos,
        Slab {
            start,
            accs: vec![A::default(); key_count],
            touched: Vec::new(),
        },
    );
    pos
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Default, Clone)]
    struct Count(u32);
    impl Accumulator for Count {
        fn is_empty(&self) -> bool {
            self.0 == 0
        }
    }

    #[test]
    fn interval_ending_on_a_boundary_belongs_to_the_window_it_closes() {
        let mut w: Windows<Count> = Windows::new(&[60_000], 1);
        let late = w.update(&[60_000, 60_001, 120_000], &[0, 0, 1], 2, None, |a, _| {
            a.0 += 1
        });
        assert_eq!(late, vec![0]);
        let closed = w.close(120_000);
        let starts: Vec<_> = closed.iter().map(|c| c.slab.start).collect();
        assert_eq!(starts, vec![0, 60_000]);
        assert_eq!(closed[0].slab.accs[0].0, 1);
        assert_eq!(closed[1].slab.accs[0].0, 1);
        assert_eq!(closed[1].slab.accs[1].0, 1);
        assert_eq!(closed[1].slab.touched, vec![0, 1]);
    }

    #[test]
    fn rows_of_closed_windows_are_late_per_size() {
        let mut w: Windows<Count> = Windows::new(&[60_000, 900_000], 0);
        let late = w.update(&[30_000], &[0], 1, Some(60_000), |a, _| a.0 += 1);
        assert_eq!(late, vec![1, 0]);
        assert_eq!(w.open_states(), 1);
    }
}
