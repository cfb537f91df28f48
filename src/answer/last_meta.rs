//! The meta of this session's last typed answer (`routed_rows` or plain SQL), which
//! `routed.last_meta()` returns: typed rows carry no meta of their own, so a dashboard owner
//! asks here what a panel got.

use super::flow::Answered;
use routed_core::time::{format_interval, format_rfc3339_utc};
use serde_json::json;
use std::cell::RefCell;

thread_local! {
    static LAST: RefCell<Option<String>> = const { RefCell::new(None) };
    /// Typed answers this session has had, so a client can tell whether a query was routed.
    static COUNT: std::cell::Cell<u64> = const { std::cell::Cell::new(0) };
}

/// Keeps `a`'s meta as the session's last.
pub fn remember(a: &Answered) {
    COUNT.set(COUNT.get() + 1);
    let meta = json!({
        "answers": COUNT.get(),
        "source": a.answer.source,
        "rollup": a.answer.rollup,
        "as_of": format_rfc3339_utc(a.as_of_us),
        "staleness": format_interval(a.staleness_us),
        "budget": format_interval(a.budget_us),
        "approximate": a.answer.approximate,
        "cache": a.outcome.name(),
        "elapsed_ms": a.elapsed_ms,
        "fingerprint": a.answer.fingerprint,
    });
    LAST.set(Some(meta.to_string()));
}

/// The last remembered meta as JSON text, if this session has one.
pub fn get() -> Option<String> {
    LAST.with_borrow(|l| l.clone())
}
