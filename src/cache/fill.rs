//! Claiming a key to compute its answer, waiting for another backend's claim (coalescing), and
//! storing or releasing the claim, also when the backend errors or exits.

use pgrx::pg_sys;
use routed_core::cache::entry::{EntryMeta, StoredAnswer};
use routed_core::cache::store::FILLING;
use routed_core::cache::Key;
use std::cell::Cell;
use std::sync::atomic::Ordering;

use super::shmem::{self, stats};
use super::staleness::reader_position;
use crate::pg::time::now_us;

/// How long a backend waits for another computing the same answer before computing it itself.
const COALESCE_WAIT_MS: i64 = 10_000;
const PG_WAIT_EXTENSION: u32 = 0x0700_0000;

pub(super) enum Claim {
    Claimed(Fill),
    Busy,
    Full,
}

thread_local! {
    /// The slot this backend is filling, so an exit without unwinding still releases it.
    static FILLING_HERE: Cell<Option<(usize, u32)>> = const { Cell::new(None) };
}

pub(super) fn claim(key: &Key, part: usize) -> Claim {
    let pid = crate::pg::fast::my_pid();
    let mine = reader_position();
    let _lock = shmem::lock_partition(part, true);
    let mut p = shmem::partition(part);
    if let Some(slot) = p.find(key.hash, key.hash2, &key.bytes, true) {
        let s = p.slot(slot);
        if s.state.load(Ordering::Acquire) == FILLING {
            return Claim::Busy;
        }
        // ready but not servable to this caller: a newer answer replaces it; one newer than
        // this caller's snapshot (REPEATABLE READ) is kept
        if mine.is_none_or(|m| s.meta.pos > m) {
            return Claim::Full;
        }
        p.remove(slot);
    }
    match p.claim(key.hash, key.hash2, pid) {
        Some((slot, evicted)) => {
            stats()
                .evictions
                .fetch_add(u64::from(evicted), Ordering::Relaxed);
            FILLING_HERE.set(Some((part, slot)));
            Claim::Claimed(Fill {
                key: key.clone(),
                part,
                slot,
                done: false,
            })
        }
        None => Claim::Full,
    }
}

/// Waits (bounded) while another backend fills the same key.
pub(super) fn wait_for_filler(key: &Key, part: usize) {
    let cv = shmem::cv(part);
    let deadline = now_us() + COALESCE_WAIT_MS * 1000;
    // SAFETY: cv points into the cache's shared memory, valid for the life of the server.
    unsafe { pg_sys::ConditionVariablePrepareToSleep(cv) };
    loop {
        let filling = {
            let _lock = shmem::lock_partition(part, false);
            let p = shmem::partition(part);
            p.find(key.hash, key.hash2, &key.bytes, true)
                .is_some_and(|s| p.slot(s).state.load(Ordering::Acquire) == FILLING)
        };
        let left_ms = (deadline - now_us()) / 1000;
        if !filling || left_ms <= 0 {
            break;
        }
        // SAFETY: cv is the one prepared above; the sleep may raise (query cancel) and then
        // PostgreSQL cancels it.
        unsafe { pg_sys::ConditionVariableTimedSleep(cv, left_ms, PG_WAIT_EXTENSION) };
    }
    // SAFETY: ends the sleep prepared above; harmless when none is prepared.
    unsafe { pg_sys::ConditionVariableCancelSleep() };
}

/// A claimed slot: `store` fills it; dropped unfilled (an error, an answer not to cache) it is
/// released and the waiters woken to compute for themselves.
pub struct Fill {
    key: Key,
    part: usize,
    slot: u32,
    done: bool,
}

impl Fill {
    /// Stores the answer (unless it is larger than `routed.max_entry_size`). Returns whether it
    /// was stored.
    pub fn store(mut self, answer: &StoredAnswer, mut meta: EntryMeta) -> bool {
        let value = answer.encode();
        if value.len() + self.key.bytes.len() > crate::gucs::max_entry_bytes() {
            stats().not_stored.fetch_add(1, Ordering::Relaxed);
            return false;
        }
        let Some(pos) = reader_position() else {
            stats().not_stored.fetch_add(1, Ordering::Relaxed);
            return false;
        };
        meta.pos = pos;
        let stored = {
            let _lock = shmem::lock_partition(self.part, true);
            let mut p = shmem::partition(self.part);
            let s = p.slot(self.slot);
            if s.state.load(Ordering::Acquire) != FILLING
                || s.hash != self.key.hash
                || s.filler != crate::pg::fast::my_pid()
            {
                false
            } else {
                self.done = true;
                match p.fill(self.slot, &self.key.bytes, &value, meta) {
                    Ok(evicted) => {
                        stats()
                            .evictions
                            .fetch_add(u64::from(evicted), Ordering::Relaxed);
                        true
                    }
                    Err(_) => false,
                }
            }
        };
        FILLING_HERE.set(None);
        if !stored {
            stats().not_stored.fetch_add(1, Ordering::Relaxed);
        }
        // SAFETY: the partition's condition variable lives in shared memory for the life of the
        // server.
        unsafe { pg_sys::ConditionVariableBroadcast(shmem::cv(self.part)) };
        stored
    }
}

impl Drop for Fill {
    fn drop(&mut self) {
        if !self.done {
            release(self.part, self.slot);
        }
    }
}

/// Frees a FILLING slot this backend claimed and wakes its waiters.
fn release(part: usize, slot: u32) {
    {
        let _lock = shmem::lock_partition(part, true);
        let mut p = shmem::partition(part);
        let s = p.slot(slot);
        if s.state.load(Ordering::Acquire) == FILLING && s.filler == crate::pg::fast::my_pid() {
            p.remove(slot);
        }
    }
    FILLING_HERE.set(None);
    // SAFETY: the partition's condition variable lives in shared memory for the life of the
    // server.
    unsafe { pg_sys::ConditionVariableBroadcast(shmem::cv(part)) };
}

/// Backend exit (also FATAL, which does not unwind): release a claimed slot and in-flight ranges.
#[pgrx::pg_guard]
unsafe extern "C-unwind" fn on_exit(_code: i32, _arg: pg_sys::Datum) {
    if !shmem::available() {
        return;
    }
    if let Some((part, slot)) = FILLING_HERE.get() {
        release(part, slot);
    }
}

/// Registers the exit callback; called once per backend on first use.
pub fn register_exit_callback() {
    thread_local! { static DONE: Cell<bool> = const { Cell::new(false) }; }
    if shmem::available() && !DONE.replace(true) {
        // SAFETY: a plain function pointer registered once per backend (DONE); it touches only
        // shared memory.
        unsafe { pg_sys::before_shmem_exit(Some(on_exit), pg_sys::Datum::from(0usize)) };
    }
}
