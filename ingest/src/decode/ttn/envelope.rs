//! A Things Stack v3 message → the fields of its uplink: the webhook body and the MQTT
//! `v3/<app>/devices/<dev>/up` message (the same `ApplicationUp` JSON), the event stream's
//! `{"name": "as.up.data.forward", "data": …}`, and either wrapped in the streaming HTTP
//! API's `{"result": …}`. Other application messages (join accepts, downlink events,
//! other event names) carry no observation.

use base64::Engine as _;
use serde_json::Value;
use stadtpuls_config::LoraCodec;
use stadtpuls_processing::Rejection;

use super::super::emit::malformed;
use super::super::json_values::text;
use super::super::timestamp::feed_instant;
use super::codecs::no_observation;
use super::recent::UplinkKey;

/// The event name of an uplink forwarded to the application.
const UPLINK_EVENT: &str = "as.up.data.forward";

/// `ApplicationUp` messages that are not uplinks (The Things Stack's `up` message kinds).
const OTHER_MESSAGES: [&str; 11] = [
    "join_accept",
    "downlink_ack",
    "downlink_nack",
    "downlink_sent",
    "downlink_failed",
    "downlink_queued",
    "downlink_queue_invalidated",
    "location_solved",
    "service_data",
    "uplink_normalized",
    "simulated",
];

/// What an uplink says, read and checked.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Uplink {
    /// `end_device_ids.dev_eui`, 16 hex digits, upper case (as the registry writes it).
    pub(crate) dev_eui: String,
    /// Its identity for duplicate detection.
    pub(crate) key: UplinkKey,
    /// Event time, epoch ms.
    pub(crate) ts: i64,
    /// `uplink_message.f_port` (absent = 0, The Things Stack omits zero values).
    pub(crate) f_port: u64,
    /// `decoded_payload.occupied`, when The Things Stack's own codec ran.
    pub(crate) decoded_occupied: Option<bool>,
    /// `frm_payload`, base64-decoded.
    pub(crate) frm_payload: Option<Vec<u8>>,
    /// The codec `version_ids` (the device repository's brand and model) name.
    pub(crate) version_codec: Option<LoraCodec>,
}

/// The uplink of `message`, or why it is none.
pub(crate) fn uplink(message: &Value) -> Result<Uplink, Rejection> {
    let mut up = message;
    if !up.is_object() {
        return Err(malformed("a TTN message is a JSON object"));
    }
    if let Some(result) = up.get("result") {
        up = result;
    }
    if let Some(name) = up.get("name") {
        let name = text(name, "name")?;
        if name != UPLINK_EVENT {
            return Err(no_observation(format!(
                "event `{name}` is not an uplink ({UPLINK_EVENT})"
            )));
        }
        up = up
            .get("data")
            .ok_or_else(|| malformed(format!("event {UPLINK_EVENT} has no `data`")))?;
    }
    let Some(uplink) = up.get("uplink_message").filter(|u| u.is_object()) else {
        return Err(
            match OTHER_MESSAGES.iter().find(|k| up.get(**k).is_some()) {
                Some(kind) => no_observation(format!("a `{kind}` message, not an uplink")),
                None => malformed("no `uplink_message` object"),
            },
        );
    };
    let ids = up.get("end_device_ids");
    let dev_eui = ids
        .and_then(|ids| ids.get("dev_eui"))
        .ok_or_else(|| malformed("no `end_device_ids.dev_eui`"))?;
    let dev_eui = text(dev_eui, "end_device_ids.dev_eui")?;
    let eui = parse_eui(dev_eui)?;
    let f_cnt = match uplink.get("f_cnt") {
        None | Some(Value::Null) => 0,
        Some(v) => v
            .as_u64()
            .and_then(|n| u32::try_from(n).ok())
            .ok_or_else(|| malformed(format!("`f_cnt` is {v}, not a 32-bit frame counter")))?,
    };
    let session = match uplink.get("session_key_id") {
        Some(id) => text(id, "session_key_id")?,
        None => match ids.and_then(|ids| ids.get("dev_addr")) {
            Some(addr) => text(addr, "end_device_ids.dev_addr")?,
            None => "",
        },
    };
    let f_port = match uplink.get("f_port") {
        None | Some(Value::Null) => 0,
        Some(v) => v
            .as_u64()
            .filter(|port| *port <= 255)
            .ok_or_else(|| malformed(format!("`f_port` is {v}, not 0–255")))?,
    };
    let frm_payload = match uplink.get("frm_payload") {
        None | Some(Value::Null) => None,
        Some(v) => {
            let text = text(v, "frm_payload")?;
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(text)
                .map_err(|e| malformed(format!("`frm_payload` `{text}` is not base64: {e}")))?;
            Some(bytes)
        }
    };
    let decoded_occupied = uplink
        .get("decoded_payload")
        .and_then(|d| d.get("occupied"))
        .and_then(Value::as_bool);
    let version_codec = uplink.get("version_ids").and_then(|v| {
        let brand = v.get("brand_id")?.as_str()?;
        let model = v.get("model_id")?.as_str()?;
        LoraCodec::from_version_ids(brand, model)
    });
    Ok(Uplink {
        dev_eui: dev_eui.to_ascii_uppercase(),
        key: UplinkKey::new(eui, f_cnt, session),
        ts: event_time(up, uplink)?,
        f_port,
        decoded_occupied,
        frm_payload,
        version_codec,
    })
}

/// A DevEUI: 16 hex digits.
fn parse_eui(text: &str) -> Result<u64, Rejection> {
    if text.len() != 16 {
        return Err(malformed(format!(
            "`end_device_ids.dev_eui` `{text}` is not 16 hex digits"
        )));
    }
    u64::from_str_radix(text, 16).map_err(|_| {
        malformed(format!(
            "`end_device_ids.dev_eui` `{text}` is not 16 hex digits"
        ))
    })
}

/// When the uplink was sent: the earliest gateway reception (`rx_metadata[].time`, the
/// gateway's GPS time — absent from gateways without GPS), else the network's
/// `uplink_message.received_at`, else the message's `received_at`. A time that is present
/// but not RFC 3339 is refused, never skipped.
fn event_time(up: &Value, uplink: &Value) -> Result<i64, Rejection> {
    let instant = |value: &Value, field: &str| {
        let text = text(value, field)?;
        feed_instant(text)
            .ok_or_else(|| malformed(format!("`{field}` `{text}` is not an RFC 3339 time")))
    };
    let mut earliest: Option<i64> = None;
    if let Some(gateways) = uplink.get("rx_metadata").and_then(Value::as_array) {
        for gateway in gateways {
            if let Some(time) = gateway.get("time") {
                let ts = instant(time, "rx_metadata[].time")?;
                earliest = Some(earliest.map_or(ts, |e| e.min(ts)));
            }
        }
    }
    if let Some(ts) = earliest {
        return Ok(ts);
    }
    if let Some(at) = uplink.get("received_at") {
        return instant(at, "uplink_message.received_at");
    }
    match up.get("received_at") {
        Some(at) => instant(at, "received_at"),
        None => Err(malformed(
            "no `rx_metadata[].time`, `uplink_message.received_at` or `received_at`",
        )),
    }
}
