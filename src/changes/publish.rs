//! Publishing committed changes to the cache (ARCHITECTURE invariant 1). The capture trigger
//! notes each statement's changed range here; DDL notes a change of everything. At PRE_COMMIT
//! the ranges are entered as *in flight* (before the commit becomes visible, so a reader whose
//! snapshot sees the commit also sees them); at COMMIT they move to the change ring with the
//! commit time; at ABORT they are dropped. The callbacks only take LWLocks and copy a few words:
//! nothing in them can fail.

use crate::cache::shmem::{self, InFlight, IN_FLIGHT};
use pgrx::pg_sys;
use routed_core::cache::ring::Change;
use std::cell::{Cell, RefCell};
use std::sync::atomic::Ordering;

/// Ranges kept per transaction before they are merged into one per relation.
const MAX_PENDING: usize = 32;

thread_local! {
    /// (relation, lo, hi) changed by this transaction; relation 0 = everything (DDL).
    static PENDING: RefCell<Vec<(u32, i64, i64)>> = const { RefCell::new(Vec::new()) };
    /// Whether this backend entered ranges in flight, or counted an overflow.
    static IN_FLIGHT_HERE: Cell<u8> = const { Cell::new(0) };
}

const ENTERED: u8 = 1;
const OVERFLOWED: u8 = 2;

/// timestamptz datum (PostgreSQL epoch) to Unix microseconds, keeping ±infinity.
fn unix(t: i64) -> i64 {
    match t {
        i64::MIN | i64::MAX => t,
        _ => crate::pg::time::unix_us(t),
    }
}

/// Notes ranges (timestamptz datums) a statement of this transaction changed in `rel`.
pub fn note(rel: pg_sys::Oid, ranges: &[(i64, i64)]) {
    if !shmem::available() {
        return;
    }
    PENDING.with_borrow_mut(|p| {
        for &(lo, hi) in ranges {
            p.push((rel.to_u32(), unix(lo), unix(hi)));
        }
        if p.len() > MAX_PENDING {
            merge_per_relation(p);
        }
    });
}

/// Notes that this transaction changed the schema (every cached answer of the database may be
/// affected once it commits).
pub fn note_ddl() {
    note(pg_sys::InvalidOid, &[(i64::MIN, i64::MAX)]);
}

/// Notes that this transaction changed or dropped relation `rel`: the answers that read it
/// are affected once it commits, whatever their time range.
pub fn note_ddl_relation(rel: pg_sys::Oid) {
    note(rel, &[(i64::MIN, i64::MAX)]);
}

/// Whether this transaction noted changes not yet published.
pub fn pending() -> bool {
    PENDING.with_borrow(|p| !p.is_empty())
}

fn merge_per_relation(p: &mut Vec<(u32, i64, i64)>) {
    p.sort_unstable_by_key(|c| c.0);
    let mut merged: Vec<(u32, i64, i64)> = Vec::with_capacity(p.len());
    for &(rel, lo, hi) in p.iter() {
        match merged.last_mut() {
            Some(m) if m.0 == rel => {
                m.1 = m.1.min(lo);
                m.2 = m.2.max(hi);
            }
            _ => merged.push((rel, lo, hi)),
        }
    }
    *p = merged;
}

/// Whether this transaction has written (it must read its own changes, not the cache).
pub fn wrote_here() -> bool {
    crate::pg::fast::has_written() || pending()
}

/// Registers the transaction callback for the life of the backend.
pub fn register() {
    // SAFETY: a plain function pointer registered once per backend from _PG_init.
    unsafe { pg_sys::RegisterXactCallback(Some(on_xact), std::ptr::null_mut()) };
}

/// Registers the exit callback once per backend, before it first enters ranges in flight
/// (not from `_PG_init`: the postmaster's exit callbacks are not its children's).
fn register_exit_callback() {
    thread_local! { static DONE: Cell<bool> = const { Cell::new(false) }; }
    if !DONE.replace(true) {
        // SAFETY: a plain function pointer registered once per backend (DONE); it touches only
        // shared memory.
        unsafe { pg_sys::before_shmem_exit(Some(on_exit), pg_sys::Datum::from(0usize)) };
    }
}

/// A backend that exits between PRE_COMMIT and COMMIT leaves no range in flight.
#[pgrx::pg_guard]
unsafe extern "C-unwind" fn on_exit(_code: i32, _arg: pg_sys::Datum) {
    leave_in_flight();
}

#[pgrx::pg_guard]
unsafe extern "C-unwind" fn on_xact(event: pg_sys::XactEvent::Type, _arg: *mut std::ffi::c_void) {
    use pg_sys::XactEvent::*;
    match event {
        XACT_EVENT_PRE_COMMIT => {
            super::notify::pre_commit();
            pre_commit();
        }
        XACT_EVENT_COMMIT => {
            publish();
            leave_in_flight();
        }
        XACT_EVENT_PRE_PREPARE if pending() => crate::error::raise_with(
            pgrx::PgSqlErrorCode::ERRCODE_FEATURE_NOT_SUPPORTED,
            "cannot PREPARE a transaction that changed a source tracked by pg_routed".into(),
            Some("the result cache learns of changes at COMMIT; commit directly".into()),
        ),
        XACT_EVENT_ABORT | XACT_EVENT_PREPARE => {
            leave_in_flight();
            clear();
            super::notify::clear();
        }
        _ => {}
    }
}

fn clear() {
    PENDING.with(|p| {
        if let Ok(mut v) = p.try_borrow_mut() {
            v.clear();
        }
    });
}

fn db() -> u32 {
    crate::pg::fast::database_id().to_u32()
}

/// Enters this transaction's ranges in flight: from now until COMMIT publishes them, a reader
/// treats entries they touch as possibly stale.
fn pre_commit() {
    PENDING.with_borrow_mut(|p| {
        if p.is_empty() {
            return;
        }
        if p.len() > IN_FLIGHT / 8 {
            merge_per_relation(p);
        }
        register_exit_callback();
        let pid = crate::pg::fast::my_pid();
        let _ring = shmem::lock_ring(true);
        let table = shmem::in_flight();
        let header = shmem::header();
        let mut entered = 0u8;
        for &(rel, lo, hi) in p.iter() {
            match table.iter_mut().find(|f| f.pid == 0) {
                Some(f) => {
                    *f = InFlight {
                        pid,
                        db: db(),
                        rel,
                        lo,
                        hi,
                    };
                    header.in_flight_used.fetch_add(1, Ordering::AcqRel);
                    entered |= ENTERED;
                }
                None => {
                    if entered & OVERFLOWED == 0 {
                        header.in_flight_overflow.fetch_add(1, Ordering::AcqRel);
                    }
                    entered |= OVERFLOWED;
                }
            }
        }
        IN_FLIGHT_HERE.set(entered);
    });
}

/// Removes this backend's in-flight ranges (COMMIT after publishing, ABORT, backend exit).
pub fn leave_in_flight() {
    let here = IN_FLIGHT_HERE.replace(0);
    if here == 0 || !shmem::available() {
        return;
    }
    let pid = crate::pg::fast::my_pid();
    let _ring = shmem::lock_ring(true);
    let header = shmem::header();
    for f in shmem::in_flight().iter_mut().filter(|f| f.pid == pid) {
        f.pid = 0;
        header.in_flight_used.fetch_sub(1, Ordering::AcqRel);
    }
    if here & OVERFLOWED != 0 {
        header.in_flight_overflow.fetch_sub(1, Ordering::AcqRel);
    }
}

/// Appends this transaction's ranges to the change ring with its commit time.
fn publish() {
    PENDING.with_borrow_mut(|p| {
        if p.is_empty() {
            return;
        }
        let commit_us =
            // SAFETY: called from the COMMIT callback, when the commit's stop timestamp is set.
            crate::pg::time::unix_us(unsafe { pg_sys::GetCurrentTransactionStopTimestamp() });
        let now_us = crate::pg::time::now_us();
        let _ring = shmem::lock_ring(true);
        let mut ring = shmem::ring();
        for &(rel, lo, hi) in p.iter() {
            ring.publish(Change {
                db: db(),
                rel,
                lo,
                hi,
                commit_us,
                published_us: now_us,
            });
        }
        p.clear();
    });
}
