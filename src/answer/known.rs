//! Documents this backend has parsed, remembered by their bytes (dashboards repeat them), with
//! the cache keys of their forms.

use super::pipeline::parse;
use crate::cache;
use crate::cache::query_stats;
use crate::pg::jsonb::JsonbDoc;
use routed_core::cache::FastHash;
use routed_core::query::Query;
use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;

/// A document this backend parsed before, by its jsonb bytes.
pub(super) struct Known {
    pub(super) query: Query,
    pub(super) canonical: String,
    pub(super) fingerprint: String,
    /// The fingerprint as `routed.query_stats` indexes it.
    pub(super) stats_key: u64,
    /// Its cache key under the current settings.
    pub(super) key: cache::KeyMemo,
    /// The same for its typed rows, per key prefix (`ROWS_PREFIX`, or plain SQL's shapes):
    /// (prefix, the canonical text with it, its key).
    pub(super) rows: RefCell<Vec<(String, String, cache::KeyMemo)>>,
}

impl Known {
    /// The cache key of the document's rows under `prefix`.
    pub(super) fn rows_key(&self, prefix: &str) -> Rc<routed_core::cache::Key> {
        let found = self.rows.borrow().iter().position(|r| r.0 == prefix);
        let i = found.unwrap_or_else(|| {
            let mut rows = self.rows.borrow_mut();
            if rows.len() >= 8 {
                rows.clear();
            }
            rows.push((
                prefix.to_string(),
                format!("{prefix}{}", self.canonical),
                Default::default(),
            ));
            rows.len() - 1
        });
        let rows = self.rows.borrow();
        cache::remembered_key(&rows[i].1, &rows[i].2)
    }
}

const KNOWN_MAX: usize = 256;

thread_local! {
    static KNOWN: RefCell<HashMap<Vec<u8>, Rc<Known>, FastHash>> =
        const { RefCell::new(HashMap::with_hasher(FastHash)) };
}

/// A document as jsonb (its bytes) or as text.
pub enum DocRef<'a> {
    Jsonb(&'a JsonbDoc),
    Text(&'a str),
}

/// Parses the document, or takes what parsing it gave last time (dashboards repeat documents;
/// parsing depends on the text alone). Text is remembered under a 0xFF byte, which never
/// starts a detoasted jsonb (its 4-byte header's low bits are 0).
pub(super) fn parse_doc(doc: DocRef) -> Rc<Known> {
    let text_key;
    let bytes: &[u8] = match doc {
        DocRef::Jsonb(j) => &j.0,
        DocRef::Text(t) => {
            text_key = [&[0xFFu8][..], t.as_bytes()].concat();
            &text_key
        }
    };
    if let Some(k) = KNOWN.with_borrow(|m| m.get(bytes).cloned()) {
        return k;
    }
    let text = match doc {
        DocRef::Jsonb(j) => j.text(),
        DocRef::Text(t) => t.to_string(),
    };
    let parsed = parse(&text, None);
    let known = Rc::new(Known {
        query: parsed.query,
        canonical: parsed.canonical,
        stats_key: query_stats::fingerprint_key(&parsed.fingerprint),
        fingerprint: parsed.fingerprint,
        key: Default::default(),
        rows: Default::default(),
    });
    KNOWN.with_borrow_mut(|m| {
        if m.len() >= KNOWN_MAX {
            m.clear();
        }
        m.insert(bytes.to_vec(), known.clone());
    });
    known
}
