//! The answer as jsonb without parsing text on a cache hit. The cached body (`columns` and
//! `rows`, kept as jsonb bytes) is not decoded: its two values are copied as they are into a new
//! jsonb object beside a freshly built `meta` object, following PostgreSQL's jsonb layout (an
//! object's header, its keys' then its values' JEntries, key bytes, then values, containers
//! aligned to 4 bytes). Lexing and numeric input happen once, at fill.

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

fn u32_at(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_ne_bytes(b.get(at..at + 4)?.try_into().ok()?))
}

fn align4(n: usize) -> usize {
    (n + 3) & !3
}

/// The (key, container bytes) pairs of a jsonb object whose values are all containers, in
/// stored order; None for anything else (the caller falls back to the token walk).
fn object_values(jsonb: &[u8]) -> Option<Vec<(&[u8], &[u8])>> {
    let header = u32_at(jsonb, 4)?;
    if header & pg_sys::JB_FOBJECT == 0 {
        return None;
    }
    let n = (header & pg_sys::JB_CMASK) as usize;
    let entries: Vec<u32> = (0..2 * n)
        .map(|i| u32_at(jsonb, 8 + 4 * i))
        .collect::<Option<_>>()?;
    if entries.iter().any(|e| e & pg_sys::JENTRY_HAS_OFF != 0) {
        return None;
    }
    let mut at = 8 + 8 * n;
    let mut parts = Vec::with_capacity(2 * n);
    for (i, e) in entries.iter().enumerate() {
        let len = (e & pg_sys::JENTRY_OFFLENMASK) as usize;
        let (start, end) = if i >= n {
            if e & 0x7000_0000 != pg_sys::JENTRY_ISCONTAINER {
                return None;
            }
            // a container's length counts the padding before it
            (align4(at), at + len)
        } else {
            (at, at + len)
        };
        parts.push(jsonb.get(start..end)?);
        at += len;
    }
    let (keys, values) = parts.split_at(n);
    Some(keys.iter().copied().zip(values.iter().copied()).collect())
}

/// The meta object as jsonb bytes.
fn meta_jsonb(meta: &[(&str, MetaValue)]) -> Vec<u8> {
    use pg_sys::JsonbIteratorToken::*;
    unsafe {
        let mut state: *mut pg_sys::JsonbParseState = std::ptr::null_mut();
        pg_sys::pushJsonbValue(&mut state, WJB_BEGIN_OBJECT, std::ptr::null_mut());
        for (k, m) in meta {
            let mut key = string(k);
            let mut value = scalar(m);
            pg_sys::pushJsonbValue(&mut state, WJB_KEY, &mut key);
            pg_sys::pushJsonbValue(&mut state, WJB_VALUE, &mut value);
        }
        let v = pg_sys::pushJsonbValue(&mut state, WJB_END_OBJECT, std::ptr::null_mut());
        let jb = pg_sys::JsonbValueToJsonb(v) as *const u8;
        std::slice::from_raw_parts(jb, pgrx::varsize_any(jb as *const pg_sys::varlena)).to_vec()
    }
}

/// `{ <body's keys>, "meta": { <meta> } }` as a jsonb datum. `body` holds a jsonb object.
pub fn answer_datum(body: &[u8], meta: &[(&str, MetaValue)]) -> pg_sys::Datum {
    let meta_bytes = meta_jsonb(meta);
    let Some(mut pairs) = object_values(body) else {
        return walk_answer(body, meta);
    };
    // the meta object's root container starts right after its varlena header
    pairs.push((b"meta", &meta_bytes[4..]));
    // jsonb keeps object keys shorter-first, then bytewise
    pairs.sort_by(|a, b| (a.0.len(), a.0).cmp(&(b.0.len(), b.0)));
    let n = pairs.len();
    let mut out: Vec<u8> = Vec::with_capacity(body.len() + meta_bytes.len() + 64);
    out.extend_from_slice(&[0u8; 4]);
    out.extend_from_slice(&((n as u32) | pg_sys::JB_FOBJECT).to_ne_bytes());
    out.resize(8 + 8 * n, 0);
    let mut entries = Vec::with_capacity(2 * n);
    for (key, _) in &pairs {
        out.extend_from_slice(key);
        entries.push(pg_sys::JENTRY_ISSTRING | key.len() as u32);
    }
    for (_, value) in &pairs {
        let before = out.len();
        out.resize(align4(before), 0);
        out.extend_from_slice(value);
        entries.push(pg_sys::JENTRY_ISCONTAINER | (out.len() - before) as u32);
    }
    for (i, e) in entries.iter().enumerate() {
        out[8 + 4 * i..12 + 4 * i].copy_from_slice(&e.to_ne_bytes());
    }
    unsafe {
        let buf = pg_sys::palloc(out.len()) as *mut u8;
        std::ptr::copy_nonoverlapping(out.as_ptr(), buf, out.len());
        pgrx::set_varsize_4b(buf as *mut pg_sys::varlena, out.len() as i32);
        pg_sys::Datum::from(buf)
    }
}

/// The general path: walks the body's tokens and pushes `meta` beside them.
fn walk_answer(body: &[u8], meta: &[(&str, MetaValue)]) -> pg_sys::Datum {
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
