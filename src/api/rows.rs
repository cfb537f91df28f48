//! `routed_rows(query, staleness) RETURNS SETOF record`: a materialize-mode set-returning
//! function written against the C API, because it must read the caller's column list
//! (`AS t(bucket timestamptz, n bigint)`) before running anything. The answer is `answer::rows`'.

use crate::error::raise_with;
use crate::pg::jsonb::JsonbDoc;
use pgrx::prelude::*;
use pgrx::PgSqlErrorCode;

pgrx::extension_sql_file!("../../sql/routed_rows.sql", name = "routed_rows");

#[unsafe(no_mangle)]
pub extern "C" fn pg_finfo_routed_rows_wrapper() -> &'static pg_sys::Pg_finfo_record {
    static V1: pg_sys::Pg_finfo_record = pg_sys::Pg_finfo_record { api_version: 1 };
    &V1
}

#[pg_guard]
#[unsafe(no_mangle)]
pub unsafe extern "C-unwind" fn routed_rows_wrapper(
    fcinfo: pg_sys::FunctionCallInfo,
) -> pg_sys::Datum {
    // SAFETY: the function manager calls us with a valid fcinfo whose argument 0 is a jsonb (or
    // NULL).
    let query: Option<JsonbDoc> = unsafe { pgrx::fcinfo::pg_getarg(fcinfo, 0) };
    // SAFETY: argument 1 is an interval (or NULL), as sql/routed_rows.sql declares.
    let staleness: Option<Interval> = unsafe { pgrx::fcinfo::pg_getarg(fcinfo, 1) };
    // SAFETY: fcinfo is valid for the call; resultinfo is NULL or a node the caller owns, checked
    // next.
    let rsinfo = unsafe { (*fcinfo).resultinfo as *mut pg_sys::ReturnSetInfo };
    let materialize = pg_sys::SetFunctionReturnMode::SFRM_Materialize as i32;
    let usable = !rsinfo.is_null()
        // SAFETY: rsinfo is not NULL (checked just before) and points at a node.
        && unsafe {
            pgrx::is_a(
                rsinfo as *mut pg_sys::Node,
                pg_sys::NodeTag::T_ReturnSetInfo,
            )
        }
        // SAFETY: rsinfo is a ReturnSetInfo (checked just before).
        && unsafe { (*rsinfo).allowedModes } & materialize != 0
        // SAFETY: rsinfo is a ReturnSetInfo (checked just before).
        && !unsafe { (*rsinfo).expectedDesc }.is_null();
    if !usable {
        raise_with(
            PgSqlErrorCode::ERRCODE_FEATURE_NOT_SUPPORTED,
            "routed_rows must be called in FROM with a column list".into(),
            Some("SELECT * FROM routed_rows('{...}') AS t(bucket timestamptz, n bigint)".into()),
        );
    }
    let Some(document) = query else {
        super::document(None);
        unreachable!("a NULL document raised an error")
    };
    // SAFETY: rsinfo was checked above to be a ReturnSetInfo allowing materialize mode with an
    // expected tuple descriptor; PostgreSQL keeps it alive for the call.
    unsafe {
        crate::answer::rows::materialize(rsinfo, &document, super::staleness_micros(staleness))
    };
    pg_sys::Datum::from(0)
}
