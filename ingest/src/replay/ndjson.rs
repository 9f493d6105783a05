//! NDJSON input of a replay: one message per line, keyed by the entity it feeds.

use std::borrow::Cow;
use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};

use serde::Deserialize;

use super::message::Replayed;
use crate::error::ReplayError;

/// The record key of a native message, as `stadtpuls produce` writes it (docs/formats.md,
/// "Record keys"): a traffic observation's `sensor_id`, a spot's `facility_id` (its
/// zone), else the parking record's `id`; for an array, its first element's. `None` for a
/// line that is not a native message — it is replayed unkeyed and refused downstream as it
/// was the first time.
pub fn key(line: &[u8]) -> Option<String> {
    #[derive(Deserialize)]
    struct Ids<'a> {
        #[serde(borrow, default)]
        sensor_id: Option<Cow<'a, str>>,
        #[serde(borrow, default)]
        facility_id: Option<Cow<'a, str>>,
        #[serde(borrow, default)]
        id: Option<Cow<'a, str>>,
    }
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Message<'a> {
        #[serde(borrow)]
        One(Ids<'a>),
        #[serde(borrow)]
        Many(Vec<Ids<'a>>),
    }
    let ids = match serde_json::from_slice::<Message<'_>>(line).ok()? {
        Message::One(ids) => ids,
        Message::Many(list) => list.into_iter().next()?,
    };
    ids.sensor_id
        .or(ids.facility_id)
        .or(ids.id)
        .map(Cow::into_owned)
}

/// Non-blank lines of `path`.
///
/// # Errors
/// When the file cannot be read.
pub fn count(path: &Path) -> Result<u64, ReplayError> {
    let mut lines = Lines::open(path)?;
    let mut n = 0;
    while lines.next_line()?.is_some() {
        n += 1;
    }
    Ok(n)
}

/// The messages of an NDJSON file, in file order.
pub struct Lines {
    path: PathBuf,
    reader: BufReader<File>,
    line: Vec<u8>,
}

impl Lines {
    /// Opens `path`.
    ///
    /// # Errors
    /// When the file cannot be opened.
    pub fn open(path: &Path) -> Result<Self, ReplayError> {
        let file = File::open(path).map_err(|source| ReplayError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        Ok(Self {
            path: path.to_path_buf(),
            reader: BufReader::with_capacity(1 << 20, file),
            line: Vec::new(),
        })
    }

    /// The next non-blank line without its line ending, or `None` at the end.
    ///
    /// # Errors
    /// When reading fails.
    pub fn next_line(&mut self) -> Result<Option<&[u8]>, ReplayError> {
        let range = loop {
            self.line.clear();
            let read = self
                .reader
                .read_until(b'\n', &mut self.line)
                .map_err(|source| ReplayError::Read {
                    path: self.path.clone(),
                    source,
                })?;
            if read == 0 {
                return Ok(None);
            }
            let text = |b: &u8| !b.is_ascii_whitespace();
            if let (Some(start), Some(last)) = (
                self.line.iter().position(text),
                self.line.iter().rposition(text),
            ) {
                break start..last + 1;
            }
        };
        Ok(Some(&self.line[range]))
    }

    /// The next message, keyed by [`key`].
    ///
    /// # Errors
    /// When reading fails.
    pub fn next_message(&mut self) -> Result<Option<Replayed>, ReplayError> {
        Ok(self.next_line()?.map(|line| Replayed {
            topic: None,
            partition: None,
            key: key(line).map(String::into_bytes),
            payload: line.to_vec(),
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_follow_the_record_key_rules() {
        let traffic =
            br#"{"city":"ulm","sensor_id":"ulm-t-001","lane":1,"ts":1,"vehicle_count":3}"#;
        assert_eq!(key(traffic).as_deref(), Some("ulm-t-001"));
        let spot = br#"{"city":"ulm","kind":"spot","id":"s-1","facility_id":"z-1","ts":1,"status":"free"}"#;
        assert_eq!(
            key(spot).as_deref(),
            Some("z-1"),
            "a spot is keyed by its zone"
        );
        let facility = br#"{"city":"ulm","kind":"facility","id":"p-01","ts":1,"free_spaces":3}"#;
        assert_eq!(key(facility).as_deref(), Some("p-01"));
        let array = br#"[{"sensor_id":"a\"b","lane":1},{"sensor_id":"c","lane":2}]"#;
        assert_eq!(key(array).as_deref(), Some("a\"b"), "escapes are decoded");
        assert_eq!(key(b"{broken"), None);
        assert_eq!(key(b"[]"), None);
        assert_eq!(key(br#"{"sensor_id":7}"#), None, "a number is no id");
    }

    #[test]
    fn blank_lines_and_crlf_are_skipped() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("feed.ndjson");
        std::fs::write(
            &path,
            b"{\"sensor_id\":\"a\"}\r\n\n  \n{broken\n{\"id\":\"p\"}",
        )
        .expect("write");
        assert_eq!(count(&path).expect("count"), 3);
        let mut lines = Lines::open(&path).expect("open");
        let mut got = Vec::new();
        while let Some(m) = lines.next_message().expect("read") {
            got.push((m.key, String::from_utf8(m.payload).expect("utf8")));
        }
        assert_eq!(
            got,
            vec![
                (Some(b"a".to_vec()), "{\"sensor_id\":\"a\"}".to_owned()),
                (None, "{broken".to_owned()),
                (Some(b"p".to_vec()), "{\"id\":\"p\"}".to_owned()),
            ]
        );
    }
}
