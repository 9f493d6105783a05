//! The global allocator: the system allocator, asking Linux for transparent huge pages on
//! large blocks, with fixed thresholds for what it maps on its own
//! ([`fix_malloc_thresholds`]); and [`spawn_trimmer`], which hands freed memory back to the
//! kernel.
//!
//! Window state, the id tables and the read buffers are megabytes that the hot path touches
//! at random; with 4 KiB pages most of those touches also miss the TLB (costly under a
//! hypervisor's nested paging). Kernels shipping THP in `madvise` mode (Debian's default)
//! only back a region with 2 MiB pages when asked, so large blocks are marked
//! `MADV_HUGEPAGE`. The advice is only a hint: where THP is off it does nothing, and a
//! refusal is ignored.

use std::alloc::{GlobalAlloc, Layout, System};
use std::time::{Duration, Instant};

use tracing::debug;

/// Blocks at least this large get the advice (two huge pages: smaller ones rarely hold a
/// whole aligned huge page).
const HUGE_MIN: usize = 4 << 20;
const HUGE_PAGE: usize = 2 << 20;

pub struct HugePageAlloc;

impl HugePageAlloc {
    fn advise(ptr: *mut u8, size: usize) {
        if ptr.is_null() || size < HUGE_MIN {
            return;
        }
        let start = (ptr as usize).next_multiple_of(HUGE_PAGE);
        let end = (ptr as usize + size) & !(HUGE_PAGE - 1);
        if end > start {
            // SAFETY: [start, end) lies inside the block just allocated; madvise does not
            // change its contents, only how the kernel backs it.
            unsafe {
                libc::madvise(start as *mut libc::c_void, end - start, libc::MADV_HUGEPAGE);
            }
        }
    }
}

// SAFETY: every call is forwarded to `System` unchanged; `advise` only adds a hint.
unsafe impl GlobalAlloc for HugePageAlloc {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: same contract as the caller's.
        let ptr = unsafe { System.alloc(layout) };
        Self::advise(ptr, layout.size());
        ptr
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: same contract as the caller's.
        let ptr = unsafe { System.alloc_zeroed(layout) };
        Self::advise(ptr, layout.size());
        ptr
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: same contract as the caller's.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: same contract as the caller's.
        let new = unsafe { System.realloc(ptr, layout, new_size) };
        if new_size > layout.size() {
            Self::advise(new, new_size);
        }
        new
    }
}

/// Blocks at least this large get pages of their own from the kernel, returned when freed.
const MMAP_THRESHOLD: usize = 1 << 20;
/// Free memory at the top of a heap beyond this is returned to the kernel.
const TRIM_THRESHOLD: usize = 4 << 20;

/// Fixes glibc's thresholds for mapping large blocks on their own and for returning the top
/// of a heap, instead of letting them grow with the largest block freed so far.
///
/// By default glibc maps blocks of 128 KiB and more on their own, but after freeing one it
/// raises the threshold to that block's size (up to 32 MiB) and keeps twice as much free
/// at the top of a heap. A few large blocks freed early — the catalog copies made while a
/// new network's sensors are first seen, the reader's batches — thus send every later block
/// of that size into the heap, where what is freed stays resident: the reference run
/// (`stadtpuls bench`) peaked at 58–70 MB with 7–20 MB of it free heap (docs/performance.md,
/// "peak RSS"). With blocks ≥ 1 MiB mapped on their own (a 10,000-message batch's message
/// vector, ~1.0 MB, stays below, so the hot path maps nothing per batch) and 4 MiB kept
/// at the top, the same run peaks at 51–53 MB (67–74 MB with glibc's dynamic thresholds,
/// same binary) with as many page faults as before. Where `GLIBC_TUNABLES` sets malloc
/// parameters, those are left alone.
pub fn fix_malloc_thresholds() {
    #[cfg(target_env = "gnu")]
    {
        let tuned = std::env::var("GLIBC_TUNABLES").is_ok_and(|t| t.contains("glibc.malloc."));
        if !tuned {
            // SAFETY: mallopt only sets allocator parameters; called before any other thread
            // exists. A refusal (returns 0) leaves glibc's defaults, which are correct too.
            unsafe {
                libc::mallopt(libc::M_MMAP_THRESHOLD, MMAP_THRESHOLD as libc::c_int);
                libc::mallopt(libc::M_TRIM_THRESHOLD, TRIM_THRESHOLD as libc::c_int);
            }
        }
    }
}

/// How often [`spawn_trimmer`] looks at the resident set.
const TRIM_CHECK: Duration = Duration::from_secs(1);
/// Growth of the resident set since the last trim that makes the next check trim.
const TRIM_GROWTH: usize = 8 << 20;
/// Longest time between two trims (memory freed after the resident set stopped growing,
/// as when a large query ends).
const TRIM_INTERVAL: Duration = Duration::from_secs(10);

/// Returns the heap memory freed but still held by the allocator to the kernel, now.
///
/// glibc keeps freed memory in its arenas for reuse and gives back only the top of a heap,
/// so one burst leaves the process as large as its peak for good: a replay's closed windows
/// freed after their checkpoint (338 MB resident with 22 MB in use after the first
/// checkpoint of the six-hour replay in `docs/operating.md`, "Memory"), or an SQL query
/// refused at `sql.memory_limit_mib` (its hash table freed, the memory it took still
/// resident).
/// `malloc_trim` releases every whole free page in every arena (`madvise(DONTNEED)`);
/// the pages come back zeroed on next use.
pub fn release_free_memory() {
    #[cfg(target_env = "gnu")]
    // SAFETY: malloc_trim only walks the allocator's own free lists under its locks.
    unsafe {
        libc::malloc_trim(0);
    }
}

/// Starts a thread that calls [`release_free_memory`] every second while the resident set
/// grows ([`TRIM_GROWTH`] since the last trim) and every [`TRIM_INTERVAL`] otherwise, so
/// the resident set follows the live heap within seconds after a burst. Memory freed by one
/// thread stays in that thread's arena, out of reach of the others: in the demo replay of
/// `docs/operating.md` ("Memory") the peak was 122–149 MB with a trim every 5 s (depending
/// on whether one fell between the end of reading and the burst of closed windows) and
/// 122–130 MB checking every second. A trim took 0.5–9 ms there (the longer ones returning
/// 33 MB), holding each arena's lock meanwhile; while the resident set is steady it runs
/// every 10 s, so pages are not handed back and faulted in again each second.
/// `stadtpuls bench` does not start it.
pub fn spawn_trimmer() {
    let spawned = std::thread::Builder::new()
        .name("mem-trim".into())
        .spawn(|| {
            let mut trimmed_at = Instant::now();
            let mut after_trim = resident_bytes();
            loop {
                std::thread::sleep(TRIM_CHECK);
                let before = resident_bytes();
                if before < after_trim + TRIM_GROWTH && trimmed_at.elapsed() < TRIM_INTERVAL {
                    continue;
                }
                let started = Instant::now();
                release_free_memory();
                (trimmed_at, after_trim) = (Instant::now(), resident_bytes());
                let released = before.saturating_sub(after_trim);
                if released >= 1 << 20 {
                    debug!(
                        released_mib = released >> 20,
                        took_us = started.elapsed().as_micros() as u64,
                        "freed memory returned to the kernel"
                    );
                }
            }
        });
    if let Err(error) = spawned {
        tracing::warn!(%error, "cannot start the memory trimmer; freed memory stays resident");
    }
}

/// The resident set size, bytes (0 when `/proc` cannot be read).
pub fn resident_bytes() -> usize {
    std::fs::read_to_string("/proc/self/statm")
        .ok()
        .and_then(|statm| statm.split_whitespace().nth(1)?.parse::<usize>().ok())
        .map_or(0, |pages| pages * page_size())
}

fn page_size() -> usize {
    // SAFETY: sysconf has no preconditions.
    let size = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    usize::try_from(size).unwrap_or(4096)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// 192 MiB in 1 KiB blocks (below glibc's mmap threshold, so they come from an arena),
    /// every 64th kept so the arena's top cannot shrink: freed, they stay resident until
    /// released.
    #[test]
    #[cfg(target_env = "gnu")]
    fn released_memory_leaves_the_resident_set() {
        const BLOCK: usize = 1024;
        const BLOCKS: usize = 192 * 1024;
        let mut blocks: Vec<Vec<u8>> = (0..BLOCKS).map(|i| vec![i as u8; BLOCK]).collect();
        let mut kept = Vec::with_capacity(BLOCKS / 64);
        for (i, block) in blocks.drain(..).enumerate() {
            if i % 64 == 0 {
                kept.push(block);
            }
        }
        drop(blocks);
        let freed = BLOCKS / 64 * 63 * BLOCK;
        let before = resident_bytes();
        release_free_memory();
        let after = resident_bytes();
        assert!(
            before.saturating_sub(after) > freed / 2,
            "resident {} MiB before, {} MiB after releasing {} MiB",
            before >> 20,
            after >> 20,
            freed >> 20
        );
        assert_eq!(kept.len(), BLOCKS / 64);
    }
}
