// Lookup joins (document version 2): binding checks (many-to-one, types, names), the base
// table's SQL with qualified columns, and rollups answering joined documents (parts keep the
// key, the join and attribute filters come after them, the merge groups by attributes).

mod common;

use routed_core::codegen::generate;
use routed_core::parse::parse_text;
use routed_core::resolve::{bind_joined, Bound};
use routed_core::rollup::{parse_states, RollupDef};
use routed_core::route::{plan, RollupFacts, Window};
use routed_core::{Error, ErrorKind};

const HOUR: i64 = 3_600_000_000;
const NOV1: i64 = 1_793_491_200_000_000;
const NOW: i64 = NOV1 + 24 * 24 * HOUR;

fn bound_with(doc: &str, rules: routed_core::model::Relation) -> Result<Bound, Error> {
    bind_joined(&parse_text(doc)?, &common::metrics(), &[rules])
}

fn bound(doc: &str) -> Result<Bound, Error> {
    bound_with(doc, common::rules())
}

const Q5: &str = r#"{"source": "metrics", "join": [{"table": "rules", "on": {"rule_id": "rule_id"}}],
  "time": {"column": "ts", "from": "2026-11-02T00:30:00Z", "to": "2026-11-09T00:00:00Z"},
  "dimensions": ["rule_id", "rules.rule_name", "rules.rule_category"],
  "measures": [{"name": "n", "agg": "count"}, {"name": "a", "agg": "avg", "column": "execution_time_ms"}],
  "where": [{"column": "rules.owner", "op": "=", "value": "sec"}, {"column": "status", "op": "!=", "value": "OK"}],
  "order": [{"by": "a", "dir": "desc"}], "limit": 10}"#;

#[test]
fn the_base_table_query_qualifies_every_column() {
    let b = bound(Q5).unwrap();
    let g = generate(&b, &plan(&b, 0, &[], None), &[]);
    let sql = &g.rows_sql;
    assert!(
        sql.starts_with("SELECT s.\"rule_id\" AS c1, j1.\"rule_name\" AS c2, j1.\"rule_category\" AS c3, count(*) AS c4, avg(s.\"execution_time_ms\") AS c5 \
                         FROM \"public\".\"metrics\" AS s JOIN \"public\".\"rules\" AS j1 ON s.\"rule_id\" = j1.\"rule_id\" \
                         WHERE s.\"ts\" >= CAST($1"),
        "{sql}"
    );
    assert!(sql.contains("j1.\"owner\" = CAST($"), "{sql}");
    assert!(sql.contains("s.\"status\" <> CAST($"), "{sql}");
    let cols: Vec<(&str, &str)> = b
        .answer_columns()
        .iter()
        .map(|c| (c.name.as_str(), c.type_name.as_str()))
        .collect();
    assert_eq!(
        cols[..3],
        [
            ("rule_id", "int4"),
            ("rules.rule_name", "text"),
            ("rules.rule_category", "text")
        ]
    );
    // a left join keeps facts without a match
    let left = Q5.replace(
        r#""on": {"rule_id": "rule_id"}}"#,
        r#""on": {"rule_id": "rule_id"}, "left": true}"#,
    );
    let b = bound(&left).unwrap();
    let sql = generate(&b, &plan(&b, 0, &[], None), &[]).rows_sql;
    assert!(
        sql.contains(" LEFT JOIN \"public\".\"rules\" AS j1 ON "),
        "{sql}"
    );
}

#[test]
fn joins_must_be_many_to_one_and_well_typed() {
    let mut unkeyed = common::rules();
    unkeyed.unique_keys = vec![vec!["rule_id".into(), "owner".into()]];
    let e = bound_with(Q5, unkeyed).unwrap_err();
    assert_eq!(
        (e.kind, e.path.as_str()),
        (ErrorKind::InvalidDocument, "join[0].on")
    );
    assert!(
        e.message
            .contains("public.rules has no primary key or unique index on (rule_id)"),
        "{}",
        e.message
    );
    assert_eq!(
        e.hint.as_deref(),
        Some("add one: ALTER TABLE \"public\".\"rules\" ADD PRIMARY KEY (\"rule_id\")")
    );
    let e =
        bound(&Q5.replace(r#"{"rule_id": "rule_id"}"#, r#"{"status": "rule_id"}"#)).unwrap_err();
    assert_eq!(
        (e.kind, e.path.as_str()),
        (ErrorKind::DatatypeMismatch, "join[0].on.status")
    );
    let e = bound(&Q5.replace("rules.owner", "rules.colour")).unwrap_err();
    assert_eq!(
        (e.kind, e.path.as_str()),
        (ErrorKind::UndefinedColumn, "where[0].column")
    );
    assert!(
        e.message
            .contains("column \"colour\" does not exist in public.rules"),
        "{}",
        e.message
    );
    let e = bound(&Q5.replace(
        r#""agg": "avg", "column": "execution_time_ms""#,
        r#""agg": "max", "column": "rules.owner""#,
    ))
    .unwrap_err();
    assert_eq!(e.path, "measures[1].column");
    assert!(e.message.contains("joined table's column"), "{}", e.message);
    let e = parse_text(&Q5.replace(r#""on": {"rule_id": "rule_id"}"#, r#""on": {}"#)).unwrap_err();
    assert_eq!(e.path, "join[0].on");
    let e = parse_text(&Q5.replace(
        r#""table": "rules""#,
        r#""table": "rules", "kind": "inner""#,
    ))
    .unwrap_err();
    assert_eq!(e.path, "join[0].kind");
}

fn hourly(dims: &[&str]) -> RollupFacts {
    let measures =
        serde_json::json!([{"agg": "count"}, {"agg": "avg", "column": "execution_time_ms"}]);
    RollupFacts {
        def: RollupDef {
            name: "metrics_hourly".into(),
            time_column: "ts".into(),
            width_secs: 3600,
            dimensions: dims.iter().map(|d| d.to_string()).collect(),
            states: parse_states(&measures, &common::metrics()).unwrap(),
        },
        watermark_us: Some(NOW - 2 * HOUR),
        pending: vec![],
        blocked: None,
        rows_per_base_row: None,
    }
}

fn window() -> Window {
    Window {
        now_us: NOW,
        from_us: Some(NOV1 + 24 * HOUR + 30 * 60_000_000),
        to_us: NOV1 + 8 * 24 * HOUR,
        calendar_boundaries_us: None,
        offset_secs: None,
    }
}

#[test]
fn a_rollup_keyed_by_the_join_key_answers_and_joins_after_its_states() {
    // grouped by an attribute, not the key: the merge groups the joined states again
    let doc = Q5.replace(r#""rule_id", "rules.rule_name", "#, "");
    let b = bound(&doc).unwrap();
    let facts = hourly(&["rule_id", "status"]);
    let p = plan(&b, 0, std::slice::from_ref(&facts), Some(&window()));
    assert_eq!(p.source, "rollup+base");
    let sql = generate(&b, &p, &[&facts.def]).rows_sql;
    // every part groups by the key and applies the source's filters only
    assert!(
        sql.starts_with("SELECT j1.\"rule_category\" AS c1, CAST(coalesce(sum(u.\"count(*)\"), 0)"),
        "{sql}"
    );
    assert!(
        sql.contains("SELECT NULL AS b, r.\"status\", r.\"rule_id\", r.\"count(*)\""),
        "{sql}"
    );
    assert!(sql.contains(") AS u JOIN \"public\".\"rules\" AS j1 ON u.\"rule_id\" = j1.\"rule_id\" WHERE j1.\"owner\" = CAST($"), "{sql}");
    assert_eq!(sql.matches("\"owner\"").count(), 1, "{sql}");
    assert!(
        sql.contains("GROUP BY 1, 2, 3"),
        "base part groups by its columns: {sql}"
    );
    // a rollup without the key cannot answer
    let p = plan(&b, 0, &[hourly(&["status"])], Some(&window()));
    assert_eq!(p.source, "base");
    assert!(
        p.candidates[0]
            .reason
            .contains("the join on rule_id needs a key the rollup does not keep"),
        "{:?}",
        p.candidates
    );
}
