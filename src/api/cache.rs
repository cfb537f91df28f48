//! The cache's SQL surface: functions behind `routed.cache_stats`, `routed.query_stats`, the resets and the DDL
//! event trigger (views and trigger in `sql/cache.sql`).

use crate::cache::{query_stats, shmem};
use pgrx::prelude::*;

pgrx::extension_sql_file!(
    "../../sql/cache.sql",
    name = "cache",
    requires = [
        routed::_cache_available,
        routed::_cache_stats,
        routed::_query_stats,
        routed::_note_ddl,
        routed::_note_ddl_relation,
        routed::cache_reset,
        routed::stats_reset
    ]
);

#[pg_schema]
mod routed {
    use super::*;

    /// Whether the shared-memory cache exists (preloaded with routed.cache_size > 0).
    #[pg_extern]
    fn _cache_available() -> bool {
        shmem::available()
    }

    #[allow(clippy::type_complexity)]
    #[pg_extern]
    fn _cache_stats() -> TableIterator<
        'static,
        (
            name!(capacity_bytes, i64),
            name!(used_bytes, i64),
            name!(entries, i64),
            name!(hits, i64),
            name!(misses, i64),
            name!(coalesced, i64),
            name!(bypasses, i64),
            name!(evictions, i64),
            name!(invalidations, i64),
            name!(not_stored, i64),
            name!(revalidations, i64),
            name!(changes_published, i64),
        ),
    > {
        match shmem::summary() {
            None => TableIterator::new(std::iter::empty()),
            Some(t) => TableIterator::once((
                t.capacity_bytes,
                t.used_bytes,
                t.entries,
                t.hits,
                t.misses,
                t.coalesced,
                t.bypasses,
                t.evictions,
                t.invalidations,
                t.not_stored,
                t.revalidations,
                t.changes_published,
            )),
        }
    }

    #[allow(clippy::type_complexity)]
    #[pg_extern]
    fn _query_stats() -> TableIterator<
        'static,
        (
            name!(dbid, pg_sys::Oid),
            name!(fingerprint, String),
            name!(document, pgrx::JsonB),
            name!(calls, i64),
            name!(from_base, i64),
            name!(from_rollup, i64),
            name!(from_rollup_base, i64),
            name!(hits, i64),
            name!(misses, i64),
            name!(coalesced, i64),
            name!(bypasses, i64),
            name!(disabled, i64),
            name!(mean_ms, f64),
            name!(p95_ms, f64),
            name!(last_staleness, Interval),
            name!(last_call, Option<TimestampWithTimeZone>),
        ),
    > {
        let rows: Vec<_> = query_stats::rows()
            .into_iter()
            .map(|r| {
                let doc = serde_json::from_str(&r.document)
                    .unwrap_or_else(|_| serde_json::Value::String(r.document.clone()));
                (
                    pg_sys::Oid::from(r.db),
                    r.fingerprint,
                    pgrx::JsonB(doc),
                    r.calls,
                    r.by_source[0],
                    r.by_source[1],
                    r.by_source[2],
                    r.by_outcome[0],
                    r.by_outcome[1],
                    r.by_outcome[2],
                    r.by_outcome[3],
                    r.by_outcome[4],
                    r.mean_ms,
                    r.p95_ms,
                    Interval::from_micros(r.last_staleness_us),
                    TimestampWithTimeZone::try_from(pg_sys::TimestampTz::from(
                        r.last_call_us - crate::pg::time::POSTGRES_EPOCH_UNIX_MICROS,
                    ))
                    .ok(),
                )
            })
            .collect();
        TableIterator::new(rows)
    }

    /// Removes every cached answer; returns how many there were.
    #[pg_extern]
    fn cache_reset() -> i64 {
        if !shmem::available() {
            return 0;
        }
        crate::cache::reset() as i64
    }

    /// Zeroes the cache counters and forgets query statistics.
    #[pg_extern]
    fn stats_reset() {
        shmem::reset_counters();
        query_stats::reset();
    }

    /// Called by the DDL event trigger: at commit, every cached answer of this database counts
    /// as changed.
    #[pg_extern]
    fn _note_ddl() {
        crate::changes::publish::note_ddl();
    }

    /// Called by the DDL event triggers for a changed or dropped relation: at commit, the
    /// cached answers that read it count as changed.
    #[pg_extern]
    fn _note_ddl_relation(rel: pg_sys::Oid) {
        crate::changes::publish::note_ddl_relation(rel);
    }
}
