//! Software prefetch: asking the CPU to start loading memory the hot path will need soon.
//!
//! Window state and id tables are megabytes read in the random order events arrive in; a
//! loop that knows the next few addresses can have their cache misses overlap instead of
//! waiting for each in turn.

/// Starts loading every cache line of `value` into the caches; returns at once.
#[inline]
pub(crate) fn prefetch<T>(value: &T) {
    #[cfg(target_arch = "x86_64")]
    {
        use std::arch::x86_64::{_MM_HINT_T0, _mm_prefetch};
        let start: *const i8 = (value as *const T).cast();
        let mut offset = 0;
        while offset < std::mem::size_of::<T>().max(1) {
            // SAFETY: a prefetch is only a hint and never faults, whatever the address;
            // these lie inside `value`.
            unsafe { _mm_prefetch::<_MM_HINT_T0>(start.wrapping_add(offset)) };
            offset += 64;
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = value;
}
