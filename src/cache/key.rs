//! The cache key: the canonical document plus the settings its answer depends on.

use pgrx::pg_sys;
use routed_core::cache::Key;
use std::cell::RefCell;
use std::ffi::CStr;
use std::rc::Rc;

use super::shmem::PARTITIONS;

fn bytes(p: *const std::ffi::c_char) -> &'static [u8] {
    if p.is_null() {
        b""
    } else {
        unsafe { CStr::from_ptr(p) }.to_bytes()
    }
}

fn cstr(p: *const std::ffi::c_char) -> &'static str {
    if p.is_null() {
        ""
    } else {
        unsafe { CStr::from_ptr(p) }.to_str().unwrap_or("")
    }
}

/// The settings an answer depends on besides the document, as they were last formatted.
struct Context {
    raw: (u32, u32, bool, i32, i32, usize, u32),
    parts: [String; 6],
    /// Changes whenever the parts do: keys remembered under another generation are stale.
    generation: u64,
}

thread_local! {
    static CONTEXT: RefCell<Option<Context>> = const { RefCell::new(None) };
}

/// A key remembered with the context generation it was made under.
pub type KeyMemo = RefCell<Option<(u64, Rc<Key>)>>;

/// Runs `f` on the current context (database, role, row_security, extra_float_digits,
/// IntervalStyle, search_path, TimeZone, temporary schema), formatted again only when a setting
/// changed.
fn with_context<R>(f: impl FnOnce(&Context) -> R) -> R {
    let raw = unsafe {
        (
            pg_sys::MyDatabaseId.to_u32(),
            crate::pg_fast::user_id().to_u32(),
            pg_sys::row_security,
            pg_sys::extra_float_digits,
            pg_sys::IntervalStyle,
            // time zones are cached for the life of the backend: the pointer names the zone
            pg_sys::session_timezone as usize,
            // a backend with temporary tables may resolve a source's name to one of them
            crate::pg_fast::temp_namespace().to_u32(),
        )
    };
    // search_path strings are freed and reallocated: compare the text
    let path = unsafe { bytes(pg_sys::namespace_search_path) };
    CONTEXT.with_borrow_mut(|c| {
        if c.as_ref()
            .is_none_or(|c| c.raw != raw || c.parts[3].as_bytes() != path)
        {
            let (db, role, rls, digits, style, _, temp) = raw;
            let zone = unsafe { cstr(pg_sys::pg_get_timezone_name(pg_sys::session_timezone)) };
            let generation = c.as_ref().map_or(0, |c| c.generation + 1);
            *c = Some(Context {
                raw,
                parts: [
                    db.to_string(),
                    role.to_string(),
                    format!("{}/{digits}/{style}", u8::from(rls)),
                    String::from_utf8_lossy(path).into_owned(),
                    zone.to_string(),
                    temp.to_string(),
                ],
                generation,
            });
        }
        f(c.as_ref().expect("just set"))
    })
}

fn make(canonical: &str, c: &Context) -> Key {
    let p = &c.parts;
    Key::new(canonical, &[&p[0], &p[1], &p[2], &p[3], &p[4], &p[5]])
}

/// The key: the canonical document plus everything else its answer depends on.
pub fn key(canonical: &str) -> Key {
    with_context(|c| make(canonical, c))
}

/// The key of a document this backend has seen, made again only when the context changed.
pub fn remembered_key(canonical: &str, memo: &KeyMemo) -> Rc<Key> {
    with_context(|c| {
        let mut m = memo.borrow_mut();
        match &*m {
            Some((generation, key)) if *generation == c.generation => key.clone(),
            _ => {
                let key = Rc::new(make(canonical, c));
                *m = Some((c.generation, key.clone()));
                key
            }
        }
    })
}

pub(super) fn partition_of(key: &Key) -> usize {
    (key.hash >> 56) as usize % PARTITIONS
}
