//! JSON text without a tree: a checking scanner (as strict as serde_json, giving up rather
//! than guessing) and [`Json`], a view of one value's bytes that answers what
//! `serde_json::Value` would (`get`, `as_str`, `as_i64`, …) without building anything.
//! Shared by the fast batch reader (`scan.rs`) and the attribute readers (`attrs.rs`).

use std::borrow::Cow;
use std::fmt;

use serde_json::{Number, Value};

/// Deeper nesting is left to serde_json (whose limit is 128), so what the scanner accepts
/// serde never refuses for depth.
const MAX_DEPTH: usize = 64;

/// A key of an object as written, with its quotes.
#[derive(Clone, Copy)]
pub(crate) struct Key<'a> {
    pub(crate) quoted: &'a [u8],
    pub(crate) escaped: bool,
}

impl<'a> Key<'a> {
    /// The key without its quotes, as written.
    pub(crate) fn raw(&self) -> &'a [u8] {
        &self.quoted[1..self.quoted.len() - 1]
    }

    /// Whether the key, unescaped, is `name`.
    pub(crate) fn is(&self, name: &str) -> bool {
        if self.escaped {
            serde_json::from_slice::<String>(self.quoted).is_ok_and(|key| key == name)
        } else {
            self.raw() == name.as_bytes()
        }
    }
}

/// A cursor over JSON text that checks what it steps over; every method returns `None`
/// on anything serde_json would refuse (and on some things it would accept).
pub(crate) struct Scanner<'a> {
    bytes: &'a [u8],
    pub(crate) pos: usize,
    /// Set when a string has an escape or a number has an exponent or many digits: the
    /// spans where serde may read otherwise than a plain view (unescaping, range checks).
    pub(crate) unusual: bool,
}

impl<'a> Scanner<'a> {
    pub(crate) fn new(bytes: &'a [u8]) -> Self {
        Self {
            bytes,
            pos: 0,
            unusual: false,
        }
    }

    pub(crate) fn bytes(&self) -> &'a [u8] {
        self.bytes
    }

    pub(crate) fn peek(&self) -> Option<u8> {
        self.bytes.get(self.pos).copied()
    }

    pub(crate) fn next(&mut self) -> Option<u8> {
        let byte = self.peek()?;
        self.pos += 1;
        Some(byte)
    }

    pub(crate) fn expect(&mut self, byte: u8) -> Option<()> {
        (self.next()? == byte).then_some(())
    }

    /// JSON whitespace, as serde_json accepts it; runs of spaces (indentation) eight at
    /// a time.
    pub(crate) fn whitespace(&mut self) {
        const SPACES: u64 = u64::from_le_bytes([b' '; 8]);
        loop {
            if let Some(word) = word_at(self.bytes, self.pos)
                && word == SPACES
            {
                self.pos += 8;
                continue;
            }
            match self.peek() {
                Some(b' ' | b'\n' | b'\t' | b'\r') => self.pos += 1,
                _ => return,
            }
        }
    }

    /// The members of the object at the cursor (nesting `depth`), each key with the bytes
    /// of its value and whether they hold anything [`Scanner::unusual`], in order.
    pub(crate) fn members(
        &mut self,
        depth: usize,
        mut each: impl FnMut(Key<'a>, &'a [u8], bool),
    ) -> Option<()> {
        if depth > MAX_DEPTH {
            return None;
        }
        self.expect(b'{')?;
        self.whitespace();
        if self.peek()? == b'}' {
            self.pos += 1;
            return Some(());
        }
        loop {
            self.whitespace();
            let start = self.pos;
            let escaped = self.string()?;
            let key = Key {
                quoted: &self.bytes[start..self.pos],
                escaped,
            };
            self.whitespace();
            self.expect(b':')?;
            self.whitespace();
            let value = self.pos;
            let before = std::mem::take(&mut self.unusual);
            self.value(depth + 1)?;
            let unusual = self.unusual;
            self.unusual |= before;
            each(key, &self.bytes[value..self.pos], unusual);
            self.whitespace();
            match self.next()? {
                b',' => {}
                b'}' => return Some(()),
                _ => return None,
            }
        }
    }

    /// The elements of the array at the cursor (nesting `depth`), each as its bytes.
    pub(crate) fn elements(&mut self, depth: usize, mut each: impl FnMut(&'a [u8])) -> Option<()> {
        if depth > MAX_DEPTH {
            return None;
        }
        self.expect(b'[')?;
        self.whitespace();
        if self.peek()? == b']' {
            self.pos += 1;
            return Some(());
        }
        loop {
            self.whitespace();
            let start = self.pos;
            self.value(depth + 1)?;
            each(&self.bytes[start..self.pos]);
            self.whitespace();
            match self.next()? {
                b',' => {}
                b']' => return Some(()),
                _ => return None,
            }
        }
    }

    /// Steps over one value at nesting `depth`, checking it.
    pub(crate) fn value(&mut self, depth: usize) -> Option<()> {
        match self.peek()? {
            b'"' => self.string().map(|_| ()),
            b'{' => self.members(depth, |_, _, _| {}),
            b'[' => self.elements(depth, |_| {}),
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
        let start = self.pos;
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
            self.unusual = true;
            self.pos += 1;
            if let Some(b'+' | b'-') = self.peek() {
                self.pos += 1;
            }
            self.digit()?;
        }
        // Far from f64's range limit, so serde never refuses it as out of range.
        if self.pos - start > 40 {
            self.unusual = true;
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
    /// hex digits, invalid UTF-8 (checked here, character by character, so a message
    /// needs no pass of its own: outside strings only ASCII is valid JSON).
    pub(crate) fn string(&mut self) -> Option<bool> {
        self.expect(b'"')?;
        let mut escaped = false;
        loop {
            self.pos += special(&self.bytes[self.pos..]);
            match self.next()? {
                b'"' => return Some(escaped),
                b'\\' => {
                    escaped = true;
                    self.unusual = true;
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
                lead @ 0x80.. => {
                    let len = match lead {
                        0xc2..=0xdf => 2,
                        0xe0..=0xef => 3,
                        0xf0..=0xf4 => 4,
                        _ => return None,
                    };
                    let start = self.pos - 1;
                    std::str::from_utf8(self.bytes.get(start..start + len)?).ok()?;
                    self.pos = start + len;
                }
                _ => return None,
            }
        }
    }
}

/// The eight bytes at `pos` as a little-endian word, if there are eight.
fn word_at(bytes: &[u8], pos: usize) -> Option<u64> {
    let chunk = bytes.get(pos..pos + 8)?;
    <[u8; 8]>::try_from(chunk).ok().map(u64::from_le_bytes)
}

/// The offset of the first `"`, `\`, control character or non-ASCII byte in `bytes` (its
/// length if none), eight bytes at a time.
fn special(bytes: &[u8]) -> usize {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    let mut at = 0;
    while let Some(word) = word_at(bytes, at) {
        let quote = word ^ (ONES * u64::from(b'"'));
        let backslash = word ^ (ONES * u64::from(b'\\'));
        // A byte's high bit is set where it is zero (quote, backslash), below 0x20 or
        // non-ASCII; the lowest one found is exact (a borrow only spreads above a true find).
        let found = (quote.wrapping_sub(ONES) & !quote)
            | (backslash.wrapping_sub(ONES) & !backslash)
            | word.wrapping_sub(ONES * 0x20)
            | word;
        let found = found & HIGH;
        if found != 0 {
            return at + (found.trailing_zeros() / 8) as usize;
        }
        at += 8;
    }
    at + bytes[at..]
        .iter()
        .position(|&b| b == b'"' || b == b'\\' || !(0x20..0x80).contains(&b))
        .unwrap_or(bytes.len() - at)
}

/// One JSON value's bytes (valid JSON, no surrounding whitespace), read as
/// `serde_json::Value` would read it: objects keep the last of duplicate keys.
#[derive(Clone, Copy, PartialEq)]
pub(crate) struct Json<'a>(pub(crate) &'a [u8]);

impl<'a> Json<'a> {
    fn first(self) -> u8 {
        self.0.first().copied().unwrap_or(b' ')
    }

    pub(crate) fn is_null(self) -> bool {
        self.0 == b"null"
    }

    pub(crate) fn is_object(self) -> bool {
        self.first() == b'{'
    }

    /// Member `name` of an object (the last if repeated); `None` for other values.
    pub(crate) fn get(self, name: &str) -> Option<Json<'a>> {
        if !self.is_object() {
            return None;
        }
        let mut found = None;
        let read = Scanner::new(self.0).members(1, |key, value, _| {
            if key.is(name) {
                found = Some(Json(value));
            }
        });
        debug_assert!(read.is_some(), "not JSON: {self}");
        found
    }

    /// The elements of an array; `None` for other values.
    pub(crate) fn elements(self) -> Option<Vec<Json<'a>>> {
        if self.first() != b'[' {
            return None;
        }
        let mut items = Vec::new();
        Scanner::new(self.0).elements(1, |item| items.push(Json(item)))?;
        Some(items)
    }

    /// The text of a string, unescaped; `None` for other values.
    pub(crate) fn as_str(self) -> Option<Cow<'a, str>> {
        let inner = self.0.strip_prefix(b"\"")?.strip_suffix(b"\"")?;
        if inner.contains(&b'\\') {
            serde_json::from_slice::<String>(self.0)
                .ok()
                .map(Cow::Owned)
        } else {
            std::str::from_utf8(inner).ok().map(Cow::Borrowed)
        }
    }

    fn number(self) -> Option<Number> {
        matches!(self.first(), b'-' | b'0'..=b'9')
            .then(|| serde_json::from_slice(self.0).ok())
            .flatten()
    }

    pub(crate) fn as_i64(self) -> Option<i64> {
        self.number()?.as_i64()
    }

    pub(crate) fn as_f64(self) -> Option<f64> {
        self.number()?.as_f64()
    }

    /// The value as a tree, for the few readers that want one (`stadtpuls registry import`).
    pub(crate) fn to_value(self) -> Option<Value> {
        serde_json::from_slice(self.0).ok()
    }
}

/// As `serde_json::Value` prints itself: compact JSON.
impl fmt::Display for Json<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.to_value() {
            Some(value) => value.fmt(f),
            None => f.write_str(&String::from_utf8_lossy(self.0)),
        }
    }
}
