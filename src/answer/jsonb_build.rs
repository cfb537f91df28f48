//! The answer as jsonb without parsing text on a cache hit. The cached body (`columns` and
//! `rows`, kept as jsonb bytes) is not decoded: its two values are copied as they are into a new
//! jsonb object beside a freshly built `meta` object, following PostgreSQL's jsonb layout (an
//! object's header, its keys' then its values' JEntries, key bytes, then values, containers
//! aligned to 4 bytes). Lexing and numeric input happen once, at fill.

use pgrx::{direct_function_call_as_datum, pg_sys};

/// A value of a jsonb object being written.
pub enum Item<'a> {
    Str(&'a str),
    Null,
    Bool(bool),
    /// A number written with three decimals (milliseconds to the microsecond).
    Number(f64),
    /// A container's bytes (from its header on), copied as they are.
    Container(&'a [u8]),
    /// An object written in place.
    Object(&'a mut [(&'a str, Item<'a>)]),
}

fn u32_at(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_ne_bytes(b.get(at..at + 4)?.try_into().ok()?))
}

fn align4(n: usize) -> usize {
    (n + 3) & !3
}

/// The (key, container bytes) pairs of a jsonb object whose values are all containers, in
/// stored order, into `out`; false for anything else (the caller falls back to jsonb_concat).
fn object_values<'a>(jsonb: &'a [u8], out: &mut Vec<(&'a str, Item<'a>)>) -> Option<()> {
    let header = u32_at(jsonb, 4)?;
    if header & pg_sys::JB_FOBJECT == 0 {
        return None;
    }
    let n = (header & pg_sys::JB_CMASK) as usize;
    let data = 8 + 8 * n;
    let mut at = data;
    for i in 0..2 * n {
        let e = u32_at(jsonb, 8 + 4 * i)?;
        // a JEntry holds its length, or (every 32nd) the end offset of its data
        let field = (e & pg_sys::JENTRY_OFFLENMASK) as usize;
        let len = if e & pg_sys::JENTRY_HAS_OFF != 0 {
            (data + field).checked_sub(at)?
        } else {
            field
        };
        if i < n {
            let key = std::str::from_utf8(jsonb.get(at..at + len)?).ok()?;
            out.push((key, Item::Null));
        } else {
            if e & JENTRY_TYPEMASK != pg_sys::JENTRY_ISCONTAINER {
                return None;
            }
            // a container's length counts the padding before it
            out[i - n].1 = Item::Container(jsonb.get(align4(at)..at + len)?);
        }
        at += len;
    }
    Some(())
}

const JENTRY_TYPEMASK: u32 = 0x7000_0000;
const JENTRY_ISNUMERIC: u32 = 0x1000_0000;
const JENTRY_ISBOOL_FALSE: u32 = 0x2000_0000;
const JENTRY_ISBOOL_TRUE: u32 = 0x3000_0000;
const JENTRY_ISNULL: u32 = 0x4000_0000;
/// PostgreSQL stores the end offset instead of the length in every 32nd JEntry.
const JB_OFFSET_STRIDE: usize = 32;

fn pad4(out: &mut Vec<u8>) {
    out.resize(align4(out.len()), 0);
}

/// Writes a jsonb object container at the end of `out` (whose byte 0 is the varlena's start,
/// as jsonb aligns relative to it) in PostgreSQL's layout: header, key JEntries then value
/// JEntries, key bytes, values; numerics and containers padded to 4 bytes. Keys are sorted as
/// jsonb sorts them (shorter first, then bytewise) and must be distinct.
fn write_object(out: &mut Vec<u8>, pairs: &mut [(&str, Item)]) {
    pairs.sort_unstable_by(|a, b| (a.0.len(), a.0).cmp(&(b.0.len(), b.0)));
    let n = pairs.len();
    out.extend_from_slice(&((n as u32) | pg_sys::JB_FOBJECT).to_ne_bytes());
    let entries = out.len();
    out.resize(entries + 8 * n, 0);
    let data = out.len();
    let set_entry = |out: &mut Vec<u8>, i: usize, kind: u32, before: usize| {
        let e = if i.is_multiple_of(JB_OFFSET_STRIDE) {
            kind | pg_sys::JENTRY_HAS_OFF | (out.len() - data) as u32
        } else {
            kind | (out.len() - before) as u32
        };
        out[entries + 4 * i..entries + 4 * i + 4].copy_from_slice(&e.to_ne_bytes());
    };
    for (i, (key, _)) in pairs.iter().enumerate() {
        let before = out.len();
        out.extend_from_slice(key.as_bytes());
        set_entry(out, i, pg_sys::JENTRY_ISSTRING, before);
    }
    for (i, (_, item)) in pairs.iter_mut().enumerate() {
        let before = out.len();
        let kind = match item {
            Item::Str(s) => {
                out.extend_from_slice(s.as_bytes());
                pg_sys::JENTRY_ISSTRING
            }
            Item::Bool(true) => JENTRY_ISBOOL_TRUE,
            Item::Bool(false) => JENTRY_ISBOOL_FALSE,
            Item::Null => JENTRY_ISNULL,
            Item::Number(x) => {
                pad4(out);
                push_numeric_thousandths(out, (*x * 1000.0).round().max(0.0) as u64);
                JENTRY_ISNUMERIC
            }
            Item::Container(b) => {
                pad4(out);
                out.extend_from_slice(b);
                pg_sys::JENTRY_ISCONTAINER
            }
            Item::Object(inner) => {
                pad4(out);
                write_object(out, inner);
                pg_sys::JENTRY_ISCONTAINER
            }
        };
        set_entry(out, n + i, kind, before);
    }
}

/// numeric's short-format header bits (numeric.c).
const NUMERIC_SHORT: u16 = 0x8000;
const NUMERIC_SHORT_DSCALE_SHIFT: u16 = 7;
const NUMERIC_SHORT_WEIGHT_SIGN: u16 = 0x0040;
const NUMERIC_SHORT_WEIGHT_MASK: u16 = 0x003F;

/// The numeric datum (4-byte varlena header) of `t` thousandths with display scale 3, byte for
/// byte what `numeric_in` makes of "<t / 1000>.<t % 1000 as three digits>": base-10000 digits
/// without leading or trailing zero digits, in the short format.
pub fn push_numeric_thousandths(out: &mut Vec<u8>, t: u64) {
    let mut digits = [0u16; 8];
    let mut n = 0;
    let mut int = t / 1000;
    while int > 0 {
        digits[n] = (int % 10_000) as u16;
        int /= 10_000;
        n += 1;
    }
    digits[..n].reverse();
    let mut weight = n as i32 - 1;
    digits[n] = (t % 1000) as u16 * 10;
    n += 1;
    let first = digits[..n].iter().position(|&d| d != 0);
    let (from, to) = match first {
        None => {
            weight = 0;
            (0, 0)
        }
        Some(f) => {
            weight -= f as i32;
            let last = digits[..n].iter().rposition(|&d| d != 0).unwrap_or(f);
            (f, last + 1)
        }
    };
    let len = 4 + 2 + 2 * (to - from);
    out.extend_from_slice(&((len as u32) << 2).to_ne_bytes());
    let header = NUMERIC_SHORT
        | (3 << NUMERIC_SHORT_DSCALE_SHIFT)
        | if weight < 0 {
            NUMERIC_SHORT_WEIGHT_SIGN
        } else {
            0
        }
        | (weight as u16 & NUMERIC_SHORT_WEIGHT_MASK);
    out.extend_from_slice(&header.to_ne_bytes());
    for d in &digits[from..to] {
        out.extend_from_slice(&d.to_ne_bytes());
    }
}

thread_local! {
    /// The answer being written: reused, so a hit allocates nothing here but its datum.
    static BUFFER: std::cell::RefCell<Vec<u8>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// A jsonb datum (palloc'd) holding the object `pairs`.
pub fn object_datum(pairs: &mut [(&str, Item)]) -> pg_sys::Datum {
    BUFFER.with_borrow_mut(|out| {
        out.clear();
        out.extend_from_slice(&[0u8; 4]);
        write_object(out, pairs);
        let len = out.len() as u32;
        out[..4].copy_from_slice(&(len << 2).to_ne_bytes());
        palloc_copy(out)
    })
}

/// `{ <body's keys>, "meta": { <meta> } }` as a jsonb datum. `body` holds a jsonb object whose
/// values are containers (`columns` and `rows`): they are copied as they are.
pub fn answer_datum<'a>(body: &'a [u8], meta: &'a mut [(&'a str, Item<'a>)]) -> pg_sys::Datum {
    let mut pairs = Vec::with_capacity(3);
    if object_values(body, &mut pairs).is_none() || pairs.iter().any(|(k, _)| *k == "meta") {
        // a body of another shape: PostgreSQL's own `body || {"meta": ...}`
        let wrapper = object_datum(&mut [("meta", Item::Object(meta))]);
        // SAFETY: both datums are valid jsonb built in the current memory context; jsonb_concat
        // returns a new one there.
        return unsafe {
            direct_function_call_as_datum(
                pg_sys::jsonb_concat,
                &[Some(palloc_copy(body)), Some(wrapper)],
            )
            .expect("jsonb_concat returns a value")
        };
    }
    pairs.push(("meta", Item::Object(meta)));
    object_datum(&mut pairs)
}

/// A varlena's bytes copied into palloc'd (aligned) memory, as a datum.
fn palloc_copy(bytes: &[u8]) -> pg_sys::Datum {
    // SAFETY: palloc returns at least bytes.len() writable bytes in the current memory context,
    // MAXALIGNed, which do not overlap `bytes`.
    unsafe {
        let buf = pg_sys::palloc(bytes.len()) as *mut u8;
        std::ptr::copy_nonoverlapping(bytes.as_ptr(), buf, bytes.len());
        pg_sys::Datum::from(buf)
    }
}
