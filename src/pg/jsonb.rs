//! jsonb passed as its text. pgrx's `JsonB` parses into `serde_json::Value` with `expect`, which
//! would turn a deeply nested document into a panic message and lose numeric precision on the
//! way out; these two types keep the text and let the core report errors properly.

use pgrx::pgrx_sql_entity_graph::metadata::{
    ArgumentError, ReturnsError, ReturnsRef, SqlMappingRef, SqlTranslatable, TypeOrigin,
};
use pgrx::{direct_function_call, direct_function_call_as_datum, pg_sys, FromDatum, IntoDatum};
use std::ffi::{CStr, CString};

/// A jsonb argument as text.
pub struct JsonbArg(pub String);

impl FromDatum for JsonbArg {
    unsafe fn from_polymorphic_datum(
        datum: pg_sys::Datum,
        is_null: bool,
        _: pg_sys::Oid,
    ) -> Option<Self> {
        if is_null {
            return None;
        }
        // SAFETY: datum is a non-NULL jsonb (checked above); jsonb_out returns a palloc'd C
        // string.
        let text = unsafe { direct_function_call::<&CStr>(pg_sys::jsonb_out, &[Some(datum)]) }?;
        Some(JsonbArg(text.to_string_lossy().into_owned()))
    }
}

impl IntoDatum for JsonbArg {
    fn into_datum(self) -> Option<pg_sys::Datum> {
        JsonbOut(self.0).into_datum()
    }

    fn type_oid() -> pg_sys::Oid {
        pg_sys::JSONBOID
    }
}

/// A jsonb argument as the bytes of its (detoasted) varlena: equal documents have equal bytes,
/// so a repeated document is recognized without printing or parsing it.
pub struct JsonbDoc(pub Vec<u8>);

impl JsonbDoc {
    /// The document as JSON text.
    pub fn text(&self) -> String {
        // SAFETY: self.0 holds the bytes of a whole jsonb varlena (from FromDatum or jsonb_in).
        let text = unsafe {
            direct_function_call::<&CStr>(
                pg_sys::jsonb_out,
                &[Some(pg_sys::Datum::from(self.0.as_ptr()))],
            )
        };
        text.map(|t| t.to_string_lossy().into_owned())
            .unwrap_or_else(|| "null".into())
    }

    pub fn from_text(text: &str) -> JsonbDoc {
        JsonbDoc(jsonb_bytes(text))
    }
}

impl FromDatum for JsonbDoc {
    unsafe fn from_polymorphic_datum(
        datum: pg_sys::Datum,
        is_null: bool,
        _: pg_sys::Oid,
    ) -> Option<Self> {
        if is_null {
            return None;
        }
        // SAFETY: datum is a non-NULL jsonb; the detoasted copy is read within its varlena size
        // before it is freed.
        unsafe {
            let v = pg_sys::pg_detoast_datum(datum.cast_mut_ptr());
            let len = pgrx::varsize_any(v);
            Some(JsonbDoc(
                std::slice::from_raw_parts(v as *const u8, len).to_vec(),
            ))
        }
    }
}

/// A jsonb result already built as a datum.
pub struct JsonbDatum(pub pg_sys::Datum);

impl IntoDatum for JsonbDatum {
    fn into_datum(self) -> Option<pg_sys::Datum> {
        Some(self.0)
    }

    fn type_oid() -> pg_sys::Oid {
        pg_sys::JSONBOID
    }
}

/// A jsonb result built as text (valid JSON by construction), parsed once by `jsonb_in`.
pub struct JsonbOut(pub String);

impl IntoDatum for JsonbOut {
    fn into_datum(self) -> Option<pg_sys::Datum> {
        let c = CString::new(self.0).expect("answer JSON has no NUL: serde_json escapes it");
        // SAFETY: c is NUL-terminated and lives across the call; jsonb_in returns a jsonb datum or
        // raises.
        unsafe { direct_function_call_as_datum(pg_sys::jsonb_in, &[Some(c.as_ptr().into())]) }
    }

    fn type_oid() -> pg_sys::Oid {
        pg_sys::JSONBOID
    }
}

/// Each of these types is `jsonb` in SQL.
macro_rules! jsonb_in_sql {
    ($($t:ident),*) => {$(
        // SAFETY: the SQL type named is jsonb, whose datums these types read and write.
        unsafe impl SqlTranslatable for $t {
            const TYPE_IDENT: &'static str = pgrx::pgrx_resolved_type!($t);
            const TYPE_ORIGIN: TypeOrigin = TypeOrigin::External;
            const ARGUMENT_SQL: Result<SqlMappingRef, ArgumentError> =
                Ok(SqlMappingRef::literal("jsonb"));
            const RETURN_SQL: Result<ReturnsRef, ReturnsError> =
                Ok(ReturnsRef::One(SqlMappingRef::literal("jsonb")));
        }
    )*};
}

jsonb_in_sql!(JsonbArg, JsonbDoc, JsonbDatum, JsonbOut);

// SAFETY: a jsonb argument is read with FromDatum, which checks for NULL.
unsafe impl<'fcx> pgrx::callconv::ArgAbi<'fcx> for JsonbDoc {
    unsafe fn unbox_arg_unchecked(arg: pgrx::callconv::Arg<'_, 'fcx>) -> Self {
        // declared Option<JsonbDoc>, so NULL is reported by the caller
        // SAFETY: the function manager's argument of a jsonb parameter.
        unsafe { arg.unbox_arg_using_from_datum() }.unwrap_or_else(|| JsonbDoc(Vec::new()))
    }

    unsafe fn unbox_nullable_arg(
        arg: pgrx::callconv::Arg<'_, 'fcx>,
    ) -> pgrx::nullable::Nullable<Self> {
        // SAFETY: the function manager's argument of a jsonb parameter.
        unsafe { arg.unbox_arg_using_from_datum() }.into()
    }
}

// SAFETY: the datum returned is a jsonb, as the function's SQL declares.
unsafe impl pgrx::callconv::BoxRet for JsonbDatum {
    unsafe fn box_into<'fcx>(
        self,
        fcinfo: &mut pgrx::callconv::FcInfo<'fcx>,
    ) -> pgrx::datum::Datum<'fcx> {
        // SAFETY: self.0 is a jsonb datum built in the function's memory context.
        unsafe { fcinfo.return_raw_datum(self.0) }
    }
}

// SAFETY: a jsonb argument is read with FromDatum, which checks for NULL.
unsafe impl<'fcx> pgrx::callconv::ArgAbi<'fcx> for JsonbArg {
    unsafe fn unbox_arg_unchecked(arg: pgrx::callconv::Arg<'_, 'fcx>) -> Self {
        // Declared Option<JsonbArg> in every function, so NULL is reported by the caller.
        // SAFETY: the function manager's argument of a jsonb parameter.
        unsafe { arg.unbox_arg_using_from_datum() }.unwrap_or_else(|| JsonbArg("null".into()))
    }

    unsafe fn unbox_nullable_arg(
        arg: pgrx::callconv::Arg<'_, 'fcx>,
    ) -> pgrx::nullable::Nullable<Self> {
        // SAFETY: the function manager's argument of a jsonb parameter.
        unsafe { arg.unbox_arg_using_from_datum() }.into()
    }
}

// SAFETY: the datum returned is a jsonb, as the function's SQL declares.
unsafe impl pgrx::callconv::BoxRet for JsonbOut {
    unsafe fn box_into<'fcx>(
        self,
        fcinfo: &mut pgrx::callconv::FcInfo<'fcx>,
    ) -> pgrx::datum::Datum<'fcx> {
        match self.into_datum() {
            // SAFETY: a jsonb datum built by jsonb_in in the function's memory context.
            Some(datum) => unsafe { fcinfo.return_raw_datum(datum) },
            None => fcinfo.return_null(),
        }
    }
}

/// JSON text (valid by construction) as the bytes of a jsonb varlena.
pub fn jsonb_bytes(text: &str) -> Vec<u8> {
    let c = CString::new(text).expect("answer JSON has no NUL: it is escaped");
    // SAFETY: c is NUL-terminated and lives across the call; the result is a jsonb varlena, read
    // within its size.
    unsafe {
        let d = direct_function_call_as_datum(pg_sys::jsonb_in, &[Some(c.as_ptr().into())])
            .expect("jsonb_in returns a value");
        let p = d.cast_mut_ptr::<u8>();
        std::slice::from_raw_parts(p, pgrx::varsize_any(p as *const pg_sys::varlena)).to_vec()
    }
}
