//! Raw SPI helpers for the write path (the statement trigger and its threshold cache): plans
//! prepared once per backend and kept, without pgrx's per-call bookkeeping.

use crate::error::raise_with;
use pgrx::prelude::*;
use pgrx::PgSqlErrorCode;
use std::cell::Cell;
use std::ffi::CStr;

pub fn spi_connect() {
    // SAFETY: SPI_connect may be called in any function call context.
    if unsafe { pg_sys::SPI_connect() } != pg_sys::SPI_OK_CONNECT as i32 {
        raise_with(
            PgSqlErrorCode::ERRCODE_INTERNAL_ERROR,
            "SPI_connect failed".into(),
            None,
        );
    }
}

/// The kept plan in `cell`, planned on first use.
pub fn kept_plan(
    cell: &'static std::thread::LocalKey<Cell<pg_sys::SPIPlanPtr>>,
    sql: &CStr,
    types: &mut [pg_sys::Oid],
) -> pg_sys::SPIPlanPtr {
    let mut plan = cell.get();
    if plan.is_null() {
        plan = prepare_kept(sql, types);
        cell.set(plan);
    }
    plan
}

/// `sql` planned through the connected SPI and kept for the backend's life.
fn prepare_kept(sql: &CStr, types: &mut [pg_sys::Oid]) -> pg_sys::SPIPlanPtr {
    // SAFETY: SPI is connected; sql is NUL-terminated and types has one entry per parameter.
    let plan = unsafe { pg_sys::SPI_prepare(sql.as_ptr(), types.len() as i32, types.as_mut_ptr()) };
    // SAFETY: plan is a new, non-NULL plan; keeping it moves it to a context that lives as long
    // as the backend.
    if plan.is_null() || unsafe { pg_sys::SPI_keepplan(plan) } != 0 {
        raise_with(
            PgSqlErrorCode::ERRCODE_INTERNAL_ERROR,
            "could not plan the change capture".into(),
            None,
        );
    }
    plan
}

/// Runs a kept plan with the latest snapshot (not the transaction's: a writer must see a
/// threshold committed after its snapshot was taken); raises unless it returns `expected`.
/// Returns the number of rows processed; results are in `SPI_tuptable`.
pub fn execute_latest(
    plan: pg_sys::SPIPlanPtr,
    values: &mut [pg_sys::Datum],
    read_only: bool,
    expected: u32,
    what: &str,
) -> usize {
    let nulls = vec![b' ' as std::ffi::c_char; values.len()];
    // SAFETY: SPI is connected; plan was kept by kept_plan; values and nulls have one entry per
    // parameter; the latest snapshot is taken for this call.
    let rc = unsafe {
        pg_sys::SPI_execute_snapshot(
            plan,
            values.as_mut_ptr(),
            nulls.as_ptr(),
            pg_sys::GetLatestSnapshot(),
            std::ptr::null_mut(),
            read_only,
            false,
            0,
        )
    };
    if rc != expected as i32 {
        raise_with(
            PgSqlErrorCode::ERRCODE_INTERNAL_ERROR,
            format!("{what} failed ({rc})"),
            None,
        );
    }
    // SAFETY: a global SPI sets after each execution.
    unsafe { pg_sys::SPI_processed as usize }
}

/// A plan kept for SQL over a statement's transition table: (rollup, which statement, the
/// relation whose trigger fired). The relation is part of the key because the transition
/// table has its row type (partitions of one source may lay out their columns differently).
pub type PlanKey = (i32, u8, u32);

struct KeyedPlan {
    sql: std::ffi::CString,
    plan: pg_sys::SPIPlanPtr,
    /// the relation's row type may have changed (a relcache invalidation): plan again
    stale: bool,
}

thread_local! {
    static KEYED_PLANS: std::cell::RefCell<std::collections::HashMap<PlanKey, KeyedPlan>> =
        std::cell::RefCell::new(std::collections::HashMap::new());
}

/// Marks the plans over `relid`'s transition tables (all of them for InvalidOid) to be made
/// again: its row type may have changed, which the plan cache does not see through a
/// transition table. Runs inside invalidation processing, perhaps while such a plan runs, so it
/// frees nothing.
pub fn forget_keyed_plans(relid: pg_sys::Oid) {
    KEYED_PLANS.with(|m| {
        if let Ok(mut m) = m.try_borrow_mut() {
            for (key, p) in m.iter_mut() {
                if relid == pg_sys::InvalidOid || key.2 == relid.to_u32() {
                    p.stale = true;
                }
            }
        }
    });
}

/// The kept plan of `sql` under `key`, planned on first use and again when `sql` changes (a
/// rollup dropped and created again under the same id after a restore) or the relation's row
/// type may have.
pub fn keyed_plan(key: PlanKey, sql: &CStr, types: &mut [pg_sys::Oid]) -> pg_sys::SPIPlanPtr {
    if let Some(plan) = KEYED_PLANS.with_borrow(|m| {
        m.get(&key)
            .filter(|p| !p.stale && p.sql.as_c_str() == sql)
            .map(|p| p.plan)
    }) {
        return plan;
    }
    let plan = prepare_kept(sql, types);
    let entry = KeyedPlan {
        sql: sql.to_owned(),
        plan,
        stale: false,
    };
    if let Some(old) = KEYED_PLANS.with_borrow_mut(|m| m.insert(key, entry)) {
        // SAFETY: old was kept by an earlier call; this trigger call is not running it.
        unsafe { pg_sys::SPI_freeplan(old.plan) };
    }
    plan
}

/// Runs a plan with the transaction's snapshot; raises unless it returns `expected`.
pub fn execute_plan(
    plan: pg_sys::SPIPlanPtr,
    values: &mut [pg_sys::Datum],
    expected: u32,
    what: &str,
) {
    let nulls = vec![b' ' as std::ffi::c_char; values.len()];
    // SAFETY: SPI is connected; plan is a prepared plan; values and nulls have one entry per
    // parameter.
    let rc =
        unsafe { pg_sys::SPI_execute_plan(plan, values.as_mut_ptr(), nulls.as_ptr(), false, 0) };
    if rc != expected as i32 {
        raise_with(
            PgSqlErrorCode::ERRCODE_INTERNAL_ERROR,
            format!("{what} failed ({rc})"),
            None,
        );
    }
}
