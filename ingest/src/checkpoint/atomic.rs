//! Writing a file so that a reader sees all of it or the previous one: checkpoints and
//! claims both need it.

use std::fs::{self, File};
use std::io::Write;
use std::path::Path;

use crate::{IngestError, Result};

/// Writes `bytes` to `path` so that a reader sees all of them or the previous file: to
/// `temp` first, fsync, rename, fsync of `dir`. A failed write leaves no temp file.
pub(super) fn write(dir: &Path, temp: &Path, path: &Path, bytes: &[u8]) -> Result<()> {
    let written = (|| -> std::io::Result<()> {
        let mut file = File::create(temp)?;
        file.write_all(bytes)?;
        file.sync_all()?;
        drop(file);
        fs::rename(temp, path)?;
        File::open(dir)?.sync_all()
    })();
    written.map_err(|e| {
        let _ = fs::remove_file(temp);
        IngestError::checkpoint(path, e)
    })
}
