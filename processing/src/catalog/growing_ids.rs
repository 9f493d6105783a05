//! The catalog's entity ids as an append-only Arrow string column: an id is appended in
//! amortised constant time, and [`GrowingIds::array`] views the ids appended so far
//! without copying them.
//!
//! Every traffic batch carries the catalog's sensor ids as the values of its `sensor_id`
//! dictionary. Built afresh after each admission, that array cost a copy of every id: while
//! a network of N sensors is first seen each batch admits some, so the copies grew as
//! N² / batch size (10 million sensors: minutes of copying, gigabytes of garbage). Here the
//! ids live in blocks with spare room that only grow at the end; an array is a view of the
//! prefix written so far, which no later append changes.

use std::alloc::{self, Layout};
use std::ptr::NonNull;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use arrow_array::StringArray;
use arrow_buffer::{Buffer, OffsetBuffer, ScalarBuffer};

/// Alignment of a block, as Arrow aligns its own buffers.
const ALIGN: usize = 64;

/// Smallest block, in bytes.
const MIN_BLOCK: usize = 4096;

/// One allocation that writers append to and arrays view.
///
/// Bytes below `claimed` are written once and then only read; bytes above it are written
/// by the one writer whose claim covered them. A copy of a [`GrowingIds`] shares the block:
/// the first of them to append claims the room in place (`claimed` moves from the length
/// both saw), the other finds the claim moved and appends to a block of its own.
struct Block {
    ptr: NonNull<u8>,
    layout: Layout,
    claimed: AtomicUsize,
}

// SAFETY: the block is a plain heap allocation. Shared access only reads bytes below a
// claim that was written before the claimant handed out a view (views and copies travel
// between threads through synchronising channels and `Arc`s); bytes above are written
// only by the writer whose compare-exchange claimed them, so no two threads ever write the
// same byte, and no thread reads a byte another may still write.
unsafe impl Send for Block {}
// SAFETY: as for `Send`.
unsafe impl Sync for Block {}

impl Block {
    fn new(capacity: usize, claimed: usize) -> Self {
        let capacity = capacity.max(MIN_BLOCK);
        let layout = match Layout::from_size_align(capacity, ALIGN) {
            Ok(layout) => layout,
            Err(_) => alloc::handle_alloc_error(Layout::new::<u8>()),
        };
        // SAFETY: `layout` has a non-zero size (at least `MIN_BLOCK`).
        let raw = unsafe { alloc::alloc(layout) };
        let Some(ptr) = NonNull::new(raw) else {
            alloc::handle_alloc_error(layout)
        };
        Self {
            ptr,
            layout,
            claimed: AtomicUsize::new(claimed),
        }
    }

    fn capacity(&self) -> usize {
        self.layout.size()
    }

    /// Claims `[from, to)` for the caller if nobody appended past `from` yet.
    fn claim(&self, from: usize, to: usize) -> bool {
        to <= self.capacity()
            && self
                .claimed
                .compare_exchange(from, to, Ordering::AcqRel, Ordering::Acquire)
                .is_ok()
    }

    /// # Safety
    /// `[at, at + bytes.len())` must have been claimed by the caller and be in the block.
    unsafe fn write(&self, at: usize, bytes: &[u8]) {
        // SAFETY: in bounds and exclusively the caller's (the caller's contract); `bytes`
        // cannot overlap a region nobody else references.
        unsafe {
            std::ptr::copy_nonoverlapping(bytes.as_ptr(), self.ptr.as_ptr().add(at), bytes.len());
        }
    }

    /// A buffer of the first `len` bytes, keeping the block alive.
    ///
    /// # Safety
    /// The first `len` bytes must have been written.
    unsafe fn view(self: &Arc<Self>, len: usize) -> Buffer {
        let owner: Arc<dyn arrow_buffer::alloc::Allocation> = self.clone();
        // SAFETY: `len` bytes at `ptr` are initialised (the caller's contract) and never
        // written again; `owner` keeps the allocation alive as long as the buffer.
        unsafe { Buffer::from_custom_allocation(self.ptr, len, owner) }
    }
}

impl Drop for Block {
    fn drop(&mut self) {
        // SAFETY: allocated in `new` with this layout; the last `Arc` is gone, so no view
        // or writer refers to it any more.
        unsafe { alloc::dealloc(self.ptr.as_ptr(), self.layout) }
    }
}

/// One append-only byte column: a block and how much of it this writer wrote.
#[derive(Clone)]
struct Column {
    block: Arc<Block>,
    len: usize,
}

impl Column {
    fn with_bytes(initial: &[u8]) -> Self {
        let block = Arc::new(Block::new(initial.len(), initial.len()));
        // SAFETY: the block is new and its claim covers exactly these bytes.
        unsafe { block.write(0, initial) };
        Self {
            block,
            len: initial.len(),
        }
    }

    fn append(&mut self, bytes: &[u8]) {
        let end = self.len + bytes.len();
        if !self.block.claim(self.len, end) {
            // Full, or a copy sharing the block appended first: continue in a block twice
            // the size, so appends stay amortised O(1).
            let block = Arc::new(Block::new(end.max(2 * self.block.capacity()), self.len));
            // SAFETY: the old block's first `len` bytes were written by this writer (or
            // before it was copied); the new block's claim covers them.
            unsafe {
                let old = std::slice::from_raw_parts(self.block.ptr.as_ptr(), self.len);
                block.write(0, old);
            }
            let claimed = block.claim(self.len, end);
            debug_assert!(claimed, "a new block has room and no other writer");
            self.block = block;
        }
        // SAFETY: `[len, end)` was claimed just above.
        unsafe { self.block.write(self.len, bytes) };
        self.len = end;
    }
}

/// UTF-8 ids in the order they were added, readable as a [`StringArray`] at any time.
#[derive(Clone)]
pub(super) struct GrowingIds {
    /// `i32` offsets in native byte order, one more than there are ids.
    offsets: Column,
    values: Column,
    count: usize,
}

impl std::fmt::Debug for GrowingIds {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GrowingIds")
            .field("count", &self.count)
            .field("bytes", &self.values.len)
            .finish()
    }
}

impl Default for GrowingIds {
    fn default() -> Self {
        Self {
            offsets: Column::with_bytes(&0i32.to_ne_bytes()),
            values: Column::with_bytes(&[]),
            count: 0,
        }
    }
}

impl GrowingIds {
    /// Whether `id` still fits: a `StringArray` addresses at most `i32::MAX` bytes.
    pub(super) fn has_room(&self, id: &str) -> bool {
        self.values.len + id.len() <= i32::MAX as usize
    }

    /// Appends `id`.
    ///
    /// # Panics
    /// When the ids would pass `i32::MAX` bytes in all (check [`Self::has_room`] first).
    pub(super) fn push(&mut self, id: &str) {
        let end = i32::try_from(self.values.len + id.len())
            .unwrap_or_else(|_| panic!("the catalog's ids exceed {} bytes", i32::MAX));
        self.values.append(id.as_bytes());
        self.offsets.append(&end.to_ne_bytes());
        self.count += 1;
    }

    /// The ids so far, as Arrow strings; later appends do not change it.
    pub(super) fn array(&self) -> StringArray {
        // SAFETY: both columns wrote at least these bytes (`count + 1` offsets, every
        // id's bytes).
        let (offsets, values) = unsafe {
            (
                self.offsets.block.view(4 * (self.count + 1)),
                self.values.block.view(self.values.len),
            )
        };
        let offsets = ScalarBuffer::<i32>::new(offsets, 0, self.count + 1);
        // SAFETY: offsets start at 0 and never decrease (each is the running length of
        // the values, which fits an i32 by `push`), and every id came from a `&str`, so
        // each slice between two offsets is whole UTF-8.
        unsafe { StringArray::new_unchecked(OffsetBuffer::new_unchecked(offsets), values, None) }
    }
}

#[cfg(test)]
mod tests {
    use arrow_array::Array;

    use super::*;

    fn strings(array: &StringArray) -> Vec<&str> {
        array.iter().map(|v| v.unwrap_or("<null>")).collect()
    }

    #[test]
    fn an_array_keeps_the_ids_it_was_made_from_while_more_are_added() {
        let mut ids = GrowingIds::default();
        assert_eq!(ids.array().len(), 0);
        ids.push("ka-1");
        ids.push("");
        ids.push("ulm-ü");
        let early = ids.array();
        // Enough to move both columns to new blocks several times.
        for i in 0..10_000 {
            ids.push(&format!("sensor-{i}"));
        }
        assert_eq!(strings(&early), ["ka-1", "", "ulm-ü"]);
        let late = ids.array();
        assert_eq!(late.len(), 10_003);
        assert_eq!(late.value(10_002), "sensor-9999");
        late.to_data().validate_full().expect("valid Arrow");
    }

    #[test]
    fn copies_append_independently() {
        let mut a = GrowingIds::default();
        a.push("a0");
        let mut b = a.clone();
        b.push("b1");
        a.push("a1");
        b.push("b2");
        let mut c = b.clone();
        c.push("c3");
        assert_eq!(strings(&a.array()), ["a0", "a1"]);
        assert_eq!(strings(&b.array()), ["a0", "b1", "b2"]);
        assert_eq!(strings(&c.array()), ["a0", "b1", "b2", "c3"]);
        for array in [a.array(), b.array(), c.array()] {
            array.to_data().validate_full().expect("valid Arrow");
        }
    }

    #[test]
    fn copies_on_other_threads_append_without_touching_each_other() {
        let mut base = GrowingIds::default();
        base.push("base");
        let handles: Vec<_> = (0..4)
            .map(|t| {
                let mut copy = base.clone();
                std::thread::spawn(move || {
                    for i in 0..2_000 {
                        copy.push(&format!("t{t}-{i}"));
                    }
                    copy
                })
            })
            .collect();
        for (t, handle) in handles.into_iter().enumerate() {
            let copy = handle.join().expect("thread");
            let array = copy.array();
            array.to_data().validate_full().expect("valid Arrow");
            assert_eq!(array.len(), 2_001);
            assert_eq!(array.value(0), "base");
            assert_eq!(array.value(2_000), format!("t{t}-1999"));
        }
        assert_eq!(strings(&base.array()), ["base"]);
    }
}
