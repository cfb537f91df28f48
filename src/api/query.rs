//! `routed_query` and `routed_explain`: the pipeline decides, exec runs.

use super::{document, staleness_micros};
use crate::answer::flow::{self as answer, columns_json};
use crate::answer::pipeline::{parse, plan_parsed};
use crate::pg::jsonb::{JsonbArg, JsonbDatum, JsonbDoc, JsonbOut};
use pgrx::prelude::*;
use routed_core::codegen::ParamValue;
use routed_core::normalize::canonical;
use routed_core::time::format_interval;
use serde_json::{json, Value};

/// Answers a query document as jsonb: `columns`, `rows`, and `meta` saying where the answer
/// came from and how stale it is.
#[pg_extern(name = "routed_query")]
fn routed_query(
    query: Option<JsonbDoc>,
    staleness: default!(Option<Interval>, "NULL"),
) -> JsonbDatum {
    let Some(doc) = query else {
        document(None);
        unreachable!("a NULL document raised an error")
    };
    JsonbDatum(answer::answer(&doc, staleness_micros(staleness), false))
}

/// Shows the decision for a document without running it: candidates, plan, SQL and parameters.
#[pg_extern(name = "routed_explain")]
fn routed_explain(
    query: Option<JsonbArg>,
    staleness: default!(Option<Interval>, "NULL"),
) -> JsonbOut {
    let parsed = parse(&document(query), staleness_micros(staleness));
    let cache_json = crate::cache::explain(
        &parsed.canonical,
        parsed.budget,
        crate::changes::publish::wrote_here(),
    );
    let p = plan_parsed(parsed);
    let candidates: Vec<Value> = p
        .plan
        .candidates
        .iter()
        .map(|c| {
            json!({
                "source": c.kind.name(),
                "relation": c.relation,
                "can_answer": c.can_answer,
                "reason": c.reason,
                "staleness": c.staleness_micros.map(format_interval),
                "exact": c.exact,
                "cost": c.cost,
            })
        })
        .collect();
    let segments: Vec<Value> = p
        .plan
        .segments
        .iter()
        .map(|s| {
            json!({
                "source": s.kind.name(),
                "relation": s.relation,
                "from": s.from.map(|b| b.canonical()),
                "to": s.to.map(|b| b.canonical()),
                "reason": s.reason,
            })
        })
        .collect();
    let params: Vec<Value> = p
        .generated
        .params
        .iter()
        .enumerate()
        .map(|(i, prm)| {
            let value = match &prm.value {
                ParamValue::Text(v) => json!(v),
                ParamValue::TextArray(vs) => json!(vs),
            };
            json!({"n": i + 1, "value": value, "type": format!("{}.{}", prm.cast.schema, prm.cast.name), "path": prm.path})
        })
        .collect();
    // a document the base table answers: the suggested rollup that would answer it
    let recommended = (p.plan.source == "base")
        .then(|| crate::recommend::for_document(&p.fingerprint, &p.query))
        .flatten()
        .map(|s| json!({"rollup": s.name, "statement": s.statement(), "speedup": (s.speedup * 10.0).round() / 10.0}));
    let explain = json!({
        "recommended_rollup": recommended,
        "fingerprint": p.fingerprint,
        "document": canonical(&p.query),
        "budget": format_interval(p.plan.budget_micros),
        "budget_from": p.budget_origin.name(),
        "cache": cache_json,
        "candidates": candidates,
        "plan": {
            "source": p.plan.source,
            "staleness": format_interval(p.plan.staleness_micros),
            "approximate": p.plan.approximate,
            "segments": segments,
        },
        "columns": serde_json::from_str::<Value>(&columns_json(&p)).unwrap_or(Value::Null),
        "sql": p.generated.rows_sql,
        "params": params,
    });
    JsonbOut(explain.to_string())
}

#[pg_schema]
mod routed {
    use super::*;

    /// The meta of this session's last `routed_rows` or plain SQL answer (NULL before one).
    #[pg_extern]
    fn last_meta() -> Option<JsonbOut> {
        crate::answer::last_meta::get().map(JsonbOut)
    }
}
