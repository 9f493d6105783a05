//! A file of native JSON lines as a [`Source`], the way `stadtpuls bench --input` feeds the
//! reference workload through the real pipeline.
//!
//! Each line is one message of one source, read in batches the size of a Kafka fetch
//! (`kafka.batch_max_messages`), so the figure is that of the product: same decoder, same
//! batching, same windows and watermarks as Kafka input.

use std::fs::File;
use std::path::Path;
use std::sync::Arc;

use bytes::Bytes;
use stadtpuls_ingest::pipeline::RawMessage;
use stadtpuls_ingest::runner::{Assignment, Source};
use stadtpuls_ingest::{IngestError, Result};
use stadtpuls_processing::window::watermark::SourceId;

/// Batches handed to the pipeline ahead of it.
const READ_AHEAD: usize = 2;

/// Lines of a file as the messages of one source.
///
/// A reader thread cuts the memory-mapped file into batches of messages ahead of the
/// pipeline, as librdkafka's threads fetch ahead of a Kafka consumer. Each message's payload
/// is a slice of the mapping: reading costs no copy, and the pipeline sees exactly what a
/// Kafka batch gives it.
pub struct FileSource {
    batches: tokio::sync::mpsc::Receiver<std::io::Result<Vec<RawMessage>>>,
}

impl FileSource {
    /// Opens `path`; batches hold at most `batch_messages` lines.
    ///
    /// # Errors
    /// When the file cannot be opened or mapped, or the reader thread cannot start.
    pub fn open(path: &Path, batch_messages: usize) -> std::io::Result<Self> {
        let file = File::open(path)?;
        let map = if file.metadata()?.len() == 0 {
            None
        } else {
            // SAFETY: the mapping is read-only; the bench's input file must not be truncated
            // while it runs (the process would get SIGBUS), which holds for a file the peer
            // harness generated and every peer reads the same way.
            let map = unsafe { memmap2::Mmap::map(&file)? };
            // Only a hint for the kernel's read-ahead; ignoring a refusal is fine.
            let _ = map.advise(memmap2::Advice::Sequential);
            Some(Arc::new(map))
        };
        let (tx, rx) = tokio::sync::mpsc::channel(READ_AHEAD);
        std::thread::Builder::new()
            .name("file-source".into())
            .spawn(move || {
                if let Some(map) = map {
                    send_lines(&map, batch_messages.max(1), &tx);
                }
            })?;
        Ok(Self { batches: rx })
    }
}

/// The part of the mapping one batch's payloads lie in.
///
/// Each batch owns its own view, so the per-message reference counts of a batch live in
/// its own cache line (one count shared by all messages made the reader's and the
/// pipeline's cores fight over it); when the batch's last payload is dropped its pages are
/// unmapped, so resident memory stays at a few batches, not the whole file.
struct BatchView {
    map: Arc<memmap2::Mmap>,
    start: usize,
    end: usize,
}

impl AsRef<[u8]> for BatchView {
    fn as_ref(&self) -> &[u8] {
        &self.map[self.start..self.end]
    }
}

/// Bytes the kernel maps around a faulting page of a file mapping, aligned to their size
/// ("fault-around": `fault_around_bytes` in debugfs, 64 KiB by default).
const FAULT_AROUND: usize = 64 << 10;

impl Drop for BatchView {
    fn drop(&mut self) {
        // From the fault-around block of the batch's first byte: reading it also mapped the
        // pages of that block before it, which belong to the batch before, already dropped
        // (batches are applied in order). Leaving those, and the page each batch shares with
        // the one before, mapped made the resident set grow by ~6 KB a batch (3 MB by the
        // end of the reference run). Up to the last whole page: the rest is the next
        // batch's first page. Unmapping a page a neighbour still reads only makes that read
        // fault it in again, with the same bytes.
        const PAGE: usize = 4096;
        let from = self.start & !(FAULT_AROUND - 1);
        let to = if self.end >= self.map.len() {
            self.map.len()
        } else {
            self.end & !(PAGE - 1)
        };
        if to > from {
            // SAFETY: the mapping is a read-only file mapping; dropping its pages only makes
            // a later read fault them in again from the page cache, with the same bytes.
            unsafe {
                let _ = self.map.unchecked_advise_range(
                    memmap2::UncheckedAdvice::DontNeed,
                    from,
                    to - from,
                );
            }
        }
    }
}

/// Sends the non-empty lines of the mapping as batches of messages.
fn send_lines(
    map: &Arc<memmap2::Mmap>,
    batch_messages: usize,
    tx: &tokio::sync::mpsc::Sender<std::io::Result<Vec<RawMessage>>>,
) {
    let contents: &[u8] = map;
    let mut offset = 0i64;
    let mut lines: Vec<(usize, usize)> = Vec::with_capacity(batch_messages);
    let mut start = 0;
    while start < contents.len() {
        lines.clear();
        let batch_start = start;
        while start < contents.len() && lines.len() < batch_messages {
            let end =
                memchr::memchr(b'\n', &contents[start..]).map_or(contents.len(), |i| start + i);
            if end > start {
                lines.push((start - batch_start, end - batch_start));
            }
            start = end + 1;
        }
        let view = Bytes::from_owner(BatchView {
            map: map.clone(),
            start: batch_start,
            end: start.min(contents.len()),
        });
        // One topic handle per batch, for the same reason as the view.
        let topic: Arc<str> = Arc::from("file-input");
        let batch: Vec<RawMessage> = lines
            .iter()
            .map(|&(from, to)| {
                let message = RawMessage {
                    source: 0,
                    topic: topic.clone(),
                    partition: 0,
                    offset,
                    key: None,
                    payload: view.slice(from..to),
                    format: None,
                };
                offset += 1;
                message
            })
            .collect();
        if !batch.is_empty() && tx.blocking_send(Ok(batch)).is_err() {
            return;
        }
    }
}

impl Source for FileSource {
    async fn next_batch(&mut self) -> Result<Option<Vec<RawMessage>>> {
        match self.batches.recv().await {
            Some(batch) => Ok(Some(batch.map_err(IngestError::Io)?)),
            None => Ok(None),
        }
    }

    fn commit(&mut self, _batch: &[RawMessage]) -> Result<()> {
        Ok(())
    }
}

/// Ends a source after `limit` messages: a bounded run over an unbounded source (Kafka).
pub struct Limited<S> {
    inner: S,
    remaining: u64,
    /// When the first non-empty batch arrived.
    pub first_batch: Option<std::time::Instant>,
}

impl<S> Limited<S> {
    /// Wraps `inner`, ending after `limit` messages.
    pub fn new(inner: S, limit: u64) -> Self {
        Self {
            inner,
            remaining: limit,
            first_batch: None,
        }
    }
}

impl<S: Source> Source for Limited<S> {
    async fn next_batch(&mut self) -> Result<Option<Vec<RawMessage>>> {
        if self.remaining == 0 {
            return Ok(None);
        }
        let mut batch = self.inner.next_batch().await?;
        if let Some(b) = &mut batch {
            if !b.is_empty() {
                self.first_batch.get_or_insert_with(std::time::Instant::now);
            }
            // Exactly `limit` messages: the rest of a crossing batch is left unread.
            b.truncate(usize::try_from(self.remaining).unwrap_or(usize::MAX));
            self.remaining -= b.len() as u64;
        }
        Ok(batch)
    }

    fn commit(&mut self, batch: &[RawMessage]) -> Result<()> {
        self.inner.commit(batch)
    }

    fn assigned(&mut self) -> Vec<Assignment> {
        self.inner.assigned()
    }

    fn commit_offsets(&mut self, offsets: &[(SourceId, i64)]) -> Result<()> {
        self.inner.commit_offsets(offsets)
    }

    fn revoked(&mut self) -> Vec<SourceId> {
        self.inner.revoked()
    }

    fn release(&mut self, revoked: &[SourceId]) -> Result<()> {
        self.inner.release(revoked)
    }

    fn close(&mut self) -> Result<()> {
        self.inner.close()
    }
}

/// The city of a reference-workload line, read without parsing the whole line.
pub fn city_of(line: &[u8]) -> Option<&str> {
    let key = b"\"city\":\"";
    let start = memchr::memmem::find(line, key)? + key.len();
    let len = memchr::memchr(b'"', &line[start..])?;
    std::str::from_utf8(&line[start..start + len]).ok()
}
