//! The fast reader of the common FIWARE message, a batch (a JSON array) of entity objects:
//! one pass over the bytes that checks the JSON as strictly as serde_json does and notes,
//! per entity, where `id`, `type` and the attributes of [`ATTRIBUTES`] are. Everything else
//! — `@context`, `location`, addresses, nested metadata, ~90 % of a normalized Smart Data
//! Models entity — is stepped over without building or even UTF-8-checking it piece by
//! piece. The serde path parses every byte twice (the array into raw elements, then each
//! element with its unread attributes skipped) and was the decoder's cost.
//!
//! It gives up (`None`) on anything it is not sure of — invalid UTF-8, a syntax error, an
//! unusual number, nesting deeper than [`MAX_DEPTH`] — and the serde path reads the message,
//! so what is refused, and with which message, stays serde's. An element whose keys use
//! escapes is handed to the serde path alone (its keys need unescaping to be compared).

use super::attrs::ATTRIBUTES;

/// Deeper nesting is left to serde_json (whose limit is 128), so the values the fast path
/// hands on are never refused for depth by serde after it accepted their element.
const MAX_DEPTH: usize = 64;

/// One element of a batch.
pub(crate) struct Element<'a> {
    /// The element's bytes, exactly as serde's `RawValue::get` gives them.
    pub(crate) bytes: &'a [u8],
    /// The element's `id`, `type` and kept attributes with their values' bytes, in the
    /// order written; `None` when the serde path must read the element (it is not an
    /// object, or a key has an escape).
    pub(crate) kept: Option<Vec<(&'a str, &'a [u8])>>,
}

/// The elements of `payload` if it is a JSON array the fast path reads; `None` leaves the
/// message to the serde path (`fiware::entities`).
pub(crate) fn batch(payload: &[u8]) -> Option<Vec<Element<'_>>> {
    // Once for the whole message, so string contents need no check of their own.
    std::str::from_utf8(payload).ok()?;
    let mut scan = Scanner {
        bytes: payload,
        pos: 0,
    };
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
                scan.entity()?
            } else {
                scan.value(1)?;
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

struct Scanner<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> Scanner<'a> {
    fn peek(&self) -> Option<u8> {
        self.bytes.get(self.pos).copied()
    }

    fn next(&mut self) -> Option<u8> {
        let byte = self.peek()?;
        self.pos += 1;
        Some(byte)
    }

    fn expect(&mut self, byte: u8) -> Option<()> {
        (self.next()? == byte).then_some(())
    }

    /// JSON whitespace, as serde_json accepts it.
    fn whitespace(&mut self) {
        while let Some(b' ' | b'\n' | b'\t' | b'\r') = self.peek() {
            self.pos += 1;
        }
    }

    /// An object's members; `Some(None)` if a key has an escape.
    #[allow(clippy::type_complexity)]
    fn entity(&mut self) -> Option<Option<Vec<(&'a str, &'a [u8])>>> {
        self.expect(b'{')?;
        let mut kept = Some(Vec::new());
        self.whitespace();
        if self.peek()? == b'}' {
            self.pos += 1;
            return Some(kept);
        }
        loop {
            self.whitespace();
            let start = self.pos + 1;
            let escaped = self.string()?;
            let key = &self.bytes[start..self.pos - 1];
            self.whitespace();
            self.expect(b':')?;
            self.whitespace();
            let value = self.pos;
            self.value(2)?;
            if escaped {
                kept = None;
            } else if let Some(list) = kept.as_mut()
                && wanted(key)
            {
                let key = std::str::from_utf8(key).ok()?;
                list.push((key, &self.bytes[value..self.pos]));
            }
            self.whitespace();
            match self.next()? {
                b',' => {}
                b'}' => return Some(kept),
                _ => return None,
            }
        }
    }

    /// Steps over one value at nesting `depth`, checking it.
    fn value(&mut self, depth: usize) -> Option<()> {
        match self.peek()? {
            b'"' => self.string().map(|_| ()),
            b'{' => {
                if depth > MAX_DEPTH {
                    return None;
                }
                self.pos += 1;
                self.whitespace();
                if self.peek()? == b'}' {
                    self.pos += 1;
                    return Some(());
                }
                loop {
                    self.whitespace();
                    self.string()?;
                    self.whitespace();
                    self.expect(b':')?;
                    self.whitespace();
                    self.value(depth + 1)?;
                    self.whitespace();
                    match self.next()? {
                        b',' => {}
                        b'}' => return Some(()),
                        _ => return None,
                    }
                }
            }
            b'[' => {
                if depth > MAX_DEPTH {
                    return None;
                }
                self.pos += 1;
                self.whitespace();
                if self.peek()? == b']' {
                    self.pos += 1;
                    return Some(());
                }
                loop {
                    self.whitespace();
                    self.value(depth + 1)?;
                    self.whitespace();
                    match self.next()? {
                        b',' => {}
                        b']' => return Some(()),
                        _ => return None,
                    }
                }
            }
            b't' => self.literal(b"true"),
            b'f' => self.literal(b"false"),
            b'n' => self.literal(b"null"),
            b'-' | b'0'..=b'9' => self.number(),
            _ => None,
        }
    }

    fn literal(&mut self, word: &[u8]) -> Option<()> {
        let end = self.pos + word.len();
        (self.bytes.get(self.pos..end)? == word).then(|| self.pos = end)
    }

    /// `-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?`, the JSON grammar serde_json checks.
    fn number(&mut self) -> Option<()> {
        if self.peek() == Some(b'-') {
            self.pos += 1;
        }
        match self.next()? {
            b'0' => {}
            b'1'..=b'9' => self.digits(),
            _ => return None,
        }
        if self.peek() == Some(b'.') {
            self.pos += 1;
            self.digit()?;
        }
        if let Some(b'e' | b'E') = self.peek() {
            self.pos += 1;
            if let Some(b'+' | b'-') = self.peek() {
                self.pos += 1;
            }
            self.digit()?;
        }
        Some(())
    }

    /// At least one digit.
    fn digit(&mut self) -> Option<()> {
        self.next()?.is_ascii_digit().then(|| self.digits())
    }

    fn digits(&mut self) {
        while self.peek().is_some_and(|b| b.is_ascii_digit()) {
            self.pos += 1;
        }
    }

    /// A string from its opening quote; whether it has an escape. Refuses what serde_json
    /// refuses in a string: a control character, an unknown escape, a `\u` without four
    /// hex digits.
    fn string(&mut self) -> Option<bool> {
        self.expect(b'"')?;
        let mut escaped = false;
        loop {
            self.pos += special(&self.bytes[self.pos..]);
            match self.next()? {
                b'"' => return Some(escaped),
                b'\\' => {
                    escaped = true;
                    match self.next()? {
                        b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't' => {}
                        b'u' => {
                            let hex = self.bytes.get(self.pos..self.pos + 4)?;
                            if !hex.iter().all(u8::is_ascii_hexdigit) {
                                return None;
                            }
                            self.pos += 4;
                        }
                        _ => return None,
                    }
                }
                _ => return None,
            }
        }
    }
}

/// The offset of the first `"`, `\` or control character in `bytes` (its length if none),
/// eight bytes at a time.
fn special(bytes: &[u8]) -> usize {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    let chunks = bytes.chunks_exact(8);
    let tail = chunks.remainder();
    for (n, chunk) in chunks.enumerate() {
        let mut word = [0; 8];
        word.copy_from_slice(chunk);
        let word = u64::from_le_bytes(word);
        let quote = word ^ (ONES * u64::from(b'"'));
        let backslash = word ^ (ONES * u64::from(b'\\'));
        // A byte's high bit is set where it is zero (quote, backslash) or below 0x20; the
        // lowest one found is exact (a borrow only spreads above a true find).
        let found = (quote.wrapping_sub(ONES) & !quote)
            | (backslash.wrapping_sub(ONES) & !backslash)
            | (word.wrapping_sub(ONES * 0x20) & !word);
        let found = found & HIGH;
        if found != 0 {
            return n * 8 + (found.trailing_zeros() / 8) as usize;
        }
    }
    let done = bytes.len() - tail.len();
    done + tail
        .iter()
        .position(|&b| b == b'"' || b == b'\\' || b < 0x20)
        .unwrap_or(tail.len())
}

#[cfg(test)]
mod tests;
