//! `routed_rows(query, staleness) RETURNS SETOF record`: the answer as typed rows for clients
//! that want columns, not JSON. A materialize-mode set-returning function written against the
//! C API, because it must read the caller's column list (`AS t(bucket timestamptz, n bigint)`)
//! and refuse one that does not match the answer before running anything.

use crate::error::raise_with;
use crate::exec;
use crate::jsonb_text::JsonbArg;
use crate::pipeline::prepare;
use pgrx::prelude::*;
use pgrx::{PgSqlErrorCode, PgTupleDesc};
use std::ffi::CStr;

pgrx::extension_sql_file!("../sql/routed_rows.sql", name = "routed_rows");

#[unsafe(no_mangle)]
pub extern "C" fn pg_finfo_routed_rows_wrapper() -> &'static pg_sys::Pg_finfo_record {
    static V1: pg_sys::Pg_finfo_record = pg_sys::Pg_finfo_record { api_version: 1 };
    &V1
}

fn type_text(oid: pg_sys::Oid) -> String {
    unsafe {
        CStr::from_ptr(pg_sys::format_type_be(oid))
            .to_string_lossy()
            .into_owned()
    }
}

fn describe(cols: &[(String, pg_sys::Oid)]) -> String {
    let parts: Vec<String> = cols
        .iter()
        .map(|(n, t)| format!("{n} {}", type_text(*t)))
        .collect();
    format!("({})", parts.join(", "))
}

#[pg_guard]
#[unsafe(no_mangle)]
pub unsafe extern "C-unwind" fn routed_rows_wrapper(
    fcinfo: pg_sys::FunctionCallInfo,
) -> pg_sys::Datum {
    let query: Option<JsonbArg> = unsafe { pgrx::fcinfo::pg_getarg(fcinfo, 0) };
    let staleness: Option<Interval> = unsafe { pgrx::fcinfo::pg_getarg(fcinfo, 1) };
    let rsinfo = unsafe { (*fcinfo).resultinfo as *mut pg_sys::ReturnSetInfo };
    let materialize = pg_sys::SetFunctionReturnMode::SFRM_Materialize as i32;
    let usable = !rsinfo.is_null()
        && unsafe {
            pgrx::is_a(
                rsinfo as *mut pg_sys::Node,
                pg_sys::NodeTag::T_ReturnSetInfo,
            )
        }
        && unsafe { (*rsinfo).allowedModes } & materialize != 0
        && !unsafe { (*rsinfo).expectedDesc }.is_null();
    if !usable {
        raise_with(
            PgSqlErrorCode::ERRCODE_FEATURE_NOT_SUPPORTED,
            "routed_rows must be called in FROM with a column list".into(),
            Some("SELECT * FROM routed_rows('{...}') AS t(bucket timestamptz, n bigint)".into()),
        );
    }
    let expected_ptr = unsafe { (*rsinfo).expectedDesc };
    let expected_desc = unsafe { PgTupleDesc::from_pg_unchecked(expected_ptr) };
    let expected: Vec<(String, pg_sys::Oid)> = expected_desc
        .iter()
        .map(|a| (a.name().to_string(), a.type_oid().value()))
        .collect();

    let p = prepare(
        &crate::api::document(query),
        crate::api::staleness_micros(staleness),
    );
    let answer: Vec<(String, pg_sys::Oid)> = p
        .bound
        .outputs
        .iter()
        .map(|c| (c.name.clone(), pg_sys::Oid::from(c.type_oid)))
        .collect();
    let same_types =
        expected.len() == answer.len() && expected.iter().zip(&answer).all(|(e, a)| e.1 == a.1);
    if !same_types {
        raise_with(
            PgSqlErrorCode::ERRCODE_DATATYPE_MISMATCH,
            format!(
                "routed_rows: the column list {} does not match the answer {}",
                describe(&expected),
                describe(&answer)
            ),
            Some("list the answer's columns in order with their types (names may differ)".into()),
        );
    }
    let args = exec::typed_args(&p.generated.params);

    let (store, desc) = unsafe {
        let random = (*rsinfo).allowedModes
            & pg_sys::SetFunctionReturnMode::SFRM_Materialize_Random as i32
            != 0;
        let old = pg_sys::MemoryContextSwitchTo((*(*rsinfo).econtext).ecxt_per_query_memory);
        let store = pg_sys::tuplestore_begin_heap(random, false, pg_sys::work_mem);
        let desc = pg_sys::CreateTupleDescCopy(expected_ptr);
        pg_sys::MemoryContextSwitchTo(old);
        (store, desc)
    };
    // read in the statement's snapshot, like routed_query (the router's facts were read in it)
    crate::snapshot_read::read(&p.generated.rows_sql, &args, |rows| unsafe {
        let table = rows.table();
        if table.is_null() {
            return;
        }
        let got = PgTupleDesc::from_pg_unchecked((*table).tupdesc);
        let matches = got.len() == expected.len()
            && got
                .iter()
                .zip(&expected)
                .all(|(g, e)| g.type_oid().value() == e.1);
        if !matches {
            raise_with(
                PgSqlErrorCode::ERRCODE_INTERNAL_ERROR,
                format!(
                    "routed_rows: the query produced {} columns of other types than planned",
                    got.len()
                ),
                None,
            );
        }
        for i in 0..rows.len() {
            pg_sys::tuplestore_puttuple(store, *(*table).vals.add(i));
        }
    });

    unsafe {
        (*rsinfo).returnMode = pg_sys::SetFunctionReturnMode::SFRM_Materialize;
        (*rsinfo).setResult = store;
        (*rsinfo).setDesc = desc;
    }
    pg_sys::Datum::from(0)
}
