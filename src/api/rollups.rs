//! The rollups' SQL surface: `routed._create_rollup` and the refresh steps behind the
//! `routed.create_rollup` and `routed.refresh_rollup` procedures (sql/rollups.sql). They run
//! with TimeZone UTC: a rollup over a `timestamp` or `date` column keeps its wall-clock times
//! as if read in UTC, and its SQL compares the column with timestamptz bounds.

use crate::pg::jsonb::JsonbArg;
use crate::pg::time::in_utc;
use crate::rollups::{admin, refresh};
use pgrx::datum::TimestampWithTimeZone;
use pgrx::prelude::*;

pgrx::extension_sql_file!("../../sql/rollups.sql", name = "rollups", finalize);

#[pg_schema]
mod routed {
    use super::*;

    #[allow(clippy::too_many_arguments)]
    #[pg_extern]
    fn _create_rollup(
        name: &str,
        source: pg_sys::Oid,
        granularity: Interval,
        dimensions: Vec<String>,
        measures: JsonbArg,
        refresh_interval: Interval,
        refresh_lag: Interval,
    ) {
        in_utc(|| {
            admin::create(
                name,
                source,
                granularity,
                dimensions,
                measures,
                refresh_interval,
                refresh_lag,
            )
        })
    }

    /// Builds rollup `name` from the finer rollup `finer` (create_rollup's from_rollup).
    #[pg_extern]
    fn _set_from_rollup(name: &str, finer: &str) {
        in_utc(|| admin::set_from_rollup(name, finer))
    }

    /// Rows of a tracked source with times in [lo, hi] appeared or went away without a
    /// statement its capture triggers saw (a partition attached or detached). SECURITY
    /// DEFINER for the DDL event triggers of whoever owns a partition; not granted to PUBLIC.
    #[pg_extern(security_definer)]
    #[search_path(pg_catalog, pg_temp)]
    fn _note_change(source: pg_sys::Oid, lo: TimestampWithTimeZone, hi: TimestampWithTimeZone) {
        crate::changes::partitions::note_change(source, lo.into_inner(), hi.into_inner())
    }

    /// Raises the threshold to the watermark this refresh will reach; returns that target.
    #[pg_extern]
    fn _refresh_begin(name: &str, upto: Option<TimestampWithTimeZone>) -> TimestampWithTimeZone {
        in_utc(|| refresh::begin(name, upto))
    }

    /// Rollups to build, from the documents `routed.query_stats` saw answered from the base
    /// table: one row per suggestion, most base-table time first.
    #[allow(clippy::type_complexity)]
    #[pg_extern]
    fn recommend_rollups() -> TableIterator<
        'static,
        (
            name!(statement, String),
            name!(rollup, String),
            name!(fingerprints, Vec<String>),
            name!(calls, i64),
            name!(base_ms, f64),
            name!(estimated_rows, i64),
            name!(estimated_bytes, i64),
            name!(speedup, f64),
        ),
    > {
        let rows: Vec<_> = crate::recommend::suggestions(None)
            .into_iter()
            .map(|s| {
                (
                    s.statement(),
                    s.name,
                    s.fingerprints,
                    s.calls,
                    (s.base_ms * 1000.0).round() / 1000.0,
                    s.est_rows.round() as i64,
                    s.est_bytes.round() as i64,
                    (s.speedup * 10.0).round() / 10.0,
                )
            })
            .collect();
        TableIterator::new(rows)
    }

    /// One bounded step; true while work remains.
    #[pg_extern]
    fn _refresh_step(
        name: &str,
        from: Option<TimestampWithTimeZone>,
        to: Option<TimestampWithTimeZone>,
        target: TimestampWithTimeZone,
    ) -> bool {
        in_utc(|| refresh::step(name, from, to, target))
    }
}
