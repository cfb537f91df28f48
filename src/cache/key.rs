//! The cache key: the canonical document plus everything else its answer depends on: the
//! database, the role, the backend's temporary schema and the settings in `SETTINGS`. Laid out
//! as NUL-separated parts `document, database, role, temporary schema, name=value...`, which
//! revalidation reads back to recompute an entry with the same settings.

use pgrx::pg_sys;
use routed_core::cache::Key;
use std::cell::RefCell;
use std::ffi::{CStr, CString};
use std::rc::Rc;

use super::shmem::PARTITIONS;

/// Settings that change an answer's rows or how they print: name resolution, row security,
/// time zone arithmetic, the input order of dates (a `where` value "01/02/2026" is another day
/// under DMY) and the output of floats, intervals, bytea and money.
pub const SETTINGS: [&str; 8] = [
    "search_path",
    "row_security",
    "TimeZone",
    "DateStyle",
    "IntervalStyle",
    "extra_float_digits",
    "bytea_output",
    "lc_monetary",
];

/// What `SETTINGS` and the rest depend on, read cheaply on every call to notice a change.
#[derive(Clone, Copy, PartialEq, Eq)]
struct Raw {
    db: u32,
    role: u32,
    /// A backend with temporary tables may resolve a source's name to one of them.
    temp_namespace: u32,
    row_security: bool,
    /// Time zones are cached for the life of the backend: the pointer names the zone.
    zone: usize,
    formats: [i32; 5],
}

/// The context as it was last formatted.
struct Context {
    raw: Raw,
    /// Strings are freed and reallocated when set: their text is compared.
    search_path: Vec<u8>,
    lc_monetary: Vec<u8>,
    /// database, role, temporary schema, then `name=value` for each of `SETTINGS`
    parts: Vec<String>,
    /// Changes whenever the parts do: keys remembered under another generation are stale.
    generation: u64,
}

thread_local! {
    static CONTEXT: RefCell<Option<Context>> = const { RefCell::new(None) };
}

/// A key remembered with the context generation it was made under.
pub type KeyMemo = RefCell<Option<(u64, Rc<Key>)>>;

fn bytes(p: *const std::ffi::c_char) -> &'static [u8] {
    if p.is_null() {
        b""
    } else {
        // SAFETY: p is a non-NULL, NUL-terminated string of a GUC variable, valid until the
        // setting changes, which cannot happen while the key is being built.
        unsafe { CStr::from_ptr(p) }.to_bytes()
    }
}

fn raw() -> Raw {
    use crate::pg::fast;
    // SAFETY: plain loads of this backend's GUC and session variables; nothing else writes them
    // during the call.
    unsafe {
        Raw {
            db: fast::database_id().to_u32(),
            role: fast::user_id().to_u32(),
            temp_namespace: fast::temp_namespace().to_u32(),
            row_security: fast::row_security(),
            zone: pg_sys::session_timezone as usize,
            formats: [
                pg_sys::extra_float_digits,
                pg_sys::IntervalStyle,
                pg_sys::DateStyle,
                pg_sys::DateOrder,
                fast::bytea_output(),
            ],
        }
    }
}

/// A setting's current value as `SHOW` prints it.
fn setting(name: &str) -> String {
    let name = CString::new(name).expect("setting names have no NUL");
    // SAFETY: name is NUL-terminated; GetConfigOption with missing_ok returns NULL or the
    // setting's current string.
    let value = unsafe { pg_sys::GetConfigOption(name.as_ptr(), true, false) };
    String::from_utf8_lossy(bytes(value)).into_owned()
}

/// Runs `f` on the current context, formatted again only when something in it changed.
fn with_context<R>(f: impl FnOnce(&Context) -> R) -> R {
    let raw = raw();
    // SAFETY: namespace_search_path is this backend's GUC string (never freed while we read it).
    let search_path = unsafe { bytes(pg_sys::namespace_search_path) };
    let lc_monetary = bytes(crate::pg::fast::lc_monetary());
    CONTEXT.with_borrow_mut(|c| {
        if c.as_ref().is_none_or(|c| {
            c.raw != raw || c.search_path != search_path || c.lc_monetary != lc_monetary
        }) {
            let mut parts = vec![
                raw.db.to_string(),
                raw.role.to_string(),
                raw.temp_namespace.to_string(),
            ];
            parts.extend(SETTINGS.iter().map(|s| format!("{s}={}", setting(s))));
            *c = Some(Context {
                raw,
                search_path: search_path.to_vec(),
                lc_monetary: lc_monetary.to_vec(),
                parts,
                generation: c.as_ref().map_or(0, |c| c.generation + 1),
            });
        }
        f(c.as_ref().expect("just set"))
    })
}

fn make(canonical: &str, c: &Context) -> Key {
    let parts: Vec<&str> = c.parts.iter().map(String::as_str).collect();
    Key::new(canonical, &parts)
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
