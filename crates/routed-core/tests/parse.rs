// The document parser: every field, its defaults, and its errors with JSON paths.

use routed_core::parse::parse_text;
use routed_core::query::{Agg, Dir, FilterValue, Op};
use routed_core::time::{Granularity, Offset, TimeBound};
use routed_core::ErrorKind;

mod common;
use common::SPEC_EXAMPLE;

#[test]
fn parses_the_spec_example() {
    let q = parse_text(SPEC_EXAMPLE).unwrap();
    assert_eq!(q.source, "metrics");
    let t = q.time.as_ref().unwrap();
    assert_eq!(t.from, Some(TimeBound::NowMinus(Offset::Seconds(86_400))));
    assert_eq!(t.to, TimeBound::NowMinus(Offset::Seconds(0)));
    assert_eq!(t.granularity, Some(Granularity::Fixed(3600)));
    assert_eq!(q.dimensions, ["rule_category", "status"]);
    let aggs: Vec<Agg> = q.measures.iter().map(|m| m.agg).collect();
    assert_eq!(
        aggs,
        [
            Agg::Count,
            Agg::Avg,
            Agg::Percentile,
            Agg::CountDistinct,
            Agg::Count
        ]
    );
    assert_eq!(q.measures[2].q, Some(0.95));
    assert_eq!(
        q.measures[4].filters[0].value,
        FilterValue::One("ERROR".into())
    );
    assert_eq!(q.filters[0].op, Op::In);
    assert_eq!(
        q.filters[0].value,
        FilterValue::List(vec!["RULE_EXECUTION".into(), "PARSER_EXECUTION".into()])
    );
    assert_eq!(q.order[0].dir, Dir::Desc);
    assert_eq!(q.limit, Some(10));
}

#[test]
fn scalars_become_input_text() {
    let q = parse_text(
        r#"{"source": "m", "measures": [{"name": "n", "agg": "count"}],
            "where": [{"column": "a", "op": "=", "value": 1.50}, {"column": "b", "op": "!=", "value": true},
                      {"column": "c", "op": "not in", "value": [1, "two", false]}, {"column": "d", "op": "is null"}]}"#,
    )
    .unwrap();
    assert_eq!(q.filters[0].value, FilterValue::One("1.5".into()));
    assert_eq!(q.filters[1].value, FilterValue::One("true".into()));
    assert_eq!(
        q.filters[2].value,
        FilterValue::List(vec!["1".into(), "two".into(), "false".into()])
    );
    assert_eq!(q.filters[3].value, FilterValue::None);
    assert_eq!(q.filters[2].path, "where[2].value");
}

fn err(doc: &str) -> (String, ErrorKind) {
    let e = parse_text(doc).unwrap_err();
    (e.to_string(), e.kind)
}

#[test]
fn errors_name_the_path_and_the_allowed_values() {
    let cases = [
        (r#"{"source": "m", "measures": [{"name": "a", "agg": "count"}, {"name": "b", "agg": "count"}, {"name": "c", "agg": "p95"}]}"#,
         "measures[2].agg: unknown aggregate \"p95\"; expected one of count, sum, min, max, avg, count_distinct, percentile"),
        (r#"{"source": "m", "measures": [{"name": "a", "agg": "count", "where": [{"column": "x", "op": "~"}]}]}"#,
         "measures[0].where[0].op: unknown operator \"~\"; expected one of =, !=, <, <=, >, >=, in, not in, is null, is not null"),
        (r#"{"source": "m", "measures": [{"name": "a", "agg": "count"}], "time": {"column": "ts", "till": "now"}}"#,
         "time.till: unknown key \"till\"; expected one of column, from, to, granularity"),
        (r#"{"source": "m", "measures": [{"name": "a", "agg": "percentile", "column": "x", "q": -0.1}]}"#,
         "measures[0].q: must be a number in [0, 1], got -0.1"),
        (r#"{"source": "m", "measures": [{"name": "a", "agg": "count"}], "limit": 1000001}"#,
         "limit: must be an integer from 1 to 1000000, got 1000001"),
        (r#"{"source": "", "measures": [{"name": "a", "agg": "count"}]}"#, "source: invalid relation name \"\""),
        ("{", "document is not valid JSON: EOF while parsing an object at line 1 column 1"),
    ];
    for (doc, message) in cases {
        assert_eq!(
            err(doc),
            (message.to_string(), ErrorKind::InvalidDocument),
            "{doc}"
        );
    }
}

#[test]
fn time_bounds_and_widths() {
    let q = parse_text(
        r#"{"source": "m", "measures": [{"name": "a", "agg": "count"}],
            "time": {"column": "ts", "from": "2026-11-24T10:00:00+01:00", "to": "today", "granularity": "1 week"}}"#,
    )
    .unwrap();
    let t = q.time.unwrap();
    assert_eq!(t.from, Some(TimeBound::Absolute(1_795_510_800_000_000)));
    assert_eq!(t.to, TimeBound::Today);
    assert_eq!(t.granularity, Some(Granularity::Week));
    assert!(t.to.is_relative());
}

#[test]
fn oversized_and_deep_documents_are_refused_without_panicking() {
    let deep = format!("{}1{}", "[".repeat(10_000), "]".repeat(10_000));
    assert_eq!(err(&deep).0, "document is nested too deeply");
    let big = format!(r#"{{"source": "{}"}}"#, "x".repeat(2 << 20));
    assert!(err(&big)
        .0
        .starts_with("document is 2097166 bytes; at most 1048576"));
}
