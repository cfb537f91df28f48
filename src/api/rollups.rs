//! The rollups' SQL surface: `routed._create_rollup` and the refresh steps behind the
//! `routed.create_rollup` and `routed.refresh_rollup` procedures (sql/rollups.sql).

use crate::pg::jsonb::JsonbArg;
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
        admin::create(
            name,
            source,
            granularity,
            dimensions,
            measures,
            refresh_interval,
            refresh_lag,
        )
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
        refresh::begin(name, upto)
    }

    /// One bounded step; true while work remains.
    #[pg_extern]
    fn _refresh_step(
        name: &str,
        from: Option<TimestampWithTimeZone>,
        to: Option<TimestampWithTimeZone>,
        target: TimestampWithTimeZone,
    ) -> bool {
        refresh::step(name, from, to, target)
    }
}
