//! Open windows as tasks move: a task's entries with their emission states exported for its
//! snapshot, imported when it is restored, dropped when it is revoked.

use super::{NONE, Windows, find_or_open, slot};
use crate::time::EventTime;

/// One open window as a snapshot holds it: the accumulators of selected entities and their
/// emission states.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub(crate) struct SlabState<E> {
    pub(crate) start: EventTime,
    pub(crate) entries: Vec<E>,
    /// Per entry: its emission state (`Entries::mark`: emitted, changed since, and the
    /// revision of its last emission).
    pub(crate) marks: Vec<u32>,
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
                        let (entries, marks): (Vec<E>, Vec<u32>) = slab
                            .slots()
                            .filter_map(|(key, s)| {
                                let acc = slab.entries.get(s)?;
                                Some((select(key, acc)?, slab.entries.mark(s)))
                            })
                            .unzip();
                        (!entries.is_empty()).then_some(SlabState {
                            start: slab.start,
                            entries,
                            marks,
                        })
                    })
                    .collect(),
            })
            .collect()
    }

    /// Merges snapshot windows back: entities are added with their emission states
    /// (replacing an entry of a key already present). Shapes no longer configured are
    /// skipped; returns the entries kept.
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
                let resolved: Vec<(u32, A, u32)> = window
                    .entries
                    .iter()
                    .zip(&window.marks)
                    .filter_map(|(e, &mark)| {
                        let (key, acc) = resolve(e)?;
                        Some((key, acc, mark))
                    })
                    .collect();
                let Some(count) = resolved.iter().map(|(key, _, _)| *key as usize + 1).max() else {
                    continue;
                };
                let count = count.max(key_count);
                let position =
                    find_or_open(&mut state.open, window.start, count, &mut self.spare_index);
                let slab = &mut state.open[position];
                for (key, acc, mark) in resolved {
                    let s = slot(slab, key, count);
                    if let Some(entry) = slab.entries.touch(s) {
                        *entry = acc;
                        slab.entries.set_mark(s, mark);
                        kept += 1;
                    }
                }
                slab.pending = true;
            }
        }
        kept
    }

    /// Drops the entities `keep` refuses from every open window, and windows left empty.
    pub(crate) fn retain(&mut self, mut keep: impl FnMut(u32) -> bool) {
        for state in &mut self.shapes {
            for slab in &mut state.open {
                if slab.slots().all(|(key, _)| keep(key)) {
                    continue;
                }
                let mut old = std::mem::take(&mut slab.entries);
                for key in 0..slab.index.len() {
                    let s = slab.index[key];
                    if s == NONE {
                        continue;
                    }
                    slab.index[key] = NONE;
                    if !keep(key as u32) {
                        continue;
                    }
                    if let Some((acc, mark)) = old.take(s) {
                        let new = slab.entries.push(acc);
                        slab.entries.set_mark(new, mark);
                        slab.index[key] = new;
                    }
                }
            }
            let spare = &mut self.spare_index;
            state.open.retain_mut(|slab| {
                if slab.len() == 0 {
                    spare.push(std::mem::take(&mut slab.index));
                    false
                } else {
                    true
                }
            });
        }
    }
}
