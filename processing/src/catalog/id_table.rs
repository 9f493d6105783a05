//! An open-addressing table from short ids to dense keys, built so a batch of lookups can
//! overlap their cache misses.
//!
//! With tens of thousands of sensors the table outgrows the core's L2 cache, and ids arrive
//! in random order, so nearly every lookup misses. A generic hash map gives no way to ask
//! for a slot ahead of time; here [`IdTable::prefetch`] computes the slot of an id and asks
//! the CPU to load it, so the decoder can scan the next few messages while the loads are in
//! flight and find the slots cached when it looks them up.

use std::hash::{BuildHasher, Hasher};

/// Marks an empty slot (no entity has this key: keys are dense indexes far below it).
const EMPTY: u32 = u32::MAX;

/// Longest id stored inline.
pub(super) const INLINE_ID: usize = 21;

/// A short id with its city as three machine words (length, city, up to 21 id bytes):
/// comparing and hashing it touch no other memory.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct InlineId([u64; 3]);

impl InlineId {
    /// Packs `id` of `city`; `None` when the id is too long to be stored inline.
    pub(super) fn new(city: u16, id: &str) -> Option<Self> {
        let raw = id.as_bytes();
        if raw.len() > INLINE_ID {
            return None;
        }
        let mut bytes = [0u8; 24];
        bytes[0] = raw.len() as u8;
        bytes[1..3].copy_from_slice(&city.to_le_bytes());
        bytes[3..3 + raw.len()].copy_from_slice(raw);
        let word = |i: usize| {
            let mut w = [0u8; 8];
            w.copy_from_slice(&bytes[i * 8..i * 8 + 8]);
            u64::from_le_bytes(w)
        };
        Some(Self([word(0), word(1), word(2)]))
    }
}

/// One slot: 32 bytes, so one cache line holds two and a lookup usually touches one line.
#[derive(Debug, Clone, Copy)]
#[repr(C, align(32))]
struct Slot {
    id: [u64; 3],
    key: u32,
}

const EMPTY_SLOT: Slot = Slot {
    id: [0; 3],
    key: EMPTY,
};

/// Short ids → keys, linear probing, at most half full.
#[derive(Debug, Clone)]
pub(super) struct IdTable {
    slots: Vec<Slot>,
    len: usize,
    /// Per-process random seeds: ids come from partner feeds, so probe sequences must not
    /// be predictable from outside.
    seed: [u64; 3],
}

impl Default for IdTable {
    fn default() -> Self {
        let state = std::collections::hash_map::RandomState::new();
        let seed = |n: u64| {
            let mut h = state.build_hasher();
            h.write_u64(n);
            h.finish() | 1
        };
        Self {
            slots: vec![EMPTY_SLOT; 16],
            len: 0,
            seed: [seed(1), seed(2), seed(3)],
        }
    }
}

/// Folded 64×64→128-bit multiply: a fast mixer with good avalanche in every output bit.
fn fold_mul(a: u64, b: u64) -> u64 {
    let r = u128::from(a) * u128::from(b);
    (r as u64) ^ ((r >> 64) as u64)
}

impl IdTable {
    fn home(&self, id: &InlineId) -> usize {
        let [w0, w1, w2] = id.0;
        let h = fold_mul(w0 ^ self.seed[0], w1 ^ self.seed[1]);
        let h = fold_mul(h ^ w2, self.seed[2]);
        (h as usize) & (self.slots.len() - 1)
    }

    /// The key of `id`, if present.
    pub(super) fn get(&self, id: &InlineId) -> Option<u32> {
        let mask = self.slots.len() - 1;
        let mut i = self.home(id);
        loop {
            let slot = &self.slots[i];
            if slot.key == EMPTY {
                return None;
            }
            if slot.id == id.0 {
                return Some(slot.key);
            }
            i = (i + 1) & mask;
        }
    }

    /// Asks the CPU to start loading the slot where `id` would be found.
    pub(super) fn prefetch(&self, id: &InlineId) {
        crate::prefetch::prefetch(&self.slots[self.home(id)]);
    }

    /// Sets the key of `id` (replacing an earlier one).
    pub(super) fn insert(&mut self, id: InlineId, key: u32) {
        if (self.len + 1) * 2 > self.slots.len() {
            self.grow();
        }
        let mask = self.slots.len() - 1;
        let mut i = self.home(&id);
        loop {
            let slot = &mut self.slots[i];
            if slot.key == EMPTY {
                *slot = Slot { id: id.0, key };
                self.len += 1;
                return;
            }
            if slot.id == id.0 {
                slot.key = key;
                return;
            }
            i = (i + 1) & mask;
        }
    }

    fn grow(&mut self) {
        let doubled = vec![EMPTY_SLOT; self.slots.len() * 2];
        let old = std::mem::replace(&mut self.slots, doubled);
        self.len = 0;
        for slot in old.into_iter().filter(|s| s.key != EMPTY) {
            self.insert(InlineId(slot.id), slot.key);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_what_was_inserted_across_growth() {
        let mut table = IdTable::default();
        let ids: Vec<InlineId> = (0..5000)
            .map(|i| InlineId::new((i % 9) as u16, &format!("ul-{i:06}")).expect("short"))
            .collect();
        for (key, id) in ids.iter().enumerate() {
            table.insert(*id, key as u32);
        }
        for (key, id) in ids.iter().enumerate() {
            table.prefetch(id);
            assert_eq!(table.get(id), Some(key as u32));
        }
        // same id in another city, and an id never inserted
        let other = InlineId::new(10, "ul-000001").expect("short");
        assert_eq!(table.get(&other), None);
        assert_eq!(table.get(&InlineId::new(0, "").expect("short")), None);
        // re-inserting replaces
        table.insert(ids[7], 99_999);
        assert_eq!(table.get(&ids[7]), Some(99_999));
        assert_eq!(table.len, 5000);
    }

    #[test]
    fn long_ids_are_not_inline() {
        assert!(InlineId::new(0, &"x".repeat(INLINE_ID)).is_some());
        assert!(InlineId::new(0, &"x".repeat(INLINE_ID + 1)).is_none());
    }
}
