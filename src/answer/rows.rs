//! The answer as typed rows, for `routed_rows`: the caller's column list must match the
//! answer's types in order (names may differ), else the call fails naming both lists before
//! anything runs; rows are read in the statement's snapshot into the caller's tuplestore.

use super::pipeline::prepare;
use crate::error::raise_with;
use crate::pg::snapshot::Planning;
use pgrx::prelude::*;
use pgrx::{PgSqlErrorCode, PgTupleDesc};
use std::ffi::CStr;

fn type_text(oid: pg_sys::Oid) -> String {
    // SAFETY: format_type_be never returns NULL (it raises); the palloc'd string lives until the
    // memory context is reset, after this copy.
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

/// Fills `rsinfo`'s tuplestore with the answer to `document`.
///
/// # Safety
/// `rsinfo` is the call's ReturnSetInfo, allowing materialize mode, with an expected tuple
/// descriptor.
pub unsafe fn materialize(
    rsinfo: *mut pg_sys::ReturnSetInfo,
    document: &str,
    staleness_micros: Option<i64>,
) {
    // SAFETY: the caller's contract: rsinfo is the call's ReturnSetInfo with an expected tuple
    // descriptor.
    let expected_ptr = unsafe { (*rsinfo).expectedDesc };
    // SAFETY: expectedDesc is a valid descriptor owned by the executor for the whole call.
    let expected_desc = unsafe { PgTupleDesc::from_pg_unchecked(expected_ptr) };
    let expected: Vec<(String, pg_sys::Oid)> = expected_desc
        .iter()
        .map(|a| (a.name().to_string(), a.type_oid().value()))
        .collect();

    let p = prepare(document, staleness_micros);
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
    // SAFETY: econtext's per-query memory outlives the call, as the tuplestore and descriptor
    // handed back must; the previous context is restored before any other allocation.
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
    // SAFETY: SPI's tuptable holds rows.len() tuples of its tupdesc until SPI_finish, after this
    // closure; the tuplestore copies each tuple it is given.
    let fill = |p: &crate::answer::pipeline::Prepared| {
        let args = crate::pg::params::typed_args(&p.generated.params);
        crate::pg::snapshot::read_planned(
            &p.generated.rows_sql,
            &args,
            Planning::Custom,
            |rows| unsafe {
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
            },
        );
    };
    fill(&p);
    if p.facts_outdated() {
        // a partition attached while the plan waited for a lock: again, from what it knows now
        // SAFETY: store is the tuplestore made above, not yet handed to the executor.
        unsafe { pg_sys::tuplestore_clear(store) };
        fill(&prepare(document, staleness_micros));
    }

    // SAFETY: rsinfo is the call's ReturnSetInfo (checked by the caller); materialize mode hands
    // it our tuplestore and descriptor.
    unsafe {
        (*rsinfo).returnMode = pg_sys::SetFunctionReturnMode::SFRM_Materialize;
        (*rsinfo).setResult = store;
        (*rsinfo).setDesc = desc;
    }
}
