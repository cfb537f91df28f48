//! Settings. `routed.default_staleness` is in seconds with PostgreSQL's units
//! (`SET routed.default_staleness = '5min'`), settable per role and database.

use pgrx::{GucContext, GucFlags, GucRegistry, GucSetting};

pub static ENABLED: GucSetting<bool> = GucSetting::<bool>::new(true);
pub static DEFAULT_STALENESS_S: GucSetting<i32> = GucSetting::<i32>::new(0);

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
}

pub fn default_staleness_micros() -> i64 {
    i64::from(DEFAULT_STALENESS_S.get()) * 1_000_000
}
