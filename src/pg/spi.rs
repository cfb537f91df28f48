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
