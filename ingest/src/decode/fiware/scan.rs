//! The fast reader of FIWARE messages — a batch (a JSON array) of entities, a notification
//! or one entity: one pass over the bytes that checks the JSON as strictly as serde_json does and notes,
//! per entity, where `id`, `type` and the attributes of [`ATTRIBUTES`] are. Everything else
//! — `@context`, `location`, addresses, nested metadata, ~90 % of a normalized Smart Data
//! Models entity — is stepped over without building or even UTF-8-checking it piece by
//! piece. The serde path parses every byte twice (the array into raw elements, then each
//! element with its unread attributes skipped) and was the decoder's cost.
//!
//! It gives up (`None`) on anything it is not sure of — invalid UTF-8, a syntax error,
//! deep nesting — and the serde path reads the message, so what is refused, and with which
//! message, stays serde's. An element that is no object, whose keys use escapes, or whose
//! read attributes hold an escape or a number serde might refuse as out of range is handed
//! to the serde path alone.

use super::attrs::ATTRIBUTES;
use super::json::{Key, Scanner};

/// One element of a batch.
pub(crate) struct Element<'a> {
    /// The element's bytes, exactly as serde's `RawValue::get` gives them.
    pub(crate) bytes: &'a [u8],
    /// The element's `id`, `type` and kept attributes with their values' bytes, in the
    /// order written; `None` when the serde path must read the element.
    pub(crate) kept: Option<Vec<(&'a str, &'a [u8])>>,
}

/// A message as the fast reader found it.
pub(crate) enum Message<'a> {
    /// A batch or a notification's `data`.
    Entities(Vec<Element<'a>>),
    /// A single entity, the whole message.
    Single(Element<'a>),
}

/// `payload` read as `fiware::entities` splits it, if the fast reader can; `None` leaves
/// the message to the serde path.
pub(crate) fn message(payload: &[u8]) -> Option<Message<'_>> {
    let mut scan = Scanner::new(payload);
    scan.whitespace();
    let message = match scan.peek()? {
        b'[' => Message::Entities(entities(&mut scan, 1)?),
        b'{' => match object(&mut scan)? {
            Object::Notification(elements) => Message::Entities(elements),
            Object::Entity(kept) => Message::Single(Element {
                bytes: payload,
                kept,
            }),
        },
        _ => return None,
    };
    scan.whitespace();
    (scan.pos == payload.len()).then_some(message)
}

/// The array of entities at the cursor, at nesting `depth`.
fn entities<'a>(scan: &mut Scanner<'a>, depth: usize) -> Option<Vec<Element<'a>>> {
    let mut elements = Vec::new();
    scan.expect(b'[')?;
    scan.whitespace();
    if scan.peek()? == b']' {
        scan.pos += 1;
        return Some(elements);
    }
    loop {
        scan.whitespace();
        let start = scan.pos;
        let kept = if scan.peek()? == b'{' {
            let mut kept = Some(Vec::new());
            scan.members(depth + 1, |key, value, unusual| {
                keep(&mut kept, key, value, unusual);
            })?;
            kept
        } else {
            scan.value(depth + 1)?;
            None
        };
        elements.push(Element {
            bytes: &scan.bytes()[start..scan.pos],
            kept,
        });
        scan.whitespace();
        match scan.next()? {
            b',' => {}
            b']' => return Some(elements),
            _ => return None,
        }
    }
}

/// Notes member `key` in `kept` if the decoder reads it; an escaped key or an unusual read
/// value sends the element to serde.
fn keep<'a>(kept: &mut Kept<'a>, key: Key<'a>, value: &'a [u8], unusual: bool) {
    if key.escaped {
        *kept = None;
    } else if let Some(list) = kept.as_mut()
        && wanted(key.raw())
    {
        match (unusual, std::str::from_utf8(key.raw())) {
            (false, Ok(name)) => list.push((name, value)),
            _ => *kept = None,
        }
    }
}

type Kept<'a> = Option<Vec<(&'a str, &'a [u8])>>;

enum Object<'a> {
    Notification(Vec<Element<'a>>),
    Entity(Kept<'a>),
}

/// The object at the top of a message: a notification (`"type": "Notification"` or a
/// `subscriptionId`, its entities in `data`) or one entity — decided as the serde
/// envelope of `fiware::entities` does; where that envelope would refuse the message or
/// read it otherwise (a repeated or escaped envelope key, a `type` that is no plain
/// string, a `data` that is no array, a notification without `data`), `None`.
fn object<'a>(scan: &mut Scanner<'a>) -> Option<Object<'a>> {
    let mut kept = Some(Vec::new());
    let (mut kind, mut subscription, mut data) = (None, None, None);
    scan.expect(b'{')?;
    scan.whitespace();
    let mut more = scan.peek()? != b'}';
    if !more {
        scan.pos += 1;
    }
    while more {
        scan.whitespace();
        let start = scan.pos;
        if scan.string()? {
            return None;
        }
        let key = Key {
            quoted: &scan.bytes()[start..scan.pos],
            escaped: false,
        };
        scan.whitespace();
        scan.expect(b':')?;
        scan.whitespace();
        let value = scan.pos;
        let before = std::mem::take(&mut scan.unusual);
        match key.raw() {
            b"data" if data.is_some() => return None,
            b"data" if scan.peek()? == b'[' => data = Some(Some(entities(scan, 2)?)),
            b"data" => {
                scan.value(2)?;
                (&scan.bytes()[value..scan.pos] == b"null").then_some(())?;
                data = Some(None);
            }
            _ => scan.value(2)?,
        }
        let unusual = scan.unusual;
        scan.unusual |= before;
        let bytes = &scan.bytes()[value..scan.pos];
        match key.raw() {
            b"type" if kind.is_some() => return None,
            b"type" if bytes == b"null" => kind = Some(false),
            b"type" if bytes.first() == Some(&b'"') && !unusual => {
                kind = Some(bytes == b"\"Notification\"");
            }
            b"type" => return None,
            b"subscriptionId" if subscription.is_some() => return None,
            b"subscriptionId" => subscription = Some(bytes != b"null"),
            _ => {}
        }
        keep(&mut kept, key, bytes, unusual);
        scan.whitespace();
        more = match scan.next()? {
            b',' => true,
            b'}' => false,
            _ => return None,
        };
    }
    let notification = kind == Some(true) || subscription == Some(true);
    match (notification, data) {
        (true, Some(Some(elements))) => Some(Object::Notification(elements)),
        (true, _) => None,
        (false, _) => Some(Object::Entity(kept)),
    }
}

/// Whether the decoder reads attribute `key` (as written, unescaped).
fn wanted(key: &[u8]) -> bool {
    key == b"id" || key == b"type" || ATTRIBUTES.iter().any(|a| a.as_bytes() == key)
}

#[cfg(test)]
mod tests;
