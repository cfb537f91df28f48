//! routed_explain's cache section.

use std::sync::atomic::Ordering;

use routed_core::cache::store::FILLING;

use super::key::{key, partition_of};
use super::lookup::unusable;
use super::privileges::privileges_allow;
use super::shmem;
use super::staleness::{snapshot_allows, staleness};

/// routed_explain's cache section: whether an entry exists and whether it could be served now
/// to this caller at `budget_us` (looked at, not touched).
pub fn explain(canonical: &str, budget_us: i64, wrote: bool) -> serde_json::Value {
    use routed_core::time::{format_interval, format_rfc3339_utc};
    use serde_json::json;
    if let Some((o, reason)) = unusable(wrote) {
        return json!({"status": o.name(), "reason": reason});
    }
    let key = key(canonical);
    let part = partition_of(&key);
    let found = {
        let _lock = shmem::lock_partition(part, false);
        let p = shmem::partition(part);
        p.find(key.hash, key.hash2, &key.bytes, true).map(|slot| {
            let s = p.slot(slot);
            let filling = s.state.load(Ordering::Acquire) == FILLING;
            let meta = s.meta;
            let st = if filling { 0 } else { staleness(s, &meta) };
            (filling, meta, st, s.hits.load(Ordering::Relaxed))
        })
    };
    match found {
        None => json!({"status": "miss", "reason": "no entry for this document and caller"}),
        Some((true, _, _, _)) => json!({
            "status": "coalesced",
            "reason": "another backend is computing this answer; a call now would wait for it"
        }),
        Some((false, meta, st, hits)) => {
            let entry = json!({
                "as_of": format_rfc3339_utc(meta.as_of_us),
                "staleness": format_interval(st),
                "hits": hits,
                "cost_ms": meta.cost_us as f64 / 1000.0,
                "relative": meta.relative(),
                "tracked": meta.tracked(),
                "range": [
                    (meta.from_us > i64::MIN).then(|| format_rfc3339_utc(meta.from_us)),
                    (meta.to_us < i64::MAX).then(|| format_rfc3339_utc(meta.to_us)),
                ],
            });
            let (status, reason) = if st > budget_us {
                ("miss", "the entry's staleness exceeds the budget")
            } else if !snapshot_allows(&meta) {
                (
                    "miss",
                    "the entry may be newer than this REPEATABLE READ snapshot",
                )
            } else if !privileges_allow(&meta) {
                (
                    "miss",
                    "the caller lacks SELECT on a relation the entry read, or row security applies",
                )
            } else {
                ("hit", "an entry within the budget")
            };
            json!({"status": status, "reason": reason, "entry": entry})
        }
    }
}
