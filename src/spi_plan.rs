//! Raw SPI helpers for the write path (the statement trigger and its threshold cache): plans
//! prepared once per backend and kept, without pgrx's per-call bookkeeping.

use crate::error::raise_with;
use pgrx::prelude::*;
use pgrx::PgSqlErrorCode;
use std::cell::Cell;
use std::ffi::CStr;

pub fn spi_connect() {
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
        plan = unsafe { pg_sys::SPI_prepare(sql.as_ptr(), types.len() as i32, types.as_mut_ptr()) };
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
