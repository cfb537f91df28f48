//! UPDATE, DELETE and MERGE statements that changed rows below a rollup's threshold: each such
//! rollup gets the buckets the statement's rows touched (their old and new times, in that
//! rollup's width), not the span from the earliest to the latest row, so a refresh recomputes
//! those buckets only and answers at budget 0 read only those from the base table. A statement
//! touching more than `routed.max_ranges_per_statement` buckets of a rollup logs its span.

use super::transition::TimeColumn;
use crate::error::raise_with;
use crate::pg::spi::{execute_latest, kept_plan, spi_connect};
use pgrx::prelude::*;
use pgrx::PgSqlErrorCode;
use routed_core::rollup::touched::Touched;
use std::cell::Cell;

/// Read with the latest snapshot, like the threshold cache (see capture.rs).
const TARGETS_SQL: &std::ffi::CStr = c"SELECT c.id, \
CAST(extract(epoch FROM c.granularity) * 1000000 AS int8), c.threshold \
FROM routed.rollup_catalog c WHERE c.source = $1 AND c.threshold > $2";

const LOG_SQL: &std::ffi::CStr = c"INSERT INTO routed.invalidations (rollup_id, lo, hi) \
SELECT $1, x.lo, x.hi FROM unnest($2, $3) AS x(lo, hi) WHERE x.lo < $4";

thread_local! {
    static TARGETS_PLAN: Cell<pg_sys::SPIPlanPtr> = const { Cell::new(std::ptr::null_mut()) };
    static LOG_PLAN: Cell<pg_sys::SPIPlanPtr> = const { Cell::new(std::ptr::null_mut()) };
}

/// Logs, for each rollup of `source` whose threshold lies above `lo` (the statement's earliest
/// time), the buckets the rows of the statement's transition tables touched.
pub fn log_touched(t: &pg_sys::TriggerData, source: pg_sys::Oid, col: TimeColumn, lo: i64) {
    spi_connect();
    let plan = kept_plan(
        &TARGETS_PLAN,
        TARGETS_SQL,
        &mut [pg_sys::REGCLASSOID, pg_sys::TIMESTAMPTZOID],
    );
    let processed = execute_latest(
        plan,
        &mut [pg_sys::Datum::from(source), pg_sys::Datum::from(lo)],
        true,
        pg_sys::SPI_OK_SELECT,
        "reading rollup widths",
    );
    // (rollup id, width in µs, threshold)
    // SAFETY: SPI_tuptable holds the rows of the query just run; ids are int4, widths int8 and
    // thresholds timestamptz, all passed by value.
    let targets: Vec<(pg_sys::Datum, i64, pg_sys::Datum)> = unsafe {
        let table = &*pg_sys::SPI_tuptable;
        (0..processed)
            .map(|i| {
                let tuple = *table.vals.add(i);
                let mut isnull = false;
                let id = pg_sys::SPI_getbinval(tuple, table.tupdesc, 1, &mut isnull);
                let width = pg_sys::SPI_getbinval(tuple, table.tupdesc, 2, &mut isnull);
                let threshold = pg_sys::SPI_getbinval(tuple, table.tupdesc, 3, &mut isnull);
                (id, width.value() as i64, threshold)
            })
            .collect()
    };
    if !targets.is_empty() {
        let widths: Vec<i64> = targets.iter().map(|(_, w, _)| *w).collect();
        let mut touched = Touched::new(&widths, crate::gucs::max_ranges_per_statement());
        for store in [t.tg_oldtable, t.tg_newtable] {
            // SAFETY: store is one of the statement's transition tables (or NULL) and col a
            // column of the trigger's relation; times as its rollups store them, one each.
            unsafe {
                super::transition::scan_rollup_times(store, t.tg_relation, col, |lo, _| {
                    touched.add(lo)
                })
            };
        }
        for (id, width, threshold) in targets {
            log(id, &touched.ranges(width), threshold);
        }
    }
    // SAFETY: pairs the spi_connect above.
    unsafe { pg_sys::SPI_finish() };
}

/// One INSERT of a rollup's ranges (those starting below its threshold) through the connected
/// SPI.
fn log(id: pg_sys::Datum, ranges: &[(i64, i64)], threshold: pg_sys::Datum) {
    if ranges.is_empty() {
        return;
    }
    let plan = kept_plan(
        &LOG_PLAN,
        LOG_SQL,
        &mut [
            pg_sys::INT4OID,
            pg_sys::TIMESTAMPTZARRAYOID,
            pg_sys::TIMESTAMPTZARRAYOID,
            pg_sys::TIMESTAMPTZOID,
        ],
    );
    let los = timestamptz_array(ranges.iter().map(|r| r.0));
    let his = timestamptz_array(ranges.iter().map(|r| r.1));
    execute_latest(
        plan,
        &mut [id, los, his, threshold],
        false,
        pg_sys::SPI_OK_INSERT,
        "invalidation log insert",
    );
}

/// A timestamptz[] in the current memory context.
fn timestamptz_array(values: impl Iterator<Item = i64>) -> pg_sys::Datum {
    let mut elems: Vec<pg_sys::Datum> = values.map(pg_sys::Datum::from).collect();
    // SAFETY: elems holds timestamptz datums (8 bytes, by value, double-aligned), copied into
    // the new array before elems is dropped.
    let array = unsafe {
        pg_sys::construct_array(
            elems.as_mut_ptr(),
            elems.len() as i32,
            pg_sys::TIMESTAMPTZOID,
            8,
            true,
            pg_sys::TYPALIGN_DOUBLE as std::ffi::c_char,
        )
    };
    if array.is_null() {
        raise_with(
            PgSqlErrorCode::ERRCODE_INTERNAL_ERROR,
            "could not build the invalidated ranges".into(),
            None,
        );
    }
    pg_sys::Datum::from(array)
}
