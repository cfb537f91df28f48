//! The answer as jsonb without parsing text on a cache hit. The cached body (`columns` and
//! `rows`, kept as jsonb bytes) is not decoded: its two values are copied as they are into a new
//! jsonb object beside a freshly built `meta` object, following PostgreSQL's jsonb layout (an
//! object's header, its keys' then its values' JEntries, key bytes, then values, containers
//! aligned to 4 bytes). Lexing and numeric input happen once, at fill.

use pgrx::{direct_function_call_as_datum, pg_sys};
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
    let data = 8 + 8 * n;
    let mut at = data;
    let mut parts = Vec::with_capacity(2 * n);
    for (i, e) in entries.iter().enumerate() {
        // a JEntry holds its length, or (every 32nd) the end offset of its data
        let field = (e & pg_sys::JENTRY_OFFLENMASK) as usize;
        let len = if e & pg_sys::JENTRY_HAS_OFF != 0 {
            (data + field).checked_sub(at)?
        } else {
            field
        };
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

/// A value of an object written by `object_bytes`.
enum Item<'a> {
    Str(&'a [u8]),
    Bool(bool),
    Null,
    /// A numeric datum's bytes (with its varlena header).
    Numeric(&'a [u8]),
    /// A container's bytes (from its header on), 4-byte aligned where it came from.
    Container(&'a [u8]),
}

const JENTRY_ISNUMERIC: u32 = 0x1000_0000;
const JENTRY_ISBOOL_FALSE: u32 = 0x2000_0000;
const JENTRY_ISBOOL_TRUE: u32 = 0x3000_0000;
const JENTRY_ISNULL: u32 = 0x4000_0000;

/// A jsonb object (varlena bytes) in PostgreSQL's layout: header, key JEntries then value
/// JEntries (the first with its end offset, as PostgreSQL writes it), key bytes, values;
/// numerics and containers padded to 4 bytes. Keys are sorted as jsonb sorts them (shorter
/// first, then bytewise) and must be distinct.
fn object_bytes(pairs: &mut [(&[u8], Item)]) -> Vec<u8> {
    pairs.sort_by(|a, b| (a.0.len(), a.0).cmp(&(b.0.len(), b.0)));
    let n = pairs.len();
    let mut out: Vec<u8> = Vec::with_capacity(256);
    out.extend_from_slice(&[0u8; 4]);
    out.extend_from_slice(&((n as u32) | pg_sys::JB_FOBJECT).to_ne_bytes());
    out.resize(8 + 8 * n, 0);
    let mut entries = Vec::with_capacity(2 * n);
    for (key, _) in pairs.iter() {
        out.extend_from_slice(key);
        entries.push(pg_sys::JENTRY_ISSTRING | key.len() as u32);
    }
    for (_, item) in pairs.iter() {
        let before = out.len();
        let kind = match item {
            Item::Str(b) => {
                out.extend_from_slice(b);
                pg_sys::JENTRY_ISSTRING
            }
            Item::Bool(true) => JENTRY_ISBOOL_TRUE,
            Item::Bool(false) => JENTRY_ISBOOL_FALSE,
            Item::Null => JENTRY_ISNULL,
            Item::Numeric(b) => {
                out.resize(align4(before), 0);
                out.extend_from_slice(b);
                JENTRY_ISNUMERIC
            }
            Item::Container(b) => {
                out.resize(align4(before), 0);
                out.extend_from_slice(b);
                pg_sys::JENTRY_ISCONTAINER
            }
        };
        entries.push(kind | (out.len() - before) as u32);
    }
    if let Some(first) = entries.first_mut() {
        // PostgreSQL stores the end offset in every 32nd JEntry, starting with the first
        *first = pg_sys::JENTRY_ISSTRING | pg_sys::JENTRY_HAS_OFF | pairs[0].0.len() as u32;
    }
    for (i, e) in entries.iter().enumerate() {
        out[8 + 4 * i..12 + 4 * i].copy_from_slice(&e.to_ne_bytes());
    }
    let len = out.len() as u32;
    out[..4].copy_from_slice(&(len << 2).to_ne_bytes());
    out
}

/// A numeric datum's bytes for `x`, through numeric's own input (three decimals are plenty
/// for milliseconds).
fn numeric_bytes(x: f64) -> Vec<u8> {
    let us = (x * 1000.0).round().max(0.0) as u64;
    let text = CString::new(format!("{}.{:03}", us / 1000, us % 1000)).expect("no NUL");
    unsafe {
        let d = direct_function_call_as_datum(
            pg_sys::numeric_in,
            &[
                Some(text.as_ptr().into()),
                Some(pg_sys::InvalidOid.into()),
                Some((-1i32).into()),
            ],
        )
        .expect("numeric_in returns a value");
        let p = d.cast_mut_ptr::<u8>();
        std::slice::from_raw_parts(p, pgrx::varsize_any(p as *const pg_sys::varlena)).to_vec()
    }
}

/// The meta object as jsonb bytes.
fn meta_jsonb(meta: &[(&str, MetaValue)]) -> Vec<u8> {
    let numbers: Vec<Vec<u8>> = meta
        .iter()
        .map(|(_, m)| match m {
            MetaValue::Number(x) => numeric_bytes(*x),
            _ => Vec::new(),
        })
        .collect();
    let mut pairs: Vec<(&[u8], Item)> = meta
        .iter()
        .zip(&numbers)
        .map(|((k, m), num)| {
            let item = match m {
                MetaValue::Str(s) => Item::Str(s.as_bytes()),
                MetaValue::Null => Item::Null,
                MetaValue::Bool(b) => Item::Bool(*b),
                MetaValue::Number(_) => Item::Numeric(num),
            };
            (k.as_bytes(), item)
        })
        .collect();
    object_bytes(&mut pairs)
}

/// `{ <body's keys>, "meta": { <meta> } }` as a jsonb datum. `body` holds a jsonb object whose
/// values are containers (`columns` and `rows`).
pub fn answer_datum(body: &[u8], meta: &[(&str, MetaValue)]) -> pg_sys::Datum {
    let meta_bytes = meta_jsonb(meta);
    let Some(values) = object_values(body) else {
        // a body of another shape: PostgreSQL's own `body || {"meta": ...}`
        let wrapper = object_bytes(&mut [(b"meta", Item::Container(&meta_bytes[4..]))]);
        return unsafe {
            direct_function_call_as_datum(
                pg_sys::jsonb_concat,
                &[Some(palloc_copy(body)), Some(palloc_copy(&wrapper))],
            )
            .expect("jsonb_concat returns a value")
        };
    };
    let mut pairs: Vec<(&[u8], Item)> = values
        .into_iter()
        .map(|(k, v)| (k, Item::Container(v)))
        .collect();
    // the meta object's root container starts right after its varlena header
    pairs.push((b"meta", Item::Container(&meta_bytes[4..])));
    palloc_copy(&object_bytes(&mut pairs))
}

/// A varlena's bytes copied into palloc'd (aligned) memory, as a datum.
fn palloc_copy(bytes: &[u8]) -> pg_sys::Datum {
    unsafe {
        let buf = pg_sys::palloc(bytes.len()) as *mut u8;
        std::ptr::copy_nonoverlapping(bytes.as_ptr(), buf, bytes.len());
        pg_sys::Datum::from(buf)
    }
}
