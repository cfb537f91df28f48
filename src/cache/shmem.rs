//! The cache's shared memory: one region holding a header (settings, counters, in-flight
//! commits, condition variables), the change ring and the partitions, plus a tranche of LWLocks
//! (one per partition, one for the ring). Requested and formatted from hooks `_PG_init` installs
//! under `shared_preload_libraries`; every backend inherits the addresses from the postmaster.

use crate::gucs;
use pgrx::pg_sys;
use routed_core::cache::ring::Ring;
use routed_core::cache::store::{Dims, Partition};
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};

pub const PARTITIONS: usize = 16;
/// Commits between their PRE_COMMIT and COMMIT callbacks, at most this many ranges at once;
/// beyond it a counter makes every entry count as possibly stale until they finish.
pub const IN_FLIGHT: usize = 256;
const LOCKS: i32 = PARTITIONS as i32 + 1;
const RING_LOCK: usize = PARTITIONS;
const TRANCHE: &std::ffi::CStr = c"pg_routed";

/// Counters, striped by backend so backends answering the same hot entry do not all write one
/// cache line; readers sum the stripes.
pub const STRIPES: usize = 32;

#[repr(C, align(64))]
#[derive(Default)]
pub struct Stats {
    pub hits: AtomicU64,
    pub misses: AtomicU64,
    pub coalesced: AtomicU64,
    pub bypasses: AtomicU64,
    pub evictions: AtomicU64,
    pub invalidations: AtomicU64,
    pub not_stored: AtomicU64,
    pub revalidations: AtomicU64,
}

/// A range a committing transaction is about to make visible (pid 0: free).
#[repr(C)]
#[derive(Clone, Copy, Default)]
pub struct InFlight {
    pub pid: i32,
    pub db: u32,
    pub rel: u32,
    pub lo: i64,
    pub hi: i64,
}

#[repr(C)]
pub struct Header {
    pub dims: Dims,
    pub ring_capacity: u64,
    pub stats: [Stats; STRIPES],
    /// Occupied in-flight slots, and commits that found no free slot.
    pub in_flight_used: AtomicU32,
    pub in_flight_overflow: AtomicU32,
    pub in_flight: [InFlight; IN_FLIGHT],
    pub cvs: [pg_sys::ConditionVariable; PARTITIONS],
}

static mut BASE: *mut u8 = std::ptr::null_mut();
static mut LOCK_ARRAY: *mut pg_sys::LWLockPadded = std::ptr::null_mut();
static mut PREV_REQUEST: pg_sys::shmem_request_hook_type = None;
static mut PREV_STARTUP: pg_sys::shmem_startup_hook_type = None;

fn align(n: usize) -> usize {
    (n + 63) & !63
}

fn dims() -> Dims {
    Dims::for_bytes(gucs::cache_size_bytes() / PARTITIONS)
}

fn ring_capacity() -> u64 {
    gucs::CHANGE_RING_SIZE.get() as u64
}

fn total_bytes() -> usize {
    align(std::mem::size_of::<Header>())
        + align(Ring::bytes(ring_capacity()))
        + PARTITIONS * align(dims().bytes())
}

/// Installs the hooks; called from `_PG_init` while preloading, when the cache is sized > 0.
pub fn install_hooks() {
    // SAFETY: runs in the postmaster from _PG_init while preloading, single-threaded, before any
    // hook is called; the previous hooks are kept and chained.
    unsafe {
        PREV_REQUEST = pg_sys::shmem_request_hook;
        pg_sys::shmem_request_hook = Some(request);
        PREV_STARTUP = pg_sys::shmem_startup_hook;
        pg_sys::shmem_startup_hook = Some(startup);
    }
}

#[pgrx::pg_guard]
unsafe extern "C-unwind" fn request() {
    // SAFETY: called by the postmaster once, when extensions may request shared memory and LWLock
    // tranches.
    unsafe {
        if let Some(prev) = PREV_REQUEST {
            prev();
        }
        pg_sys::RequestAddinShmemSpace(total_bytes());
        pg_sys::RequestAddinShmemSpace(super::query_stats::bytes());
        pg_sys::RequestNamedLWLockTranche(TRANCHE.as_ptr(), LOCKS);
    }
}

#[pgrx::pg_guard]
unsafe extern "C-unwind" fn startup() {
    // SAFETY: called once per process that attaches shared memory; AddinShmemInitLock serialises
    // formatting, and the region is total_bytes() long.
    unsafe {
        if let Some(prev) = PREV_STARTUP {
            prev();
        }
        let init_lock = &raw mut (*pg_sys::MainLWLockArray.add(21)).lock;
        pg_sys::LWLockAcquire(init_lock, pg_sys::LWLockMode::LW_EXCLUSIVE);
        let mut found = false;
        let base = pg_sys::ShmemInitStruct(c"pg_routed cache".as_ptr(), total_bytes(), &mut found)
            as *mut u8;
        if !found {
            format(base);
        }
        BASE = base;
        LOCK_ARRAY = pg_sys::GetNamedLWLockTranche(TRANCHE.as_ptr());
        super::query_stats::attach();
        pg_sys::LWLockRelease(init_lock);
    }
}

unsafe fn format(base: *mut u8) {
    // SAFETY: the caller's contract: base is the start of a region of total_bytes(), not yet in
    // use by anyone.
    unsafe {
        std::ptr::write_bytes(base, 0, std::mem::size_of::<Header>());
        let h = &mut *(base as *mut Header);
        h.dims = dims();
        h.ring_capacity = ring_capacity();
        for cv in h.cvs.iter_mut() {
            pg_sys::ConditionVariableInit(cv);
        }
        Ring::init(base.add(ring_offset()), h.ring_capacity);
        for i in 0..PARTITIONS {
            Partition::init(base.add(partition_offset(h, i)), h.dims);
        }
    }
}

fn ring_offset() -> usize {
    align(std::mem::size_of::<Header>())
}

fn partition_offset(h: &Header, i: usize) -> usize {
    ring_offset() + align(Ring::bytes(h.ring_capacity)) + i * align(h.dims.bytes())
}

/// Whether the cache exists in this server (preloaded with a size > 0).
pub fn available() -> bool {
    // SAFETY: BASE is written once in the startup hook before backends run our code.
    unsafe { !BASE.is_null() }
}

pub fn header() -> &'static Header {
    // SAFETY: callers check available(); BASE then points at a formatted Header for the life of
    // the server.
    unsafe { &*(BASE as *const Header) }
}

pub fn ring() -> Ring {
    // SAFETY: the ring lies at ring_offset() of the formatted region.
    unsafe { Ring::attach(BASE.add(ring_offset())) }
}

pub fn partition(i: usize) -> Partition {
    // SAFETY: partition i < PARTITIONS lies at partition_offset() of the formatted region, sized
    // by the header's dims.
    unsafe { Partition::attach(BASE.add(partition_offset(header(), i)), header().dims) }
}

pub fn cv(i: usize) -> *mut pg_sys::ConditionVariable {
    // SAFETY: i < PARTITIONS; only the address is taken, no reference is made.
    unsafe { &raw mut (*(BASE as *mut Header)).cvs[i] }
}

/// The in-flight table, to be read or written only under the ring lock.
pub fn in_flight() -> &'static mut [InFlight; IN_FLIGHT] {
    // SAFETY: callers hold the ring lock (exclusive to write), which serialises every access to
    // the table.
    unsafe { &mut (*(BASE as *mut Header)).in_flight }
}

/// An LWLock held until dropped; never held across SPI (ARCHITECTURE invariant 7).
pub struct Held(*mut pg_sys::LWLock);

impl Drop for Held {
    fn drop(&mut self) {
        // SAFETY: Held exists only while this backend holds the lock it names.
        unsafe { pg_sys::LWLockRelease(self.0) };
    }
}

fn lock(i: usize, exclusive: bool) -> Held {
    let mode = if exclusive {
        pg_sys::LWLockMode::LW_EXCLUSIVE
    } else {
        pg_sys::LWLockMode::LW_SHARED
    };
    // SAFETY: i < LOCKS, the tranche's size; LOCK_ARRAY is set in the startup hook. An error while
    // waiting releases every LWLock (LWLockReleaseAll at abort).
    unsafe {
        let l = &raw mut (*LOCK_ARRAY.add(i)).lock;
        pg_sys::LWLockAcquire(l, mode);
        Held(l)
    }
}

pub fn lock_partition(i: usize, exclusive: bool) -> Held {
    lock(i, exclusive)
}

pub fn lock_ring(exclusive: bool) -> Held {
    lock(RING_LOCK, exclusive)
}

/// This backend's stripe of the counters.
pub fn stats() -> &'static Stats {
    let pid = crate::pg::fast::my_pid() as usize;
    &header().stats[pid % STRIPES]
}

/// A counter summed over the stripes.
pub fn total(counter: impl Fn(&Stats) -> &AtomicU64) -> u64 {
    header()
        .stats
        .iter()
        .map(|s| counter(s).load(Ordering::Relaxed))
        .sum()
}

/// `routed.cache_stats`' one row: sizes, entries, and every counter summed over the stripes.
pub struct Summary {
    pub capacity_bytes: i64,
    pub used_bytes: i64,
    pub entries: i64,
    pub hits: i64,
    pub misses: i64,
    pub coalesced: i64,
    pub bypasses: i64,
    pub evictions: i64,
    pub invalidations: i64,
    pub not_stored: i64,
    pub revalidations: i64,
    pub changes_published: i64,
}

/// The cache's sizes and counters now; None without a cache.
pub fn summary() -> Option<Summary> {
    if !available() {
        return None;
    }
    let (mut used_bytes, mut entries) = (0i64, 0i64);
    for part in 0..PARTITIONS {
        let _lock = lock_partition(part, false);
        let p = partition(part);
        used_bytes += p.used_bytes() as i64;
        entries += i64::from(p.entries());
    }
    let n = |c: fn(&Stats) -> &AtomicU64| total(c) as i64;
    Some(Summary {
        capacity_bytes: (header().dims.capacity_bytes() * PARTITIONS) as i64,
        used_bytes,
        entries,
        hits: n(|s| &s.hits),
        misses: n(|s| &s.misses),
        coalesced: n(|s| &s.coalesced),
        bypasses: n(|s| &s.bypasses),
        evictions: n(|s| &s.evictions),
        invalidations: n(|s| &s.invalidations),
        not_stored: n(|s| &s.not_stored),
        revalidations: n(|s| &s.revalidations),
        changes_published: ring().head() as i64,
    })
}

/// Zeroes every counter of every stripe.
pub fn reset_counters() {
    if !available() {
        return;
    }
    for s in &header().stats {
        for c in [
            &s.hits,
            &s.misses,
            &s.coalesced,
            &s.bypasses,
            &s.evictions,
            &s.invalidations,
            &s.not_stored,
            &s.revalidations,
        ] {
            c.store(0, Ordering::Relaxed);
        }
    }
}
