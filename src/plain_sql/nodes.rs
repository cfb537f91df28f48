//! Small readers of PostgreSQL's node trees for the recognizer.

use pgrx::pg_sys::{self, NodeTag};
use std::ffi::CStr;

/// A node's tag.
///
/// # Safety
/// `n` is NULL or a node.
pub unsafe fn node_tag(n: *mut pg_sys::Node) -> NodeTag {
    if n.is_null() {
        NodeTag::T_Invalid
    } else {
        // SAFETY: n is a node (the caller's contract).
        unsafe { (*n).type_ }
    }
}

/// A List's pointer elements.
///
/// # Safety
/// `l` is NIL or a List of pointers to `T`.
pub unsafe fn list<T>(l: *mut pg_sys::List) -> Vec<*mut T> {
    if l.is_null() {
        return Vec::new();
    }
    // SAFETY: l is a pointer List (the caller's contract); its cells are read in bounds.
    unsafe {
        (0..(*l).length as usize)
            .map(|i| (*(*l).elements.add(i)).ptr_value as *mut T)
            .collect()
    }
}

/// A palloc'd C string as text (None for NULL).
pub fn text(p: *mut std::ffi::c_char) -> Option<String> {
    // SAFETY: p is NULL or a NUL-terminated string from a syscache lookup.
    (!p.is_null()).then(|| unsafe { CStr::from_ptr(p) }.to_string_lossy().into_owned())
}

/// Peels implicit casts and relabelings.
unsafe fn peel(mut n: *mut pg_sys::Node) -> *mut pg_sys::Node {
    // SAFETY: n is an expression node.
    unsafe {
        loop {
            match node_tag(n) {
                NodeTag::T_RelabelType => n = (*(n as *mut pg_sys::RelabelType)).arg as _,
                NodeTag::T_FuncExpr
                    if (*(n as *mut pg_sys::FuncExpr)).funcformat
                        == pg_sys::CoercionForm::COERCE_IMPLICIT_CAST =>
                {
                    let args = list::<pg_sys::Node>((*(n as *mut pg_sys::FuncExpr)).args);
                    match args.as_slice() {
                        [a] => n = *a,
                        _ => return n,
                    }
                }
                _ => return n,
            }
        }
    }
}

/// The text of a constant of a string type.
///
/// # Safety
/// `n` is an expression node.
pub unsafe fn const_text(n: *mut pg_sys::Node) -> Option<String> {
    // SAFETY: n is an expression node; a text Const's value is a varlena text.
    unsafe {
        let n = peel(n);
        if node_tag(n) != NodeTag::T_Const {
            return None;
        }
        let c = n as *mut pg_sys::Const;
        if (*c).constisnull || (*c).consttype != pg_sys::TEXTOID {
            return None;
        }
        pgrx::FromDatum::from_datum((*c).constvalue, false)
    }
}

/// The value of an integer constant (of an integer type, or a numeric without fraction).
///
/// # Safety
/// `n` is an expression node.
pub unsafe fn const_integer(n: *mut pg_sys::Node) -> Option<i64> {
    // SAFETY: n is an expression node; each Const's datum is read as its own type.
    unsafe {
        let n = peel(n);
        if node_tag(n) != NodeTag::T_Const {
            return None;
        }
        let c = n as *mut pg_sys::Const;
        if (*c).constisnull {
            return None;
        }
        let d = (*c).constvalue;
        match (*c).consttype {
            pg_sys::INT2OID => Some(i64::from(d.value() as i16)),
            pg_sys::INT4OID => Some(i64::from(d.value() as i32)),
            pg_sys::INT8OID => Some(d.value() as i64),
            pg_sys::NUMERICOID => {
                let out = pgrx::direct_function_call::<&CStr>(pg_sys::numeric_out, &[Some(d)])?;
                out.to_str().ok()?.parse().ok()
            }
            _ => None,
        }
    }
}

/// The column under an implicit cast to `ty` (percentile_cont of an integer column).
///
/// # Safety
/// `n` is an expression node.
pub unsafe fn cast_arg(n: *mut pg_sys::Node, ty: pg_sys::Oid) -> *mut pg_sys::Node {
    // SAFETY: n is an expression node.
    unsafe {
        if pg_sys::exprType(n) == ty {
            peel(n)
        } else {
            n
        }
    }
}

/// Whether `n` is a value: no columns, no aggregates, no volatile functions (parameters and
/// stable functions such as `now()` are evaluated when the plan runs).
///
/// # Safety
/// `n` is an expression node.
pub unsafe fn value_expr(n: *mut pg_sys::Node) -> bool {
    // SAFETY: n is an expression node; these walkers only read it.
    unsafe {
        !pg_sys::contain_var_clause(n)
            && !pg_sys::contain_agg_clause(n)
            && !pg_sys::contain_volatile_functions(n)
            && !pg_sys::contain_subplans(n)
    }
}
