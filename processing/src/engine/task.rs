//! Per-task snapshots of the engine's open state, for checkpoints and handover.
//!
//! A task is one input topic-partition (`docs/decisions/002-effectively-once.md`). Its
//! snapshot holds the state of every entity the task owns — open traffic windows per
//! sensor and per lane, the traffic-state hysteresis, facility levels, spots and parking
//! windows — and the task's watermark clock. Entities are stored by id (city id + sensor,
//! facility or spot id), never by dense key: keys of sensors admitted at run time differ
//! between instances, so a restore resolves the ids through its own catalog (admitting
//! them again). Encoded with `postcard`, compact and versioned by the checkpoint file.

use serde::{Deserialize, Serialize};

use super::parking::ParkingSnapshot;
use super::traffic::TrafficSnapshot;
use crate::catalog::AdmittedFacility;
use crate::window::clock_guard::ClockState;
use crate::window::traffic_state::ClassifierSnapshot;
use crate::{ProcessingError, Result};

/// Everything one task owns in the engine.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TaskState {
    /// Traffic windows per sensor.
    pub traffic: TrafficSnapshot,
    /// Traffic windows per sensor and lane.
    pub lanes: TrafficSnapshot,
    /// The traffic-state hysteresis.
    pub classifier: ClassifierSnapshot,
    /// Facility levels, spots and parking windows.
    pub parking: ParkingSnapshot,
    /// The source's progress as the clock-jump screen knows it.
    pub clock: ClockState,
    /// The facilities among `parking`'s that joined at run time (not in the registry),
    /// admitted again by a restore before their ids are resolved. Last, so that a state
    /// written before it existed is this layout's prefix ([`Self::decode_legacy`]).
    pub admitted: Vec<AdmittedFacility>,
}

/// [`TaskState`] as written before facilities could be admitted at run time (checkpoint
/// format 5): the same fields without `admitted`.
#[derive(Deserialize)]
struct LegacyTaskState {
    traffic: TrafficSnapshot,
    lanes: TrafficSnapshot,
    classifier: ClassifierSnapshot,
    parking: ParkingSnapshot,
    clock: ClockState,
}

impl TaskState {
    /// Encodes the state compactly (the checkpoint file adds header and checksum).
    ///
    /// # Errors
    /// [`ProcessingError::Snapshot`] if the state cannot be encoded (a bug).
    pub fn encode(&self) -> Result<Vec<u8>> {
        postcard::to_allocvec(self).map_err(|e| ProcessingError::Snapshot(e.to_string()))
    }

    /// Decodes a state written by [`Self::encode`] of the same format version.
    ///
    /// # Errors
    /// [`ProcessingError::Snapshot`] for bytes that are not such a state.
    pub fn decode(bytes: &[u8]) -> Result<Self> {
        postcard::from_bytes(bytes).map_err(|e| ProcessingError::Snapshot(e.to_string()))
    }

    /// Decodes a state written before facilities could be admitted at run time (a
    /// checkpoint of format 5): it has none.
    ///
    /// # Errors
    /// [`ProcessingError::Snapshot`] for bytes that are not such a state.
    pub fn decode_legacy(bytes: &[u8]) -> Result<Self> {
        let legacy: LegacyTaskState =
            postcard::from_bytes(bytes).map_err(|e| ProcessingError::Snapshot(e.to_string()))?;
        Ok(Self {
            traffic: legacy.traffic,
            lanes: legacy.lanes,
            classifier: legacy.classifier,
            parking: legacy.parking,
            clock: legacy.clock,
            admitted: Vec::new(),
        })
    }

    /// Entities in the snapshot (sensors, lanes and facilities with open state), for logs.
    pub fn entities(&self) -> usize {
        self.traffic.entities() + self.parking.entities()
    }
}
