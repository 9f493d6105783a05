//! The fast reader of the common FIWARE message, a batch (a JSON array) of entity objects:
//! one pass over the bytes that checks the JSON as strictly as serde_json does and notes,
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
use super::json::Scanner;

/// One element of a batch.
pub(crate) struct Element<'a> {
    /// The element's bytes, exactly as serde's `RawValue::get` gives them.
    pub(crate) bytes: &'a [u8],
    /// The element's `id`, `type` and kept attributes with their values' bytes, in the
    /// order written; `None` when the serde path must read the element.
    pub(crate) kept: Option<Vec<(&'a str, &'a [u8])>>,
}

/// The elements of `payload` if it is a JSON array the fast path reads; `None` leaves the
/// message to the serde path (`fiware::entities`).
pub(crate) fn batch(payload: &[u8]) -> Option<Vec<Element<'_>>> {
    let mut scan = Scanner::new(payload);
    scan.whitespace();
    scan.expect(b'[')?;
    scan.whitespace();
    let mut elements = Vec::new();
    if scan.peek()? == b']' {
        scan.pos += 1;
    } else {
        loop {
            scan.whitespace();
            let start = scan.pos;
            let kept = if scan.peek()? == b'{' {
                let mut kept = Some(Vec::new());
                scan.members(2, |key, value, unusual| {
                    if key.escaped {
                        kept = None;
                    } else if let Some(list) = kept.as_mut()
                        && wanted(key.raw())
                    {
                        match (unusual, std::str::from_utf8(key.raw())) {
                            (false, Ok(name)) => list.push((name, value)),
                            _ => kept = None,
                        }
                    }
                })?;
                kept
            } else {
                scan.value(2)?;
                None
            };
            elements.push(Element {
                bytes: &payload[start..scan.pos],
                kept,
            });
            scan.whitespace();
            match scan.next()? {
                b',' => {}
                b']' => break,
                _ => return None,
            }
        }
    }
    scan.whitespace();
    (scan.pos == payload.len()).then_some(elements)
}

/// Whether the decoder reads attribute `key` (as written, unescaped).
fn wanted(key: &[u8]) -> bool {
    key == b"id" || key == b"type" || ATTRIBUTES.iter().any(|a| a.as_bytes() == key)
}

#[cfg(test)]
mod tests;
