//! The engine's rayon thread pools.
//!
//! Not rayon's global pool: Spark forks its Python workers, and a pool created before `fork` has no
//! threads in the child (every job would hang). Pools are keyed by process id, so a forked child builds
//! its own on first use, and by size, so `threads=` and Spark's task cores cap parallelism without
//! oversubscribing the machine.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use rayon::{ThreadPool, ThreadPoolBuilder};

use crate::error::{MergeError, Result};

type PoolKey = (u32, usize);

static POOLS: Mutex<Option<HashMap<PoolKey, Arc<ThreadPool>>>> = Mutex::new(None);

/// Threads to use when the caller does not say: `MERGEKIT_THREADS`, else the available parallelism.
pub fn default_threads() -> usize {
    if let Some(n) = std::env::var("MERGEKIT_THREADS")
        .ok()
        .and_then(|v| v.parse::<usize>().ok())
    {
        if n > 0 {
            return n;
        }
    }
    std::thread::available_parallelism().map_or(1, std::num::NonZero::get)
}

/// A pool with `threads` workers that belongs to this process.
pub fn pool(threads: Option<usize>) -> Result<Arc<ThreadPool>> {
    let n = threads.filter(|&n| n > 0).unwrap_or_else(default_threads);
    let key = (std::process::id(), n);
    // A poisoned lock only means another thread panicked while inserting; the map is still usable.
    let mut guard = POOLS.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    let pools = guard.get_or_insert_with(HashMap::new);
    // Pools of a parent process are useless after fork: forget them (dropping would try to join dead threads).
    let pid = key.0;
    pools.retain(|k, p| {
        if k.0 == pid {
            true
        } else {
            std::mem::forget(Arc::clone(p));
            false
        }
    });
    if let Some(p) = pools.get(&key) {
        return Ok(Arc::clone(p));
    }
    let p = ThreadPoolBuilder::new()
        .num_threads(n)
        .thread_name(|i| format!("mergekit-{i}"))
        .build()
        .map_err(|e| MergeError::Internal(format!("cannot start {n} threads: {e}")))?;
    let p = Arc::new(p);
    pools.insert(key, Arc::clone(&p));
    Ok(p)
}
