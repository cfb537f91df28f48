//! The shared-memory result cache: lookup (a hit copies the answer out under a short shared
//! lock, no SPI), coalescing of identical misses on a condition variable, and storing an answer
//! with what its staleness depends on. The store, ring and staleness rule are routed-core's.

pub mod revalidate;
pub mod shmem;
pub mod sql;

use pgrx::pg_sys;
use routed_core::cache::entry::{EntryMeta, StoredAnswer};
use routed_core::cache::store::FILLING;
use routed_core::cache::Key;
use shmem::PARTITIONS;
use std::cell::{Cell, RefCell};
use std::ffi::CStr;
use std::sync::atomic::Ordering;

/// Microseconds between the Unix epoch and PostgreSQL's (2000-01-01).
const POSTGRES_EPOCH_UNIX_MICROS: i64 = 946_684_800_000_000;
/// How long a backend waits for another computing the same answer before computing it itself.
const COALESCE_WAIT_MS: i64 = 10_000;
const PG_WAIT_EXTENSION: u32 = 0x0700_0000;

pub fn unix_us(pg_timestamp: i64) -> i64 {
    pg_timestamp.saturating_add(POSTGRES_EPOCH_UNIX_MICROS)
}

pub fn now_us() -> i64 {
    unix_us(unsafe { pg_sys::GetCurrentTimestamp() })
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

/// An answer served from the cache.
pub struct Served {
    pub answer: StoredAnswer,
    pub meta: EntryMeta,
    pub staleness_us: i64,
}

pub enum Found {
    Served(Served, Outcome),
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
    let wrote = unsafe { pg_sys::GetTopTransactionIdIfAny() } != pg_sys::InvalidTransactionId;
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

fn cstr(p: *const std::ffi::c_char) -> &'static str {
    if p.is_null() {
        ""
    } else {
        unsafe { CStr::from_ptr(p) }.to_str().unwrap_or("")
    }
}

/// The settings an answer depends on besides the document, as they were last formatted.
struct Context {
    raw: (u32, u32, bool, i32, i32, usize),
    parts: [String; 5],
}

thread_local! {
    static CONTEXT: RefCell<Option<Context>> = const { RefCell::new(None) };
}

/// The key: the canonical document plus everything else its answer depends on (database,
/// role, row_security, extra_float_digits, IntervalStyle, search_path, TimeZone). The settings
/// are formatted again only when one of them changed.
pub fn key(canonical: &str) -> Key {
    let raw = unsafe {
        (
            pg_sys::MyDatabaseId.to_u32(),
            pg_sys::GetUserId().to_u32(),
            pg_sys::row_security,
            pg_sys::extra_float_digits,
            pg_sys::IntervalStyle,
            // time zones are cached for the life of the backend: the pointer names the zone
            pg_sys::session_timezone as usize,
        )
    };
    // search_path strings are freed and reallocated: compare the text
    let path = unsafe { cstr(pg_sys::namespace_search_path) };
    CONTEXT.with_borrow_mut(|c| {
        if c.as_ref().is_none_or(|c| c.raw != raw || c.parts[3] != path) {
            let (db, role, rls, digits, style, _) = raw;
            let zone = unsafe { cstr(pg_sys::pg_get_timezone_name(pg_sys::session_timezone)) };
            *c = Some(Context {
                raw,
                parts: [
                    db.to_string(),
                    role.to_string(),
                    format!("{}/{digits}/{style}", u8::from(rls)),
                    path.to_string(),
                    zone.to_string(),
                ],
            });
        }
        let parts = &c.as_ref().expect("just set").parts;
        Key::new(
            canonical,
            &[&parts[0], &parts[1], &parts[2], &parts[3], &parts[4]],
        )
    })
}

fn partition_of(key: &Key) -> usize {
    (key.hash >> 56) as usize % PARTITIONS
}

fn stats() -> &'static shmem::Stats {
    &shmem::header().stats
}

pub fn count_bypass() {
    if shmem::available() {
        stats().bypasses.fetch_add(1, Ordering::Relaxed);
    }
}

/// Looks `key` up for a caller allowing `budget_us`: a hit, a wait for a backend computing the
/// same answer, or the duty to compute it (with a claim to store it).
/// `recompute` (revalidation) skips serving and computes a fresh answer; without `may_wait`
/// a backend computing the same key is not waited for.
pub fn lookup(key: Key, budget_us: i64, recompute: bool, may_wait: bool) -> Found {
    unsafe { pg_sys::AcceptInvalidationMessages() };
    let part = partition_of(&key);
    if recompute {
        return match claim(key, part) {
            Claim::Claimed(fill) => Found::Compute(Some(fill)),
            _ => Found::Compute(None),
        };
    }
    if let Some(s) = serve(&key, part, budget_us) {
        stats().hits.fetch_add(1, Ordering::Relaxed);
        return Found::Served(s, Outcome::Hit);
    }
    match claim(key, part) {
        Claim::Claimed(fill) => {
            stats().misses.fetch_add(1, Ordering::Relaxed);
            Found::Compute(Some(fill))
        }
        Claim::Busy(_) if !may_wait => {
            stats().misses.fetch_add(1, Ordering::Relaxed);
            Found::Compute(None)
        }
        Claim::Busy(key) => {
            wait_for_filler(&key, part);
            if let Some(s) = serve(&key, part, budget_us) {
                stats().coalesced.fetch_add(1, Ordering::Relaxed);
                return Found::Served(s, Outcome::Coalesced);
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

/// The entry for `key` if it may be served within `budget_us`: copied out under the shared
/// partition lock, then the caller's privileges re-checked on every relation it read.
fn serve(key: &Key, part: usize, budget_us: i64) -> Option<Served> {
    let (meta, bytes, staleness_us) = {
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
        let mut bytes = Vec::new();
        p.read_value(slot, &mut bytes);
        p.touch(slot);
        (meta, bytes, staleness_us)
    };
    if !privileges_allow(&meta) {
        return None;
    }
    Some(Served {
        answer: StoredAnswer::decode(&bytes)?,
        meta,
        staleness_us,
    })
}

/// The entry's staleness now: compares the changes published since it was last checked
/// (and commits in flight) with its range. Partition lock held.
fn staleness(s: &routed_core::cache::store::Slot, meta: &EntryMeta) -> i64 {
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
fn snapshot_allows(meta: &EntryMeta) -> bool {
    reader_position().is_some_and(|mine| meta.pos <= mine)
}

/// The change-ring position before which every change is visible to this transaction's
/// snapshots: changes published before the transaction started. None when the ring no longer
/// reaches back that far.
fn reader_position() -> Option<u64> {
    let since = unix_us(unsafe { pg_sys::GetCurrentTransactionStartTimestamp() });
    let _ring = shmem::lock_ring(false);
    shmem::ring().position_since(since)
}

/// SELECT on every relation the entry read, and none of them under row security for the caller.
fn privileges_allow(meta: &EntryMeta) -> bool {
    let role = unsafe { pg_sys::GetUserId() };
    meta.rels().iter().all(|&rel| {
        let oid = pg_sys::Oid::from(rel);
        let mut missing = false;
        let ok = unsafe {
            pg_sys::pg_class_aclcheck_ext(oid, role, pg_sys::ACL_SELECT as _, &mut missing)
        } == pg_sys::AclResult::ACLCHECK_OK;
        ok && !missing && !row_security_applies(oid)
    })
}

pub fn row_security_applies(oid: pg_sys::Oid) -> bool {
    let rls = unsafe { pg_sys::check_enable_rls(oid, pg_sys::InvalidOid, true) };
    rls == pg_sys::CheckEnableRlsResult::RLS_ENABLED as i32
}

/// Whether the caller holds table-level SELECT (what a hit re-checks) on `oid`.
pub fn table_privilege(oid: pg_sys::Oid) -> bool {
    let mut missing = false;
    unsafe {
        pg_sys::pg_class_aclcheck_ext(
            oid,
            pg_sys::GetUserId(),
            pg_sys::ACL_SELECT as _,
            &mut missing,
        ) == pg_sys::AclResult::ACLCHECK_OK
            && !missing
    }
}

enum Claim {
    Claimed(Fill),
    Busy(Key),
    Full,
}

thread_local! {
    /// The slot this backend is filling, so an exit without unwinding still releases it.
    static FILLING_HERE: Cell<Option<(usize, u32)>> = const { Cell::new(None) };
}

fn claim(key: Key, part: usize) -> Claim {
    let pid = unsafe { pg_sys::MyProcPid };
    let mine = reader_position();
    let _lock = shmem::lock_partition(part, true);
    let mut p = shmem::partition(part);
    if let Some(slot) = p.find(key.hash, key.hash2, &key.bytes, true) {
        let s = p.slot(slot);
        if s.state.load(Ordering::Acquire) == FILLING {
            return Claim::Busy(key);
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
                key,
                part,
                slot,
                done: false,
            })
        }
        None => Claim::Full,
    }
}

/// Waits (bounded) while another backend fills the same key.
fn wait_for_filler(key: &Key, part: usize) {
    let cv = shmem::cv(part);
    let deadline = now_us() + COALESCE_WAIT_MS * 1000;
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
        unsafe { pg_sys::ConditionVariableTimedSleep(cv, left_ms, PG_WAIT_EXTENSION) };
    }
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
                || s.filler != unsafe { pg_sys::MyProcPid }
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
        let counter = if stored {
            &stats().stored
        } else {
            &stats().not_stored
        };
        counter.fetch_add(1, Ordering::Relaxed);
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
        if s.state.load(Ordering::Acquire) == FILLING && s.filler == unsafe { pg_sys::MyProcPid } {
            p.remove(slot);
        }
    }
    FILLING_HERE.set(None);
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
    crate::invalidation::leave_in_flight();
}

/// Registers the exit callback; called once per backend on first use.
pub fn register_exit_callback() {
    thread_local! { static DONE: Cell<bool> = const { Cell::new(false) }; }
    if shmem::available() && !DONE.replace(true) {
        unsafe { pg_sys::before_shmem_exit(Some(on_exit), pg_sys::Datum::from(0usize)) };
    }
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


/// routed_explain's cache section: whether an entry exists and whether it could be served now
/// to this caller at `budget_us` (looked at, not touched).
pub fn explain(canonical: &str, budget_us: i64) -> serde_json::Value {
    use routed_core::time::{format_interval, format_rfc3339_utc};
    use serde_json::json;
    if let Some((o, reason)) = unusable(false) {
        return json!({"status": o.name(), "reason": reason});
    }
    let key = key(canonical);
    let part = partition_of(&key);
    let found = {
        let _lock = shmem::lock_partition(part, false);
        let p = shmem::partition(part);
        p.find(key.hash, key.hash2, &key.bytes, true).map(|slot| {
            let s = p.slot(slot);
            let filling = s.state.load(Ordering::Acquire) == FILLING;
            let meta = s.meta;
            let st = if filling { 0 } else { staleness(s, &meta) };
            (filling, meta, st, s.hits.load(Ordering::Relaxed))
        })
    };
    match found {
        None => json!({"status": "miss", "reason": "no entry for this document and caller"}),
        Some((true, _, _, _)) => json!({
            "status": "coalesced",
            "reason": "another backend is computing this answer; a call now would wait for it"
        }),
        Some((false, meta, st, hits)) => {
            let entry = json!({
                "as_of": format_rfc3339_utc(meta.as_of_us),
                "staleness": format_interval(st),
                "hits": hits,
                "cost_ms": meta.cost_us as f64 / 1000.0,
                "relative": meta.relative(),
                "tracked": meta.tracked(),
                "range": [
                    (meta.from_us > i64::MIN).then(|| format_rfc3339_utc(meta.from_us)),
                    (meta.to_us < i64::MAX).then(|| format_rfc3339_utc(meta.to_us)),
                ],
            });
            let (status, reason) = if st > budget_us {
                ("miss", "the entry's staleness exceeds the budget")
            } else if !snapshot_allows(&meta) {
                ("miss", "the entry may be newer than this REPEATABLE READ snapshot")
            } else if !privileges_allow(&meta) {
                ("miss", "the caller lacks SELECT on a relation the entry read, or row security applies")
            } else {
                ("hit", "an entry within the budget")
            };
            json!({"status": status, "reason": reason, "entry": entry})
        }
    }
}
