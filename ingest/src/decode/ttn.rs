//! The Things Stack v3 (TTN) LoRaWAN uplinks of parking-spot sensors (`docs/formats.md`,
//! "TTN"): one uplink per message, keyed by its `dev_eui` (the registry's `external_id`
//! of a spot), its occupancy from `decoded_payload.occupied` when The Things Stack's codec
//! ran, else from `frm_payload` decoded here (`ttn/codecs.rs`), each copy of one uplink
//! taken once per partition (`ttn/recent.rs`).

mod codecs;
mod envelope;
mod recent;

use serde_json::Value;
use stadtpuls_config::LoraCodec;
use stadtpuls_processing::model::parking::SpotStatus;
use stadtpuls_processing::{RejectReason, Rejection};

use super::emit::{Emit, Reading, malformed};

pub(crate) use recent::{RecentBySource, RecentUplinks};

/// What the TTN decoder needs besides the message: the feed's codec and the memory of its
/// partition's recent uplinks.
pub(crate) struct TtnInput<'a> {
    /// The feed's `codec`, for uplinks whose `version_ids` name none Stadtpuls knows.
    pub(crate) codec: Option<LoraCodec>,
    /// The recent uplinks of the message's partition.
    pub(crate) recent: &'a mut RecentUplinks,
}

/// Decodes one message: one spot state, or one refusal.
pub(crate) fn decode(payload: &[u8], input: &mut TtnInput<'_>, emit: &mut Emit<'_, '_>) {
    match state(payload, input) {
        Ok((dev_eui, ts, status)) => {
            let reading = Reading::Spot {
                external_id: &dev_eui,
                ts,
                status,
            };
            emit.reading(None, payload, &reading);
        }
        Err(rejection) => emit.refuse(None, payload, rejection),
    }
}

fn state(payload: &[u8], input: &mut TtnInput<'_>) -> Result<(String, i64, SpotStatus), Rejection> {
    let message: Value =
        serde_json::from_slice(payload).map_err(|e| malformed(format!("invalid JSON: {e}")))?;
    let uplink = envelope::uplink(&message)?;
    if !input.recent.first_time(uplink.key) {
        return Err(Rejection::new(
            RejectReason::Duplicate,
            format!(
                "uplink of `{}` (f_port {}) already taken from this partition: same dev_eui, \
                 f_cnt and session",
                uplink.dev_eui, uplink.f_port
            ),
        ));
    }
    let occupied = match uplink.decoded_occupied {
        Some(occupied) => occupied,
        None => {
            let Some(codec) = uplink.version_codec.or(input.codec) else {
                return Err(malformed(format!(
                    "uplink of `{}` has no boolean `decoded_payload.occupied` and no codec: \
                     set `codec` on the feed or a payload formatter in The Things Stack",
                    uplink.dev_eui
                )));
            };
            if uplink.f_port == 0 {
                return Err(codecs::no_observation(
                    "f_port 0: MAC commands only, no application payload",
                ));
            }
            let Some(bytes) = &uplink.frm_payload else {
                return Err(malformed("no `frm_payload` and no `decoded_payload`"));
            };
            codecs::occupied(codec, uplink.f_port, bytes)?
        }
    };
    let status = if occupied {
        SpotStatus::Occupied
    } else {
        SpotStatus::Free
    };
    Ok((uplink.dev_eui, uplink.ts, status))
}

#[cfg(test)]
mod tests;
