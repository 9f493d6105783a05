//! What a step counts, per label set, before it turns into metric increments once per
//! batch (`tally.rs`).

use std::collections::HashMap;

use stadtpuls_config::FeedFormat;
use stadtpuls_processing::RejectReason;
use stadtpuls_processing::catalog::CityKey;
use stadtpuls_processing::window::WindowShape;

use crate::decode::StreamKind;

/// Per-batch tallies, turned into metric increments once per batch.
#[derive(Default)]
pub(super) struct Counts {
    pub(super) accepted: HashMap<(CityKey, StreamKind), u64>,
    pub(super) rejected: HashMap<(Option<CityKey>, StreamKind, RejectReason), u64>,
    pub(super) late: HashMap<(StreamKind, WindowShape), u64>,
    pub(super) late_accepted: HashMap<(StreamKind, WindowShape), u64>,
    pub(super) partition_conflicts: HashMap<(CityKey, StreamKind), u64>,
    /// Partner-feed messages, observations accepted and refused (native is not counted
    /// here: its counts are the ones above).
    pub(super) feed_messages: HashMap<(Option<CityKey>, FeedFormat), u64>,
    pub(super) feed_accepted: HashMap<(CityKey, FeedFormat), u64>,
    pub(super) feed_rejected: HashMap<(Option<CityKey>, FeedFormat, RejectReason), u64>,
    /// Facilities admitted at run time (`admit_unmapped_facilities`), by the format of the
    /// reading that admitted them.
    pub(super) facilities_admitted: HashMap<(CityKey, FeedFormat), u64>,
}
