//! Which task owns each entity's open state, so state and closed windows can be handed
//! over per task (one input topic-partition, see `docs/decisions/002-effectively-once.md`).
//!
//! Producers key messages by the entity whose windows they feed — a traffic sensor, a car
//! park, or for spot sensors their zone (`docs/formats.md`, "Record keys") — so all of an
//! entity's events arrive through one partition: the owner is simply the source that last
//! fed the entity. One word per catalog entity, set once per row on the hot path. When a
//! producer keys otherwise, [`Owners::conflicts`] finds the entities fed by two sources.

use crate::window::watermark::SourceId;

/// Owner of an entity that has not been fed yet.
pub(crate) const NO_OWNER: SourceId = SourceId::MAX;

/// The owning source of every entity key.
///
/// While one source has fed the operator (a single partition, a file, the benchmark), every
/// entity with state is that source's and nothing is recorded per row; a second source
/// turns on the per-key table, filled with the first.
#[derive(Debug, Clone)]
pub(crate) struct Owners {
    /// The only source so far, while `keys` is not in use.
    single: Option<SourceId>,
    /// Whether `keys` holds the owners (more than one source seen).
    multi: bool,
    keys: Vec<SourceId>,
    /// The owner of keys beyond `keys`: the single source of before the table (any of
    /// its keys may hold state); keys added since are recorded before they hold any.
    pad: SourceId,
}

impl Default for Owners {
    fn default() -> Self {
        Self {
            single: None,
            multi: false,
            keys: Vec::new(),
            pad: NO_OWNER,
        }
    }
}

impl Owners {
    /// The owner slots of keys below `key_count` for a caller recording `source` in a loop
    /// of its own; `None` while `source` is the only source (nothing to record).
    pub(crate) fn prepare(
        &mut self,
        key_count: usize,
        source: SourceId,
    ) -> Option<&mut [SourceId]> {
        if !self.multi {
            match self.single {
                None => {
                    self.single = Some(source);
                    return None;
                }
                Some(only) if only == source => return None,
                Some(_) => self.materialize(key_count),
            }
        }
        if self.keys.len() < key_count {
            self.keys.resize(key_count, self.pad);
        }
        Some(&mut self.keys)
    }

    /// Records `source` as the owner of every key in `keys` (`key_count` bounds the keys).
    pub(crate) fn record(&mut self, keys: &[u32], key_count: usize, source: SourceId) {
        let Some(owners) = self.prepare(key_count, source) else {
            return;
        };
        for &key in keys {
            if let Some(owner) = owners.get_mut(key as usize) {
                *owner = source;
            }
        }
    }

    fn materialize(&mut self, key_count: usize) {
        self.pad = self.single.take().unwrap_or(NO_OWNER);
        self.multi = true;
        self.keys = vec![self.pad; key_count];
    }

    /// The owner of `key` if it has state, [`NO_OWNER`] if none.
    pub(crate) fn get(&self, key: u32) -> SourceId {
        if !self.multi {
            return self.single.unwrap_or(NO_OWNER);
        }
        self.keys.get(key as usize).copied().unwrap_or(self.pad)
    }

    /// The owner of every entity while only one source has fed them.
    pub(crate) fn only(&self) -> Option<SourceId> {
        self.single.filter(|_| !self.multi)
    }

    /// Makes `source` the owner of `key` (restore).
    pub(crate) fn set(&mut self, key: u32, source: SourceId) {
        if let Some(owners) = self.prepare(key as usize + 1, source)
            && let Some(owner) = owners.get_mut(key as usize)
        {
            *owner = source;
        }
    }

    /// The entities among `keys` (a batch of `source`) that another source fed last while
    /// it still holds their state (`has_state`): their events arrive through more than one
    /// partition, so their results depend on how the partitions interleave. One entry per
    /// entity with the rows concerned; call before [`Self::record`] takes them over.
    ///
    /// `has_state` matters because the table of several sources starts with every key
    /// assigned to the first source, fed or not.
    pub(crate) fn conflicts(
        &self,
        keys: &[u32],
        source: SourceId,
        has_state: impl Fn(u32) -> bool,
    ) -> Vec<PartitionConflict> {
        if self.only() == Some(source) {
            return Vec::new();
        }
        let mut found: Vec<PartitionConflict> = Vec::new();
        for &key in keys {
            if let Some(seen) = found.iter_mut().find(|c| c.entity == key) {
                seen.rows += 1;
                continue;
            }
            let owner = self.get(key);
            if owner != NO_OWNER && owner != source && has_state(key) {
                found.push(PartitionConflict {
                    entity: key,
                    previous: owner,
                    rows: 1,
                });
            }
        }
        found
    }

    /// Forgets every entity of `source` (revoke).
    pub(crate) fn forget(&mut self, source: SourceId) {
        if !self.multi {
            if self.single == Some(source) {
                self.single = None;
            }
            return;
        }
        for owner in &mut self.keys {
            if *owner == source {
                *owner = NO_OWNER;
            }
        }
        if self.pad == source {
            self.pad = NO_OWNER;
        }
    }
}

/// An entity whose events came through a second source (partition) while the first one
/// still held its state: the producer does not key its events to one partition.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PartitionConflict {
    /// The entity's catalog key (a facility, for parking).
    pub entity: u32,
    /// The source that fed it before this batch.
    pub previous: SourceId,
    /// Rows of this batch for the entity.
    pub rows: u64,
}

/// Groups entries (sorted by key) by owner, keeping key order within a group. A window
/// owned by one task — the common case — is returned as it is, without copying.
pub(crate) fn by_owner<T>(
    entries: Vec<(u32, T)>,
    owners: &Owners,
    owner: impl Fn(u32) -> SourceId,
) -> Vec<(SourceId, Vec<(u32, T)>)> {
    if let Some(only) = owners.only() {
        return vec![(only, entries)];
    }
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
        let mut table = Owners::default();
        table.record(&[0, 2], 4, 1);
        table.record(&[1, 3], 4, 0);
        let split = by_owner(vec![(0, 'a'), (1, 'b'), (2, 'c'), (3, 'd')], &table, |k| {
            owners[k as usize]
        });
        assert_eq!(
            split,
            vec![(0, vec![(1, 'b'), (3, 'd')]), (1, vec![(0, 'a'), (2, 'c')])]
        );
        let mut one = Owners::default();
        one.record(&[5, 9], 10, 7);
        assert_eq!(
            by_owner(vec![(5, 'x'), (9, 'y')], &one, |k| one.get(k)),
            vec![(7, vec![(5, 'x'), (9, 'y')])]
        );
    }

    #[test]
    fn one_source_records_nothing_a_second_one_fills_the_table() {
        let mut o = Owners::default();
        o.record(&[0, 2, 7], 8, 4);
        assert_eq!((o.only(), o.get(2)), (Some(4), 4));
        o.set(5, 1);
        assert_eq!(o.only(), None);
        // key 7 lies beyond the table made at the second source: still the first's
        assert_eq!((o.get(0), o.get(2), o.get(5), o.get(7)), (4, 4, 1, 4));
        o.record(&[9], 10, 1);
        assert_eq!((o.get(7), o.get(9)), (4, 1));
        o.forget(4);
        assert_eq!(
            (o.get(2), o.get(5), o.get(7), o.get(99)),
            (NO_OWNER, 1, NO_OWNER, NO_OWNER)
        );
        let mut single = Owners::default();
        single.record(&[1], 2, 3);
        single.forget(3);
        assert_eq!((single.only(), single.get(1)), (None, NO_OWNER));
    }
}
