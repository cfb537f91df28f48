//! The answer as typed rows, for `routed_rows`: the caller's column list must match the
//! answer's types in order (names may differ), else the call fails naming both lists before
//! anything runs; rows come from the cache or are read in the statement's snapshot, into the
//! caller's tuplestore.

use super::pipeline::Prepared;
use super::typed::TypedRows;
use crate::error::raise_with;
use crate::pg::jsonb::JsonbDoc;
use pgrx::prelude::*;
use pgrx::{PgSqlErrorCode, PgTupleDesc};
use routed_core::cache::entry::StoredAnswerRef;
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

/// Whether `answer`'s column types are `expected`'s, in order.
fn types_match(expected: &[(String, pg_sys::Oid)], answer: &[pg_sys::Oid]) -> bool {
    expected.len() == answer.len() && expected.iter().zip(answer).all(|(e, a)| e.1 == *a)
}

/// Fills `rsinfo`'s tuplestore with the answer to `document`, from the cache when it may be.
///
/// # Safety
/// `rsinfo` is the call's ReturnSetInfo, allowing materialize mode, with an expected tuple
/// descriptor.
pub unsafe fn materialize(
    rsinfo: *mut pg_sys::ReturnSetInfo,
    document: &JsonbDoc,
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
    // the column list is checked against the plan before anything runs
    let check = |p: &Prepared| {
        let answer: Vec<(String, pg_sys::Oid)> = p
            .bound
            .answer_columns()
            .iter()
            .map(|c| (c.name.clone(), pg_sys::Oid::from(c.type_oid)))
            .collect();
        let types: Vec<pg_sys::Oid> = answer.iter().map(|a| a.1).collect();
        if !types_match(&expected, &types) {
            raise_with(
                PgSqlErrorCode::ERRCODE_DATATYPE_MISMATCH,
                format!(
                    "routed_rows: the column list {} does not match the answer {}",
                    describe(&expected),
                    describe(&answer)
                ),
                Some(
                    "list the answer's columns in order with their types (names may differ)".into(),
                ),
            );
        }
    };
    // a cached body of other types is this column list's mistake: plan it, and check says so
    let accept = |a: &StoredAnswerRef| {
        routed_core::cache::rows::types(a.body).is_some_and(|t| {
            let t: Vec<pg_sys::Oid> = t.into_iter().map(pg_sys::Oid::from).collect();
            types_match(&expected, &t)
        })
    };
    let rows = {
        use crate::answer::flow::{answer_rows, DocRef, RowsForm, ROWS_PREFIX};
        let form = RowsForm {
            prefix: ROWS_PREFIX,
            accept: &accept,
            check: &check,
            reshape: None,
        };
        answer_rows(
            DocRef::Jsonb(document),
            staleness_micros,
            false,
            form,
            |a| {
                crate::answer::last_meta::remember(&a);
                TypedRows::from_body(a.answer.body)
            },
        )
    };
    let Some(rows) = rows.filter(|r| types_match(&expected, &r.types)) else {
        raise_with(
            PgSqlErrorCode::ERRCODE_INTERNAL_ERROR,
            "routed_rows: the query produced columns of other types than planned".into(),
            None,
        );
    };
    // SAFETY: econtext's per-query memory outlives the call, as the tuplestore and descriptor
    // handed back must; the previous context is restored before any other allocation. Each
    // tuple points into `rows`, alive here; the tuplestore copies it.
    unsafe {
        let random = (*rsinfo).allowedModes
            & pg_sys::SetFunctionReturnMode::SFRM_Materialize_Random as i32
            != 0;
        let old = pg_sys::MemoryContextSwitchTo((*(*rsinfo).econtext).ecxt_per_query_memory);
        let store = pg_sys::tuplestore_begin_heap(random, false, pg_sys::work_mem);
        let desc = pg_sys::CreateTupleDescCopy(expected_ptr);
        pg_sys::MemoryContextSwitchTo(old);
        for i in 0..rows.len() {
            let mut t = rows.tuple(i);
            pg_sys::tuplestore_puttuple(store, &mut t);
        }
        (*rsinfo).returnMode = pg_sys::SetFunctionReturnMode::SFRM_Materialize;
        (*rsinfo).setResult = store;
        (*rsinfo).setDesc = desc;
    }
}
