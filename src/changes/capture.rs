//! The statement trigger on tracked sources: reads the statement's transition tables once and
//! takes the min and max of the time column. Inside the writing transaction (WAL-logged, gone
//! on abort), for every rollup whose threshold lies above that range:
//!
//! * an INSERT adds the states of its rows below the rollup's watermark to the rollup's delta
//!   table (the rollup plus its deltas stays exact; refresh merges them without reading the
//!   source), and logs the range of its rows between the watermark and the threshold (a refresh
//!   is materializing those from the source);
//! * an UPDATE, DELETE or MERGE logs the buckets its rows touched (`corrections`), a TRUNCATE
//!   all time; refresh recomputes them.
//!
//! Changes entirely at or above a rollup's threshold need nothing: the rollup has not
//! materialized them yet. The threshold is read with the latest snapshot, not the writer's: a
//! refresh raises it and commits, then waits for every transaction that was already writing to
//! the source (`WaitForLockers`), so a writer either saw the new threshold or finished before the
//! refresh took its snapshot. Each backend caches the highest threshold of each source, so the
//! common write (rows at now) costs one pass over the transition table and no SPI, and each
//! rollup's threshold, watermark and delta SQL, so a late one reads no catalog
//! (`rollups::thresholds`); raising a threshold sends a relcache invalidation for the source,
//! which every writer processes when it next locks the source (writers already holding the lock
//! are the ones the refresh waits for).

use super::transition::{range_of, TimeColumn, TimeKind};
use crate::error::raise_with;
use crate::pg::spi::{execute_latest, execute_plan, kept_plan, keyed_plan, spi_connect};
use crate::rollups::thresholds::{delta_targets, max_threshold, DeltaTarget};
use pgrx::prelude::*;
use pgrx::PgSqlErrorCode;
use std::cell::Cell;
use std::ffi::CStr;

const LOG_SQL: &std::ffi::CStr = c"INSERT INTO routed.invalidations (rollup_id, lo, hi) \
SELECT c.id, $2, $3 FROM routed.rollup_catalog c WHERE c.source = $1 AND c.threshold > $2";

thread_local! {
    /// LOG_SQL planned once per backend; the plan cache revalidates it after DDL.
    static LOG_PLAN: Cell<pg_sys::SPIPlanPtr> = const { Cell::new(std::ptr::null_mut()) };
}

/// Inserts of at most this many rows run plans kept per rollup.
const KEPT_PLAN_ROWS: i64 = 1_000;

/// timestamptz -infinity and infinity as stored.
const NOBEGIN: i64 = i64::MIN;
const NOEND: i64 = i64::MAX;

#[unsafe(no_mangle)]
pub extern "C" fn pg_finfo_routed_capture() -> &'static pg_sys::Pg_finfo_record {
    static V1: pg_sys::Pg_finfo_record = pg_sys::Pg_finfo_record { api_version: 1 };
    &V1
}

#[pg_guard]
#[unsafe(no_mangle)]
pub unsafe extern "C-unwind" fn routed_capture(fcinfo: pg_sys::FunctionCallInfo) -> pg_sys::Datum {
    // SAFETY: the function manager calls us with a valid fcinfo; context is NULL or a node,
    // checked next.
    let trig = unsafe { (*fcinfo).context as *mut pg_sys::TriggerData };
    let is_trigger = !trig.is_null()
        // SAFETY: trig is not NULL (checked just before) and points at a node.
        && unsafe { pgrx::is_a(trig as *mut pg_sys::Node, pg_sys::NodeTag::T_TriggerData) };
    if !is_trigger {
        raise_with(
            PgSqlErrorCode::ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED,
            "routed._capture must be called as a statement trigger".into(),
            None,
        );
    }
    // SAFETY: trig is the TriggerData of this call (checked above), valid until we return.
    let t = unsafe { &*trig };
    let rel = t.tg_relation;
    let col = time_column_of(t);
    // a partition's writes change its tree's root, the tracked source
    let source = super::partitions::source_of(rel);
    match t.tg_event & pg_sys::TRIGGER_EVENT_OPMASK {
        pg_sys::TRIGGER_EVENT_TRUNCATE => {
            let all = [(NOBEGIN, NOEND)];
            crate::changes::publish::note(source, &all);
            super::notify::note(source, &all);
            if NOBEGIN < max_threshold(source) {
                log_ranges(source, &all);
            }
        }
        pg_sys::TRIGGER_EVENT_INSERT => {
            // SAFETY: tg_newtable is the statement's transition table (or NULL) and col a
            // column of rel.
            let (range, nulls) = unsafe { range_of(t.tg_newtable, rel, col) };
            note_for_cache(source, range.into_iter().collect(), nulls);
            if let Some((lo, hi)) = range {
                if lo < max_threshold(source) {
                    // the instants are widened for a timestamp or date column, so they bound
                    // its rollups' wall-clock times too; their SQL reads the column as UTC
                    let capture = || capture_inserts(trig, source, lo, hi, time_column(t));
                    if col.kind == TimeKind::TimestampTz {
                        capture()
                    } else {
                        crate::pg::time::in_utc(capture)
                    }
                }
            }
        }
        _ => {
            // SAFETY: tg_oldtable is the statement's transition table (or NULL) and col a
            // column of rel.
            let (old, old_nulls) = unsafe { range_of(t.tg_oldtable, rel, col) };
            // SAFETY: tg_newtable is the statement's transition table (or NULL) and col a
            // column of rel.
            let (new, new_nulls) = unsafe { range_of(t.tg_newtable, rel, col) };
            let ranges: Vec<(i64, i64)> = match (old, new) {
                // one range when they overlap; two when an UPDATE moved rows far apart
                (Some(a), Some(b)) if a.0 <= b.1 && b.0 <= a.1 => {
                    vec![(a.0.min(b.0), a.1.max(b.1))]
                }
                (a, b) => a.into_iter().chain(b).collect(),
            };
            note_for_cache(source, ranges.clone(), old_nulls || new_nulls);
            if let Some(lo) = ranges.iter().map(|r| r.0).min() {
                if lo < max_threshold(source) {
                    super::corrections::log_touched(t, source, col, lo);
                }
            }
        }
    }
    pg_sys::Datum::from(0usize)
}

/// Notes the statement's ranges for the result cache (published at commit). Rows with a NULL
/// time change only answers without a lower time bound: noted as a range at -infinity.
fn note_for_cache(source: pg_sys::Oid, mut ranges: Vec<(i64, i64)>, nulls: bool) {
    super::notify::note(source, &ranges);
    if nulls {
        ranges.push((NOBEGIN, NOBEGIN));
    }
    crate::changes::publish::note(source, &ranges);
}

/// The column named by the trigger's argument.
fn time_column_of(t: &pg_sys::TriggerData) -> TimeColumn {
    // SAFETY: tg_trigger is the firing trigger's definition, valid for the call.
    let trigger = unsafe { &*t.tg_trigger };
    if trigger.tgnargs != 1 {
        raise_with(
            PgSqlErrorCode::ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED,
            "routed._capture takes the time column's name as its one argument".into(),
            None,
        );
    }
    // SAFETY: tgnargs is 1 (checked above), so tgargs[0] is a NUL-terminated string.
    let wanted = unsafe { CStr::from_ptr(*trigger.tgargs) };
    // SAFETY: tg_relation is open for the call and rd_att its tuple descriptor, which outlives
    // this borrow (the descriptor's layout differs between majors: PgTupleDesc reads it)
    let desc = unsafe { pgrx::PgTupleDesc::from_pg_unchecked((*t.tg_relation).rd_att) };
    let Some((i, a)) = desc.iter().enumerate().find(|(_, a)| {
        // SAFETY: attname is a NUL-terminated NameData.
        !a.attisdropped && unsafe { CStr::from_ptr(a.attname.data.as_ptr()) } == wanted
    }) else {
        raise_with(
            PgSqlErrorCode::ERRCODE_UNDEFINED_COLUMN,
            format!("tracked time column {wanted:?} no longer exists"),
            Some("call routed.untrack and routed.track again".into()),
        )
    };
    let Some(kind) = TimeKind::of(a.atttypid) else {
        raise_with(
            PgSqlErrorCode::ERRCODE_DATATYPE_MISMATCH,
            format!("tracked time column {wanted:?} is no longer timestamptz, timestamp or date"),
            Some("call routed.untrack and routed.track again".into()),
        )
    };
    TimeColumn {
        attnum: i as i32 + 1,
        kind,
    }
}

/// The trigger's time column, quoted for SQL.
fn time_column(t: &pg_sys::TriggerData) -> String {
    // SAFETY: tg_trigger is the firing trigger's definition, valid for the call.
    let trigger = unsafe { &*t.tg_trigger };
    // SAFETY: the trigger was created with one argument (time_column_of checked tgnargs), a
    // NUL-terminated string.
    let name = unsafe { CStr::from_ptr(*trigger.tgargs) };
    routed_core::names::quote_ident(&name.to_string_lossy())
}

/// For each rollup whose threshold lies above the inserted rows: the states of rows below its
/// watermark go to its deltas (exact at once, merged by refresh); rows between the watermark and
/// the threshold (a refresh is materializing them) are logged as a range instead, because the
/// refresh appends those rows' states itself and a delta would count them twice.
fn capture_inserts(
    trig: *mut pg_sys::TriggerData,
    source: pg_sys::Oid,
    lo: i64,
    hi: i64,
    column: String,
) {
    let all = delta_targets(source);
    let targets: Vec<&DeltaTarget> = all.iter().filter(|t| t.threshold > lo).collect();
    if targets.is_empty() {
        return;
    }
    spi_connect();
    // SAFETY: trig is this call's TriggerData; SPI is connected (spi_connect above).
    unsafe { pg_sys::SPI_register_trigger_data(trig) };
    let log_sql = std::ffi::CString::new(format!(
        "INSERT INTO routed.invalidations (rollup_id, lo, hi) SELECT $1, min(s.{column}), max(s.{column}) \
         FROM routed_new AS s WHERE s.{column} >= $2 AND s.{column} < $3 HAVING count(*) > 0"
    ))
    .expect("quoted identifiers have no NUL");
    // few rows (the common late write): plans kept per rollup, so a single-row INSERT does not
    // plan an aggregation each time; a bulk load plans for its own size
    // SAFETY: tg_newtable is this INSERT statement's transition table.
    let few = unsafe { pg_sys::tuplestore_tuple_count((*trig).tg_newtable) } <= KEPT_PLAN_ROWS;
    for t in targets {
        let key = t.id;
        // SAFETY: tg_relation is the trigger's open relation.
        let rel = unsafe { (*(*trig).tg_relation).rd_id }.to_u32();
        let watermark = pg_sys::Datum::from(t.watermark);
        if lo < t.watermark {
            insert(
                few,
                (key, 0, rel),
                &t.sql,
                &mut [pg_sys::TIMESTAMPTZOID],
                &mut [watermark],
            );
        }
        if hi >= t.watermark {
            insert(
                few,
                (key, 1, rel),
                &log_sql,
                &mut [
                    pg_sys::INT4OID,
                    pg_sys::TIMESTAMPTZOID,
                    pg_sys::TIMESTAMPTZOID,
                ],
                &mut [
                    pg_sys::Datum::from(t.id),
                    watermark,
                    pg_sys::Datum::from(t.threshold),
                ],
            );
        }
    }
    // SAFETY: pairs the spi_connect above.
    unsafe { pg_sys::SPI_finish() };
}

/// Runs an INSERT with arguments through the connected SPI: a plan kept under `key` for few
/// rows, planned for this statement's rows otherwise.
fn insert(
    few: bool,
    key: crate::pg::spi::PlanKey,
    sql: &CStr,
    types: &mut [pg_sys::Oid],
    values: &mut [pg_sys::Datum],
) {
    const WHAT: &str = "recording inserted rows for rollups";
    if few {
        let plan = keyed_plan(key, sql, types);
        execute_plan(plan, values, pg_sys::SPI_OK_INSERT, WHAT);
        return;
    }
    let nulls = vec![b' ' as std::ffi::c_char; values.len()];
    // SAFETY: SPI is connected; sql is NUL-terminated and types, values and nulls have one entry
    // per parameter.
    let rc = unsafe {
        pg_sys::SPI_execute_with_args(
            sql.as_ptr(),
            types.len() as i32,
            types.as_mut_ptr(),
            values.as_mut_ptr(),
            nulls.as_ptr(),
            false,
            0,
        )
    };
    if rc != pg_sys::SPI_OK_INSERT as i32 {
        raise_with(
            PgSqlErrorCode::ERRCODE_INTERNAL_ERROR,
            format!("{WHAT} failed ({rc})"),
            None,
        );
    }
}

/// Logs each range for the source's rollups whose threshold lies above it.
pub(crate) fn log_ranges(source: pg_sys::Oid, ranges: &[(i64, i64)]) {
    spi_connect();
    let plan = kept_plan(
        &LOG_PLAN,
        LOG_SQL,
        &mut [
            pg_sys::REGCLASSOID,
            pg_sys::TIMESTAMPTZOID,
            pg_sys::TIMESTAMPTZOID,
        ],
    );
    for &(lo, hi) in ranges {
        let mut values = [
            pg_sys::Datum::from(source),
            pg_sys::Datum::from(lo),
            pg_sys::Datum::from(hi),
        ];
        execute_latest(
            plan,
            &mut values,
            false,
            pg_sys::SPI_OK_INSERT,
            "invalidation log insert",
        );
    }
    // SAFETY: pairs the spi_connect above.
    unsafe { pg_sys::SPI_finish() };
}
