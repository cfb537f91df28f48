//! `routed.recommend_rollups()`: the documents `routed.query_stats` saw answered from the base
//! table, resolved against the catalog as the caller sees it, with each source's planner
//! statistics, handed to routed-core's recommender. Documents the router would now answer from
//! a rollup are left out (the statistics remember how they were answered before it existed).
//! It may call `answer`, `cache`, `pg` and `error`.

mod facts;

use routed_core::recommend::{recommend, Observed, Suggestion};

/// Suggestions for this database's observed documents, plus `extra` (a document being
/// explained, when the statistics do not hold it yet).
pub fn suggestions(extra: Option<Observed>) -> Vec<Suggestion> {
    let db = crate::pg::fast::database_id().to_u32();
    let mut observed: Vec<Observed> = crate::cache::query_stats::rows()
        .into_iter()
        .filter(|r| r.db == db && r.by_source[0] > 0)
        .filter(|r| still_base(&r.document))
        .filter_map(|r| {
            let query = routed_core::parse::parse_text(&r.document).ok()?;
            let (source, time_column) = facts::resolve(&query)?;
            Some(Observed {
                fingerprint: r.fingerprint,
                base_ms: r.mean_ms * r.by_source[0] as f64,
                calls: r.calls,
                query,
                source,
                time_column,
            })
        })
        .collect();
    if let Some(e) = extra {
        if !observed.iter().any(|o| o.fingerprint == e.fingerprint) {
            observed.push(e);
        }
    }
    let taken = facts::rollup_names();
    recommend(&observed, &facts::source_facts, &|n| {
        taken.iter().any(|t| t == n)
    })
}

/// What `routed_explain` says of a document answered from the base table: the suggestion that
/// would answer it (name and statement), if any.
pub fn for_document(fingerprint: &str, query: &routed_core::query::Query) -> Option<Suggestion> {
    let (source, time_column) = facts::resolve(query)?;
    let extra = Observed {
        fingerprint: fingerprint.to_string(),
        query: query.clone(),
        source,
        time_column,
        calls: 1,
        base_ms: 0.0,
    };
    suggestions(Some(extra))
        .into_iter()
        .find(|s| s.fingerprints.iter().any(|f| f == fingerprint))
}

/// Whether the router would answer the document from the base table now, at budget 0 (false
/// when it no longer plans: a column dropped since).
fn still_base(document: &str) -> bool {
    use crate::answer::pipeline::{parse, plan_parsed};
    crate::pg::subxact::try_or_none(|| plan_parsed(parse(document, Some(0))).plan.source == "base")
        .unwrap_or(false)
}
