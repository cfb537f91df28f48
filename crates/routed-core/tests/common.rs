// Shared fixtures for routed-core's integration tests and benches.
#![allow(dead_code)]

use routed_core::model::{oid, Column, Relation, SqlType};

fn col(name: &str, oid: u32, ty: &str) -> Column {
    Column {
        name: name.into(),
        ty: SqlType::builtin(oid, ty),
        array_ty: Some(SqlType::builtin(oid + 100_000, &format!("_{ty}"))),
        base_oid: oid,
        selectable: true,
    }
}

pub fn metrics() -> Relation {
    Relation {
        oid: 16_384,
        schema: "public".into(),
        name: "metrics".into(),
        kind: 'r',
        columns: vec![
            col("ts", oid::TIMESTAMPTZ, "timestamptz"),
            col("day", oid::DATE, "date"),
            col("status", oid::TEXT, "text"),
            col("rule_category", oid::TEXT, "text"),
            col("execution_time_ms", oid::FLOAT8, "float8"),
            col("records", oid::INT8, "int8"),
            col("n", oid::INT4, "int4"),
            col("payload", oid::JSON, "json"),
            col("metric_type", oid::TEXT, "text"),
            col("rule_id", oid::INT4, "int4"),
            col("records_processed", oid::INT8, "int8"),
            col("region", oid::TEXT, "text"),
        ],
        table_selectable: true,
        tracked_time_column: None,
        unique_keys: vec![],
        tracked_whole: false,
    }
}

/// A dimension table keyed by `rule_id`, which shares a column name (`rule_category`) with
/// `metrics`.
pub fn rules() -> Relation {
    Relation {
        oid: 16_390,
        schema: "public".into(),
        name: "rules".into(),
        kind: 'r',
        columns: vec![
            col("rule_id", oid::INT4, "int4"),
            col("rule_name", oid::TEXT, "text"),
            col("rule_category", oid::TEXT, "text"),
            col("owner", oid::TEXT, "text"),
        ],
        table_selectable: true,
        tracked_time_column: None,
        unique_keys: vec![vec!["rule_id".into()]],
        tracked_whole: true,
    }
}

/// SPEC.md's example document.
pub const SPEC_EXAMPLE: &str = r#"{
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
  "exact": false,
  "freshness": "dashboard"
}"#;
