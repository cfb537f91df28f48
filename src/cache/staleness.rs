//! How stale an entry is now (the changes published since it was last checked, and commits in
//! flight, against its range), and whether this transaction's snapshots may see it.

use super::shmem;
use crate::pg::time::{now_us, unix_us};
use routed_core::cache::entry::EntryMeta;
use std::sync::atomic::Ordering;

/// The entry's staleness now: compares the changes published since it was last checked
/// (and commits in flight) with its range. Partition lock held.
pub fn staleness(s: &routed_core::cache::store::Slot, meta: &EntryMeta) -> i64 {
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
            shmem::stats().invalidations.fetch_add(1, Ordering::Relaxed);
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
pub fn snapshot_allows(meta: &EntryMeta) -> bool {
    reader_position().is_some_and(|mine| meta.pos <= mine)
}

/// The change-ring position before which every change is visible to this transaction's
/// snapshots: changes published before the transaction started. None when the ring no longer
/// reaches back that far.
pub fn reader_position() -> Option<u64> {
    let since = unix_us(crate::pg::fast::transaction_start_timestamp());
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
