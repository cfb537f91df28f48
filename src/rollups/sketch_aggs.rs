//! The sketches of routed-core as PostgreSQL aggregates and functions (declared in
//! sql/rollups.sql): `routed.quantile_state(float8)` and `routed.distinct_state(anyelement)` build
//! a sketch from rows, `routed.quantile_merge(bytea)` / `routed.distinct_merge(bytea)` merge
//! serialized ones, `routed.quantile(bytea, q)` and `routed.distinct_count(bytea)` read them.
//!
//! Transition states live on the Rust heap, owned by the aggregate's memory context: a reset
//! callback frees them when PostgreSQL releases the context.

use crate::error::raise_with;
use pgrx::fcinfo::{pg_arg_is_null, pg_getarg, pg_getarg_datum_raw};
use pgrx::prelude::*;
use pgrx::PgSqlErrorCode;
use routed_core::sketch::{DistinctSketch, QuantileSketch};
use std::ffi::c_void;

/// `pg_finfo_<name>`: declares each C entry point as PostgreSQL's version-1 calling convention.
macro_rules! finfo_v1 {
    ($($name:ident),*) => {$(
        const _: () = {
            #[unsafe(export_name = concat!("pg_finfo_", stringify!($name)))]
            extern "C" fn finfo() -> &'static pg_sys::Pg_finfo_record {
                static V1: pg_sys::Pg_finfo_record = pg_sys::Pg_finfo_record { api_version: 1 };
                &V1
            }
        };
    )*};
}

finfo_v1!(
    routed_quantile_add,
    routed_quantile_merge_add,
    routed_quantile_final,
    routed_quantile,
    routed_distinct_add,
    routed_distinct_merge_add,
    routed_distinct_final,
    routed_distinct_count
);

unsafe extern "C-unwind" fn drop_state<T>(arg: *mut c_void) {
    drop(unsafe { Box::from_raw(arg as *mut T) });
}

/// The transition state (argument 0), created by `init` in the aggregate's memory context on
/// first use.
unsafe fn state<T>(fcinfo: pg_sys::FunctionCallInfo, init: fn() -> T) -> *mut T {
    if !unsafe { pg_arg_is_null(fcinfo, 0) } {
        return unsafe { pg_getarg_datum_raw(fcinfo, 0) }.cast_mut_ptr::<T>();
    }
    let mut context: pg_sys::MemoryContext = std::ptr::null_mut();
    if unsafe { pg_sys::AggCheckCallContext(fcinfo, &mut context) } == 0 {
        raise_with(
            PgSqlErrorCode::ERRCODE_FEATURE_NOT_SUPPORTED,
            "sketch transition functions run only inside their aggregates".into(),
            None,
        );
    }
    let boxed = Box::into_raw(Box::new(init()));
    unsafe {
        let callback =
            pg_sys::MemoryContextAlloc(context, size_of::<pg_sys::MemoryContextCallback>())
                as *mut pg_sys::MemoryContextCallback;
        (*callback).func = Some(drop_state::<T>);
        (*callback).arg = boxed as *mut c_void;
        pg_sys::MemoryContextRegisterResetCallback(context, callback);
    }
    boxed
}

fn bad_sketch(what: &str, e: routed_core::sketch::DecodeError) -> ! {
    raise_with(
        PgSqlErrorCode::ERRCODE_DATA_CORRUPTED,
        format!("invalid {what} sketch: {e}"),
        None,
    )
}

fn bytea_datum(bytes: Vec<u8>) -> pg_sys::Datum {
    bytes.into_datum().expect("bytes are never NULL")
}

#[pg_guard]
#[unsafe(no_mangle)]
pub unsafe extern "C-unwind" fn routed_quantile_add(
    fcinfo: pg_sys::FunctionCallInfo,
) -> pg_sys::Datum {
    let s = unsafe { state(fcinfo, QuantileSketch::new) };
    if let Some(x) = unsafe { pg_getarg::<f64>(fcinfo, 1) } {
        unsafe { (*s).add(x) };
    }
    pg_sys::Datum::from(s)
}

#[pg_guard]
#[unsafe(no_mangle)]
pub unsafe extern "C-unwind" fn routed_quantile_merge_add(
    fcinfo: pg_sys::FunctionCallInfo,
) -> pg_sys::Datum {
    let s = unsafe { state(fcinfo, QuantileSketch::new) };
    if let Some(bytes) = unsafe { pg_getarg::<&[u8]>(fcinfo, 1) } {
        unsafe { (*s).merge_bytes(bytes) }.unwrap_or_else(|e| bad_sketch("quantile", e));
    }
    pg_sys::Datum::from(s)
}

#[pg_guard]
#[unsafe(no_mangle)]
pub unsafe extern "C-unwind" fn routed_quantile_final(
    fcinfo: pg_sys::FunctionCallInfo,
) -> pg_sys::Datum {
    let s = unsafe { pg_getarg_datum_raw(fcinfo, 0) }.cast_mut_ptr::<QuantileSketch>();
    bytea_datum(unsafe { (*s).to_bytes() })
}

#[pg_guard]
#[unsafe(no_mangle)]
pub unsafe extern "C-unwind" fn routed_quantile(fcinfo: pg_sys::FunctionCallInfo) -> pg_sys::Datum {
    let bytes = unsafe { pg_getarg::<&[u8]>(fcinfo, 0) }.unwrap_or_default();
    let q = unsafe { pg_getarg::<f64>(fcinfo, 1) }.unwrap_or(f64::NAN);
    let sketch = QuantileSketch::from_bytes(bytes).unwrap_or_else(|e| bad_sketch("quantile", e));
    match sketch.quantile(q) {
        Some(v) => v.into_datum().expect("float8"),
        None => unsafe {
            (*fcinfo).isnull = true;
            pg_sys::Datum::from(0usize)
        },
    }
}

/// The hash of argument 1 by its type's extended hash function (cached in fn_extra), so values
/// equal for the type hash alike.
unsafe fn hash_arg(fcinfo: pg_sys::FunctionCallInfo) -> u64 {
    unsafe {
        let flinfo = (*fcinfo).flinfo;
        if (*flinfo).fn_extra.is_null() {
            let typ = pg_sys::get_fn_expr_argtype(flinfo, 1);
            let entry =
                pg_sys::lookup_type_cache(typ, pg_sys::TYPECACHE_HASH_EXTENDED_PROC_FINFO as i32);
            if entry.is_null() || (*entry).hash_extended_proc == pg_sys::InvalidOid {
                raise_with(
                    PgSqlErrorCode::ERRCODE_UNDEFINED_FUNCTION,
                    "count_distinct in a rollup needs a type with a hash function".into(),
                    None,
                );
            }
            (*flinfo).fn_extra = (&raw mut (*entry).hash_extended_proc_finfo) as *mut c_void;
        }
        let finfo = (*flinfo).fn_extra as *mut pg_sys::FmgrInfo;
        let value = pg_getarg_datum_raw(fcinfo, 1);
        pg_sys::FunctionCall2Coll(
            finfo,
            (*fcinfo).fncollation,
            value,
            pg_sys::Datum::from(0i64),
        )
        .value() as u64
    }
}

#[pg_guard]
#[unsafe(no_mangle)]
pub unsafe extern "C-unwind" fn routed_distinct_add(
    fcinfo: pg_sys::FunctionCallInfo,
) -> pg_sys::Datum {
    let s = unsafe { state(fcinfo, DistinctSketch::new) };
    if !unsafe { pg_arg_is_null(fcinfo, 1) } {
        let h = unsafe { hash_arg(fcinfo) };
        unsafe { (*s).add_hash(h) };
    }
    pg_sys::Datum::from(s)
}

#[pg_guard]
#[unsafe(no_mangle)]
pub unsafe extern "C-unwind" fn routed_distinct_merge_add(
    fcinfo: pg_sys::FunctionCallInfo,
) -> pg_sys::Datum {
    let s = unsafe { state(fcinfo, DistinctSketch::dense) };
    if let Some(bytes) = unsafe { pg_getarg::<&[u8]>(fcinfo, 1) } {
        unsafe { (*s).merge_bytes(bytes) }.unwrap_or_else(|e| bad_sketch("distinct", e));
    }
    pg_sys::Datum::from(s)
}

#[pg_guard]
#[unsafe(no_mangle)]
pub unsafe extern "C-unwind" fn routed_distinct_final(
    fcinfo: pg_sys::FunctionCallInfo,
) -> pg_sys::Datum {
    let s = unsafe { pg_getarg_datum_raw(fcinfo, 0) }.cast_mut_ptr::<DistinctSketch>();
    bytea_datum(unsafe { (*s).to_bytes() })
}

#[pg_guard]
#[unsafe(no_mangle)]
pub unsafe extern "C-unwind" fn routed_distinct_count(
    fcinfo: pg_sys::FunctionCallInfo,
) -> pg_sys::Datum {
    let bytes = unsafe { pg_getarg::<&[u8]>(fcinfo, 0) }.unwrap_or_default();
    let sketch = DistinctSketch::from_bytes(bytes).unwrap_or_else(|e| bad_sketch("distinct", e));
    (sketch.estimate() as i64).into_datum().expect("int8")
}
