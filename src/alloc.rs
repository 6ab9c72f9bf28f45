//! The engine's allocator: the system allocator, plus a request that large blocks be backed by transparent
//! huge pages.
//!
//! Why: the engine allocates buffers of tens to hundreds of MB (group ids, index pairs, gathered columns)
//! and writes each one once, right away. With 4 KiB pages every first write to a page is a fault; joining
//! 1e7 rows into 9e6 pairs spent 0.46 s in the kernel against 0.13 s of work. Linux distributions ship THP
//! in `madvise` mode (this machine too), so memory gets 2 MiB pages only where a program asks; numpy asks
//! for its large arrays for the same reason. Only the hint is added: contents, sizes and alignment are the
//! system allocator's.

use std::alloc::{GlobalAlloc, Layout, System};

/// Blocks from this size on are advised (small ones live in the allocator's shared heap pages).
const ADVISE_FROM: usize = 4 << 20;
/// A transparent huge page; only whole, aligned ones inside a block can be used.
const HUGE_PAGE: usize = 2 << 20;

pub struct HugePageHint;

// SAFETY: every method forwards to `System` with the caller's arguments unchanged and returns its result;
// `advise` only hints the kernel about pages inside the block `System` just returned.
unsafe impl GlobalAlloc for HugePageHint {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: the caller upholds `GlobalAlloc::alloc`'s contract, which `System` shares.
        let block = unsafe { System.alloc(layout) };
        advise(block, layout.size());
        block
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: as for `alloc`.
        let block = unsafe { System.alloc_zeroed(layout) };
        advise(block, layout.size());
        block
    }

    unsafe fn dealloc(&self, block: *mut u8, layout: Layout) {
        // SAFETY: `block` came from this allocator, that is from `System`, with `layout`.
        unsafe { System.dealloc(block, layout) }
    }

    unsafe fn realloc(&self, block: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: as for `dealloc`; `new_size` satisfies `realloc`'s contract by the caller's.
        let moved = unsafe { System.realloc(block, layout, new_size) };
        advise(moved, new_size);
        moved
    }
}

/// Ask for huge pages over the whole 2 MiB pages inside `[block, block + size)`.
#[cfg(target_os = "linux")]
fn advise(block: *mut u8, size: usize) {
    if block.is_null() || size < ADVISE_FROM {
        return;
    }
    let start = (block as usize).next_multiple_of(HUGE_PAGE);
    let end = (block as usize + size) & !(HUGE_PAGE - 1);
    if end > start {
        // SAFETY: the range lies inside the block just allocated, which this process owns; MADV_HUGEPAGE
        // changes how later page faults are served, never the contents. A failure (a kernel without THP)
        // leaves the memory as it was, so the result is ignored.
        unsafe {
            libc::madvise(start as *mut libc::c_void, end - start, libc::MADV_HUGEPAGE);
        }
    }
}

#[cfg(not(target_os = "linux"))]
fn advise(_block: *mut u8, _size: usize) {}

/// `len` zeroed row indices, or `None` when the memory cannot be had (a many-to-many explosion asks for
/// more than the machine has): the caller turns that into an error instead of the abort that `vec![0; n]`
/// would be. Zeroed memory comes from `calloc`, so pages cost nothing until first written.
pub(crate) fn try_zeroed_indices(len: usize) -> Option<Vec<i64>> {
    if len == 0 {
        return Some(Vec::new());
    }
    let layout = Layout::array::<i64>(len).ok()?;
    // SAFETY: `layout` has a non-zero size (len > 0).
    let block = unsafe { std::alloc::alloc_zeroed(layout) };
    if block.is_null() {
        return None;
    }
    // The block was allocated with i64's layout, so it is aligned for i64.
    #[allow(clippy::cast_ptr_alignment)]
    let slice = std::ptr::slice_from_raw_parts_mut(block.cast::<i64>(), len);
    // SAFETY: the global allocator gave `block` the layout of `[i64; len]`, which is the layout a
    // `Box<[i64]>` of `len` elements owns; every byte is zero, a valid i64, so all elements are initialised.
    Some(unsafe { Box::from_raw(slice) }.into_vec())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zeroed_indices_are_zero_and_an_impossible_size_is_none() {
        let v = try_zeroed_indices(3 << 20).unwrap();
        assert_eq!((v.len(), v.capacity()), (3 << 20, 3 << 20));
        assert!(v.iter().all(|&x| x == 0));
        assert!(try_zeroed_indices(0).unwrap().is_empty());
        // 2^60 indices are 8 EiB: more than any address space.
        assert!(try_zeroed_indices(1 << 60).is_none());
    }
}
