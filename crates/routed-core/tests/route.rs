// The router against rollup facts: which candidate answers, which time segments go to the
// base table, and the staleness it claims. Pure: no server, times in microseconds.

mod common;

use routed_core::codegen::generate;
use routed_core::parse::parse_text;
use routed_core::resolve::{bind, Bound};
use routed_core::rollup::{parse_states, RollupDef};
use routed_core::route::{plan, Pending, Plan, RollupFacts, Window};

const HOUR: i64 = 3_600_000_000;
/// 2026-11-01T00:00:00Z
const NOV1: i64 = 1_793_491_200_000_000;
const NOW: i64 = NOV1 + 24 * 24 * HOUR;

fn bound(doc: &str) -> Bound {
    bind(&parse_text(doc).unwrap(), &common::metrics()).unwrap()
}

fn hourly(pending: Vec<Pending>) -> RollupFacts {
    let measures =
        serde_json::json!([{"agg": "count"}, {"agg": "avg", "column": "execution_time_ms"}]);
    RollupFacts {
        def: RollupDef {
            name: "metrics_hourly".into(),
            time_column: "ts".into(),
            width_secs: 3600,
            dimensions: vec!["status".into(), "region".into()],
            states: parse_states(&measures, &common::metrics()).unwrap(),
        },
        watermark_us: Some(NOW - 2 * HOUR),
        pending,
        blocked: None,
        rows_per_base_row: None,
    }
}

fn window(from: Option<i64>, to: i64) -> Window {
    Window {
        now_us: NOW,
        from_us: from,
        to_us: to,
        calendar_boundaries_us: None,
        offset_secs: None,
    }
}

const DAYS_2_TO_9: &str = r#"{"source": "metrics", "time": {"column": "ts", "from": "2026-11-02T00:00:00Z",
  "to": "2026-11-09T00:00:00Z", "granularity": "3 hours"}, "dimensions": ["status"],
  "measures": [{"name": "n", "agg": "count"}, {"name": "a", "agg": "avg", "column": "execution_time_ms"}]}"#;

fn route(doc: &str, budget: i64, facts: &[RollupFacts], w: &Window) -> Plan {
    plan(&bound(doc), budget, facts, Some(w))
}

#[test]
fn whole_buckets_come_from_the_rollup_alone() {
    let p = route(
        DAYS_2_TO_9,
        0,
        &[hourly(vec![])],
        &window(Some(NOV1 + 24 * HOUR), NOV1 + 8 * 24 * HOUR),
    );
    assert_eq!(p.source, "rollup");
    assert_eq!(p.staleness_micros, 0);
    assert!(p.base_ranges.is_empty());
}

#[test]
fn partial_edges_and_the_tail_go_to_the_base_table() {
    let from = NOV1 + 24 * HOUR + HOUR / 2;
    let p = route(DAYS_2_TO_9, 0, &[hourly(vec![])], &window(Some(from), NOW));
    assert_eq!(p.source, "rollup+base");
    assert_eq!(
        p.rollups[0].ranges,
        vec![(Some(NOV1 + 25 * HOUR), NOW - 2 * HOUR)]
    );
    assert_eq!(
        p.base_ranges,
        vec![(Some(from), NOV1 + 25 * HOUR), (Some(NOW - 2 * HOUR), NOW)]
    );
}

#[test]
fn invalidated_buckets_are_read_from_the_base_table_at_budget_zero() {
    let pending = Pending {
        lo_us: NOV1 + 30 * HOUR,
        hi_us: NOV1 + 32 * HOUR,
        since_us: NOW - 60_000_000,
    };
    let w = window(Some(NOV1 + 24 * HOUR), NOV1 + 8 * 24 * HOUR);
    let p = route(DAYS_2_TO_9, 0, &[hourly(vec![pending])], &w);
    assert_eq!(p.source, "rollup+base");
    assert_eq!(p.staleness_micros, 0);
    assert_eq!(
        p.base_ranges,
        vec![(Some(NOV1 + 30 * HOUR), NOV1 + 32 * HOUR)]
    );
    // a budget of two minutes serves the bucket as it is, and says it is a minute stale
    let p = route(DAYS_2_TO_9, 120_000_000, &[hourly(vec![pending])], &w);
    assert_eq!((p.source, p.staleness_micros), ("rollup", 60_000_000));
}

#[test]
fn a_change_logged_after_now_is_never_served_as_exact() {
    // the reader's transaction began before the change was logged (its own write, or a commit
    // it sees in READ COMMITTED): the age is not negative, and budget 0 reads the base table
    let pending = Pending {
        lo_us: NOV1 + 30 * HOUR,
        hi_us: NOV1 + 31 * HOUR,
        since_us: NOW + 5_000_000,
    };
    let p = route(
        DAYS_2_TO_9,
        0,
        &[hourly(vec![pending])],
        &window(Some(NOV1 + 24 * HOUR), NOV1 + 8 * 24 * HOUR),
    );
    assert_eq!(
        p.base_ranges,
        vec![(Some(NOV1 + 30 * HOUR), NOV1 + 31 * HOUR)]
    );
    let p = route(
        DAYS_2_TO_9,
        1_000_000,
        &[hourly(vec![pending])],
        &window(Some(NOV1 + 24 * HOUR), NOV1 + 8 * 24 * HOUR),
    );
    assert_eq!(p.staleness_micros, 1, "served stale, so not claimed exact");
}

#[test]
fn a_truncate_sends_everything_below_the_range_to_the_base_table() {
    let pending = Pending {
        lo_us: i64::MIN + 1,
        hi_us: i64::MAX,
        since_us: NOW - 1,
    };
    let p = route(
        DAYS_2_TO_9,
        0,
        &[hourly(vec![pending])],
        &window(Some(NOV1 + 24 * HOUR), NOV1 + 8 * 24 * HOUR),
    );
    // nothing is left for the rollup: the whole plan reads the base table
    assert_eq!(p.source, "base");
    assert!(p.rollups.is_empty());
    let open = r#"{"source": "metrics", "time": {"column": "ts", "to": "2026-11-09T00:00:00Z"},
      "measures": [{"name": "n", "agg": "count"}]}"#;
    let p = route(
        open,
        0,
        &[hourly(vec![pending])],
        &window(None, NOV1 + 8 * 24 * HOUR),
    );
    assert_eq!(p.source, "base");
}

#[test]
fn what_a_rollup_cannot_answer_goes_to_the_base_table_with_a_reason() {
    let w = window(Some(NOV1 + 24 * HOUR), NOV1 + 8 * 24 * HOUR);
    let cases = [
        (
            r#""dimensions": ["rule_category"]"#,
            "not one of the rollup's dimensions",
        ),
        (
            r#""where": [{"column": "metric_type", "op": "=", "value": "x"}]"#,
            "needs a column the rollup does not keep",
        ),
        (
            r#""measures": [{"name": "p", "agg": "percentile", "column": "execution_time_ms", "q": 0.5}]"#,
            "cannot be derived",
        ),
        (
            r#""measures": [{"name": "s", "agg": "sum", "column": "records"}]"#,
            "cannot be derived",
        ),
    ];
    for (part, reason) in cases {
        let mut doc: serde_json::Value = serde_json::from_str(DAYS_2_TO_9).unwrap();
        let extra: serde_json::Value = serde_json::from_str(&format!("{{{part}}}")).unwrap();
        for (k, v) in extra.as_object().unwrap() {
            doc[k] = v.clone();
        }
        let p = route(&doc.to_string(), 0, &[hourly(vec![])], &w);
        assert_eq!(p.source, "base", "{part}");
        assert!(
            p.candidates[0].reason.contains(reason),
            "{part}: {}",
            p.candidates[0].reason
        );
    }
    let ninety = DAYS_2_TO_9.replace("3 hours", "90 minutes");
    assert_eq!(route(&ninety, 0, &[hourly(vec![])], &w).source, "base");
}

#[test]
fn calendar_buckets_need_boundaries_on_the_rollup_grid() {
    let daily = DAYS_2_TO_9.replace("3 hours", "1 day");
    let mut w = window(Some(NOV1 + 24 * HOUR), NOV1 + 8 * 24 * HOUR);
    w.calendar_boundaries_us = Some((1..9).map(|d| NOV1 + d * 24 * HOUR).collect());
    assert_eq!(route(&daily, 0, &[hourly(vec![])], &w).source, "rollup");
    // Asia/Kolkata: days start at 18:30 UTC
    w.calendar_boundaries_us = Some(
        (1..9)
            .map(|d| NOV1 + d * 24 * HOUR - 5 * HOUR - HOUR / 2)
            .collect(),
    );
    let p = route(&daily, 0, &[hourly(vec![])], &w);
    assert_eq!(p.source, "base");
    assert!(p.candidates[0].reason.contains("off the rollup's"));
}

#[test]
fn without_statistics_the_coarser_rollup_is_the_cheaper() {
    let mut coarse = hourly(vec![]);
    coarse.def.name = "metrics_3h".into();
    coarse.def.width_secs = 3 * 3600;
    let p = route(
        DAYS_2_TO_9,
        0,
        &[hourly(vec![]), coarse],
        &window(Some(NOV1 + 24 * HOUR), NOV1 + 8 * 24 * HOUR),
    );
    assert_eq!(p.rollups.len(), 1, "aligned days need no finer rollup");
    assert_eq!(p.rollups[0].index, 1);
}

#[test]
fn rollup_sql_merges_states_and_keeps_values_as_parameters() {
    let b = bound(DAYS_2_TO_9);
    let facts = hourly(vec![]);
    let p = plan(
        &b,
        0,
        std::slice::from_ref(&facts),
        Some(&window(Some(NOV1 + 24 * HOUR + 1), NOW)),
    );
    let g = generate(&b, &p, &[&facts.def]);
    assert!(
        g.rows_sql.contains("FROM (SELECT * FROM \"routed\".\"metrics_hourly\" UNION ALL SELECT * FROM \"routed\".\"metrics_hourly$delta\") AS r"),
        "{}",
        g.rows_sql
    );
    assert!(g.rows_sql.contains("UNION ALL"));
    assert!(g
        .rows_sql
        .contains("CAST(sum(u.\"avg_sum(execution_time_ms)\") AS \"pg_catalog\".\"float8\")"));
    assert!(
        !g.rows_sql.contains("2026-"),
        "times travel as parameters: {}",
        g.rows_sql
    );
}

#[test]
fn sketches_answer_approximately_unless_the_document_demands_exact() {
    let measures = serde_json::json!([{"agg": "count"}, {"agg": "percentile", "column": "execution_time_ms"},
                                      {"agg": "count_distinct", "column": "rule_id"}]);
    let mut facts = hourly(vec![]);
    facts.def.states = parse_states(&measures, &common::metrics()).unwrap();
    let doc = r#"{"source": "metrics", "time": {"column": "ts", "from": "2026-11-02T00:00:00Z", "to": "2026-11-09T00:00:00Z"},
      "measures": [{"name": "p", "agg": "percentile", "column": "execution_time_ms", "q": 0.95},
                   {"name": "r", "agg": "count_distinct", "column": "rule_id"}]}"#;
    let w = window(Some(NOV1 + 24 * HOUR), NOV1 + 8 * 24 * HOUR);
    let p = route(doc, 0, std::slice::from_ref(&facts), &w);
    assert_eq!((p.source, p.approximate), ("rollup", true));
    assert!(!p.candidates[0].exact);
    let g = generate(&bound(doc), &p, &[&facts.def]);
    assert!(g.rows_sql.contains("\"routed\".\"quantile\"(\"routed\".\"quantile_merge\"(u.\"quantile(execution_time_ms)\")"), "{}", g.rows_sql);
    assert!(g.rows_sql.contains(
        "\"routed\".\"distinct_count\"(\"routed\".\"distinct_merge\"(u.\"distinct(rule_id)\")"
    ));
    let exact = doc.replacen("\"measures\"", "\"exact\": true, \"measures\"", 1);
    let p = route(&exact, 0, std::slice::from_ref(&facts), &w);
    assert_eq!((p.source, p.approximate), ("base", false));
    assert!(p.candidates[0].reason.contains("exact: true"));
}

#[test]
fn a_watermark_inside_a_bucket_serves_that_bucket_only_to_ranges_through_it() {
    let mut facts = hourly(vec![]);
    facts.watermark_us = Some(NOW - 20 * 60_000_000);
    // through the watermark: the partial bucket from the rollup, only newer rows from the base
    let p = route(
        DAYS_2_TO_9,
        0,
        std::slice::from_ref(&facts),
        &window(Some(NOV1 + 24 * HOUR), NOW),
    );
    assert_eq!(p.rollups[0].ranges[0].1, NOW - 20 * 60_000_000);
    assert_eq!(p.base_ranges, vec![(Some(NOW - 20 * 60_000_000), NOW)]);
    // ending before it, inside its bucket: whole buckets only
    let to = NOW - 30 * 60_000_000;
    let p = route(
        DAYS_2_TO_9,
        0,
        std::slice::from_ref(&facts),
        &window(Some(NOV1 + 24 * HOUR), to),
    );
    assert_eq!(p.rollups[0].ranges[0].1, NOW - HOUR);
    assert_eq!(p.base_ranges, vec![(Some(NOW - HOUR), to)]);
}

#[test]
fn covering_index_leads_with_the_first_dimension_and_keeps_plain_states() {
    let measures = serde_json::json!([{"agg": "sum", "column": "records_processed"},
                          {"agg": "percentile", "column": "execution_time_ms"}]);
    let def = RollupDef {
        name: "m".into(),
        time_column: "ts".into(),
        width_secs: 3600,
        dimensions: vec!["status".into(), "region".into()],
        states: parse_states(&measures, &common::metrics()).unwrap(),
    };
    let sql = def.covering_index_sql().unwrap();
    assert!(
        sql.starts_with("CREATE INDEX ON \"routed\".\"m\" (\"status\", bucket) INCLUDE (\"region\", \"count(*)\", \"sum(records_processed)\""),
        "{sql}"
    );
    assert!(
        !sql.contains("quantile"),
        "sketches stay out of the index: {sql}"
    );
    let bare = RollupDef {
        dimensions: vec![],
        ..def
    };
    assert_eq!(bare.covering_index_sql(), None);
}
