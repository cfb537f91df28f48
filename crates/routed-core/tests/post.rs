// Computed measures, shares and `having`: binding (names, cycles, types, paths) and the outer
// layer's SQL over the aggregation.

mod common;

use routed_core::codegen::generate;
use routed_core::normalize::fingerprint;
use routed_core::parse::parse_text;
use routed_core::resolve::bind;
use routed_core::route::plan;
use routed_core::{Error, ErrorKind};

fn doc(measures: &str, rest: &str) -> String {
    format!(
        r#"{{"source": "metrics", "dimensions": ["rule_category", "status"], "measures": [{measures}]{rest}}}"#
    )
}

fn bound(text: &str) -> Result<routed_core::resolve::Bound, Error> {
    bind(&parse_text(text)?, &common::metrics())
}

const BASE: &str = r#"{"name": "runs", "agg": "count"},
    {"name": "errors", "agg": "count", "where": [{"column": "status", "op": "=", "value": "ERROR"}]},
    {"name": "ms", "agg": "avg", "column": "execution_time_ms"}"#;

#[test]
fn computed_measures_take_their_place_and_type() {
    let b = bound(&doc(
        &format!(
            r#"{{"name": "rate", "expr": "errors / runs"}}, {BASE},
               {{"name": "ms_per_run", "expr": "ms / runs * 1000"}}, {{"name": "pct", "expr": "100 * share(runs, rule_category)"}}"#
        ),
        r#", "order": [{"by": "rate", "dir": "desc"}], "limit": 3"#,
    ))
    .unwrap();
    let cols: Vec<(&str, &str)> = b
        .answer_columns()
        .iter()
        .map(|c| (c.name.as_str(), c.type_name.as_str()))
        .collect();
    assert_eq!(
        cols,
        [
            ("rule_category", "text"),
            ("status", "text"),
            ("rate", "numeric"),
            ("runs", "int8"),
            ("errors", "int8"),
            ("ms", "float8"),
            ("ms_per_run", "float8"),
            ("pct", "numeric"),
        ]
    );
    // the aggregation itself has only the aggregates; order is by answer column
    assert_eq!(b.outputs.len(), 5);
    assert_eq!(b.order[0], (2, routed_core::query::Dir::Desc));
    let g = generate(&b, &plan(&b, 0, &[], None), &[]);
    let sql = &g.rows_sql;
    assert!(
        sql.starts_with(
            "SELECT a.c1 AS c1, a.c2 AS c2, (CAST(a.c4 AS \"pg_catalog\".\"numeric\") / NULLIF(CAST(a.c3 AS \"pg_catalog\".\"numeric\"), 0)) AS c3, a.c3 AS c4"
        ),
        "{sql}"
    );
    assert!(
        sql.contains(
            "sum(CAST(i.c3 AS \"pg_catalog\".\"numeric\")) OVER (PARTITION BY i.c1) AS s1"
        ),
        "{sql}"
    );
    assert!(
        sql.contains("(CAST(a.c3 AS \"pg_catalog\".\"numeric\") / NULLIF(a.s1, 0))"),
        "{sql}"
    );
    // the aggregation is not ordered or limited; the layer is
    assert!(
        sql.contains("GROUP BY 1, 2) AS i) AS a ORDER BY 3 DESC, 1, 2 LIMIT"),
        "{sql}"
    );
    assert_eq!(sql.matches("LIMIT").count(), 1, "{sql}");
}

#[test]
fn having_splits_around_the_share_window() {
    let b = bound(&doc(
        &format!(r#"{BASE}, {{"name": "pct", "expr": "share(runs, status)"}}, {{"name": "rate", "expr": "errors / runs"}}"#),
        r#", "having": [{"column": "runs", "op": ">", "value": 100},
                        {"column": "pct", "op": ">=", "value": 0.1},
                        {"column": "rate", "op": "in", "value": [0, 1]}]"#,
    ))
    .unwrap();
    let sql = generate(&b, &plan(&b, 0, &[], None), &[]).rows_sql;
    // runs and rate are read before the window, pct after it
    let window = sql.find("OVER").unwrap();
    let runs = sql.find("WHERE i.c3 > CAST(").unwrap();
    let rate = sql.find("= ANY(CAST(").unwrap();
    let pct = sql.rfind(") AS a WHERE (CAST(a.c3").unwrap();
    assert!(window < runs && runs < rate && rate < pct, "{sql}");
    let p = b.post.as_ref().unwrap();
    assert_eq!((p.early.len(), p.late.len()), (2, 1));
    let casts: Vec<String> = p
        .early
        .iter()
        .map(|c| c.cast.clone().unwrap().name)
        .collect();
    assert_eq!(casts, ["int8", "_numeric"]);
    assert_eq!(p.early[0].path, "having[0].value");
}

#[test]
fn no_share_means_one_layer() {
    let b = bound(&doc(
        &format!(r#"{BASE}, {{"name": "neg", "expr": "-(ms - 1.5) * 2"}}"#),
        r#", "having": [{"column": "neg", "op": "is not null"}]"#,
    ))
    .unwrap();
    let sql = generate(&b, &plan(&b, 0, &[], None), &[]).rows_sql;
    assert!(!sql.contains(" AS i"), "{sql}");
    assert!(
        sql.contains(") AS a WHERE ((- (CAST(a.c5 AS \"pg_catalog\".\"float8\") - CAST($"),
        "{sql}"
    );
    assert!(sql.ends_with("IS NOT NULL ORDER BY 1, 2"), "{sql}");
}

#[test]
fn computed_over_computed_is_cast_to_its_type() {
    let b = bound(&doc(
        &format!(r#"{BASE}, {{"name": "rate", "expr": "errors / runs"}}, {{"name": "r_ms", "expr": "rate * ms"}}"#),
        "",
    ))
    .unwrap();
    let cols: Vec<&str> = b
        .answer_columns()
        .iter()
        .map(|c| c.type_name.as_str())
        .collect();
    assert_eq!(cols[5..], ["numeric", "float8"]);
    let sql = generate(&b, &plan(&b, 0, &[], None), &[]).rows_sql;
    assert!(
        sql.contains("(CAST((CAST(a.c4 AS \"pg_catalog\".\"numeric\") / NULLIF("),
        "{sql}"
    );
    assert!(
        sql.contains(
            "0)) AS \"pg_catalog\".\"float8\") * CAST(a.c5 AS \"pg_catalog\".\"float8\"))"
        ),
        "{sql}"
    );
}

#[test]
fn bad_expressions_name_path_and_position() {
    let err = |measures: &str, rest: &str| bound(&doc(measures, rest)).unwrap_err();
    let e = err(
        &format!(r#"{BASE}, {{"name": "x", "expr": "runs + / 2"}}"#),
        "",
    );
    assert_eq!(
        (e.kind, e.path.as_str()),
        (ErrorKind::InvalidDocument, "measures[3].expr")
    );
    assert!(
        e.message.starts_with("at position 8: unexpected \"/\""),
        "{}",
        e.message
    );
    let e = err(
        &format!(r#"{{"name": "x", "expr": "nope * 2"}}, {BASE}"#),
        "",
    );
    assert_eq!(e.path, "measures[0].expr");
    assert!(
        e.message.contains(
            "\"nope\" is not a measure of this document; expected one of x, runs, errors, ms"
        ),
        "{}",
        e.message
    );
    let e = err(
        &format!(
            r#"{BASE}, {{"name": "a", "expr": "b + 1"}}, {{"name": "b", "expr": "a * runs"}}"#
        ),
        "",
    );
    assert!(e.message.contains("cycle: a -> b -> a"), "{}", e.message);
    let e = err(
        &format!(r#"{BASE}, {{"name": "s", "expr": "share(runs, region)"}}"#),
        "",
    );
    assert!(
        e.message.contains(
            "\"region\" is not a dimension of the answer; expected one of rule_category, status"
        ),
        "{}",
        e.message
    );
    let e = err(
        &format!(
            r#"{BASE}, {{"name": "r", "expr": "errors / runs"}}, {{"name": "s", "expr": "share(r)"}}"#
        ),
        "",
    );
    assert!(
        e.message.contains("share takes an aggregate measure"),
        "{}",
        e.message
    );
    let e = err(
        r#"{"name": "m", "agg": "max", "column": "ts"}, {"name": "x", "expr": "m + 1"}"#,
        "",
    );
    assert_eq!(e.kind, ErrorKind::DatatypeMismatch);
    assert!(
        e.message.contains("measure \"m\" has type timestamptz"),
        "{}",
        e.message
    );
    let e = err(r#"{"name": "x", "expr": "1 + 1"}"#, "");
    assert!(
        e.message.contains("at least one aggregate"),
        "{}",
        e.message
    );
    let e = err(
        BASE,
        r#", "having": [{"column": "status", "op": "=", "value": "OK"}]"#,
    );
    assert_eq!(e.path, "having[0].column");
    assert!(
        e.message
            .contains("is not a measure; expected one of runs, errors, ms"),
        "{}",
        e.message
    );
    let e = err(
        &format!(r#"{BASE}, {{"name": "x", "agg": "count", "expr": "runs"}}"#),
        "",
    );
    assert_eq!(e.path, "measures[3].agg");
}

#[test]
fn fingerprints_follow_meaning() {
    let f = |measures: &str, rest: &str| fingerprint(&parse_text(&doc(measures, rest)).unwrap());
    let v1 = f(BASE, "");
    // a version-1 document keeps the fingerprint it had
    assert_eq!(
        v1,
        fingerprint(&parse_text(&doc(BASE, r#", "version": 1"#)).unwrap())
    );
    let rate = format!(r#"{BASE}, {{"name": "rate", "expr": "errors/runs"}}"#);
    assert_ne!(f(&rate, ""), v1);
    assert_eq!(
        f(&rate, ""),
        f(
            &format!(r#"{BASE}, {{"name": "rate", "expr": " ( errors ) / runs "}}"#),
            ""
        )
    );
    assert_ne!(
        f(&rate, ""),
        f(
            &format!(r#"{BASE}, {{"name": "rate", "expr": "runs/errors"}}"#),
            ""
        )
    );
    let h = |v: u32| format!(r#", "having": [{{"column": "runs", "op": ">", "value": {v}}}]"#);
    assert_ne!(f(BASE, &h(1)), f(BASE, &h(2)));
    assert_ne!(f(BASE, &h(1)), v1);
}
