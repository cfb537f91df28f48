//! The answer as jsonb without parsing text on a cache hit: the cached body (`columns` and
//! `rows`, kept as jsonb bytes) is walked token by token and the `meta` object pushed beside it,
//! as PostgreSQL's own `jsonb || jsonb` does. Lexing and numeric input happen once, at fill.

use pgrx::{direct_function_call_as_datum, pg_sys, IntoDatum};
use std::ffi::CString;

pub enum MetaValue<'a> {
    Str(&'a str),
    Null,
    Bool(bool),
    Number(f64),
}

/// JSON text (valid by construction) as the bytes of a jsonb varlena.
pub fn jsonb_bytes(text: &str) -> Vec<u8> {
    let c = CString::new(text).expect("answer JSON has no NUL: it is escaped");
    unsafe {
        let d = direct_function_call_as_datum(pg_sys::jsonb_in, &[Some(c.as_ptr().into())])
            .expect("jsonb_in returns a value");
        let p = d.cast_mut_ptr::<u8>();
        std::slice::from_raw_parts(p, pgrx::varsize_any(p as *const pg_sys::varlena)).to_vec()
    }
}

fn string(s: &str) -> pg_sys::JsonbValue {
    let mut v: pg_sys::JsonbValue = unsafe { std::mem::zeroed() };
    v.type_ = pg_sys::jbvType::jbvString;
    v.val.string = pg_sys::JsonbValue__bindgen_ty_1__bindgen_ty_1 {
        len: s.len() as i32,
        val: s.as_ptr() as *mut std::ffi::c_char,
    };
    v
}

fn scalar(m: &MetaValue) -> pg_sys::JsonbValue {
    let mut v: pg_sys::JsonbValue = unsafe { std::mem::zeroed() };
    match m {
        MetaValue::Str(s) => return string(s),
        MetaValue::Null => v.type_ = pg_sys::jbvType::jbvNull,
        MetaValue::Bool(b) => {
            v.type_ = pg_sys::jbvType::jbvBool;
            v.val.boolean = *b;
        }
        MetaValue::Number(x) => {
            v.type_ = pg_sys::jbvType::jbvNumeric;
            let n = unsafe {
                direct_function_call_as_datum(pg_sys::float8_numeric, &[x.into_datum()])
                    .expect("float8_numeric returns a value")
            };
            v.val.numeric = n.cast_mut_ptr();
        }
    }
    v
}

/// `{ <body's keys>, "meta": { <meta> } }` as a jsonb datum. `body` holds a jsonb object.
pub fn answer_datum(body: &[u8], meta: &[(&str, MetaValue)]) -> pg_sys::Datum {
    unsafe {
        // an aligned copy: the container is read in place
        let buf = pg_sys::palloc(body.len()) as *mut u8;
        std::ptr::copy_nonoverlapping(body.as_ptr(), buf, body.len());
        let jb = buf as *mut pg_sys::Jsonb;
        let mut it = pg_sys::JsonbIteratorInit(&raw mut (*jb).root);
        let mut state: *mut pg_sys::JsonbParseState = std::ptr::null_mut();
        let mut v: pg_sys::JsonbValue = std::mem::zeroed();
        let mut depth = 0;
        let mut result: *mut pg_sys::JsonbValue = std::ptr::null_mut();
        use pg_sys::JsonbIteratorToken::*;
        loop {
            let token = pg_sys::JsonbIteratorNext(&mut it, &mut v, false);
            match token {
                WJB_DONE => break,
                WJB_BEGIN_ARRAY | WJB_BEGIN_OBJECT => depth += 1,
                WJB_END_ARRAY | WJB_END_OBJECT => depth -= 1,
                _ => {}
            }
            if token == WJB_END_OBJECT && depth == 0 {
                push_meta(&mut state, meta);
            }
            let value = if token < WJB_BEGIN_ARRAY {
                &mut v as *mut _
            } else {
                std::ptr::null_mut()
            };
            result = pg_sys::pushJsonbValue(&mut state, token, value);
        }
        pg_sys::Datum::from(pg_sys::JsonbValueToJsonb(result))
    }
}

unsafe fn push_meta(state: &mut *mut pg_sys::JsonbParseState, meta: &[(&str, MetaValue)]) {
    use pg_sys::JsonbIteratorToken::*;
    unsafe {
        let mut key = string("meta");
        pg_sys::pushJsonbValue(state, WJB_KEY, &mut key);
        pg_sys::pushJsonbValue(state, WJB_BEGIN_OBJECT, std::ptr::null_mut());
        for (k, m) in meta {
            let mut key = string(k);
            let mut value = scalar(m);
            pg_sys::pushJsonbValue(state, WJB_KEY, &mut key);
            pg_sys::pushJsonbValue(state, WJB_VALUE, &mut value);
        }
        pg_sys::pushJsonbValue(state, WJB_END_OBJECT, std::ptr::null_mut());
    }
}
