//! The meta of this session's last typed answer (`routed_rows` or plain SQL), which
//! `routed.last_meta()` returns: typed rows carry no meta of their own, so a dashboard owner
//! asks here what a panel got. Kept as raw facts (a hit only copies them); printed when asked.

use super::flow::Answered;
use routed_core::time::{format_interval, format_rfc3339_utc};
use serde_json::json;
use std::cell::RefCell;

struct Last {
    /// Typed answers this session has had, so a client can tell whether a query was routed.
    answers: u64,
    source: String,
    rollup: Option<String>,
    fingerprint: String,
    approximate: bool,
    cache: &'static str,
    as_of_us: i64,
    staleness_us: i64,
    budget_us: i64,
    elapsed_ms: f64,
}

thread_local! {
    static LAST: RefCell<Option<Last>> = const { RefCell::new(None) };
}

fn replace(s: &mut String, with: &str) {
    s.clear();
    s.push_str(with);
}

/// Keeps `a`'s meta as the session's last (reusing the strings of the one before).
pub fn remember(a: &Answered) {
    LAST.with_borrow_mut(|last| {
        let l = last.get_or_insert_with(|| Last {
            answers: 0,
            source: String::new(),
            rollup: None,
            fingerprint: String::new(),
            approximate: false,
            cache: "",
            as_of_us: 0,
            staleness_us: 0,
            budget_us: 0,
            elapsed_ms: 0.0,
        });
        l.answers += 1;
        replace(&mut l.source, a.answer.source);
        replace(&mut l.fingerprint, a.answer.fingerprint);
        l.rollup = a.answer.rollup.map(str::to_string);
        l.approximate = a.answer.approximate;
        l.cache = a.outcome.name();
        l.as_of_us = a.as_of_us;
        l.staleness_us = a.staleness_us;
        l.budget_us = a.budget_us;
        l.elapsed_ms = a.elapsed_ms;
    });
}

/// The last remembered meta as JSON text, if this session has one.
pub fn get() -> Option<String> {
    LAST.with_borrow(|last| {
        last.as_ref().map(|l| {
            json!({
                "answers": l.answers,
                "source": l.source,
                "rollup": l.rollup,
                "as_of": format_rfc3339_utc(l.as_of_us),
                "staleness": format_interval(l.staleness_us),
                "budget": format_interval(l.budget_us),
                "approximate": l.approximate,
                "cache": l.cache,
                "elapsed_ms": l.elapsed_ms,
                "fingerprint": l.fingerprint,
            })
            .to_string()
        })
    })
}
