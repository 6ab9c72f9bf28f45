//! The engine's allocator: the system allocator for small blocks; large blocks mapped straight from the
//! kernel on transparent huge pages, and kept for a few seconds after they are freed so that the next join
//! of the same shape reuses them instead of faulting fresh pages in.
//!
//! Why: the engine allocates buffers of tens to hundreds of MB (group ids, index pairs, gathered columns)
//! and writes each one once, right away. With 4 KiB pages every first write to a page is a fault; joining
//! 1e7 rows into 9e6 pairs spent 0.46 s in the kernel against 0.13 s of work. Linux distributions ship THP
//! in `madvise` mode (this machine too), so memory gets 2 MiB pages only where a program asks; numpy asks
//! for its large arrays for the same reason. Even on huge pages a fresh block costs the kernel's zeroing
//! of every page, and on a virtual machine the host's backing of it: measured on db-benchmark's q1 at 1e7
//! rows, `join_indices` took 0.09 to 0.55 s, of which 0.04 to 0.9 s was system time, for 0.13 s of user
//! time. glibc returns every block above 32 MiB to the kernel at `free`; jemalloc (polars) and `DuckDB`'s
//! buffer manager keep freed memory for a while, which is what this cache does for the blocks that matter.
//!
//! The cache is bounded (`CACHE_BYTES`, `CACHE_SLOTS`) and ages out (`CACHE_SECONDS`, checked at every
//! large allocation or free), so a process that stops joining holds at most `CACHE_BYTES` more than it
//! uses, and only until its next large allocation or free.

use std::alloc::{GlobalAlloc, Layout, System};

use crate::join::RowIndex;

/// Blocks from this size on are mapped, hinted and cached; smaller ones live in the system allocator's heap.
const LARGE_FROM: usize = 4 << 20;
/// A transparent huge page; large blocks are mapped on this alignment and in whole multiples of it.
const HUGE_PAGE: usize = 2 << 20;
/// The largest alignment a mapped block satisfies without asking (mappings start on a huge page).
const MAPPED_ALIGN: usize = HUGE_PAGE;
/// Freed large blocks kept for reuse: at most this many bytes in all ...
const CACHE_BYTES: usize = 1 << 30;
/// ... in at most this many blocks ...
const CACHE_SLOTS: usize = 16;
/// ... each for at most this long after it was freed.
const CACHE_SECONDS: u64 = 5;

pub struct HugePageHint;

/// Whether `layout` is served by the large-block path. Every method decides by this one rule on the
/// caller's layout, so a block is always freed by the path that allocated it.
fn is_large(size: usize, align: usize) -> bool {
    cfg!(target_os = "linux") && size >= LARGE_FROM && align <= MAPPED_ALIGN
}

/// The mapped size of a large block of `size` bytes: eight size classes per doubling (at most 12.5% of
/// address space over the request; untouched pages cost nothing), in whole huge pages. Blocks of one class
/// are interchangeable, so a join that asks for 72.0 MB reuses the block another freed at 71.5 MB. `None`
/// when the size cannot be mapped at all.
fn size_class(size: usize) -> Option<usize> {
    let power = 1usize << (usize::BITS - 1 - size.leading_zeros());
    let step = (power / 8).max(HUGE_PAGE);
    size.checked_next_multiple_of(step)
}

// SAFETY: small blocks and over-aligned ones forward to `System` with the caller's arguments unchanged.
// Large blocks (`is_large`) are anonymous mappings of `size_class(size)` bytes, aligned to `MAPPED_ALIGN`,
// which this allocator alone creates, reuses and unmaps; a block is in the cache only while no caller owns
// it, and leaves the cache before it is handed out again.
unsafe impl GlobalAlloc for HugePageHint {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if is_large(layout.size(), layout.align()) {
            return large::alloc(layout.size(), false);
        }
        // SAFETY: the caller upholds `GlobalAlloc::alloc`'s contract, which `System` shares.
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        if is_large(layout.size(), layout.align()) {
            return large::alloc(layout.size(), true);
        }
        // SAFETY: as for `alloc`.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn dealloc(&self, block: *mut u8, layout: Layout) {
        if is_large(layout.size(), layout.align()) {
            // SAFETY: `block` came from `large::alloc` for this size (`is_large` decided the same way then).
            unsafe { large::free(block, layout.size()) };
            return;
        }
        // SAFETY: `block` came from `System` with `layout`.
        unsafe { System.dealloc(block, layout) }
    }

    unsafe fn realloc(&self, block: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let (old_large, new_large) = (
            is_large(layout.size(), layout.align()),
            is_large(new_size, layout.align()),
        );
        match (old_large, new_large) {
            // SAFETY: as for `dealloc`; `new_size` satisfies `realloc`'s contract by the caller's.
            (false, false) => unsafe { System.realloc(block, layout, new_size) },
            // SAFETY: `block` is a large block of `layout.size()` bytes (see `dealloc`).
            (true, true) => unsafe { large::resize(block, layout.size(), new_size) },
            _ => {
                // One side of the move is the system heap: allocate, copy what both hold, free.
                // SAFETY: `realloc`'s contract makes `new_size` with the old alignment a valid layout.
                let new_layout = unsafe { Layout::from_size_align_unchecked(new_size, layout.align()) };
                // SAFETY: `new_layout` has a non-zero size (the caller's contract).
                let moved = unsafe { self.alloc(new_layout) };
                if !moved.is_null() {
                    // SAFETY: both blocks are live, distinct, and at least this long.
                    unsafe { std::ptr::copy_nonoverlapping(block, moved, layout.size().min(new_size)) };
                    // SAFETY: `block` was allocated by this allocator with `layout`.
                    unsafe { self.dealloc(block, layout) };
                }
                moved
            }
        }
    }
}

#[cfg(target_os = "linux")]
mod large {
    use super::{size_class, CACHE_BYTES, CACHE_SECONDS, CACHE_SLOTS, HUGE_PAGE};
    use std::ptr::null_mut;
    use std::sync::{Mutex, TryLockError};
    use std::time::{Duration, Instant};

    /// A freed mapping: its address (as an integer, so the cache is `Send`), class size, and when it was freed.
    #[derive(Clone, Copy)]
    struct Cached {
        addr: usize,
        class: usize,
        freed: Instant,
    }

    struct Cache {
        slots: [Option<Cached>; CACHE_SLOTS],
        bytes: usize,
    }

    // A fixed array under a futex mutex: taking the lock never allocates, which an allocator must not do.
    static CACHE: Mutex<Cache> = Mutex::new(Cache {
        slots: [None; CACHE_SLOTS],
        bytes: 0,
    });

    /// Aged-out mappings, unmapped once the lock is released (unmapping a big block takes a while).
    type Victims = [Option<Cached>; CACHE_SLOTS];

    /// Runs `f` on the cache after ageing it out, or returns `None` without waiting when another thread
    /// holds the lock: the caller then maps or unmaps directly. Never waiting is what makes the cache safe
    /// across `fork` (Spark forks its Python workers): a child inherits the lock as it was, and a lock
    /// held by a thread that does not exist in the child would otherwise block the child's allocations
    /// forever. glibc's own locks have fork handlers; this one needs none.
    fn with_cache<T>(f: impl FnOnce(&mut Cache) -> T) -> Option<T> {
        let mut victims: Victims = [None; CACHE_SLOTS];
        let result = {
            // A poisoned lock still holds a consistent cache: every update below is a single slot write
            // (and nothing here panics).
            let mut cache = match CACHE.try_lock() {
                Ok(cache) => cache,
                Err(TryLockError::Poisoned(poisoned)) => poisoned.into_inner(),
                Err(TryLockError::WouldBlock) => return None,
            };
            let now = Instant::now();
            for (slot, victim) in cache.slots.iter_mut().zip(victims.iter_mut()) {
                if slot.is_some_and(|c| now.duration_since(c.freed) > Duration::from_secs(CACHE_SECONDS)) {
                    *victim = slot.take();
                }
            }
            cache.bytes -= victims.iter().flatten().map(|c| c.class).sum::<usize>();
            f(&mut cache)
        };
        for victim in victims.iter().flatten() {
            unmap(victim.addr, victim.class);
        }
        Some(result)
    }

    /// A large block of at least `size` bytes (zeroed if asked), aligned to a huge page, or null.
    pub(super) fn alloc(size: usize, zeroed: bool) -> *mut u8 {
        let Some(class) = size_class(size) else {
            return null_mut();
        };
        let reused = with_cache(|cache| {
            let slot = cache
                .slots
                .iter_mut()
                .find(|s| s.is_some_and(|c| c.class == class))?;
            let taken = slot.take()?;
            cache.bytes -= taken.class;
            Some(taken.addr)
        })
        .flatten();
        match reused {
            Some(addr) => {
                let block = addr as *mut u8;
                if zeroed {
                    // SAFETY: the mapping is `class >= size` bytes, owned by no one since it was cached.
                    unsafe { block.write_bytes(0, size) };
                }
                block
            }
            // A fresh anonymous mapping is zeroed by the kernel, page by page, at first touch.
            None => map(class),
        }
    }

    /// Return a large block of `size` bytes: kept for reuse while the cache has room, else unmapped.
    ///
    /// # Safety
    /// `block` came from `alloc(size, _)` (or `resize` to `size`) and is not used after this call.
    pub(super) unsafe fn free(block: *mut u8, size: usize) {
        let Some(class) = size_class(size) else { return };
        let entry = Cached {
            addr: block as usize,
            class,
            freed: std::time::Instant::now(),
        };
        let unkept = with_cache(|cache| {
            let free_slot = cache.slots.iter().position(Option::is_none);
            match free_slot {
                Some(i) if cache.bytes + class <= CACHE_BYTES => {
                    cache.slots[i] = Some(entry);
                    cache.bytes += class;
                    None
                }
                _ => Some(entry),
            }
        })
        .unwrap_or(Some(entry));
        if let Some(entry) = unkept {
            unmap(entry.addr, entry.class);
        }
    }

    /// Grow or shrink a large block: the same block when the class is unchanged, else the kernel moves the
    /// mapping (no copy of the bytes); null on failure, the block untouched.
    ///
    /// # Safety
    /// As for `free`, with `old_size` the block's current size.
    pub(super) unsafe fn resize(block: *mut u8, old_size: usize, new_size: usize) -> *mut u8 {
        let (Some(old_class), Some(new_class)) = (size_class(old_size), size_class(new_size)) else {
            return null_mut();
        };
        if old_class == new_class {
            return block;
        }
        let fresh = map(new_class);
        if !fresh.is_null() {
            // The kernel cannot move a mapping to a huge-page-aligned address of our choosing without
            // `MREMAP_FIXED` over a reservation, which is what `map` just made: move onto it.
            // SAFETY: `block` is a live mapping of `old_class` bytes and `fresh` a reservation of
            // `new_class` bytes, both this allocator's; MREMAP_FIXED replaces the reservation atomically.
            let moved = unsafe {
                libc::mremap(
                    block.cast(),
                    old_class,
                    new_class,
                    libc::MREMAP_MAYMOVE | libc::MREMAP_FIXED,
                    fresh.cast::<libc::c_void>(),
                )
            };
            if moved == libc::MAP_FAILED {
                unmap(fresh as usize, new_class);
                return null_mut();
            }
            advise(moved.cast(), new_class);
        }
        fresh
    }

    /// A fresh anonymous mapping of `class` bytes starting on a huge page, advised for huge pages; null
    /// when the kernel refuses.
    fn map(class: usize) -> *mut u8 {
        let Some(reserved) = class.checked_add(HUGE_PAGE) else {
            return null_mut();
        };
        // SAFETY: an anonymous private mapping at an address of the kernel's choosing touches no existing
        // memory.
        let raw = unsafe {
            libc::mmap(
                null_mut(),
                reserved,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
                -1,
                0,
            )
        };
        if raw == libc::MAP_FAILED {
            return null_mut();
        }
        // Trim the mapping to the huge-page-aligned `class` bytes inside it, so every page can be huge.
        let start = (raw as usize).next_multiple_of(HUGE_PAGE);
        let head = start - raw as usize;
        unmap(raw as usize, head);
        unmap(start + class, HUGE_PAGE - head);
        advise(start as *mut u8, class);
        start as *mut u8
    }

    fn unmap(addr: usize, len: usize) {
        if len > 0 {
            // SAFETY: only ranges of this allocator's own mappings that no caller owns are unmapped.
            unsafe { libc::munmap(addr as *mut libc::c_void, len) };
        }
    }

    fn advise(block: *mut u8, len: usize) {
        // SAFETY: the range is one of this allocator's mappings; MADV_HUGEPAGE changes how later page
        // faults are served, never the contents. A failure (a kernel without THP) leaves the memory as it
        // was, so the result is ignored.
        unsafe { libc::madvise(block.cast(), len, libc::MADV_HUGEPAGE) };
    }
    #[cfg(test)]
    mod tests {
        use super::CACHE;

        #[test]
        fn a_held_cache_lock_never_blocks_an_allocation() {
            // As in a child forked while another thread held the lock: large blocks still come and go.
            let held = CACHE.lock().unwrap();
            let (done, finished) = std::sync::mpsc::channel();
            std::thread::spawn(move || {
                let v = vec![1u64; 9_000_000];
                let sum: u64 = v.iter().sum();
                drop(v);
                done.send(sum).unwrap();
            });
            let sum = finished.recv_timeout(std::time::Duration::from_secs(20));
            drop(held);
            assert_eq!(sum, Ok(9_000_000));
        }
    }
}

#[cfg(not(target_os = "linux"))]
mod large {
    // `is_large` is false off Linux, so none of these is reached; they exist so the dispatch compiles.
    pub(super) fn alloc(_size: usize, _zeroed: bool) -> *mut u8 {
        std::ptr::null_mut()
    }
    pub(super) unsafe fn free(_block: *mut u8, _size: usize) {}
    pub(super) unsafe fn resize(_block: *mut u8, _old: usize, _new: usize) -> *mut u8 {
        std::ptr::null_mut()
    }
}

/// `len` zeroed row indices, or `None` when the memory cannot be had (a many-to-many explosion asks for
/// more than the machine has): the caller turns that into an error instead of the abort that `vec![0; n]`
/// would be. Fresh zeroed memory costs nothing until first written.
pub(crate) fn try_zeroed_indices<I: RowIndex>(len: usize) -> Option<Vec<I>> {
    if len == 0 {
        return Some(Vec::new());
    }
    let layout = Layout::array::<I>(len).ok()?;
    // SAFETY: `layout` has a non-zero size (len > 0).
    let block = unsafe { std::alloc::alloc_zeroed(layout) };
    if block.is_null() {
        return None;
    }
    // The block was allocated with I's layout, so it is aligned for I.
    #[allow(clippy::cast_ptr_alignment)]
    let slice = std::ptr::slice_from_raw_parts_mut(block.cast::<I>(), len);
    // SAFETY: the global allocator gave `block` the layout of `[I; len]`, which is the layout a `Box<[I]>`
    // of `len` elements owns; every byte is zero, and `RowIndex` is sealed to i64 and u32, for which zero
    // bytes are a valid value, so all elements are initialised.
    Some(unsafe { Box::from_raw(slice) }.into_vec())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zeroed_indices_are_zero_and_an_impossible_size_is_none() {
        let v = try_zeroed_indices::<i64>(3 << 20).unwrap();
        assert_eq!((v.len(), v.capacity()), (3 << 20, 3 << 20));
        assert!(v.iter().all(|&x| x == 0));
        assert!(try_zeroed_indices::<u32>(0).unwrap().is_empty());
        assert!(try_zeroed_indices::<u32>(5).unwrap() == vec![0u32; 5]);
        // 2^60 indices are 8 EiB: more than any address space.
        assert!(try_zeroed_indices::<i64>(1 << 60).is_none());
    }

    #[test]
    fn size_classes_cover_the_request_in_whole_huge_pages_within_an_eighth() {
        for size in [LARGE_FROM, LARGE_FROM + 1, 9_000_000 * 8, (1 << 30) + 1, 3 << 33] {
            let class = size_class(size).unwrap();
            assert!(class >= size && class % HUGE_PAGE == 0, "{size} -> {class}");
            assert!(class - size <= (size / 8).max(HUGE_PAGE), "{size} -> {class}");
        }
        assert_eq!(size_class(71_500_000), size_class(72_000_000));
        assert!(size_class(usize::MAX - 5).is_none());
    }

    #[test]
    fn a_reused_large_block_is_zeroed_when_asked_and_keeps_its_bytes_through_growth() {
        // A freed block comes back (same class) dirty; `vec![0; n]` must still read zeros.
        let n = 9_000_000;
        let mut dirty = vec![7u64; n];
        dirty[n - 1] = 9;
        drop(dirty);
        let zeroed = vec![0u64; n];
        assert!(zeroed.iter().all(|&x| x == 0));
        drop(zeroed);
        // Growth across classes (the kernel moves the mapping) and from the heap into a mapping keep
        // every element.
        let mut grown: Vec<u32> = (0..1_000_000).collect();
        for i in 1_000_000..20_000_000 {
            grown.push(i);
        }
        assert!(grown.iter().enumerate().all(|(i, &x)| x as usize == i));
        grown.truncate(10);
        grown.shrink_to_fit();
        assert_eq!(grown, (0..10).collect::<Vec<u32>>());
        // Over-aligned large blocks stay on the system allocator and are aligned as asked.
        let layout = Layout::from_size_align(LARGE_FROM, 4 * HUGE_PAGE).unwrap();
        // SAFETY: a non-zero size; freed below with the same layout.
        let block = unsafe { std::alloc::alloc(layout) };
        assert!(!block.is_null() && (block as usize) % (4 * HUGE_PAGE) == 0);
        // SAFETY: allocated above with `layout`.
        unsafe { std::alloc::dealloc(block, layout) };
    }
}
