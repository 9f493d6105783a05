//! The global allocator: the system allocator, asking Linux for transparent huge pages on
//! large blocks.
//!
//! Window state, the id tables and the read buffers are megabytes that the hot path touches
//! at random; with 4 KiB pages most of those touches also miss the TLB (costly under a
//! hypervisor's nested paging). Kernels shipping THP in `madvise` mode (Debian's default)
//! only back a region with 2 MiB pages when asked, so large blocks are marked
//! `MADV_HUGEPAGE`. The advice is only a hint: where THP is off it does nothing, and a
//! refusal is ignored.

use std::alloc::{GlobalAlloc, Layout, System};

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
