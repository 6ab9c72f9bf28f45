//! Reading a memory-mapped input that another program truncates must not kill the process.
//!
//! A read of a mapped page past the new end of a truncated file raises SIGBUS, whose default action ends
//! the process (and Python with it). While a map is registered here, a SIGBUS handler replaces the lost
//! page with a page of zeros and marks the map as faulted; the reader checks the mark after parsing each
//! block and raises a clear error naming the file instead of returning what it parsed from the zeros.
//! A SIGBUS at any other address is handed to the handler installed before ours (Python's faulthandler,
//! say), or, if there was none, kills the process as it would have without this module.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::OnceLock;

/// Maps guarded at once (each open delimited input holds one); a map beyond this runs unguarded.
const SLOTS: usize = 64;

struct Slot {
    claimed: AtomicBool,
    start: AtomicUsize,
    /// Set last on registration, cleared first on release: zero means "not a live range".
    len: AtomicUsize,
    faulted: AtomicBool,
}

#[allow(clippy::declare_interior_mutable_const)] // a template for the array below, never used by itself
const EMPTY: Slot = Slot {
    claimed: AtomicBool::new(false),
    start: AtomicUsize::new(0),
    len: AtomicUsize::new(0),
    faulted: AtomicBool::new(false),
};

static TABLE: [Slot; SLOTS] = [EMPTY; SLOTS];

/// The handler in place before ours, and the page size (read once, before any fault can happen).
static PREVIOUS: OnceLock<Option<(libc::sigaction, usize)>> = OnceLock::new();

/// A registered map; dropping it (before the map is unmapped) releases the slot.
pub struct MapGuard {
    slot: usize,
}

impl MapGuard {
    /// Guard `len` bytes mapped at `start`. `None` if the handler could not be installed or every slot is
    /// taken; the caller then reads unguarded (the pre-existing behaviour).
    pub fn register(start: *const u8, len: usize) -> Option<MapGuard> {
        install()?;
        let slot = TABLE.iter().position(|s| {
            s.claimed
                .compare_exchange(false, true, Ordering::AcqRel, Ordering::Relaxed)
                .is_ok()
        })?;
        let s = &TABLE[slot];
        s.faulted.store(false, Ordering::Release);
        s.start.store(start as usize, Ordering::Release);
        s.len.store(len, Ordering::Release);
        Some(MapGuard { slot })
    }

    /// Whether a read of this map touched a page the file no longer has.
    pub fn faulted(&self) -> bool {
        TABLE[self.slot].faulted.load(Ordering::Acquire)
    }
}

impl Drop for MapGuard {
    fn drop(&mut self) {
        let s = &TABLE[self.slot];
        s.len.store(0, Ordering::Release);
        s.claimed.store(false, Ordering::Release);
    }
}

fn install() -> Option<()> {
    let installed = PREVIOUS.get_or_init(|| {
        // SAFETY: sysconf has no preconditions.
        let page = usize::try_from(unsafe { libc::sysconf(libc::_SC_PAGESIZE) }).ok()?;
        // SAFETY: zeroed is a valid (empty) sigaction; we fill the fields sigaction(2) reads.
        let mut action: libc::sigaction = unsafe { std::mem::zeroed() };
        action.sa_sigaction = on_sigbus as extern "C" fn(_, _, _) as libc::sighandler_t;
        action.sa_flags = libc::SA_SIGINFO | libc::SA_ONSTACK;
        // SAFETY: a zeroed sigaction is a valid out-parameter.
        let mut previous: libc::sigaction = unsafe { std::mem::zeroed() };
        // SAFETY: both pointers are to valid sigaction structs owned by this frame; the mask is ours.
        let ok = unsafe {
            libc::sigemptyset(&mut action.sa_mask);
            libc::sigaction(libc::SIGBUS, &action, &mut previous)
        } == 0;
        ok.then_some((previous, page))
    });
    installed.as_ref().map(|_| ())
}

extern "C" fn on_sigbus(sig: libc::c_int, info: *mut libc::siginfo_t, context: *mut libc::c_void) {
    // Everything here is async-signal-safe: atomic loads and stores, mmap and sigaction system calls.
    // SAFETY: the kernel passes a valid siginfo for an SA_SIGINFO handler.
    let addr = unsafe { (*info).si_addr() } as usize;
    let Some(Some((previous, page))) = PREVIOUS.get() else {
        return;
    };
    for s in &TABLE {
        let len = s.len.load(Ordering::Acquire);
        let start = s.start.load(Ordering::Acquire);
        if len > 0 && addr >= start && addr < start + len {
            let base = addr & !(page - 1);
            // SAFETY: `base` is a page of a read-only map this process owns (registered above, not yet
            // unmapped: the guard is dropped before the map). Replacing it with zeros changes only what
            // that map reads; the reader discards the block once it sees `faulted`.
            let mapped = unsafe {
                libc::mmap(
                    base as *mut libc::c_void,
                    *page,
                    libc::PROT_READ,
                    libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_FIXED,
                    -1,
                    0,
                )
            };
            if mapped != libc::MAP_FAILED {
                s.faulted.store(true, Ordering::Release);
                return;
            }
        }
    }
    // Not one of ours: whoever handled SIGBUS before us decides.
    let handler = previous.sa_sigaction;
    if handler == libc::SIG_DFL || handler == libc::SIG_IGN {
        // SAFETY: restoring the previous disposition; returning re-runs the faulting access, which now
        // gets the default action (the process ends, as it would have without this module).
        unsafe { libc::sigaction(libc::SIGBUS, previous, std::ptr::null_mut()) };
    } else if previous.sa_flags & libc::SA_SIGINFO != 0 {
        // SAFETY: an SA_SIGINFO handler has this signature (sigaction(2)).
        let f: extern "C" fn(libc::c_int, *mut libc::siginfo_t, *mut libc::c_void) =
            unsafe { std::mem::transmute(handler) };
        f(sig, info, context);
    } else {
        // SAFETY: a plain handler takes the signal number (signal(2)).
        let f: extern "C" fn(libc::c_int) = unsafe { std::mem::transmute(handler) };
        f(sig);
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn a_truncated_map_reads_zeros_and_is_marked() {
        let mut f = tempfile::tempfile().unwrap();
        f.write_all(&vec![b'x'; 3 * 4096]).unwrap();
        // SAFETY: a test-owned file, read-only map.
        let map = unsafe { memmap2::Mmap::map(&f) }.unwrap();
        let guard = MapGuard::register(map.as_ptr(), map.len()).unwrap();
        assert!(!guard.faulted());
        f.set_len(10).unwrap();
        let tail = std::hint::black_box(&map[2 * 4096 + 5]);
        assert_eq!(*tail, 0);
        assert!(guard.faulted());
        assert_eq!(map[3], b'x');
        drop(guard);
    }
}
