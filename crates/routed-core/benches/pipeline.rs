//! Per-call cost of the pure pipeline for a typical dashboard document:
//! parse + fingerprint + bind + plan + codegen. Target: ≤ 20 µs (issue #3).

use criterion::{black_box, criterion_group, criterion_main, Criterion};
use routed_core::codegen::generate;
use routed_core::model::{oid, Column, Relation, SqlType};
use routed_core::normalize::fingerprint;
use routed_core::query::parse_text;
use routed_core::resolve::bind;
use routed_core::route::plan;

const DOCUMENT: &str = r#"{
  "source": "metrics",
  "time": { "column": "ts", "from": "now-24h", "to": "now", "granularity": "1 hour" },
  "dimensions": ["rule_category", "status"],
  "measures": [
    { "name": "runs",   "agg": "count" },
    { "name": "avg_ms", "agg": "avg", "column": "execution_time_ms" },
    { "name": "p95_ms", "agg": "percentile", "column": "execution_time_ms", "q": 0.95 },
    { "name": "rules",  "agg": "count_distinct", "column": "rule_id" },
    { "name": "errors", "agg": "count", "where": [{ "column": "status", "op": "=", "value": "ERROR" }] }
  ],
  "where": [ { "column": "metric_type", "op": "in", "value": ["RULE_EXECUTION", "PARSER_EXECUTION"] } ],
  "order": [ { "by": "p95_ms", "dir": "desc" } ],
  "limit": 10,
  "freshness": "dashboard"
}"#;

fn relation() -> Relation {
    let col = |name: &str, oid: u32, ty: &str| Column {
        name: name.into(),
        ty: SqlType::builtin(oid, ty),
        array_ty: Some(SqlType::builtin(oid + 1000, &format!("_{ty}"))),
        base_oid: oid,
        selectable: true,
    };
    Relation {
        oid: 1,
        schema: "public".into(),
        name: "metrics".into(),
        kind: 'r',
        columns: vec![
            col("ts", oid::TIMESTAMPTZ, "timestamptz"),
            col("metric_type", oid::TEXT, "text"),
            col("rule_category", oid::TEXT, "text"),
            col("rule_id", oid::INT4, "int4"),
            col("status", oid::TEXT, "text"),
            col("region", oid::TEXT, "text"),
            col("execution_time_ms", oid::FLOAT8, "float8"),
            col("records_processed", oid::INT8, "int8"),
        ],
        table_selectable: true,
    }
}

fn pipeline(c: &mut Criterion) {
    let rel = relation();
    c.bench_function("parse+normalize+plan+codegen", |b| {
        b.iter(|| {
            let q = parse_text(black_box(DOCUMENT)).unwrap();
            let fp = fingerprint(&q);
            let bound = bind(&q, &rel).unwrap();
            let p = plan(&bound, 300_000_000);
            black_box((fp, generate(&bound, &p)))
        })
    });
}

fn stages(c: &mut Criterion) {
    let rel = relation();
    let q = parse_text(DOCUMENT).unwrap();
    let bound = bind(&q, &rel).unwrap();
    let p = plan(&bound, 0);
    c.bench_function("json", |b| {
        b.iter(|| {
            black_box(serde_json::from_str::<serde_json::Value>(black_box(DOCUMENT)).unwrap())
        })
    });
    c.bench_function("parse", |b| {
        b.iter(|| black_box(parse_text(black_box(DOCUMENT)).unwrap()))
    });
    c.bench_function("fingerprint", |b| b.iter(|| black_box(fingerprint(&q))));
    c.bench_function("bind", |b| b.iter(|| black_box(bind(&q, &rel).unwrap())));
    c.bench_function("codegen", |b| b.iter(|| black_box(generate(&bound, &p))));
}
criterion_group!(benches, pipeline, stages);
criterion_main!(benches);
