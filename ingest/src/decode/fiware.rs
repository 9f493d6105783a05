//! FIWARE NGSI-LD and NGSI v2 (`docs/formats.md`, "FIWARE"): a single entity, an array of
//! them (a batch upsert body), an NGSI-LD notification (`"type": "Notification"`,
//! `data: [...]`) or an NGSI v2 Orion notification (`{"subscriptionId", "data": [...]}`);
//! normalized or keyValues. Each entity is one observation, accepted or refused alone.

pub(crate) mod attrs;
mod entities;
mod json;
mod scan;

use serde::Deserialize;
use serde_json::value::RawValue;
use stadtpuls_processing::Rejection;

use super::emit::{Emit, malformed};
use attrs::{Entity, Members, OwnedMembers};
use scan::{Element, Message};

/// Decodes one message into its entities' observations.
pub(crate) fn decode(payload: &[u8], emit: &mut Emit<'_, '_>) {
    match scan::message(payload) {
        Some(Message::Entities(elements)) => {
            for (index, element) in elements.iter().enumerate() {
                scanned(Some(index), element, emit);
            }
            return;
        }
        Some(Message::Single(element)) => return scanned(None, &element, emit),
        None => {}
    }
    match entities(payload) {
        Err(rejection) => emit.refuse(None, payload, rejection),
        Ok(None) => entity(None, payload, emit),
        Ok(Some(raw)) => {
            for (index, element) in raw.iter().enumerate() {
                entity(Some(index), element.get().as_bytes(), emit);
            }
        }
    }
}

/// The entities of a batch or notification; `None` for a single entity.
pub(crate) fn entities(payload: &[u8]) -> Result<Option<Vec<&RawValue>>, Rejection> {
    let invalid = |e: serde_json::Error| malformed(format!("invalid JSON: {e}"));
    if payload.iter().copied().find(|b| !b.is_ascii_whitespace()) == Some(b'[') {
        return serde_json::from_slice(payload).map(Some).map_err(invalid);
    }
    #[derive(Deserialize)]
    struct Envelope<'a> {
        #[serde(rename = "type", borrow)]
        kind: Option<std::borrow::Cow<'a, str>>,
        #[serde(rename = "subscriptionId")]
        subscription_id: Option<&'a RawValue>,
        #[serde(borrow)]
        data: Option<Vec<&'a RawValue>>,
    }
    let envelope: Envelope<'_> = serde_json::from_slice(payload).map_err(invalid)?;
    let notification =
        envelope.kind.as_deref() == Some("Notification") || envelope.subscription_id.is_some();
    match (notification, envelope.data) {
        (true, Some(data)) => Ok(Some(data)),
        (true, None) => Err(malformed(
            "a notification needs `data`, an array of entities",
        )),
        (false, _) => Ok(None),
    }
}

fn entity(index: Option<usize>, bytes: &[u8], emit: &mut Emit<'_, '_>) {
    let members = match serde_json::from_slice::<attrs::Kept>(bytes) {
        Ok(kept) => OwnedMembers::of(&kept.0),
        Err(e) => Err(malformed(format!("invalid JSON: {e}"))),
    };
    match members {
        Ok(members) => read(index, bytes, &members.borrowed(), emit),
        Err(rejection) => emit.refuse(index, bytes, rejection),
    }
}

/// An element the fast reader found: read from its kept members, or by serde.
fn scanned(index: Option<usize>, element: &Element<'_>, emit: &mut Emit<'_, '_>) {
    match &element.kept {
        Some(kept) => read(index, element.bytes, kept, emit),
        None => entity(index, element.bytes, emit),
    }
}

fn read(index: Option<usize>, bytes: &[u8], members: &Members<'_>, emit: &mut Emit<'_, '_>) {
    let entity = match Entity::kept(members) {
        Ok(entity) => entity,
        Err(rejection) => return emit.refuse(index, bytes, rejection),
    };
    match entities::reading(&entity) {
        Ok(reading) => emit.reading(index, bytes, &reading),
        Err(rejection) => emit.refuse(index, bytes, rejection),
    }
}
