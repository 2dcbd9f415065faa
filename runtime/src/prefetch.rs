//! [`prefetch`]: asks the CPU to start loading a cache line that a coming step will
//! read, without waiting for it.
//!
//! With a hundred thousand ready tasks and a random pick, every poll reads a slot and a
//! future that no cache holds: two dependent misses (with a page walk each, in a
//! virtual machine) that the poll loop used to wait for one after the other. The
//! executor guesses the next pick one step ahead (`Core::look_ahead`, from the
//! chooser's [`crate::Chooser::peek`]) and prefetches that task's slot and future here,
//! so the misses overlap the current poll. A plain read would not do: the processor
//! retires instructions in order, so a load that misses stalls everything behind it
//! once its reorder buffer is full; a prefetch retires at once.
//!
//! This module holds the crate's second `unsafe` block (the first is
//! `Waker::from_raw` in `waker.rs`). A prefetch is a hint and never changes what a run
//! does: a wrong guess costs a wasted line fill, nothing else.

/// Starts loading the cache line at `address` into every cache level, if the target
/// has a prefetch instruction; does nothing otherwise. Any address is allowed, even a
/// stale or null one: nothing is read.
#[inline(always)]
pub(crate) fn prefetch(address: usize) {
    #[cfg(all(target_arch = "x86_64", target_feature = "sse"))]
    {
        use std::arch::x86_64::{_MM_HINT_T0, _mm_prefetch};
        let pointer = std::ptr::without_provenance::<i8>(address);
        // SAFETY: `_mm_prefetch` is only `unsafe` to call because it is declared with
        // `#[target_feature(enable = "sse")]`, and this block is compiled only when the
        // target has SSE (every x86_64 target does: it is part of the baseline). The
        // instruction itself (PREFETCHT0) is a hint that reads nothing the program can
        // observe and never faults, whatever the address: Intel's and AMD's manuals
        // both say that a prefetch of an invalid address is ignored. The pointer has
        // no provenance and is never dereferenced.
        #[allow(unsafe_code)]
        unsafe {
            _mm_prefetch::<_MM_HINT_T0>(pointer);
        }
    }
    #[cfg(not(all(target_arch = "x86_64", target_feature = "sse")))]
    let _ = address;
}

#[cfg(test)]
mod tests {
    use super::prefetch;

    /// A prefetch reads nothing: null, stale and unmapped addresses are all fine.
    #[test]
    fn any_address_is_allowed() {
        let boxed = Box::new([7u8; 64]);
        let live = &*boxed as *const [u8; 64] as usize;
        prefetch(live);
        drop(boxed);
        prefetch(live);
        prefetch(0);
        prefetch(usize::MAX);
        prefetch(0xdead_beef_0000);
    }
}
