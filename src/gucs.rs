//! Settings. `routed.default_staleness` is in seconds with PostgreSQL's units
//! (`SET routed.default_staleness = '5min'`), settable per role and database.

use pgrx::{GucContext, GucFlags, GucRegistry, GucSetting};
use std::ffi::CString;

pub static ENABLED: GucSetting<bool> = GucSetting::<bool>::new(true);
pub static CACHE: GucSetting<bool> = GucSetting::<bool>::new(true);
pub static NOTIFY: GucSetting<bool> = GucSetting::<bool>::new(false);
pub static WARM_ENTRIES: GucSetting<i32> = GucSetting::<i32>::new(100);
pub static DEFAULT_STALENESS_S: GucSetting<i32> = GucSetting::<i32>::new(0);
pub static DATABASES: GucSetting<Option<CString>> = GucSetting::<Option<CString>>::new(None);
pub static REFRESH_NAPTIME_S: GucSetting<i32> = GucSetting::<i32>::new(5);
pub static CACHE_SIZE_KB: GucSetting<i32> = GucSetting::<i32>::new(64 * 1024);
pub static MAX_ENTRY_SIZE_KB: GucSetting<i32> = GucSetting::<i32>::new(1024);
pub static CHANGE_RING_SIZE: GucSetting<i32> = GucSetting::<i32>::new(16_384);
pub static TRANSPARENT: GucSetting<bool> = GucSetting::<bool>::new(false);
pub static APPROXIMATE: GucSetting<bool> = GucSetting::<bool>::new(false);
pub static MAX_RANGES_PER_STATEMENT: GucSetting<i32> = GucSetting::<i32>::new(1_000);

pub fn init() {
    GucRegistry::define_bool_guc(
        c"routed.transparent",
        c"Whether plain SQL aggregate queries on tracked sources are answered by the router.",
        c"Budget from routed.default_staleness; anything not fully understood plans as without the extension.",
        &TRANSPARENT,
        GucContext::Userset,
        GucFlags::default(),
    );
    GucRegistry::define_bool_guc(
        c"routed.approximate",
        c"Whether plain SQL may be answered from approximate sketches (percentile_cont, count(DISTINCT)).",
        c"Off: those aggregates stay exact (read from the base table).",
        &APPROXIMATE,
        GucContext::Userset,
        GucFlags::default(),
    );
    GucRegistry::define_bool_guc(
        c"routed.enabled",
        c"Whether routed_query may use sources other than the base table.",
        c"When off, every document is answered from its base table.",
        &ENABLED,
        GucContext::Userset,
        GucFlags::default(),
    );
    GucRegistry::define_bool_guc(
        c"routed.notify",
        c"Whether commits that change tracked sources send NOTIFY routed_changes, and refreshes NOTIFY routed_refreshes.",
        c"One notification per source and transaction, with the range of times it changed.",
        &NOTIFY,
        GucContext::Userset,
        GucFlags::default(),
    );
    GucRegistry::define_int_guc(
        c"routed.warm_entries",
        c"Cache entries per database the background worker saves at a clean shutdown and recomputes when it starts.",
        c"The most valuable ones: hits times what computing them cost. 0 saves none.",
        &WARM_ENTRIES,
        0,
        100_000,
        GucContext::Sighup,
        GucFlags::default(),
    );
    GucRegistry::define_int_guc(
        c"routed.default_staleness",
        c"Freshness budget used when neither the staleness argument nor the document's freshness gives one.",
        c"0 means exact answers.",
        &DEFAULT_STALENESS_S,
        0,
        i32::MAX,
        GucContext::Userset,
        GucFlags::UNIT_S,
    );
    GucRegistry::define_string_guc(
        c"routed.databases",
        c"Databases whose rollups the background worker refreshes (comma-separated).",
        c"One worker per database; needs shared_preload_libraries and a restart.",
        &DATABASES,
        GucContext::Postmaster,
        GucFlags::default(),
    );
    GucRegistry::define_int_guc(
        c"routed.refresh_naptime",
        c"How often the background worker looks for rollups due for refresh.",
        c"Each rollup is refreshed when its refresh_interval has passed.",
        &REFRESH_NAPTIME_S,
        1,
        86_400,
        GucContext::Sighup,
        GucFlags::UNIT_S,
    );
    GucRegistry::define_int_guc(
        c"routed.max_ranges_per_statement",
        c"Buckets of one rollup an UPDATE or DELETE statement invalidates one by one.",
        c"A statement touching more invalidates the span from its earliest to its latest row.",
        &MAX_RANGES_PER_STATEMENT,
        1,
        1_000_000,
        GucContext::Userset,
        GucFlags::default(),
    );
    define_cache_gucs();
}

fn define_cache_gucs() {
    GucRegistry::define_bool_guc(
        c"routed.cache",
        c"Whether routed_query may answer from, and store into, the shared-memory result cache.",
        c"Off: every call computes its answer (meta.cache = disabled).",
        &CACHE,
        GucContext::Userset,
        GucFlags::default(),
    );
    GucRegistry::define_int_guc(
        c"routed.cache_size",
        c"Shared memory for the result cache (0 turns the cache off).",
        c"Allocated at server start; needs shared_preload_libraries.",
        &CACHE_SIZE_KB,
        0,
        i32::MAX / 2,
        GucContext::Postmaster,
        GucFlags::UNIT_KB,
    );
    GucRegistry::define_int_guc(
        c"routed.max_entry_size",
        c"Answers larger than this are not cached.",
        c"Counted in the bytes the answer takes in the cache.",
        &MAX_ENTRY_SIZE_KB,
        0,
        i32::MAX / 2,
        GucContext::Suset,
        GucFlags::UNIT_KB,
    );
    GucRegistry::define_int_guc(
        c"routed.change_ring_size",
        c"How many committed changes the shared change ring keeps.",
        c"Entries older than the ring count as stale since they were computed.",
        &CHANGE_RING_SIZE,
        16,
        1 << 24,
        GucContext::Postmaster,
        GucFlags::default(),
    );
}

pub fn cache_size_bytes() -> usize {
    CACHE_SIZE_KB.get().max(0) as usize * 1024
}

pub fn max_entry_bytes() -> usize {
    MAX_ENTRY_SIZE_KB.get().max(0) as usize * 1024
}

/// The databases named in `routed.databases`.
pub fn databases() -> Vec<String> {
    DATABASES
        .get()
        .map(|c| {
            c.to_string_lossy()
                .split(',')
                .map(|d| d.trim().to_string())
                .filter(|d| !d.is_empty())
                .collect()
        })
        .unwrap_or_default()
}

pub fn refresh_naptime_secs() -> u64 {
    REFRESH_NAPTIME_S.get().max(1) as u64
}

pub fn max_ranges_per_statement() -> usize {
    MAX_RANGES_PER_STATEMENT.get().max(1) as usize
}

pub fn default_staleness_micros() -> i64 {
    i64::from(DEFAULT_STALENESS_S.get()) * 1_000_000
}
