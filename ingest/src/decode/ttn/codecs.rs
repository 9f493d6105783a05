//! The uplink byte layouts (`frm_payload`) of the parking sensors Stadtpuls decodes
//! itself, for uplinks without `decoded_payload`. Each is transcribed from the device's
//! codec in TheThingsNetwork/lorawan-devices (copies in
//! `/work/shared/data/ttn/lorawan-devices/`, their test vectors in the `*-codec.yaml`
//! beside them) and checked against ThingsBoard's decoded results of the same bytes
//! (`ttn/tests.rs`).
//!
//! Only a parking state becomes an observation; device telemetry (battery, temperature,
//! firmware) is not one and is refused as `no_observation`, so accepted plus refused still
//! adds up to the uplinks sent.

use stadtpuls_config::LoraCodec;
use stadtpuls_processing::{RejectReason, Rejection};

use super::super::emit::malformed;

/// Whether the spot is occupied, read from `bytes` sent on `f_port` by a `codec` device.
pub(crate) fn occupied(codec: LoraCodec, f_port: u64, bytes: &[u8]) -> Result<bool, Rejection> {
    match codec {
        LoraCodec::NwaveNps => nwave(f_port, bytes),
        LoraCodec::BoschPls => bosch(f_port, bytes),
    }
}

/// Nwave NPS parking sensors (`vendor/nwave/nps405.js`, `nps405-codec.yaml`).
///
/// - f_port 1, parking status, 1 byte: bit 0 = occupied; bits 1–7 = the compressed
///   duration of the previous state (not used). `0x95` (`lQ==`) → occupied, previous
///   state 74.
/// - f_port 2, heartbeat: the codec reads `occupied` from bit 0 of byte 0, but the same
///   bits are its `hw_health_status` (`bytes[0] & 0x7F`), so the bit is not a trustworthy
///   parking state: refused as `no_observation`, as are f_port 3 (startup: firmware, reset
///   cause), 6 (debug) and 10 (SDI tag registration, an identification event).
fn nwave(f_port: u64, bytes: &[u8]) -> Result<bool, Rejection> {
    match f_port {
        1 => first_bit(bytes, "nwave-nps parking status"),
        2 => Err(no_observation(
            "nwave-nps heartbeat (f_port 2): its state bit is shared with hw_health_status, \
             not read as a parking state",
        )),
        3 => Err(no_observation(
            "nwave-nps startup (f_port 3): firmware and reset cause, no parking state",
        )),
        6 => Err(no_observation("nwave-nps debug frame (f_port 6)")),
        10 => Err(no_observation(
            "nwave-nps SDI tag registration (f_port 10), not a parking state",
        )),
        other => Err(malformed(format!(
            "f_port {other} is no port of the nwave-nps codec (1 status, 2 heartbeat, \
             3 startup, 6 debug, 10 tag registration)"
        ))),
    }
}

/// Bosch Parking Lot Sensor TPS110 (`vendor/bosch/tpl110-0292.js`,
/// `tps110-0292-codec.yaml`).
///
/// - f_port 1, parking status: byte 0 bit 0 = occupied (`AQ==` → occupied).
/// - f_port 2, heartbeat: byte 0 bit 0 = occupied, byte 1 (optional) = temperature °C,
///   signed (`ARI=` → occupied, 18 °C): a heartbeat re-asserts the state.
/// - f_port 3, startup, 17 bytes: three 4-byte debug codes (bytes 0–11), firmware
///   version bytes 12–14, reset cause byte 15, byte 16 bit 0 = occupied (the fixture
///   `AAAAAJkCANEABQAAAB0CAgA=` → firmware 0.29.2, power on, free).
/// - f_port 4 (device information), 5 (device usage), 6 (debug): `no_observation`.
fn bosch(f_port: u64, bytes: &[u8]) -> Result<bool, Rejection> {
    match f_port {
        1 => first_bit(bytes, "bosch-pls parking status"),
        2 => first_bit(bytes, "bosch-pls heartbeat"),
        3 => match bytes.get(16) {
            Some(state) => Ok(state & 1 == 1),
            None => Err(malformed(format!(
                "bosch-pls startup (f_port 3) has {} bytes, not 17",
                bytes.len()
            ))),
        },
        4..=6 => Err(no_observation(format!(
            "bosch-pls device information, usage or debug frame (f_port {f_port})"
        ))),
        other => Err(malformed(format!(
            "f_port {other} is no port of the bosch-pls codec (1 status, 2 heartbeat, \
             3 startup, 4 information, 5 usage, 6 debug)"
        ))),
    }
}

fn first_bit(bytes: &[u8], frame: &str) -> Result<bool, Rejection> {
    bytes
        .first()
        .map(|b| b & 1 == 1)
        .ok_or_else(|| malformed(format!("{frame} frame is empty")))
}

/// A refusal as `no_observation` with `detail`.
pub(crate) fn no_observation(detail: impl Into<String>) -> Rejection {
    Rejection::new(RejectReason::NoObservation, detail.into())
}
