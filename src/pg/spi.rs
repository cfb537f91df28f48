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
        // SAFETY: SPI is connected; sql is NUL-terminated and types has one entry per parameter.
        plan = unsafe { pg_sys::SPI_prepare(sql.as_ptr(), types.len() as i32, types.as_mut_ptr()) };
        // SAFETY: plan is a new, non-NULL plan; keeping it moves it to a context that lives as
        // long as the backend.
        if plan.is_null() || unsafe { pg_sys::SPI_keepplan(plan) } != 0 {
            raise_with(
                PgSqlErrorCode::ERRCODE_INTERNAL_ERROR,
                "could not plan the change capture".into(),
                None,
            );
        }
        cell.set(plan);
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

thread_local! {
    /// Plans of SQL the catalog holds (per rollup), keyed by the caller; replaced when the text
    /// changes.
    static KEYED_PLANS: std::cell::RefCell<std::collections::HashMap<(i32, u8), (std::ffi::CString, pg_sys::SPIPlanPtr)>> =
        std::cell::RefCell::new(std::collections::HashMap::new());
}

/// The kept plan of `sql` under `key`, planned on first use and again when `sql` changes (a
/// rollup dropped and created again under the same id after a restore). The plan cache
/// revalidates it after DDL.
pub fn keyed_plan(key: (i32, u8), sql: &CStr, types: &mut [pg_sys::Oid]) -> pg_sys::SPIPlanPtr {
    if let Some(plan) = KEYED_PLANS.with_borrow(|m| {
        m.get(&key)
            .filter(|(text, _)| text.as_c_str() == sql)
            .map(|(_, p)| *p)
    }) {
        return plan;
    }
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
    if let Some((_, old)) = KEYED_PLANS.with_borrow_mut(|m| m.insert(key, (sql.to_owned(), plan))) {
        // SAFETY: old was kept by an earlier call and is no longer referenced by the map.
        unsafe { pg_sys::SPI_freeplan(old) };
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
