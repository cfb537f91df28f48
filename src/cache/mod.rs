//! The shared-memory result cache: lookup (a hit copies the answer out under a short shared
//! lock, no SPI), coalescing of identical misses on a condition variable, and storing an answer
//! with what its staleness depends on. The store, ring and staleness rule are routed-core's.

mod explain;
mod fill;
mod key;
mod privileges;
pub mod revalidate;
pub mod shmem;
pub mod sql;

pub use explain::explain;
use fill::{claim, wait_for_filler, Claim};
pub use fill::{register_exit_callback, Fill};
use key::partition_of;
pub use key::{key, remembered_key, KeyMemo};
use privileges::privileges_allow;
pub use privileges::{
    register_invalidation_callbacks, row_security_applies, table_privilege, unshareable,
};

use pgrx::pg_sys;
use routed_core::cache::entry::{EntryMeta, StoredAnswerRef};
use routed_core::cache::Key;
use shmem::PARTITIONS;
use std::sync::atomic::Ordering;

/// Microseconds between the Unix epoch and PostgreSQL's (2000-01-01).
const POSTGRES_EPOCH_UNIX_MICROS: i64 = 946_684_800_000_000;

pub fn unix_us(pg_timestamp: i64) -> i64 {
    pg_timestamp.saturating_add(POSTGRES_EPOCH_UNIX_MICROS)
}

pub fn now_us() -> i64 {
    unix_us(crate::pg_fast::current_timestamp())
}

/// `meta.cache`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    Hit,
    Miss,
    Coalesced,
    Bypass,
    Disabled,
}

impl Outcome {
    pub fn name(self) -> &'static str {
        match self {
            Outcome::Hit => "hit",
            Outcome::Miss => "miss",
            Outcome::Coalesced => "coalesced",
            Outcome::Bypass => "bypass",
            Outcome::Disabled => "disabled",
        }
    }
}

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

/// Why the cache cannot be used for this call at all, if it cannot. The worker revalidating
/// (`recompute`) writes nothing in its transaction, so only the settings count for it.
pub fn unusable(recompute: bool) -> Option<(Outcome, &'static str)> {
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
    let wrote = crate::pg_fast::has_written();
    if (wrote && !recompute) || crate::invalidation::pending() {
        return Some((
            Outcome::Bypass,
            "this transaction has written: it reads its own changes, not the cache",
        ));
    }
    if unsafe { pg_sys::XactIsoLevel } >= pg_sys::XACT_SERIALIZABLE as i32 {
        return Some((
            Outcome::Bypass,
            "SERIALIZABLE reads must be seen by the serializable checks",
        ));
    }
    None
}

pub(super) fn stats() -> &'static shmem::Stats {
    shmem::stats()
}

pub fn count_bypass() {
    if shmem::available() {
        stats().bypasses.fetch_add(1, Ordering::Relaxed);
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
    unsafe { pg_sys::AcceptInvalidationMessages() };
    let part = partition_of(key);
    if recompute {
        return match claim(key, part) {
            Claim::Claimed(fill) => Found::Compute(Some(fill)),
            _ => Found::Compute(None),
        };
    }
    if let Some((meta, staleness_us)) = serve(key, part, budget_us, buf) {
        stats().hits.fetch_add(1, Ordering::Relaxed);
        return served(buf, meta, staleness_us, Outcome::Hit);
    }
    match claim(key, part) {
        Claim::Claimed(fill) => {
            stats().misses.fetch_add(1, Ordering::Relaxed);
            Found::Compute(Some(fill))
        }
        Claim::Busy if !may_wait => {
            stats().misses.fetch_add(1, Ordering::Relaxed);
            Found::Compute(None)
        }
        Claim::Busy => {
            wait_for_filler(key, part);
            if let Some((meta, staleness_us)) = serve(key, part, budget_us, buf) {
                stats().coalesced.fetch_add(1, Ordering::Relaxed);
                return served(buf, meta, staleness_us, Outcome::Coalesced);
            }
            stats().misses.fetch_add(1, Ordering::Relaxed);
            Found::Compute(None)
        }
        Claim::Full => {
            stats().misses.fetch_add(1, Ordering::Relaxed);
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

/// The entry's staleness now: compares the changes published since it was last checked
/// (and commits in flight) with its range. Partition lock held.
pub(super) fn staleness(s: &routed_core::cache::store::Slot, meta: &EntryMeta) -> i64 {
    let ring = shmem::ring();
    let header = shmem::header();
    let mut first = s.first_change_us.load(Ordering::Acquire);
    let checked = s.checked_upto.load(Ordering::Acquire);
    let busy = header.in_flight_used.load(Ordering::Acquire) > 0
        || header.in_flight_overflow.load(Ordering::Acquire) > 0;
    if ring.head() > checked || busy {
        let now = now_us();
        let _ring = shmem::lock_ring(false);
        let (head, lost) = ring.scan(checked, |c| {
            if meta.touched_by(c.db, c.rel, c.lo, c.hi) {
                first = first.min(c.commit_us);
            }
        });
        if lost {
            first = first.min(meta.as_of_us);
        }
        let before = s.first_change_us.fetch_min(first, Ordering::AcqRel);
        if before == i64::MAX && first != i64::MAX {
            stats().invalidations.fetch_add(1, Ordering::Relaxed);
        }
        s.checked_upto.fetch_max(head, Ordering::AcqRel);
        // a commit already visible but not yet published: treat as committed just now
        if header.in_flight_overflow.load(Ordering::Acquire) > 0
            || shmem::in_flight()
                .iter()
                .any(|f| f.pid != 0 && meta.touched_by(f.db, f.rel, f.lo, f.hi))
        {
            first = first.min(now);
        }
    }
    meta.staleness(first, false, now_us())
}

/// Only an entry whose changes this transaction's snapshots provably also see: one computed
/// from changes published before this transaction started. So a hit never answers with rows the
/// caller's own snapshot cannot see (REPEATABLE READ keeps repeating; a statement comparing a
/// hit with plain SQL sees the same data).
pub(super) fn snapshot_allows(meta: &EntryMeta) -> bool {
    reader_position().is_some_and(|mine| meta.pos <= mine)
}

/// The change-ring position before which every change is visible to this transaction's
/// snapshots: changes published before the transaction started. None when the ring no longer
/// reaches back that far.
pub(super) fn reader_position() -> Option<u64> {
    let since = unix_us(crate::pg_fast::transaction_start_timestamp());
    let ring = shmem::ring();
    // nothing published since a transaction that started no later than this one saw every
    // change before the head: the head again, without taking the ring's lock
    let (last_since, last_head) = LAST_POSITION.get();
    let head = ring.head();
    if head == last_head && since >= last_since {
        return Some(head);
    }
    let _ring = shmem::lock_ring(false);
    let pos = ring.position_since(since);
    if pos == Some(ring.head()) {
        LAST_POSITION.set((since, ring.head()));
    }
    pos
}

thread_local! {
    /// (transaction start, head) of the last time every change in the ring predated the start.
    static LAST_POSITION: std::cell::Cell<(i64, u64)> = const { std::cell::Cell::new((i64::MAX, u64::MAX)) };
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
