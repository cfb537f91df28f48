//! What an INSERT into a tracked source needs of each of its rollups (threshold, watermark, delta
//! SQL; the highest threshold is derived from them), cached per backend so that a write at now needs
//! no SPI and a late one no catalog read. A refresh that raises a threshold sends a relcache
//! invalidation for the source; every writer processes it when it next locks the source, and the
//! writers already holding the lock are the ones the refresh waits for. A cached watermark may
//! be older than the catalog's (advancing it sends nothing): rows between the two are then
//! logged as ranges instead of becoming deltas, which the refresh recomputes. Dropping a rollup
//! drops its delta table, whose invalidation drops the source's cached targets.

use crate::pg::spi::{execute_latest, kept_plan, spi_connect};
use pgrx::prelude::*;
use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::ffi::CString;
use std::rc::Rc;

const DELTA_TARGETS_SQL: &std::ffi::CStr = c"SELECT c.threshold, coalesce(c.watermark, '-infinity'), \
c.delta_sql, c.id, coalesce(pg_catalog.to_regclass(pg_catalog.format('routed.%I', c.name || '$delta'))::oid, 0) \
FROM routed.rollup_catalog c WHERE c.source = $1";

/// What an INSERT into the source needs of one of its rollups.
pub struct DeltaTarget {
    /// Rows below it have been or are being materialized.
    pub threshold: i64,
    /// Rows below it are in the rollup: their states go to its deltas.
    pub watermark: i64,
    /// `RollupDef::delta_insert_sql`.
    pub sql: CString,
    pub id: i32,
    /// The delta table, whose invalidation (a drop) forgets these targets.
    pub delta: pg_sys::Oid,
}

thread_local! {
    /// Each source's rollups as an INSERT needs them, as last read (see `forget_thresholds`).
    static DELTA_TARGETS: RefCell<HashMap<pg_sys::Oid, Rc<Vec<DeltaTarget>>>> = RefCell::new(HashMap::new());
    static DELTA_TARGETS_PLAN: Cell<pg_sys::SPIPlanPtr> = const { Cell::new(std::ptr::null_mut()) };
}

/// Registered in `_PG_init`: a relcache invalidation of a source (or of everything) drops its
/// cached threshold, marks the delta plans kept over that relation's transition tables stale,
/// and counts for an answer watching the source's facts (`freshness::watch`). Runs inside
/// invalidation processing, so it only touches per-backend maps and counters.
pub unsafe extern "C-unwind" fn forget_thresholds(_arg: pg_sys::Datum, relid: pg_sys::Oid) {
    super::freshness::note_invalidation(relid);
    crate::pg::spi::forget_keyed_plans(relid);
    DELTA_TARGETS.with(|m| {
        if let Ok(mut m) = m.try_borrow_mut() {
            if relid == pg_sys::InvalidOid {
                m.clear();
            } else {
                m.retain(|source, targets| {
                    *source != relid && targets.iter().all(|t| t.delta != relid)
                });
            }
        }
    });
}

pub fn register_invalidation_callback() {
    // SAFETY: a plain function pointer registered once per backend from _PG_init.
    unsafe {
        pg_sys::CacheRegisterRelcacheCallback(Some(forget_thresholds), pg_sys::Datum::from(0usize))
    };
}

/// The highest threshold of the source's rollups (`-infinity` when it has none): from the
/// cached targets, read with the latest snapshot on a cache miss.
pub fn max_threshold(source: pg_sys::Oid) -> i64 {
    let max = |t: &[DeltaTarget]| t.iter().map(|t| t.threshold).max().unwrap_or(i64::MIN);
    if let Some(m) = DELTA_TARGETS.with_borrow(|m| m.get(&source).map(|t| max(t))) {
        return m;
    }
    max(&delta_targets(source))
}

/// The source's rollups as an INSERT needs them, read with the latest snapshot on a cache miss.
pub fn delta_targets(source: pg_sys::Oid) -> Rc<Vec<DeltaTarget>> {
    if let Some(t) = DELTA_TARGETS.with_borrow(|m| m.get(&source).cloned()) {
        return t;
    }
    spi_connect();
    let plan = kept_plan(
        &DELTA_TARGETS_PLAN,
        DELTA_TARGETS_SQL,
        &mut [pg_sys::REGCLASSOID],
    );
    let processed = execute_latest(
        plan,
        &mut [pg_sys::Datum::from(source)],
        true,
        pg_sys::SPI_OK_SELECT,
        "reading rollup thresholds",
    );
    // SAFETY: SPI_tuptable holds the `processed` rows of the query just run, until SPI_finish
    // below; thresholds, watermarks, ids and oids are by value, the SQL copied out.
    let targets: Vec<DeltaTarget> = unsafe {
        let table = &*pg_sys::SPI_tuptable;
        (0..processed)
            .map(|i| {
                let tuple = *table.vals.add(i);
                let mut isnull = false;
                let mut int =
                    |n| pg_sys::SPI_getbinval(tuple, table.tupdesc, n, &mut isnull).value() as i64;
                let (threshold, watermark, id, delta) = (int(1), int(2), int(4), int(5));
                let sql = std::ffi::CStr::from_ptr(pg_sys::SPI_getvalue(tuple, table.tupdesc, 3));
                DeltaTarget {
                    threshold,
                    watermark,
                    sql: sql.to_owned(),
                    id: id as i32,
                    delta: pg_sys::Oid::from(delta as u32),
                }
            })
            .collect()
    };
    // SAFETY: pairs the spi_connect above.
    unsafe { pg_sys::SPI_finish() };
    let targets = Rc::new(targets);
    DELTA_TARGETS.with_borrow_mut(|m| m.insert(source, targets.clone()));
    targets
}
