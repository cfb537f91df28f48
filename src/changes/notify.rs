//! Live change notifications (`routed.notify = on`): each transaction that changed tracked
//! sources sends, as it commits, one `NOTIFY routed_changes` per source with the range of times
//! it changed (merged over its statements) and the source's rollups. Queued at PRE_COMMIT, so
//! PostgreSQL delivers them with the commit and drops them with an abort.

use crate::pg::snapshot::read;
use pgrx::prelude::*;
use routed_core::time::format_rfc3339_utc;
use std::cell::RefCell;

/// Rollups named in one payload at most (so it stays far below NOTIFY's 8000 bytes).
const MAX_ROLLUPS: usize = 64;

unsafe extern "C-unwind" {
    /// commands/async.h (pgrx does not bind it): queues a notification of this transaction.
    fn Async_Notify(channel: *const std::ffi::c_char, payload: *const std::ffi::c_char);
}

const NAMES_SQL: &str = "SELECT format('%I.%I', n.nspname, c.relname),
       coalesce((SELECT jsonb_agg(r.name ORDER BY r.name) FROM routed.rollup_catalog r WHERE r.source = c.oid), '[]')::text
  FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace WHERE c.oid = $1";

struct Changed {
    source: pg_sys::Oid,
    /// timestamptz datums, inclusive
    lo: i64,
    hi: i64,
    /// the payload's "source" and "rollups", read when the source is first noted
    name: String,
    rollups: Vec<String>,
}

thread_local! {
    static CHANGED: RefCell<Vec<Changed>> = const { RefCell::new(Vec::new()) };
}

/// Notes the ranges (timestamptz datums, inclusive) a statement changed in a tracked source.
/// Called by the capture trigger; costs nothing unless `routed.notify` is on.
pub fn note(source: pg_sys::Oid, ranges: &[(i64, i64)]) {
    if !crate::gucs::NOTIFY.get() || ranges.is_empty() {
        return;
    }
    let lo = ranges.iter().map(|r| r.0).min().unwrap_or(i64::MIN);
    let hi = ranges.iter().map(|r| r.1).max().unwrap_or(i64::MAX);
    let known = CHANGED.with_borrow_mut(|c| match c.iter_mut().find(|e| e.source == source) {
        Some(e) => {
            e.lo = e.lo.min(lo);
            e.hi = e.hi.max(hi);
            true
        }
        None => false,
    });
    if known {
        return;
    }
    let (name, rollups) = read(NAMES_SQL, &[source.into()], |rows| {
        let name: String = rows.get(0, 1).unwrap_or_default();
        let rollups: Vec<String> = rows
            .get::<String>(0, 2)
            .and_then(|t| serde_json::from_str(&t).ok())
            .unwrap_or_default();
        (name, rollups)
    });
    CHANGED.with_borrow_mut(|c| {
        c.push(Changed {
            source,
            lo,
            hi,
            name,
            rollups,
        })
    });
}

fn time_text(t: i64) -> String {
    match t {
        i64::MIN => "-infinity".into(),
        i64::MAX => "infinity".into(),
        _ => format_rfc3339_utc(crate::pg::time::unix_us(t)),
    }
}

/// The payload of one source's notification.
fn payload(c: &Changed) -> String {
    let rollups: Vec<&String> = c.rollups.iter().take(MAX_ROLLUPS).collect();
    serde_json::json!({
        "source": c.name,
        "from": time_text(c.lo),
        "to": time_text(c.hi),
        "rollups": rollups,
    })
    .to_string()
}

/// At PRE_COMMIT: queues one notification per changed source (delivered at commit).
pub fn pre_commit() {
    let changed = CHANGED.with_borrow_mut(std::mem::take);
    for c in &changed {
        let text = std::ffi::CString::new(payload(c)).expect("JSON has no NUL");
        // SAFETY: a transaction is in progress (PRE_COMMIT runs before PreCommit_Notify, which
        // sends what Async_Notify queued); both strings are NUL-terminated and copied; an ERROR
        // it raises crosses into Rust through pgrx's guard.
        unsafe {
            pg_sys::ffi::pg_guard_ffi_boundary(|| {
                Async_Notify(c"routed_changes".as_ptr(), text.as_ptr())
            })
        };
    }
}

/// At ABORT and PREPARE: nothing is sent.
pub fn clear() {
    CHANGED.with(|c| {
        if let Ok(mut v) = c.try_borrow_mut() {
            v.clear();
        }
    });
}
