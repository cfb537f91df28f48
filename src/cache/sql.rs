//! SQL functions behind `routed.cache_stats`, `routed.query_stats`, the resets and the DDL
//! event trigger (views and trigger in `sql/cache.sql`).

use super::shmem;
use crate::query_stats;
use pgrx::prelude::*;
use std::sync::atomic::Ordering;

pgrx::extension_sql_file!(
    "../../sql/cache.sql",
    name = "cache",
    requires = [
        routed::_cache_available,
        routed::_cache_stats,
        routed::_query_stats,
        routed::_note_ddl,
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
        if !shmem::available() {
            return TableIterator::new(std::iter::empty());
        }
        let h = shmem::header();
        let (mut used, mut entries) = (0i64, 0i64);
        for part in 0..shmem::PARTITIONS {
            let _lock = shmem::lock_partition(part, false);
            let p = shmem::partition(part);
            used += p.used_bytes() as i64;
            entries += i64::from(p.entries());
        }
        let n = |c: fn(&shmem::Stats) -> &std::sync::atomic::AtomicU64| shmem::total(c) as i64;
        let row = (
            (h.dims.capacity_bytes() * shmem::PARTITIONS) as i64,
            used,
            entries,
            n(|s| &s.hits),
            n(|s| &s.misses),
            n(|s| &s.coalesced),
            n(|s| &s.bypasses),
            n(|s| &s.evictions),
            n(|s| &s.invalidations),
            n(|s| &s.not_stored),
            n(|s| &s.revalidations),
            shmem::ring().head() as i64,
        );
        TableIterator::once(row)
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
                        r.last_call_us - 946_684_800_000_000,
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
        super::super::reset() as i64
    }

    /// Zeroes the cache counters and forgets query statistics.
    #[pg_extern]
    fn stats_reset() {
        if shmem::available() {
            for s in &shmem::header().stats {
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
        query_stats::reset();
    }

    /// Called by the DDL event trigger: at commit, every cached answer of this database counts
    /// as changed.
    #[pg_extern]
    fn _note_ddl() {
        crate::invalidation::note_ddl();
    }
}
