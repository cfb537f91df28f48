//! Settings. `routed.default_staleness` is in seconds with PostgreSQL's units
//! (`SET routed.default_staleness = '5min'`), settable per role and database.

use pgrx::{GucContext, GucFlags, GucRegistry, GucSetting};
use std::ffi::CString;

pub static ENABLED: GucSetting<bool> = GucSetting::<bool>::new(true);
pub static DEFAULT_STALENESS_S: GucSetting<i32> = GucSetting::<i32>::new(0);
pub static DATABASES: GucSetting<Option<CString>> = GucSetting::<Option<CString>>::new(None);
pub static REFRESH_NAPTIME_S: GucSetting<i32> = GucSetting::<i32>::new(5);

pub fn init() {
    GucRegistry::define_bool_guc(
        c"routed.enabled",
        c"Whether routed_query may use sources other than the base table.",
        c"When off, every document is answered from its base table.",
        &ENABLED,
        GucContext::Userset,
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

pub fn default_staleness_micros() -> i64 {
    i64::from(DEFAULT_STALENESS_S.get()) * 1_000_000
}
