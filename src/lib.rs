//! pg_routed: thin glue between PostgreSQL and `routed-core`. See ARCHITECTURE.md for who may
//! call whom; the logic worth testing lives in routed-core.

#![warn(clippy::undocumented_unsafe_blocks)]

use pgrx::prelude::*;

mod answer;
mod api;
mod cache;
mod catalog;
mod changes;
mod error;
mod gucs;
mod pg;
mod plain_sql;
mod recommend;
mod rollups;
mod worker;

#[cfg(any(test, feature = "pg_test"))]
mod tests;

::pgrx::pg_module_magic!();

#[pg_guard]
pub extern "C-unwind" fn _PG_init() {
    gucs::init();
    rollups::thresholds::register_invalidation_callback();
    cache::register_invalidation_callbacks();
    catalog::register_invalidation_callbacks();
    changes::publish::register();
    changes::partitions::register_invalidation_callback();
    plain_sql::install();
    // SAFETY: a postmaster global, read-only for extensions.
    if unsafe { pg_sys::process_shared_preload_libraries_in_progress } {
        if gucs::cache_size_bytes() > 0 {
            cache::shmem::install_hooks();
        }
        worker::register();
    }
}

/// Required by `cargo pgrx test`.
#[cfg(test)]
pub mod pg_test {
    pub fn setup(_options: Vec<&str>) {}

    #[must_use]
    pub fn postgresql_conf_options() -> Vec<&'static str> {
        vec![
            "shared_preload_libraries = 'pg_routed'",
            "routed.databases = 'pgrx_tests'",
            "routed.refresh_naptime = 1",
        ]
    }
}
