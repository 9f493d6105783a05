//! The entries of one window: accumulators in fixed-size chunks, and apart from them the
//! emission state of each — a byte in the hot path, the revision kept only for the few
//! entries late rows made emit again.
//!
//! Window state is most of the engine's memory (one entry per sensor and open window), so
//! an entry holds nothing but its accumulator: no padding for a flag beside it, no doubled
//! array with up to half of it spare (docs/performance.md, state bytes per open window).

use std::collections::HashMap;

/// Accumulators per chunk. A window grows a chunk at a time instead of doubling one array:
/// at most one partly filled chunk is spare, and growing copies nothing.
pub(super) const CHUNK: usize = 256;

/// Emission state of an entry: emitted before, changed since.
const EMITTED: u8 = 1;
const DIRTY: u8 = 2;
/// In a snapshot's packed mark, the revision of the last emission lies above these bits.
const REVISION_SHIFT: u32 = 2;

/// The accumulators of one window with their emission states, in first-seen order
/// (addressed by slot).
#[derive(Debug)]
pub(super) struct Entries<A> {
    /// Slot `s` is `chunks[s / CHUNK][s % CHUNK]`; every chunk but the last is full. The
    /// first grows by doubling up to [`CHUNK`] (a window of a few entities stays small),
    /// the others are allocated whole.
    chunks: Vec<Vec<A>>,
    /// Per slot: [`EMITTED`] and [`DIRTY`].
    flags: Vec<u8>,
    /// The revision of the last emission of slots emitted more than once (late rows);
    /// absent means 0. Cold: most windows never get here.
    revisions: HashMap<u32, u32>,
}

impl<A> Default for Entries<A> {
    fn default() -> Self {
        Self {
            chunks: Vec::new(),
            flags: Vec::new(),
            revisions: HashMap::new(),
        }
    }
}

impl<A> Entries<A> {
    /// Number of entries.
    pub(super) fn len(&self) -> usize {
        self.flags.len()
    }

    pub(super) fn get(&self, slot: u32) -> Option<&A> {
        let s = slot as usize;
        self.chunks.get(s / CHUNK)?.get(s % CHUNK)
    }

    /// The accumulator of `slot`, marked changed since its last emission.
    pub(super) fn touch(&mut self, slot: u32) -> Option<&mut A> {
        let s = slot as usize;
        let flag = self.flags.get_mut(s)?;
        *flag |= DIRTY;
        self.chunks.get_mut(s / CHUNK)?.get_mut(s % CHUNK)
    }

    /// Appends `acc`, never emitted, and returns its slot.
    pub(super) fn push(&mut self, acc: A) -> u32 {
        let slot = self.flags.len() as u32;
        match self.chunks.last_mut() {
            Some(chunk) if chunk.len() < CHUNK => {
                if chunk.len() == chunk.capacity() {
                    let len = chunk.len();
                    chunk.reserve_exact(len.clamp(4, CHUNK - len));
                }
                chunk.push(acc);
            }
            last => {
                let capacity = if last.is_none() { 4 } else { CHUNK };
                let mut chunk = Vec::with_capacity(capacity);
                chunk.push(acc);
                self.chunks.push(chunk);
            }
        }
        self.flags.push(0);
        slot
    }

    /// The emission state of `slot` packed as a snapshot holds it: [`EMITTED`], [`DIRTY`],
    /// and above [`REVISION_SHIFT`] the revision of its last emission.
    pub(super) fn mark(&self, slot: u32) -> u32 {
        let flags = self.flags.get(slot as usize).copied().unwrap_or(0);
        let revision = self.revisions.get(&slot).copied().unwrap_or(0);
        (revision << REVISION_SHIFT) | u32::from(flags)
    }

    /// Sets the emission state of `slot` from a packed mark (see [`Entries::mark`]).
    pub(super) fn set_mark(&mut self, slot: u32, mark: u32) {
        if let Some(flag) = self.flags.get_mut(slot as usize) {
            *flag = (mark & u32::from(EMITTED | DIRTY)) as u8;
            self.set_revision(slot, mark >> REVISION_SHIFT);
        }
    }

    fn set_revision(&mut self, slot: u32, revision: u32) {
        if revision == 0 {
            self.revisions.remove(&slot);
        } else {
            self.revisions.insert(slot, revision);
        }
    }

    /// Bytes held, capacity included.
    pub(super) fn bytes(&self) -> usize {
        let accs: usize = self.chunks.iter().map(Vec::capacity).sum();
        accs * std::mem::size_of::<A>()
            + self.chunks.capacity() * std::mem::size_of::<Vec<A>>()
            + self.flags.capacity()
            + self.revisions.capacity() * (std::mem::size_of::<(u32, u32)>() + 1)
    }

    /// Marks the due entries of `slots` — (key, slot) in key order; never emitted, or
    /// changed since their last emission — as emitted, and returns them by revision
    /// (ascending), each run ordered by key. Nearly always all of one revision (a window's
    /// first emission, or a few late rows), collected without sorting.
    pub(super) fn take_due(
        &mut self,
        slots: impl Iterator<Item = (u32, u32)>,
    ) -> Vec<(u32, Vec<(u32, &A)>)> {
        let Self {
            chunks,
            flags,
            revisions,
        } = self;
        let chunks: &Vec<Vec<A>> = chunks;
        let mut first: Option<u32> = None;
        let mut run: Vec<(u32, &A)> = Vec::with_capacity(flags.len());
        let mut others: Vec<(u32, u32, &A)> = Vec::new();
        for (key, slot) in slots {
            let s = slot as usize;
            let (Some(acc), Some(flag)) = (
                chunks.get(s / CHUNK).and_then(|c| c.get(s % CHUNK)),
                flags.get_mut(s),
            ) else {
                continue;
            };
            let revision = match (*flag & EMITTED != 0, *flag & DIRTY != 0) {
                (true, false) => continue,
                (true, true) => revisions.get(&slot).copied().unwrap_or(0) + 1,
                (false, _) => 0,
            };
            *flag = EMITTED;
            if revision == 0 {
                revisions.remove(&slot);
            } else {
                revisions.insert(slot, revision);
            }
            match first {
                Some(r) if r != revision => others.push((revision, key, acc)),
                _ => {
                    first = Some(revision);
                    run.push((key, acc));
                }
            }
        }
        let Some(first) = first else {
            return Vec::new();
        };
        let mut runs = vec![(first, run)];
        // keys are distinct: sorting by (revision, key) keeps key order within a revision
        others.sort_unstable_by_key(|&(revision, key, _)| (revision, key));
        for group in others.chunk_by(|a, b| a.0 == b.0) {
            let entries = group.iter().map(|&(_, key, acc)| (key, acc)).collect();
            runs.push((group[0].0, entries));
        }
        runs.sort_by_key(|(revision, _)| *revision);
        runs
    }
}

impl<A: Default> Entries<A> {
    /// Moves the accumulator of `slot` out (a default one stays), with its packed mark.
    pub(super) fn take(&mut self, slot: u32) -> Option<(A, u32)> {
        let s = slot as usize;
        let mark = self.mark(slot);
        let acc = std::mem::take(self.chunks.get_mut(s / CHUNK)?.get_mut(s % CHUNK)?);
        Some((acc, mark))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_span_chunks_and_spare_capacity_stays_below_one_chunk() {
        let mut entries: Entries<u64> = Entries::default();
        let n = 3 * CHUNK + 17;
        for i in 0..n {
            assert_eq!(entries.push(i as u64), i as u32);
        }
        for i in 0..n {
            assert_eq!(entries.get(i as u32), Some(&(i as u64)));
        }
        let held: usize = entries.chunks.iter().map(Vec::capacity).sum();
        assert!(held - n < CHUNK, "{held} held for {n}");
        assert!(entries.chunks.iter().all(|c| c.capacity() <= CHUNK));
        assert_eq!(entries.get(n as u32), None);
    }

    #[test]
    fn a_mark_round_trips_through_its_packed_form() {
        let mut entries: Entries<u64> = Entries::default();
        let (a, b) = (entries.push(1), entries.push(2));
        entries.set_mark(a, (3 << REVISION_SHIFT) | u32::from(EMITTED | DIRTY));
        assert_eq!(
            entries.mark(a),
            (3 << REVISION_SHIFT) | u32::from(EMITTED | DIRTY)
        );
        assert_eq!(entries.mark(b), 0);
        let due = entries.take_due([(7, a), (9, b)].into_iter());
        assert_eq!(due, vec![(0, vec![(9, &2)]), (4, vec![(7, &1)])]);
        assert_eq!(entries.mark(a), (4 << REVISION_SHIFT) | u32::from(EMITTED));
        assert!(entries.take_due([(7, a), (9, b)].into_iter()).is_empty());
    }
}
