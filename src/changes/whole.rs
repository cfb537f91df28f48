//! The statement trigger on tables tracked as a whole (`routed.track(table)`, for dimension
//! tables): any change counts as a change of all of the table, so every cached answer that
//! joined it is stale once the transaction commits. No transition tables: nothing is read.

use crate::error::raise_with;
use pgrx::prelude::*;
use pgrx::PgSqlErrorCode;

#[unsafe(no_mangle)]
pub extern "C" fn pg_finfo_routed_table_changed() -> &'static pg_sys::Pg_finfo_record {
    static V1: pg_sys::Pg_finfo_record = pg_sys::Pg_finfo_record { api_version: 1 };
    &V1
}

#[pg_guard]
#[unsafe(no_mangle)]
pub unsafe extern "C-unwind" fn routed_table_changed(
    fcinfo: pg_sys::FunctionCallInfo,
) -> pg_sys::Datum {
    // SAFETY: the function manager calls us with a valid fcinfo; context is NULL or a node,
    // checked next.
    let trig = unsafe { (*fcinfo).context as *mut pg_sys::TriggerData };
    let is_trigger = !trig.is_null()
        // SAFETY: trig is not NULL (checked just before) and points at a node.
        && unsafe { pgrx::is_a(trig as *mut pg_sys::Node, pg_sys::NodeTag::T_TriggerData) };
    if !is_trigger {
        raise_with(
            PgSqlErrorCode::ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED,
            "routed._table_changed must be called as a statement trigger".into(),
            None,
        );
    }
    // SAFETY: trig is the TriggerData of this call (checked above); tg_relation is open.
    let relid = unsafe { (*(*trig).tg_relation).rd_id };
    crate::changes::publish::note(relid, &[(i64::MIN, i64::MAX)]);
    pg_sys::Datum::from(0usize)
}
