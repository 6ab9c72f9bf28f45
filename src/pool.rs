//! The engine's rayon thread pools.
//!
//! Not rayon's global pool: Spark forks its Python workers, and a pool created before `fork` has no
//! threads in the child (every job would hang). Pools are keyed by process id, so a forked child builds
//! its own on first use, and by size, so `threads=` and Spark's task cores cap parallelism without
//! oversubscribing the machine. At most `MAX_POOLS` pools live at once (least recently used first out), so
//! a caller that tries many `threads=` values does not accumulate threads for the life of the process.

use std::sync::{Arc, Mutex};

use rayon::{ThreadPool, ThreadPoolBuilder};

use crate::error::{MergeError, Result};

type PoolKey = (u32, usize);

/// Pools kept alive, most recently used last.
static POOLS: Mutex<Vec<(PoolKey, Arc<ThreadPool>)>> = Mutex::new(Vec::new());

const MAX_POOLS: usize = 4;

/// More threads than this many per core only adds scheduling overhead (and `threads=10000` would spend
/// its time starting threads): such requests are refused.
pub const MAX_THREADS_PER_CORE: usize = 8;
/// The floor of the cap, so small machines can still test with a few dozen threads.
pub const MIN_THREADS_CAP: usize = 64;

fn cores() -> usize {
    std::thread::available_parallelism().map_or(1, std::num::NonZero::get)
}

/// The largest `threads=` accepted on this machine.
pub fn max_threads() -> usize {
    (cores() * MAX_THREADS_PER_CORE).max(MIN_THREADS_CAP)
}

/// Threads to use when the caller does not say: `MERGEKIT_THREADS`, else the available parallelism.
pub fn default_threads() -> usize {
    if let Some(n) = std::env::var("MERGEKIT_THREADS")
        .ok()
        .and_then(|v| v.parse::<usize>().ok())
    {
        if n > 0 {
            return n.min(max_threads());
        }
    }
    cores()
}

/// Check a caller's `threads=` (the Python layer checks first; this guards the engine's own callers).
pub fn check_threads(threads: Option<usize>) -> Result<usize> {
    match threads {
        None => Ok(default_threads()),
        Some(0) => Err(MergeError::BadArgument(
            "threads must be at least 1, got 0".into(),
        )),
        Some(n) if n > max_threads() => Err(MergeError::BadArgument(format!(
            "threads={n} is more than {} ({MAX_THREADS_PER_CORE} per core on this machine's {} cores)",
            max_threads(),
            cores()
        ))),
        Some(n) => Ok(n),
    }
}

/// A pool with `threads` workers that belongs to this process.
pub fn pool(threads: Option<usize>) -> Result<Arc<ThreadPool>> {
    let n = check_threads(threads)?;
    let key = (std::process::id(), n);
    // A poisoned lock only means another thread panicked while inserting; the list is still usable.
    let mut pools = POOLS.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    // Pools of a parent process are useless after fork: forget them (dropping would try to join dead threads).
    let pid = key.0;
    pools.retain(|(k, p)| {
        if k.0 == pid {
            true
        } else {
            std::mem::forget(Arc::clone(p));
            false
        }
    });
    if let Some(i) = pools.iter().position(|(k, _)| *k == key) {
        let entry = pools.remove(i);
        let p = Arc::clone(&entry.1);
        pools.push(entry);
        return Ok(p);
    }
    let p = ThreadPoolBuilder::new()
        .num_threads(n)
        .thread_name(|i| format!("mergekit-{i}"))
        .build()
        .map_err(|e| MergeError::Internal(format!("cannot start {n} threads: {e}")))?;
    let p = Arc::new(p);
    if pools.len() >= MAX_POOLS {
        // Dropping the last reference ends the pool's threads (a running join holds its own reference).
        pools.remove(0);
    }
    pools.push((key, Arc::clone(&p)));
    Ok(p)
}

/// Rows below which a join runs on one thread: splitting it would cost more than it saves.
pub const SMALL_JOB_ROWS: usize = 1 << 14;

/// The pool for a job over `rows` rows: one thread for a small job, whatever `threads=` says (after
/// checking it), so a trivial join never starts a large pool.
pub fn pool_for_rows(threads: Option<usize>, rows: usize) -> Result<Arc<ThreadPool>> {
    let n = check_threads(threads)?;
    pool(Some(if rows < SMALL_JOB_ROWS { 1 } else { n }))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn bounded_and_validated() {
        for n in 1..=12 {
            pool(Some(n)).unwrap().install(|| ());
        }
        assert!(POOLS.lock().unwrap().len() <= MAX_POOLS);
        assert!(matches!(pool(Some(0)), Err(MergeError::BadArgument(_))));
        assert!(matches!(
            pool(Some(max_threads() + 1)),
            Err(MergeError::BadArgument(_))
        ));
        assert_eq!(pool_for_rows(Some(7), 3).unwrap().current_num_threads(), 1);
    }
}
