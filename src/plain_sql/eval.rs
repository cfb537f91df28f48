//! The recipe's expressions evaluated when the plan runs (bounds, filter values, LIMIT,
//! date_bin's stride and origin), with the query's parameters, as values the document takes;
//! and the bucket's own expression at a bucket's start.

use pgrx::pg_sys;
use routed_core::plain::Evaluated;
use std::ffi::CStr;

/// Microseconds from the Unix epoch to PostgreSQL's (2000-01-01).
const PG_EPOCH_US: i64 = 946_684_800_000_000;

/// A datum of `ty` printed by its output function.
unsafe fn out(ty: pg_sys::Oid, d: pg_sys::Datum) -> String {
    // SAFETY: d is a non-NULL value of type ty; the output function returns a palloc'd string.
    unsafe {
        let mut func = pg_sys::InvalidOid;
        let mut varlena = false;
        pg_sys::getTypeOutputInfo(ty, &mut func, &mut varlena);
        CStr::from_ptr(pg_sys::OidOutputFunctionCall(func, d))
            .to_string_lossy()
            .into_owned()
    }
}

/// `d` (of `ty`, NULL when `null`) as the document takes it.
unsafe fn evaluated(ty: pg_sys::Oid, d: pg_sys::Datum, null: bool) -> Evaluated {
    if null {
        return Evaluated::Null;
    }
    // SAFETY: d is a non-NULL value of type ty.
    unsafe {
        match ty {
            pg_sys::TIMESTAMPTZOID => {
                let t = d.value() as i64;
                // ±infinity are the extremes: out of the router's years
                t.checked_add(PG_EPOCH_US)
                    .map_or(Evaluated::Time(i64::MAX), Evaluated::Time)
            }
            pg_sys::INTERVALOID => {
                let i = &*(d.cast_mut_ptr::<pg_sys::Interval>());
                Evaluated::Interval {
                    months: i.month,
                    days: i.day,
                    micros: i.time,
                }
            }
            pg_sys::INT8OID => Evaluated::Int(d.value() as i64),
            _ => {
                let elem = pg_sys::get_element_type(ty);
                if elem == pg_sys::InvalidOid {
                    return Evaluated::Text(out(ty, d));
                }
                let arr = pg_sys::pg_detoast_datum(d.cast_mut_ptr()) as *mut pg_sys::ArrayType;
                let (mut len, mut byval, mut align) = (0i16, false, 0 as std::ffi::c_char);
                pg_sys::get_typlenbyvalalign(elem, &mut len, &mut byval, &mut align);
                let mut values: *mut pg_sys::Datum = std::ptr::null_mut();
                let mut nulls: *mut bool = std::ptr::null_mut();
                let mut n = 0;
                pg_sys::deconstruct_array(
                    arr,
                    elem,
                    len.into(),
                    byval,
                    align,
                    &mut values,
                    &mut nulls,
                    &mut n,
                );
                Evaluated::List(
                    (0..n as usize)
                        .map(|i| (!*nulls.add(i)).then(|| out(elem, *values.add(i))))
                        .collect(),
                )
            }
        }
    }
}

/// Evaluates each prepared expression in `econtext` (which carries the query's parameters).
///
/// # Safety
/// `states` were prepared with `ExecInitExpr` for this plan; `econtext` is the node's.
pub unsafe fn evaluate(
    states: &[(*mut pg_sys::ExprState, pg_sys::Oid)],
    econtext: *mut pg_sys::ExprContext,
) -> Vec<Evaluated> {
    states
        .iter()
        .map(|(s, ty)| {
            let mut null = false;
            // SAFETY: s is an expression state of this plan, evaluated in its own context.
            unsafe {
                let d = pg_sys::ExecEvalExprSwitchContext(*s, econtext, &mut null);
                evaluated(*ty, d, null)
            }
        })
        .collect()
}
