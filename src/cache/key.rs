//! The cache key: the canonical document plus the settings its answer depends on.

use pgrx::pg_sys;
use routed_core::cache::Key;
use std::cell::RefCell;
use std::ffi::CStr;

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
    raw: (u32, u32, bool, i32, i32, usize),
    parts: [String; 5],
}

thread_local! {
    static CONTEXT: RefCell<Option<Context>> = const { RefCell::new(None) };
}

/// The key: the canonical document plus everything else its answer depends on (database,
/// role, row_security, extra_float_digits, IntervalStyle, search_path, TimeZone). The settings
/// are formatted again only when one of them changed.
pub fn key(canonical: &str) -> Key {
    let raw = unsafe {
        (
            pg_sys::MyDatabaseId.to_u32(),
            pg_sys::GetUserId().to_u32(),
            pg_sys::row_security,
            pg_sys::extra_float_digits,
            pg_sys::IntervalStyle,
            // time zones are cached for the life of the backend: the pointer names the zone
            pg_sys::session_timezone as usize,
        )
    };
    // search_path strings are freed and reallocated: compare the text
    let path = unsafe { bytes(pg_sys::namespace_search_path) };
    CONTEXT.with_borrow_mut(|c| {
        if c.as_ref()
            .is_none_or(|c| c.raw != raw || c.parts[3].as_bytes() != path)
        {
            let (db, role, rls, digits, style, _) = raw;
            let zone = unsafe { cstr(pg_sys::pg_get_timezone_name(pg_sys::session_timezone)) };
            *c = Some(Context {
                raw,
                parts: [
                    db.to_string(),
                    role.to_string(),
                    format!("{}/{digits}/{style}", u8::from(rls)),
                    String::from_utf8_lossy(path).into_owned(),
                    zone.to_string(),
                ],
            });
        }
        let parts = &c.as_ref().expect("just set").parts;
        Key::new(
            canonical,
            &[&parts[0], &parts[1], &parts[2], &parts[3], &parts[4]],
        )
    })
}

pub(super) fn partition_of(key: &Key) -> usize {
    (key.hash >> 56) as usize % PARTITIONS
}
