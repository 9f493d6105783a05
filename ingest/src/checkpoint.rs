//! The checkpoint store: one directory per task, one file per epoch, the last two kept.
//!
//! `dir/<topic>/<partition>/<epoch:012>.ckpt`, written as temp file → fsync → rename →
//! fsync of the directory, so a reader sees a whole file or none; the 12-digit epoch makes
//! names sort like epochs. A file is a fixed header and the task's encoded state
//! ([`stadtpuls_processing::engine::TaskState`]):
//!
//! | bytes | field |
//! |---|---|
//! | 4 | magic `SPCK` |
//! | 2 | format version (LE), [`FORMAT_VERSION`] |
//! | 2 | reserved, 0 |
//! | 8 | epoch (LE) |
//! | 8 | next offset to read (LE) |
//! | 8 | body length (LE) |
//! | 4 | CRC32 (IEEE) of the 32 bytes above and the body |
//! | n | body |
//!
//! Loading takes the newest file that verifies; a corrupt or partial newest one (a crash
//! mid-write on a store without atomic rename, a bad disk) falls back to the previous one
//! with a warning and `stadtpuls_checkpoint_corrupt_total`. See
//! `docs/decisions/002-effectively-once.md`.

mod atomic;
mod claim;

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use tracing::warn;

use stadtpuls_processing::engine::TaskState;

use crate::sink::Task;
use crate::{IngestError, Result, metrics};

/// File magic.
const MAGIC: &[u8; 4] = b"SPCK";

/// Version of the file layout and of the encoded state; older files are refused as corrupt
/// (the task then starts from the previous checkpoint, or empty). 2: the traffic-state
/// hysteresis keeps the predecessor state each window was classified with. 3: a source's
/// snapshot keeps whether it was idle instead of the operator watermark. 4: a source's
/// progress as the clock-jump screen knows it (`window::clock_guard`). 5: a traffic
/// accumulator keeps Σv² of its interval speeds (`speed_stddev_kmh`). 6: a facility's
/// level and parking windows keep its opening status, and the state ends with the
/// facilities admitted at run time (`TaskState::admitted`); format 5 is still read (its
/// state restores without opening statuses or admitted facilities,
/// [`TaskState::decode_format`]).
///
/// [`TaskState::decode_format`]: stadtpuls_processing::engine::TaskState::decode_format
pub const FORMAT_VERSION: u16 = stadtpuls_processing::engine::TaskState::FORMAT;

/// The formats a checkpoint file may have and still load.
const READABLE_FORMATS: [u16; 2] = [5, FORMAT_VERSION];

/// Bytes before the body.
const HEADER_LEN: usize = 36;

/// Checkpoint files kept per task.
const KEEP: usize = 2;

/// A task's checkpoint as loaded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checkpoint {
    /// The epoch it completed (its sinks committed up to this epoch).
    pub epoch: u64,
    /// The next offset of the partition to read after restoring it.
    pub offset: i64,
    /// The encoded task state.
    pub body: Vec<u8>,
    /// The format of `body` (the file's version), for
    /// [`TaskState::decode_format`](stadtpuls_processing::engine::TaskState::decode_format).
    pub format: u16,
}

impl Checkpoint {
    /// The task state, decoded by the format it was written in.
    ///
    /// # Errors
    /// When the body is not a state of its format.
    pub fn state(&self) -> stadtpuls_processing::Result<TaskState> {
        TaskState::decode_format(self.format, &self.body)
    }
}

/// Checkpoint files under one directory shared by every instance of a consumer group.
#[derive(Debug, Clone)]
pub struct CheckpointStore {
    dir: PathBuf,
    /// Names this instance in task claims ([`claim`]).
    instance: Arc<str>,
}

pub use claim::Claim;

impl CheckpointStore {
    /// A store rooted at `dir` (created on the first write), with a new instance id for
    /// its claims.
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Self {
            dir: dir.into(),
            instance: claim::new_instance_id(),
        }
    }

    /// The root directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// This store's instance id, as written in its claims.
    pub fn instance(&self) -> &str {
        &self.instance
    }

    /// Takes `task` over: writes a claim of the next generation naming this instance.
    /// Returns the generation.
    ///
    /// # Errors
    /// When the task directory or the claim cannot be written.
    pub fn claim(&self, task: &Task) -> Result<u64> {
        claim::take(&self.task_dir(task)?, &self.instance)
    }

    /// The current claim of `task`, `None` if it was never claimed.
    ///
    /// # Errors
    /// When the claim exists but cannot be read or parsed.
    pub fn read_claim(&self, task: &Task) -> Result<Option<Claim>> {
        claim::read(&self.task_dir(task)?)
    }

    /// Whether this instance still owns `task`: its claim stands, or nobody ever claimed
    /// the task (a source without assignments, whose tasks are learnt from messages).
    ///
    /// # Errors
    /// When the claim cannot be read: ownership is unknown, the caller retries.
    pub fn holds(&self, task: &Task) -> Result<bool> {
        Ok(self
            .read_claim(task)?
            .is_none_or(|claim| *claim.instance == *self.instance))
    }

    /// The directory of `task`'s files.
    ///
    /// # Errors
    /// For a topic name that is not a single path component (Kafka forbids those names).
    pub fn task_dir(&self, task: &Task) -> Result<PathBuf> {
        let topic: &str = &task.topic;
        if topic.is_empty() || topic == "." || topic == ".." || topic.contains(['/', '\\']) {
            return Err(IngestError::checkpoint(
                &self.dir,
                format!("topic `{topic}` cannot name a directory"),
            ));
        }
        Ok(self.dir.join(topic).join(task.partition.to_string()))
    }

    /// Writes `task`'s checkpoint of `epoch` atomically and removes all but the newest two;
    /// returns the bytes written.
    ///
    /// # Errors
    /// When the directory, file, rename or fsyncs fail; nothing partial is left under the
    /// final name.
    pub fn write(&self, task: &Task, epoch: u64, offset: i64, body: &[u8]) -> Result<u64> {
        let dir = self.task_dir(task)?;
        fs::create_dir_all(&dir).map_err(|e| IngestError::checkpoint(&dir, e))?;
        let path = dir.join(file_name(epoch));
        let temp = dir.join(format!("{}.tmp", file_name(epoch)));
        let bytes = encode(epoch, offset, body);
        atomic::write(&dir, &temp, &path, &bytes)?;
        self.prune(&dir);
        Ok(bytes.len() as u64)
    }

    /// Loads the newest checkpoint of `task` that verifies, `None` if there is none.
    ///
    /// # Errors
    /// When the task directory exists but cannot be listed.
    pub fn load(&self, task: &Task) -> Result<Option<Checkpoint>> {
        let dir = self.task_dir(task)?;
        let mut epochs = match list(&dir) {
            Ok(epochs) => epochs,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(IngestError::checkpoint(&dir, e)),
        };
        epochs.sort_unstable_by(|a, b| b.cmp(a));
        for epoch in epochs {
            let path = dir.join(file_name(epoch));
            let checked = fs::read(&path)
                .map_err(|e| e.to_string())
                .and_then(|bytes| decode(&bytes).map_err(str::to_owned));
            match checked {
                Ok(checkpoint) if checkpoint.epoch == epoch => return Ok(Some(checkpoint)),
                Ok(checkpoint) => {
                    metrics::CHECKPOINT_CORRUPT.inc();
                    warn!(path = %path.display(), header_epoch = checkpoint.epoch, "checkpoint file name and epoch differ; trying the previous one");
                }
                Err(reason) => {
                    metrics::CHECKPOINT_CORRUPT.inc();
                    warn!(path = %path.display(), %reason, "corrupt checkpoint; trying the previous one");
                }
            }
        }
        Ok(None)
    }

    /// Removes all but the newest [`KEEP`] files and stale temp files; failures only warn.
    fn prune(&self, dir: &Path) {
        let Ok(mut epochs) = list(dir) else {
            return;
        };
        epochs.sort_unstable_by(|a, b| b.cmp(a));
        for epoch in epochs.into_iter().skip(KEEP) {
            let path = dir.join(file_name(epoch));
            if let Err(error) = fs::remove_file(&path) {
                warn!(path = %path.display(), %error, "cannot remove an old checkpoint");
            }
        }
    }
}

/// `<epoch:012>.ckpt`.
fn file_name(epoch: u64) -> String {
    format!("{epoch:012}.ckpt")
}

/// Epochs of the checkpoint files in `dir` (temp files and strangers ignored).
fn list(dir: &Path) -> std::io::Result<Vec<u64>> {
    let mut epochs = Vec::new();
    for entry in fs::read_dir(dir)? {
        let name = entry?.file_name();
        let Some(name) = name.to_str() else {
            continue;
        };
        if let Some(epoch) = name
            .strip_suffix(".ckpt")
            .filter(|stem| stem.len() >= 12 && stem.bytes().all(|b| b.is_ascii_digit()))
            .and_then(|stem| stem.parse().ok())
        {
            epochs.push(epoch);
        }
    }
    Ok(epochs)
}

fn encode(epoch: u64, offset: i64, body: &[u8]) -> Vec<u8> {
    let mut bytes = Vec::with_capacity(HEADER_LEN + body.len());
    bytes.extend_from_slice(MAGIC);
    bytes.extend_from_slice(&FORMAT_VERSION.to_le_bytes());
    bytes.extend_from_slice(&0u16.to_le_bytes());
    bytes.extend_from_slice(&epoch.to_le_bytes());
    bytes.extend_from_slice(&offset.to_le_bytes());
    bytes.extend_from_slice(&(body.len() as u64).to_le_bytes());
    let mut crc = crc32fast::Hasher::new();
    crc.update(&bytes);
    crc.update(body);
    bytes.extend_from_slice(&crc.finalize().to_le_bytes());
    bytes.extend_from_slice(body);
    bytes
}

fn decode(bytes: &[u8]) -> std::result::Result<Checkpoint, &'static str> {
    let header = bytes.get(..HEADER_LEN).ok_or("shorter than the header")?;
    let word = |at: usize| -> [u8; 8] {
        let mut w = [0u8; 8];
        w.copy_from_slice(&header[at..at + 8]);
        w
    };
    if &header[..4] != MAGIC {
        return Err("not a checkpoint file (magic)");
    }
    let format = u16::from_le_bytes([header[4], header[5]]);
    if !READABLE_FORMATS.contains(&format) {
        return Err("unknown format version");
    }
    let epoch = u64::from_le_bytes(word(8));
    let offset = i64::from_le_bytes(word(16));
    let len = usize::try_from(u64::from_le_bytes(word(24))).map_err(|_| "body too large")?;
    let stored_crc = u32::from_le_bytes([header[32], header[33], header[34], header[35]]);
    let body = &bytes[HEADER_LEN..];
    if body.len() != len {
        return Err("body length differs from the header (truncated or padded)");
    }
    let mut crc = crc32fast::Hasher::new();
    crc.update(&header[..32]);
    crc.update(body);
    if crc.finalize() != stored_crc {
        return Err("checksum mismatch");
    }
    Ok(Checkpoint {
        epoch,
        offset,
        body: body.to_vec(),
        format,
    })
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;

    fn task() -> Task {
        Task {
            topic: Arc::from("sensors.ulm.traffic"),
            partition: 3,
        }
    }

    fn names(dir: &Path) -> Vec<String> {
        let mut names: Vec<String> = fs::read_dir(dir)
            .map(|rd| {
                rd.filter_map(|e| e.ok())
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .collect()
            })
            .unwrap_or_default();
        names.sort();
        names
    }

    #[test]
    fn the_newest_claim_fences_the_other_instances() -> Result<()> {
        let dir = tempfile::tempdir()?;
        let (x, y) = (
            CheckpointStore::new(dir.path()),
            CheckpointStore::new(dir.path()),
        );
        assert_ne!(x.instance(), y.instance());
        assert!(
            x.holds(&task())? && y.holds(&task())?,
            "unclaimed: anyone's"
        );
        x.claim(&task())?;
        assert!(x.holds(&task())? && !y.holds(&task())?);
        y.claim(&task())?;
        assert!(!x.holds(&task())? && y.holds(&task())?, "x is fenced");
        let other = Task {
            partition: 4,
            ..task()
        };
        assert!(x.holds(&other)?, "claims are per task");
        Ok(())
    }

    #[test]
    fn keeps_the_last_two_under_epoch_names() -> Result<()> {
        let root = tempfile::tempdir()?;
        let store = CheckpointStore::new(root.path());
        assert_eq!(store.load(&task())?, None, "nothing written yet");
        for epoch in 1..=4 {
            store.write(&task(), epoch, 100 * epoch as i64, &[epoch as u8; 5])?;
        }
        let dir = root.path().join("sensors.ulm.traffic").join("3");
        assert_eq!(
            names(&dir),
            vec!["000000000003.ckpt", "000000000004.ckpt"],
            "the last two, no temp files"
        );
        let newest = store.load(&task())?;
        assert_eq!(
            newest,
            Some(Checkpoint {
                epoch: 4,
                offset: 400,
                body: vec![4; 5],
                format: FORMAT_VERSION,
            })
        );
        Ok(())
    }

    #[test]
    fn a_corrupt_or_partial_newest_falls_back_to_the_previous() -> Result<()> {
        let root = tempfile::tempdir()?;
        let store = CheckpointStore::new(root.path());
        store.write(&task(), 7, 70, b"state seven")?;
        store.write(&task(), 8, 80, b"state eight")?;
        let newest = store.task_dir(&task())?.join("000000000008.ckpt");
        let before = metrics::CHECKPOINT_CORRUPT.get();
        // one flipped bit in the body
        let mut bytes = fs::read(&newest)?;
        let last = bytes.len() - 1;
        bytes[last] ^= 1;
        fs::write(&newest, &bytes)?;
        let loaded = store.load(&task())?;
        assert_eq!(
            loaded.map(|c| (c.epoch, c.offset, c.body)),
            Some((7, 70, b"state seven".to_vec()))
        );
        assert!(metrics::CHECKPOINT_CORRUPT.get() > before);
        // cut short mid-write
        let full = fs::read(store.task_dir(&task())?.join("000000000007.ckpt"))?;
        fs::write(&newest, &full[..20])?;
        assert_eq!(store.load(&task())?.map(|c| c.epoch), Some(7));
        // both broken: start empty
        fs::write(store.task_dir(&task())?.join("000000000007.ckpt"), b"")?;
        assert_eq!(store.load(&task())?, None);
        // the next write replaces the broken newest under its name
        store.write(&task(), 8, 81, b"again")?;
        assert_eq!(
            store.load(&task())?.map(|c| (c.epoch, c.offset)),
            Some((8, 81))
        );
        Ok(())
    }

    #[test]
    fn a_temp_file_left_by_a_crash_is_never_loaded() -> Result<()> {
        let root = tempfile::tempdir()?;
        let store = CheckpointStore::new(root.path());
        store.write(&task(), 1, 10, b"one")?;
        let dir = store.task_dir(&task())?;
        // a crash after writing the temp file, before the rename
        fs::write(dir.join("000000000002.ckpt.tmp"), encode(2, 20, b"two"))?;
        assert_eq!(store.load(&task())?.map(|c| c.epoch), Some(1));
        // a renamed file whose header names another epoch is refused too
        fs::write(dir.join("000000000003.ckpt"), encode(9, 30, b"three"))?;
        assert_eq!(store.load(&task())?.map(|c| c.epoch), Some(1));
        Ok(())
    }

    #[test]
    fn topics_that_are_not_one_path_component_are_refused() {
        let store = CheckpointStore::new("state");
        for topic in ["..", "a/b", ""] {
            let task = Task {
                topic: Arc::from(topic),
                partition: 0,
            };
            assert!(store.task_dir(&task).is_err(), "{topic}");
        }
    }

    /// A file as `encode` writes it, but of format `version` (its checksum recomputed).
    fn of_version(version: u16, epoch: u64, offset: i64, body: &[u8]) -> Vec<u8> {
        let mut bytes = encode(epoch, offset, body);
        bytes[4..6].copy_from_slice(&version.to_le_bytes());
        let mut crc = crc32fast::Hasher::new();
        crc.update(&bytes[..32]);
        crc.update(body);
        bytes[32..36].copy_from_slice(&crc.finalize().to_le_bytes());
        bytes
    }

    /// Format 5 (before admitted facilities) is still read, with its version, so that its
    /// state is decoded in its own layout; older and newer formats are refused.
    #[test]
    fn a_file_of_the_previous_format_is_read_with_its_version() -> Result<()> {
        let root = tempfile::tempdir()?;
        let store = CheckpointStore::new(root.path());
        store.write(&task(), 1, 10, b"one")?;
        let dir = store.task_dir(&task())?;
        fs::write(dir.join("000000000002.ckpt"), of_version(5, 2, 20, b"two"))?;
        let loaded = store.load(&task())?.map(|c| (c.epoch, c.format, c.body));
        assert_eq!(loaded, Some((2, 5, b"two".to_vec())));
        for refused in [4, FORMAT_VERSION + 1] {
            fs::write(
                dir.join("000000000003.ckpt"),
                of_version(refused, 3, 30, b"x"),
            )?;
            assert_eq!(store.load(&task())?.map(|c| c.epoch), Some(2), "{refused}");
        }
        Ok(())
    }
}
