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
use crate::window::snapshot_fields;
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
    /// admitted again by a restore before their ids are resolved; none in a format-5
    /// state (`window/snapshot_fields.rs`).
    #[serde(deserialize_with = "snapshot_fields::added_in_6")]
    pub admitted: Vec<AdmittedFacility>,
}

impl TaskState {
    /// The format [`Self::encode`] writes: 6 added the opening status of a facility's
    /// level and of its parking windows, and the facilities admitted at run time.
    pub const FORMAT: u16 = 6;

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

    /// Decodes a state of format `format` (the checkpoint file's version): the current
    /// one ([`Self::FORMAT`]), or format 5, written before the opening status of
    /// facilities was kept and before facilities could be admitted at run time — its
    /// levels and windows restore with no opening status, and it has no admitted
    /// facilities (see `window/snapshot_fields.rs`).
    ///
    /// # Errors
    /// [`ProcessingError::Snapshot`] for another format, or bytes that are not such a
    /// state.
    pub fn decode_format(format: u16, bytes: &[u8]) -> Result<Self> {
        match format {
            Self::FORMAT => Self::decode(bytes),
            5 => snapshot_fields::reading_format_5(|| Self::decode(bytes)),
            other => Err(ProcessingError::Snapshot(format!(
                "snapshot format {other} is not readable (only 5 and {})",
                Self::FORMAT
            ))),
        }
    }

    /// Entities in the snapshot (sensors, lanes and facilities with open state), for logs.
    pub fn entities(&self) -> usize {
        self.traffic.entities() + self.parking.entities()
    }
}
