//! Lookup: a hit copies the answer out under a short shared lock (no SPI) and re-checks the
//! caller's privileges; identical misses coalesce on a condition variable; the staleness of an
//! entry is measured against the change ring.

use super::fill::{claim, wait_for_filler, Claim, Fill};
use super::key::partition_of;
use super::privileges::privileges_allow;
use super::shmem::{self, PARTITIONS};
use super::staleness::{snapshot_allows, staleness};
use pgrx::pg_sys;
use routed_core::cache::entry::{EntryMeta, StoredAnswerRef};
use routed_core::cache::{Key, Outcome};
use std::sync::atomic::Ordering;

/// An answer served from the cache, read in place from the caller's buffer.
pub struct Served<'b> {
    pub answer: StoredAnswerRef<'b>,
    pub meta: EntryMeta,
    pub staleness_us: i64,
}

pub enum Found<'b> {
    Served(Served<'b>, Outcome),
    /// Compute the answer; store it through the guard when there is one.
    Compute(Option<Fill>),
}

/// Why the cache cannot be used for this call at all, if it cannot. `wrote`: this transaction
/// has written (it must read its own changes, not the cache); the caller knows its changes.
pub fn unusable(wrote: bool) -> Option<(Outcome, &'static str)> {
    if !shmem::available() {
        return Some((
            Outcome::Disabled,
            "pg_routed is not in shared_preload_libraries (or routed.cache_size = 0)",
        ));
    }
    if !crate::gucs::ENABLED.get() {
        return Some((Outcome::Disabled, "routed.enabled is off"));
    }
    if !crate::gucs::CACHE.get() {
        return Some((Outcome::Disabled, "routed.cache is off"));
    }
    if wrote {
        return Some((
            Outcome::Bypass,
            "this transaction has written: it reads its own changes, not the cache",
        ));
    }
    if crate::pg::fast::isolation_level() >= pg_sys::XACT_SERIALIZABLE as i32 {
        return Some((
            Outcome::Bypass,
            "SERIALIZABLE reads must be seen by the serializable checks",
        ));
    }
    None
}

pub fn count_bypass() {
    if shmem::available() {
        shmem::stats().bypasses.fetch_add(1, Ordering::Relaxed);
    }
}

/// Looks `key` up for a caller allowing `budget_us`: a hit, a wait for a backend computing the
/// same answer, or the duty to compute it (with a claim to store it).
/// `recompute` (revalidation) skips serving and computes a fresh answer; without `may_wait`
/// a backend computing the same key is not waited for. A served answer's bytes are copied into
/// `buf`.
pub fn lookup<'b>(
    key: &Key,
    budget_us: i64,
    recompute: bool,
    may_wait: bool,
    buf: &'b mut Vec<u8>,
) -> Found<'b> {
    // SAFETY: called outside any critical section, with a transaction in progress, as PostgreSQL
    // requires.
    unsafe { pg_sys::AcceptInvalidationMessages() };
    let part = partition_of(key);
    if recompute {
        return match claim(key, part) {
            Claim::Claimed(fill) => Found::Compute(Some(fill)),
            _ => Found::Compute(None),
        };
    }
    if let Some((meta, staleness_us)) = serve(key, part, budget_us, buf) {
        shmem::stats().hits.fetch_add(1, Ordering::Relaxed);
        return served(buf, meta, staleness_us, Outcome::Hit);
    }
    match claim(key, part) {
        Claim::Claimed(fill) => {
            shmem::stats().misses.fetch_add(1, Ordering::Relaxed);
            Found::Compute(Some(fill))
        }
        Claim::Busy if !may_wait => {
            shmem::stats().misses.fetch_add(1, Ordering::Relaxed);
            Found::Compute(None)
        }
        Claim::Busy => {
            wait_for_filler(key, part);
            if let Some((meta, staleness_us)) = serve(key, part, budget_us, buf) {
                shmem::stats().coalesced.fetch_add(1, Ordering::Relaxed);
                return served(buf, meta, staleness_us, Outcome::Coalesced);
            }
            shmem::stats().misses.fetch_add(1, Ordering::Relaxed);
            Found::Compute(None)
        }
        Claim::Full => {
            shmem::stats().misses.fetch_add(1, Ordering::Relaxed);
            Found::Compute(None)
        }
    }
}

fn served(buf: &[u8], meta: EntryMeta, staleness_us: i64, outcome: Outcome) -> Found<'_> {
    match StoredAnswerRef::decode(buf) {
        Some(answer) => Found::Served(
            Served {
                answer,
                meta,
                staleness_us,
            },
            outcome,
        ),
        // not what `Fill::store` writes: compute it
        None => Found::Compute(None),
    }
}

/// The entry for `key` if it may be served within `budget_us`: its answer copied into `buf`
/// under the shared partition lock, then the caller's privileges re-checked on every relation
/// it read.
fn serve(key: &Key, part: usize, budget_us: i64, buf: &mut Vec<u8>) -> Option<(EntryMeta, i64)> {
    let (meta, staleness_us) = {
        let _lock = shmem::lock_partition(part, false);
        let p = shmem::partition(part);
        let slot = p.find(key.hash, key.hash2, &key.bytes, false)?;
        let s = p.slot(slot);
        let meta = s.meta;
        let staleness_us = staleness(s, &meta);
        if staleness_us > budget_us || !snapshot_allows(&meta) {
            return None;
        }
        if staleness_us > budget_us / 2 && staleness_us > 0 {
            // stale-while-revalidate: the worker recomputes it before it falls out of budget
            s.revalidate.store(1, Ordering::Relaxed);
        }
        buf.clear();
        p.read_value(slot, buf);
        p.touch(slot);
        (meta, staleness_us)
    };
    privileges_allow(&meta).then_some((meta, staleness_us))
}

/// Removes every entry (all databases); returns how many.
pub fn reset() -> u64 {
    let mut n = 0u64;
    for part in 0..PARTITIONS {
        let _lock = shmem::lock_partition(part, true);
        n += u64::from(shmem::partition(part).remove_where(|_| true));
    }
    n
}
