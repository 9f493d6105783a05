//! Which task owns each entity's open state, so state and closed windows can be handed
//! over per task (one input topic-partition, see `docs/decisions/002-effectively-once.md`).
//!
//! Producers key messages by entity, so all of an entity's events arrive through one
//! partition: the owner is simply the source that last fed the entity. One word per
//! catalog entity, set once per row on the hot path.

use crate::window::watermark::SourceId;

/// Owner of an entity that has not been fed yet.
pub(crate) const NO_OWNER: SourceId = SourceId::MAX;

/// The owning source of every entity key.
#[derive(Debug, Default, Clone)]
pub(crate) struct Owners(Vec<SourceId>);

impl Owners {
    /// The owner slots of keys below `key_count`, for a caller recording owners in a loop
    /// of its own.
    pub(crate) fn prepare(&mut self, key_count: usize) -> &mut [SourceId] {
        if self.0.len() < key_count {
            self.0.resize(key_count, NO_OWNER);
        }
        &mut self.0
    }

    /// Records `source` as the owner of every key in `keys` (`key_count` bounds the keys).
    pub(crate) fn record(&mut self, keys: &[u32], key_count: usize, source: SourceId) {
        self.prepare(key_count);
        for &key in keys {
            if let Some(owner) = self.0.get_mut(key as usize) {
                *owner = source;
            }
        }
    }

    /// The owner of `key`, [`NO_OWNER`] if none.
    pub(crate) fn get(&self, key: u32) -> SourceId {
        self.0.get(key as usize).copied().unwrap_or(NO_OWNER)
    }

    /// Makes `source` the owner of `key` (restore).
    pub(crate) fn set(&mut self, key: u32, source: SourceId) {
        let index = key as usize;
        if self.0.len() <= index {
            self.0.resize(index + 1, NO_OWNER);
        }
        self.0[index] = source;
    }

    /// Forgets every entity of `source` (revoke).
    pub(crate) fn forget(&mut self, source: SourceId) {
        for owner in &mut self.0 {
            if *owner == source {
                *owner = NO_OWNER;
            }
        }
    }
}

/// Groups entries (sorted by key) by owner, keeping key order within a group. A window
/// owned by one task — the common case — is returned as it is, without copying.
pub(crate) fn by_owner<T>(
    entries: Vec<(u32, T)>,
    owner: impl Fn(u32) -> SourceId,
) -> Vec<(SourceId, Vec<(u32, T)>)> {
    let Some(first) = entries.first().map(|(key, _)| owner(*key)) else {
        return Vec::new();
    };
    if entries.iter().all(|(key, _)| owner(*key) == first) {
        return vec![(first, entries)];
    }
    let mut tagged: Vec<(SourceId, (u32, T))> = entries
        .into_iter()
        .map(|entry| (owner(entry.0), entry))
        .collect();
    // stable: key order within an owner stays
    tagged.sort_by_key(|(source, _)| *source);
    let mut groups: Vec<(SourceId, Vec<(u32, T)>)> = Vec::new();
    for (source, entry) in tagged {
        match groups.last_mut() {
            Some((last, group)) if *last == source => group.push(entry),
            _ => groups.push((source, vec![entry])),
        }
    }
    groups
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn groups_keep_key_order_and_one_owner_is_one_group() {
        let owners = [1, 0, 1, 0];
        let split = by_owner(vec![(0, 'a'), (1, 'b'), (2, 'c'), (3, 'd')], |k| {
            owners[k as usize]
        });
        assert_eq!(
            split,
            vec![(0, vec![(1, 'b'), (3, 'd')]), (1, vec![(0, 'a'), (2, 'c')])]
        );
        assert_eq!(by_owner(vec![(5, 'x'), (9, 'y')], |_| 7).len(), 1);
    }

    #[test]
    fn record_and_forget() {
        let mut o = Owners::default();
        o.record(&[0, 2], 3, 4);
        o.set(5, 1);
        assert_eq!(
            (o.get(0), o.get(1), o.get(2), o.get(5)),
            (4, NO_OWNER, 4, 1)
        );
        o.forget(4);
        assert_eq!(o.get(2), NO_OWNER);
        assert_eq!(o.get(99), NO_OWNER);
    }
}
