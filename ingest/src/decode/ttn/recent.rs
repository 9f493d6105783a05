//! The memory of recent uplinks per partition, which makes a second copy of an uplink
//! (a webhook retry, an MQTT redelivery, two integrations writing to one topic) count once.
//!
//! Bounded: the last [`CAPACITY`] uplinks of each partition, oldest forgotten first
//! (about 40 bytes each, so at most ~160 KiB per partition). Not checkpointed: after a
//! restart or a partition hand-over the memory starts empty, so a copy of an uplink that
//! was taken before the checkpoint is taken again when the replay reaches it. A spot's
//! state is a level, so such a copy re-asserts the same state at the same time and changes
//! no occupancy; it only adds one observation to its window's count.

use std::collections::hash_map::DefaultHasher;
use std::collections::{HashMap, HashSet, VecDeque};
use std::hash::{Hash, Hasher};

use stadtpuls_processing::window::watermark::SourceId;

/// Uplinks remembered per partition.
pub(crate) const CAPACITY: usize = 4096;

/// One uplink's identity: its device, frame counter and session.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) struct UplinkKey {
    dev_eui: u64,
    f_cnt: u32,
    session: u64,
}

impl UplinkKey {
    /// The key of an uplink; `session` is the session key id (or the device address when
    /// the uplink carries none), hashed: the frame counter restarts with every session.
    pub(crate) fn new(dev_eui: u64, f_cnt: u32, session: &str) -> Self {
        let mut hasher = DefaultHasher::new();
        session.hash(&mut hasher);
        Self {
            dev_eui,
            f_cnt,
            session: hasher.finish(),
        }
    }
}

/// The recent uplinks of one partition.
#[derive(Debug, Default)]
pub(crate) struct RecentUplinks {
    seen: HashSet<UplinkKey>,
    order: VecDeque<UplinkKey>,
}

impl RecentUplinks {
    /// Remembers `key`; false if it was already remembered (a duplicate).
    pub(crate) fn first_time(&mut self, key: UplinkKey) -> bool {
        if !self.seen.insert(key) {
            return false;
        }
        self.order.push_back(key);
        if self.order.len() > CAPACITY
            && let Some(old) = self.order.pop_front()
        {
            self.seen.remove(&old);
        }
        true
    }

    /// Uplinks remembered.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.order.len()
    }
}

/// Every partition's recent uplinks (one memory per task, as the duplicate of an uplink
/// arrives on the partition its device's key hashes to).
#[derive(Debug, Default)]
pub(crate) struct RecentBySource {
    by_source: HashMap<SourceId, RecentUplinks>,
}

impl RecentBySource {
    /// The memory of `source`, empty the first time.
    pub(crate) fn of(&mut self, source: SourceId) -> &mut RecentUplinks {
        self.by_source.entry(source).or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_is_new_once_and_forgotten_after_capacity_others() {
        let mut recent = RecentUplinks::default();
        let key = UplinkKey::new(1, 7, "s");
        assert!(recent.first_time(key));
        assert!(!recent.first_time(key));
        assert!(recent.first_time(UplinkKey::new(1, 7, "other session")));
        for f_cnt in 100..100 + CAPACITY as u32 {
            assert!(recent.first_time(UplinkKey::new(2, f_cnt, "s")));
        }
        assert_eq!(recent.len(), CAPACITY);
        assert!(
            recent.first_time(key),
            "forgotten after CAPACITY newer uplinks"
        );
    }
}
