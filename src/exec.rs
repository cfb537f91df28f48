//! Runs generated SQL through SPI, read-only, with every value as a bound parameter. Values
//! are first checked with their type's input function so a bad value is reported at its JSON
//! path (`where[0].value: invalid input syntax for type integer: "abc"`), not as a bare cast error.

use crate::error::{raise, raise_with};
use pgrx::datum::DatumWithOid;
use pgrx::pg_sys::panic::CaughtError;
use pgrx::prelude::*;
use pgrx::PgSqlErrorCode;
use routed_core::codegen::{Generated, Param, ParamValue};
use routed_core::Error;
use std::ffi::CString;

/// Checks every parameter against its type's input function; raises 22023 at the first bad one.
pub fn check_params(params: &[Param]) {
    for p in params {
        let (type_oid, values): (pg_sys::Oid, Vec<&str>) = match &p.value {
            ParamValue::Text(v) => (pg_sys::Oid::from(p.cast.oid), vec![v.as_str()]),
            ParamValue::TextArray(vs) => {
                let elem = unsafe { pg_sys::get_element_type(pg_sys::Oid::from(p.cast.oid)) };
                (elem, vs.iter().map(String::as_str).collect())
            }
        };
        for (i, v) in values.iter().enumerate() {
            if let Err(msg) = parse_as(type_oid, v) {
                let path = match &p.value {
                    ParamValue::Text(_) => p.path.clone(),
                    ParamValue::TextArray(_) => format!("{}[{i}]", p.path),
                };
                raise(Error::invalid(path, msg));
            }
        }
    }
}

/// Runs the type's input function on `text`; Err with PostgreSQL's message when it rejects it.
fn parse_as(type_oid: pg_sys::Oid, text: &str) -> Result<(), String> {
    let Ok(c) = CString::new(text) else { return Err("must not contain a NUL character".into()) };
    PgTryBuilder::new(|| unsafe {
        let mut input = pg_sys::InvalidOid;
        let mut ioparam = pg_sys::InvalidOid;
        pg_sys::getTypeInputInfo(type_oid, &mut input, &mut ioparam);
        pg_sys::OidInputFunctionCall(input, c.as_ptr() as *mut _, ioparam, -1);
        Ok(())
    })
    .catch_others(|e| match e {
        CaughtError::PostgresError(r) | CaughtError::ErrorReport(r) => Err(r.message().to_string()),
        CaughtError::RustPanic { ereport, .. } => Err(ereport.message().to_string()),
    })
    .execute()
}

pub fn args(params: &[Param]) -> Vec<DatumWithOid<'static>> {
    params
        .iter()
        .map(|p| match &p.value {
            ParamValue::Text(v) => v.clone().into(),
            ParamValue::TextArray(vs) => vs.clone().into(),
        })
        .collect()
}

/// Runs the JSON form of the query; returns the rows as JSON text (an array of arrays).
pub fn rows_json(generated: &Generated) -> String {
    check_params(&generated.params);
    let args = args(&generated.params);
    Spi::connect(|client| client.select(generated.json_sql.as_str(), None, &args)?.first().get_one::<String>())
        .unwrap_or_else(|e| raise_with(PgSqlErrorCode::ERRCODE_INTERNAL_ERROR, format!("query failed: {e}"), None))
        .unwrap_or_else(|| "[]".into())
}
