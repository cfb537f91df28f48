use super::*;
use crate::parse::parse_text;
use std::collections::HashMap;

fn facts() -> SourceFacts {
    SourceFacts {
        table_name: "metrics".into(),
        rows: 10_000_000.0,
        span_secs: 30.0 * 86_400.0,
        n_distinct: HashMap::from([
            ("metric_type".into(), 3.0),
            ("status".into(), 4.0),
            ("rule_category".into(), 8.0),
            ("rule_id".into(), 500.0),
            ("id".into(), -1.0),
        ]),
    }
}

fn observed(fp: &str, doc: &str, base_ms: f64) -> Observed {
    Observed {
        fingerprint: fp.into(),
        query: parse_text(doc).unwrap(),
        source: "\"public\".\"metrics\"".into(),
        time_column: "time".into(),
        calls: 10,
        base_ms,
    }
}

fn doc(dims: &str, gran: &str, measures: &str, rest: &str) -> String {
    format!(
        r#"{{"source": "metrics", "time": {{"column": "time", "from": "now-7d"{gran}}}, "dimensions": [{dims}], "measures": [{measures}]{rest}}}"#
    )
}

fn run(obs: &[Observed]) -> Vec<Suggestion> {
    recommend(obs, &|_, _| Some(facts()), &|n| n == "metrics_1h")
}

#[test]
fn documents_of_one_source_share_a_rollup_with_the_union_of_what_they_need() {
    let obs = vec![
        observed(
            "a",
            &doc(
                r#""status""#,
                r#", "granularity": "1 hour""#,
                r#"{"name": "n", "agg": "count"}"#,
                "",
            ),
            900.0,
        ),
        observed(
            "b",
            &doc(
                r#""rule_category""#,
                r#", "granularity": "15 minutes""#,
                r#"{"name": "p", "agg": "percentile", "column": "ms", "q": 0.95}, {"name": "a", "agg": "avg", "column": "ms"}"#,
                r#", "where": [{"column": "metric_type", "op": "=", "value": "RULE_EXECUTION"}]"#,
            ),
            500.0,
        ),
        observed(
            "c",
            &doc(
                "",
                r#", "granularity": "1 day""#,
                r#"{"name": "n", "agg": "count"}"#,
                "",
            ),
            100.0,
        ),
        // exact percentiles are the base table's: nothing to suggest
        observed(
            "d",
            &doc(
                "",
                "",
                r#"{"name": "p", "agg": "percentile", "column": "ms", "q": 0.5}"#,
                r#", "exact": true"#,
            ),
            5000.0,
        ),
    ];
    let s = run(&obs);
    assert_eq!(s.len(), 1, "{s:?}");
    let r = &s[0];
    assert_eq!(r.width_secs, 900, "15 minutes tiles 1 hour and days");
    assert_eq!(r.dimensions, ["metric_type", "rule_category", "status"]);
    assert_eq!(r.fingerprints, ["a", "b", "c"]);
    assert_eq!((r.calls, r.base_ms), (30, 1500.0));
    assert_eq!(r.name, "metrics_15min");
    // 2,880 buckets x 96 combinations
    assert_eq!(r.est_rows, 2880.0 * 96.0);
    assert!((r.speedup - 10_000_000.0 / (2880.0 * 96.0)).abs() < 1e-6);
    assert_eq!(
        r.statement(),
        "CALL routed.create_rollup('metrics_15min', '\"public\".\"metrics\"', '900 seconds', \
         ARRAY['metric_type', 'rule_category', 'status']::text[], \
         '[{\"agg\":\"avg\",\"column\":\"ms\"},{\"agg\":\"count\"},{\"agg\":\"percentile\",\"column\":\"ms\"}]')"
    );
}

#[test]
fn a_document_that_would_make_the_rollup_too_wide_gets_its_own() {
    let obs = vec![
        observed(
            "narrow",
            &doc(
                r#""status""#,
                r#", "granularity": "1 hour""#,
                r#"{"name": "n", "agg": "count"}"#,
                "",
            ),
            900.0,
        ),
        // with it, 500 rules x 8 categories x 4 statuses x 720 hours: far above a fifth of the rows
        observed(
            "wide",
            &doc(
                r#""rule_id", "rule_category""#,
                r#", "granularity": "6 hours""#,
                r#"{"name": "n", "agg": "count"}"#,
                "",
            ),
            800.0,
        ),
        // one row per source row: no rollup helps
        observed(
            "id",
            &doc(r#""id""#, "", r#"{"name": "n", "agg": "count"}"#, ""),
            700.0,
        ),
    ];
    let s = run(&obs);
    assert_eq!(s.len(), 2, "{s:?}");
    assert_eq!(s[0].fingerprints, ["narrow"]);
    assert_eq!(s[0].name, "metrics_1h_2", "metrics_1h is taken");
    assert_eq!(s[1].fingerprints, ["wide"]);
    assert_eq!(
        (s[1].name.as_str(), s[1].width_secs),
        ("metrics_6h", 21_600)
    );
    // calendar days need hours (they start on the hour in the session's TimeZone): too wide
    let daily = doc(
        r#""rule_id", "rule_category""#,
        r#", "granularity": "1 day""#,
        r#"{"name": "n", "agg": "count"}"#,
        "",
    );
    assert!(run(&[observed("daily", &daily, 1.0)]).is_empty());
}

#[test]
fn joined_documents_need_the_key_not_the_attributes() {
    let q = r#"{"source": "metrics", "join": [{"table": "rules", "on": {"rule_id": "rule_id"}}],
        "time": {"column": "time", "from": "now-7d"}, "dimensions": ["rules.rule_name"],
        "measures": [{"name": "n", "agg": "count", "where": [{"column": "rules.rule_category", "op": "=", "value": "x"}]}]}"#;
    let s = run(&[observed("j", q, 10.0)]);
    assert_eq!(s[0].dimensions, ["rule_id"]);
    assert_eq!(s[0].width_secs, 3600);
}

#[test]
fn the_dimensions_order_does_not_follow_which_document_was_measured_slower() {
    let two = |a_ms: f64, b_ms: f64| {
        let obs = vec![
            observed(
                "a",
                &doc(
                    r#""status", "rule_category""#,
                    "",
                    r#"{"name": "n", "agg": "count"}"#,
                    "",
                ),
                a_ms,
            ),
            observed(
                "b",
                &doc(
                    r#""metric_type", "status""#,
                    "",
                    r#"{"name": "n", "agg": "count"}"#,
                    "",
                ),
                b_ms,
            ),
        ];
        run(&obs).remove(0).dimensions
    };
    assert_eq!(
        two(900.0, 100.0),
        ["status", "metric_type", "rule_category"]
    );
    assert_eq!(two(100.0, 900.0), two(900.0, 100.0));
}
