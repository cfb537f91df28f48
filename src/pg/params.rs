//! Document values as typed SPI arguments: each value read by its type's own input function, so
//! the planner sees typed constants and a bad value is reported at its JSON path.

use crate::error::raise;
use pgrx::datum::DatumWithOid;
use pgrx::pg_sys::panic::CaughtError;
use pgrx::prelude::*;
use routed_core::codegen::{Param, ParamValue};
use routed_core::Error;
use std::ffi::CString;

/// Turns every parameter into a datum of its own type with the type's input function, so the
/// planner sees typed constants (a text parameter cast in SQL would be re-parsed for every row).
/// A value the type rejects raises 22023 at its JSON path.
pub fn typed_args(params: &[Param]) -> Vec<DatumWithOid<'static>> {
    params
        .iter()
        .map(|p| {
            let type_oid = pg_sys::Oid::from(p.cast.oid);
            let datum = match &p.value {
                ParamValue::Text(v) => input(type_oid, v)
                    .unwrap_or_else(|msg| raise(Error::invalid(p.path.clone(), msg))),
                ParamValue::TextArray(vs) => {
                    // SAFETY: get_element_type reads the syscache; InvalidOid for a type without
                    // elements.
                    let elem = unsafe { pg_sys::get_element_type(type_oid) };
                    let mut datums: Vec<pg_sys::Datum> = vs
                        .iter()
                        .enumerate()
                        .map(|(i, v)| {
                            input(elem, v).unwrap_or_else(|msg| {
                                raise(Error::invalid(format!("{}[{i}]", p.path), msg))
                            })
                        })
                        .collect();
                    // SAFETY: datums holds values of type elem; get_typlenbyvalalign and
                    // construct_array read the type's storage and copy every datum into a new
                    // array in the current memory context.
                    unsafe {
                        let (mut len, mut byval, mut align) = (0i16, false, 0 as std::ffi::c_char);
                        pg_sys::get_typlenbyvalalign(elem, &mut len, &mut byval, &mut align);
                        let array = pg_sys::construct_array(
                            datums.as_mut_ptr(),
                            datums.len() as i32,
                            elem,
                            len.into(),
                            byval,
                            align,
                        );
                        pg_sys::Datum::from(array)
                    }
                }
            };
            // SAFETY: datum is a value of type_oid, made by that type's input function just above.
            unsafe { DatumWithOid::new(datum, type_oid) }
        })
        .collect()
}

/// Runs the type's input function on `text`; Err with PostgreSQL's message when it rejects it.
fn input(type_oid: pg_sys::Oid, text: &str) -> Result<pg_sys::Datum, String> {
    let Ok(c) = CString::new(text) else {
        return Err("must not contain a NUL character".into());
    };
    // SAFETY: c is NUL-terminated and outlives the call; getTypeInputInfo and OidInputFunctionCall
    // raise on bad input, which PgTryBuilder catches.
    PgTryBuilder::new(|| unsafe {
        let mut input = pg_sys::InvalidOid;
        let mut ioparam = pg_sys::InvalidOid;
        pg_sys::getTypeInputInfo(type_oid, &mut input, &mut ioparam);
        Ok(pg_sys::OidInputFunctionCall(
            input,
            c.as_ptr() as *mut _,
            ioparam,
            -1,
        ))
    })
    .catch_others(|e| match e {
        CaughtError::PostgresError(r) | CaughtError::ErrorReport(r) => Err(r.message().to_string()),
        CaughtError::RustPanic { ereport, .. } => Err(ereport.message().to_string()),
    })
    .execute()
}
