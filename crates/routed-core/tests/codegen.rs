// Binding, routing and SQL generation against a catalog fixture: identifiers quoted, values
// only as parameters, types per PostgreSQL, errors with close matches.

mod common;

use routed_core::codegen::{generate, ParamValue};
use routed_core::parse::parse_text;
use routed_core::resolve::bind;
use routed_core::route::plan;
use routed_core::ErrorKind;

fn sql_for(doc: &str) -> routed_core::codegen::Generated {
    let q = parse_text(doc).unwrap();
    let b = bind(&q, &common::metrics()).unwrap();
    generate(&b, &plan(&b, 0, &[], None), &[])
}

#[test]
fn full_document_generates_one_parameterized_statement() {
    let g = sql_for(
        r#"{"source": "metrics", "time": {"column": "ts", "from": "now-24h", "granularity": "1 hour"},
            "dimensions": ["rule_category"],
            "measures": [{"name": "runs", "agg": "count"},
                         {"name": "p95", "agg": "percentile", "column": "execution_time_ms", "q": 0.95},
                         {"name": "errors", "agg": "count", "where": [{"column": "status", "op": "=", "value": "ERROR"}]}],
            "where": [{"column": "status", "op": "in", "value": ["OK", "ERROR"]}],
            "order": [{"by": "p95", "dir": "desc"}], "limit": 5}"#,
    );
    assert_eq!(
        g.rows_sql,
        "SELECT date_bin(CAST($1 AS \"pg_catalog\".\"interval\"), \"ts\", TIMESTAMPTZ '1970-01-01 00:00:00+00') AS c1, \
         \"rule_category\" AS c2, count(*) AS c3, \
         percentile_cont(CAST($2 AS \"pg_catalog\".\"float8\")) WITHIN GROUP (ORDER BY CAST(\"execution_time_ms\" AS \"pg_catalog\".\"float8\")) AS c4, \
         count(*) FILTER (WHERE \"status\" = CAST($3 AS \"pg_catalog\".\"text\")) AS c5 \
         FROM \"public\".\"metrics\" WHERE \"ts\" >= (now() - CAST($4 AS \"pg_catalog\".\"interval\")) AND \"ts\" < now() \
         AND \"status\" = ANY(CAST($5 AS \"pg_catalog\".\"_text\")) GROUP BY 1, 2 ORDER BY 4 DESC, 1, 2 \
         LIMIT CAST($6 AS \"pg_catalog\".\"int8\")"
    );
    let values: Vec<&ParamValue> = g.params.iter().map(|p| &p.value).collect();
    assert_eq!(
        values,
        [
            &ParamValue::Text("3600 seconds".into()),
            &ParamValue::Text("0.95".into()),
            &ParamValue::Text("ERROR".into()),
            &ParamValue::Text("86400 seconds".into()),
            &ParamValue::TextArray(vec!["OK".into(), "ERROR".into()]),
            &ParamValue::Text("5".into()),
        ]
    );
    assert_eq!(g.params[2].path, "measures[2].where[0].value");
    assert!(g.json_sql.contains("ORDER BY r.c4 DESC, r.c1, r.c2"));
}

#[test]
fn hostile_names_and_values_never_reach_sql_text() {
    let mut rel = common::metrics();
    rel.columns[2].name = "st\"atus; DROP TABLE x; --".into();
    let q = parse_text(
        r#"{"source": "metrics", "dimensions": ["st\"atus; DROP TABLE x; --"], "measures": [{"name": "n", "agg": "count"}],
            "where": [{"column": "rule_category", "op": "=", "value": "'; DROP TABLE metrics; --"}]}"#,
    )
    .unwrap();
    let b = bind(&q, &rel).unwrap();
    let g = generate(&b, &plan(&b, 0, &[], None), &[]);
    assert!(
        g.rows_sql
            .contains("\"st\"\"atus; DROP TABLE x; --\" AS c1"),
        "{}",
        g.rows_sql
    );
    assert!(!g.rows_sql.contains("DROP TABLE metrics"));
    assert_eq!(
        g.params[0].value,
        ParamValue::Text("'; DROP TABLE metrics; --".into())
    );
}

#[test]
fn calendar_and_relative_bounds() {
    let g = sql_for(
        r#"{"source": "metrics", "time": {"column": "day", "from": "yesterday", "to": "today", "granularity": "1 month"},
            "measures": [{"name": "n", "agg": "count"}]}"#,
    );
    assert!(g.rows_sql.starts_with(
        "SELECT date_trunc('month', CAST(\"day\" AS \"pg_catalog\".\"timestamptz\")) AS c1"
    ));
    assert!(g.rows_sql.contains("\"day\" >= (date_trunc('day', now()) - INTERVAL '1 day') AND \"day\" < date_trunc('day', now())"));
    assert!(g.params.is_empty());
}

#[test]
fn result_types_follow_postgres() {
    let q = parse_text(
        r#"{"source": "metrics", "measures": [
            {"name": "a", "agg": "sum", "column": "n"}, {"name": "b", "agg": "sum", "column": "records"},
            {"name": "c", "agg": "avg", "column": "n"}, {"name": "d", "agg": "avg", "column": "execution_time_ms"},
            {"name": "e", "agg": "min", "column": "status"}, {"name": "f", "agg": "count_distinct", "column": "status"},
            {"name": "g", "agg": "percentile", "column": "n", "q": 0.5}]}"#,
    )
    .unwrap();
    let b = bind(&q, &common::metrics()).unwrap();
    let types: Vec<&str> = b.outputs.iter().map(|o| o.type_name.as_str()).collect();
    assert_eq!(
        types,
        ["int8", "numeric", "numeric", "float8", "text", "int8", "float8"]
    );
}

#[test]
fn binding_errors_carry_sqlstate_kinds_and_hints() {
    let rel = common::metrics();
    let check = |doc: &str, kind: ErrorKind, message: &str, hint: Option<&str>| {
        let e = bind(&parse_text(doc).unwrap(), &rel).unwrap_err();
        assert_eq!(
            (e.kind, e.to_string().as_str(), e.hint.as_deref()),
            (kind, message, hint),
            "{doc}"
        );
    };
    check(
        r#"{"source": "metrics", "dimensions": ["rule_categroy"], "measures": [{"name": "n", "agg": "count"}]}"#,
        ErrorKind::UndefinedColumn,
        "dimensions[0]: column \"rule_categroy\" does not exist in public.metrics",
        Some("did you mean \"rule_category\"?"),
    );
    check(
        r#"{"source": "metrics", "measures": [{"name": "n", "agg": "avg", "column": "status"}]}"#,
        ErrorKind::DatatypeMismatch,
        "measures[0].column: avg cannot be applied to column \"status\" of type text",
        Some("avg takes smallint, integer, bigint, numeric, real, double precision or interval columns"),
    );
    check(
        r#"{"source": "metrics", "time": {"column": "records"}, "measures": [{"name": "n", "agg": "count"}]}"#,
        ErrorKind::DatatypeMismatch,
        "time.column: column \"records\" has type int8; expected timestamptz, timestamp or date",
        None,
    );
    let mut hidden = rel.clone();
    hidden.columns[2].selectable = false;
    let e = bind(
        &parse_text(r#"{"source": "metrics", "dimensions": ["status"], "measures": [{"name": "n", "agg": "count"}]}"#).unwrap(),
        &hidden,
    )
    .unwrap_err();
    assert_eq!(e.kind, ErrorKind::InsufficientPrivilege);
}

#[test]
fn the_plan_is_one_base_segment_covering_the_range() {
    let q = parse_text(r#"{"source": "metrics", "time": {"column": "ts", "from": "now-7d"}, "measures": [{"name": "n", "agg": "count"}]}"#).unwrap();
    let b = bind(&q, &common::metrics()).unwrap();
    let p = plan(&b, 300_000_000, &[], None);
    assert_eq!(p.segments.len(), 1);
    assert_eq!(p.source, "base");
    assert_eq!((p.staleness_micros, p.budget_micros), (0, 300_000_000));
    assert!(p.candidates.iter().all(|c| c.can_answer && c.exact));
}
