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

// Every entry point below is called by PostgreSQL's function manager with a valid `fcinfo` whose
// arguments have the SQL types sql/rollups.sql declares: argument 0 of a transition function is
// our state (`internal`, NULL on the first row), of the final functions a non-NULL state (they
// are STRICT), of `routed.quantile` and `routed.distinct_count` a non-NULL bytea (STRICT).

/// Frees a transition state when its aggregate's memory context is reset or deleted.
unsafe extern "C-unwind" fn drop_state<T>(arg: *mut c_void) {
    // SAFETY: `arg` is the Box `state` leaked for this callback, which runs exactly once.
    drop(unsafe { Box::from_raw(arg as *mut T) });
}

/// The transition state (argument 0), created by `init` in the aggregate's memory context on
/// first use.
///
/// # Safety
/// `fcinfo` is a transition function's call info, argument 0 NULL or a state made here for `T`.
unsafe fn state<T>(fcinfo: pg_sys::FunctionCallInfo, init: fn() -> T) -> *mut T {
    // SAFETY: the caller's contract; a non-NULL argument 0 is the `*mut T` we returned before.
    if !unsafe { pg_arg_is_null(fcinfo, 0) } {
        // SAFETY: argument 0 is not NULL, so it is the `*mut T` an earlier call returned.
        return unsafe { pg_getarg_datum_raw(fcinfo, 0) }.cast_mut_ptr::<T>();
    }
    let mut context: pg_sys::MemoryContext = std::ptr::null_mut();
    // SAFETY: fcinfo is valid; AggCheckCallContext only reads it and writes `context`.
    if unsafe { pg_sys::AggCheckCallContext(fcinfo, &mut context) } == 0 {
        raise_with(
            PgSqlErrorCode::ERRCODE_FEATURE_NOT_SUPPORTED,
            "sketch transition functions run only inside their aggregates".into(),
            None,
        );
    }
    let boxed = Box::into_raw(Box::new(init()));
    // SAFETY: `context` is the aggregate's live memory context; the callback struct is allocated
    // in it, so it lives exactly as long as the state it frees.
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
    // SAFETY: see the top of the entry points; argument 1 is a float8, the state one made here
    // for QuantileSketch and used by this backend alone.
    unsafe {
        let s = state(fcinfo, QuantileSketch::new);
        if let Some(x) = pg_getarg::<f64>(fcinfo, 1) {
            (*s).add(x);
        }
        pg_sys::Datum::from(s)
    }
}

#[pg_guard]
#[unsafe(no_mangle)]
pub unsafe extern "C-unwind" fn routed_quantile_merge_add(
    fcinfo: pg_sys::FunctionCallInfo,
) -> pg_sys::Datum {
    // SAFETY: see the top of the entry points; argument 1 is a bytea.
    unsafe {
        let s = state(fcinfo, QuantileSketch::new);
        if let Some(bytes) = pg_getarg::<&[u8]>(fcinfo, 1) {
            (*s).merge_bytes(bytes)
                .unwrap_or_else(|e| bad_sketch("quantile", e));
        }
        pg_sys::Datum::from(s)
    }
}

#[pg_guard]
#[unsafe(no_mangle)]
pub unsafe extern "C-unwind" fn routed_quantile_final(
    fcinfo: pg_sys::FunctionCallInfo,
) -> pg_sys::Datum {
    // SAFETY: STRICT: argument 0 is a non-NULL QuantileSketch state made by `state`.
    let s = unsafe { &*pg_getarg_datum_raw(fcinfo, 0).cast_mut_ptr::<QuantileSketch>() };
    bytea_datum(s.to_bytes())
}

#[pg_guard]
#[unsafe(no_mangle)]
pub unsafe extern "C-unwind" fn routed_quantile(fcinfo: pg_sys::FunctionCallInfo) -> pg_sys::Datum {
    // SAFETY: see the top of the entry points: (bytea, float8), both non-NULL.
    let (bytes, q) = unsafe {
        (
            pg_getarg::<&[u8]>(fcinfo, 0).unwrap_or_default(),
            pg_getarg::<f64>(fcinfo, 1).unwrap_or(f64::NAN),
        )
    };
    let sketch = QuantileSketch::from_bytes(bytes).unwrap_or_else(|e| bad_sketch("quantile", e));
    match sketch.quantile(q) {
        Some(v) => v.into_datum().expect("float8"),
        // SAFETY: fcinfo is valid for the call; a NULL result is returned through isnull.
        None => unsafe {
            (*fcinfo).isnull = true;
            pg_sys::Datum::from(0usize)
        },
    }
}

/// The hash of argument 1 by its type's extended hash function (cached in fn_extra), so values
/// equal for the type hash alike.
///
/// # Safety
/// `fcinfo` is `routed_distinct_add`'s call info with a non-NULL argument 1.
unsafe fn hash_arg(fcinfo: pg_sys::FunctionCallInfo) -> u64 {
    // SAFETY: flinfo lives as long as the query; fn_extra is ours to cache in, and the type
    // cache entry it points into is never freed; argument 1 is a non-NULL value of its type.
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
    // SAFETY: see the top of the entry points; argument 1 is any type, read by hash_arg only
    // when it is not NULL.
    unsafe {
        let s = state(fcinfo, DistinctSketch::new);
        if !pg_arg_is_null(fcinfo, 1) {
            (*s).add_hash(hash_arg(fcinfo));
        }
        pg_sys::Datum::from(s)
    }
}

#[pg_guard]
#[unsafe(no_mangle)]
pub unsafe extern "C-unwind" fn routed_distinct_merge_add(
    fcinfo: pg_sys::FunctionCallInfo,
) -> pg_sys::Datum {
    // SAFETY: see the top of the entry points; argument 1 is a bytea.
    unsafe {
        let s = state(fcinfo, DistinctSketch::dense);
        if let Some(bytes) = pg_getarg::<&[u8]>(fcinfo, 1) {
            (*s).merge_bytes(bytes)
                .unwrap_or_else(|e| bad_sketch("distinct", e));
        }
        pg_sys::Datum::from(s)
    }
}

#[pg_guard]
#[unsafe(no_mangle)]
pub unsafe extern "C-unwind" fn routed_distinct_final(
    fcinfo: pg_sys::FunctionCallInfo,
) -> pg_sys::Datum {
    // SAFETY: STRICT: argument 0 is a non-NULL DistinctSketch state made by `state`.
    let s = unsafe { &*pg_getarg_datum_raw(fcinfo, 0).cast_mut_ptr::<DistinctSketch>() };
    bytea_datum(s.to_bytes())
}

#[pg_guard]
#[unsafe(no_mangle)]
pub unsafe extern "C-unwind" fn routed_distinct_count(
    fcinfo: pg_sys::FunctionCallInfo,
) -> pg_sys::Datum {
    // SAFETY: see the top of the entry points: a non-NULL bytea.
    let bytes = unsafe { pg_getarg::<&[u8]>(fcinfo, 0) }.unwrap_or_default();
    let sketch = DistinctSketch::from_bytes(bytes).unwrap_or_else(|e| bad_sketch("distinct", e));
    (sketch.estimate() as i64).into_datum().expect("int8")
}
