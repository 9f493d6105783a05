//! A parking facility that joined its city at run time: a partner feed named a car park
//! no `external_id` of the registry maps, stated its capacity, and the city admits such
//! facilities (`admit_unmapped_facilities`). A leaf: the catalog holds these, task
//! snapshots carry them so a restore can admit them again before it resolves ids.

use serde::{Deserialize, Serialize};

/// What is known of an admitted facility: enough to admit it again on another instance
/// (a restart, a rebalance) and to list it where registered facilities are listed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AdmittedFacility {
    /// City id.
    pub city: String,
    /// The facility id it is known by (derived from `external_id`, stable across runs).
    pub id: String,
    /// The feed's id of the facility.
    pub external_id: String,
    /// The capacity its first admitted observation stated.
    pub capacity: u32,
    /// Its name, when the feed gave one.
    pub name: Option<String>,
    /// Its position (latitude, longitude in degrees), when the feed gave one.
    pub position: Option<(f64, f64)>,
}
