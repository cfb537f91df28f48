//! The SQL surface. Each function is a thin wrapper: the pipeline decides, exec runs.

use crate::exec;
use crate::jsonb_text::{JsonbArg, JsonbOut};
use crate::pipeline::{prepare, Prepared};
use pgrx::prelude::*;
use routed_core::codegen::ParamValue;
use routed_core::normalize::canonical;
use routed_core::time::{format_interval, format_rfc3339_utc};
use serde_json::{json, Value};
use std::time::Instant;

/// Microseconds between the Unix epoch and PostgreSQL's epoch (2000-01-01).
const POSTGRES_EPOCH_UNIX_MICROS: i64 = 946_684_800_000_000;

pub fn staleness_micros(staleness: Option<Interval>) -> Option<i64> {
    staleness.map(|i| i.as_micros().clamp(i64::MIN as i128, i64::MAX as i128) as i64)
}

/// The document text; a NULL document is an error, not a NULL answer, so a dashboard
/// that lost its query hears about it.
pub fn document(query: Option<JsonbArg>) -> String {
    match query {
        Some(q) => q.0,
        None => crate::error::raise_with(
            pgrx::PgSqlErrorCode::ERRCODE_NULL_VALUE_NOT_ALLOWED,
            "query must not be NULL".into(),
            None,
        ),
    }
}

/// The transaction's `now()`, the instant relative ranges are evaluated at.
fn as_of_unix_micros() -> i64 {
    let since_2000 = unsafe { pg_sys::GetCurrentTransactionStartTimestamp() };
    since_2000 + POSTGRES_EPOCH_UNIX_MICROS
}

fn columns_json(p: &Prepared) -> Value {
    Value::Array(
        p.bound
            .outputs
            .iter()
            .map(|c| json!({"name": c.name, "type": c.type_name}))
            .collect(),
    )
}

/// Answers a query document as jsonb: `columns`, `rows`, and `meta` saying where the answer
/// came from and how stale it is.
#[pg_extern(name = "routed_query")]
fn routed_query(
    query: Option<JsonbArg>,
    staleness: default!(Option<Interval>, "NULL"),
) -> JsonbOut {
    let started = Instant::now();
    let p = prepare(&document(query), staleness_micros(staleness));
    let rows = exec::rows_json(&p.generated);
    let meta = json!({
        "source": p.plan.source,
        "rollup": p.rollup,
        "as_of": format_rfc3339_utc(as_of_unix_micros()),
        "staleness": format_interval(p.plan.staleness_micros),
        "budget": format_interval(p.plan.budget_micros),
        "approximate": p.plan.approximate,
        "cache": "disabled",
        "elapsed_ms": (started.elapsed().as_secs_f64() * 1000.0 * 1000.0).round() / 1000.0,
        "fingerprint": p.fingerprint,
    });
    // rows stay PostgreSQL's own JSON text so numeric values keep every digit.
    JsonbOut(format!(
        "{{\"columns\":{},\"rows\":{rows},\"meta\":{meta}}}",
        columns_json(&p)
    ))
}

/// Shows the decision for a document without running it: candidates, plan, SQL and parameters.
#[pg_extern(name = "routed_explain")]
fn routed_explain(
    query: Option<JsonbArg>,
    staleness: default!(Option<Interval>, "NULL"),
) -> JsonbOut {
    let p = prepare(&document(query), staleness_micros(staleness));
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
                "from": s.from.map(|b| b.canonical()),
                "to": s.to.map(|b| b.canonical()),
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
    let explain = json!({
        "fingerprint": p.fingerprint,
        "document": canonical(&p.query),
        "budget": format_interval(p.plan.budget_micros),
        "budget_from": p.budget_origin.name(),
        "cache": {"status": "disabled", "reason": "the shared-memory result cache is not part of this version"},
        "candidates": candidates,
        "plan": {
            "source": p.plan.source,
            "staleness": format_interval(p.plan.staleness_micros),
            "approximate": p.plan.approximate,
            "segments": segments,
        },
        "columns": columns_json(&p),
        "sql": p.generated.rows_sql,
        "params": params,
    });
    JsonbOut(explain.to_string())
}
