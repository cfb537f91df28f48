// Rollups over a `date` or `timestamp` column keep wall-clock buckets (stored as if read in
// UTC): the router moves the window by the session's UTC offset to pick their buckets and
// moves what the base table reads back to instants. Pure: no server, times in microseconds.

mod common;

use routed_core::codegen::generate;
use routed_core::parse::parse_text;
use routed_core::resolve::{bind, Bound};
use routed_core::rollup::{parse_states, RollupDef};
use routed_core::route::{plan, Plan, RollupFacts, Window};

const HOUR: i64 = 3_600_000_000;
/// 2026-11-01T00:00:00Z
const NOV1: i64 = 1_793_491_200_000_000;
const NOW: i64 = NOV1 + 24 * 24 * HOUR;

fn bound(doc: &str) -> Bound {
    bind(&parse_text(doc).unwrap(), &common::metrics()).unwrap()
}

/// An hourly rollup over the `day` (date) column, materialized to two hours before now.
fn hourly_on_day() -> RollupFacts {
    let measures = serde_json::json!([{"agg": "sum", "column": "records"}]);
    RollupFacts {
        def: RollupDef {
            name: "metrics_by_day".into(),
            time_column: "day".into(),
            width_secs: 3600,
            dimensions: vec!["status".into()],
            states: parse_states(&measures, &common::metrics()).unwrap(),
        },
        watermark_us: Some(NOW - 2 * HOUR),
        pending: vec![],
        blocked: None,
        rows_per_base_row: None,
    }
}

fn doc(granularity: &str) -> String {
    format!(
        r#"{{"source": "metrics", "time": {{"column": "day", "from": "2026-11-02T00:00:00Z",
  "to": "2026-11-09T00:00:00Z"{granularity}}}, "dimensions": ["status"],
  "measures": [{{"name": "r", "agg": "sum", "column": "records"}}]}}"#
    )
}

fn route(doc: &str, offset_secs: Option<i64>) -> Plan {
    // the session's day boundaries, as instants
    let off = offset_secs.unwrap_or(0) * 1_000_000;
    let w = Window {
        now_us: NOW,
        from_us: Some(NOV1 + 24 * HOUR),
        to_us: NOV1 + 8 * 24 * HOUR,
        calendar_boundaries_us: Some((1..9).map(|d| NOV1 + d * 24 * HOUR - off).collect()),
        offset_secs,
    };
    plan(&bound(doc), 0, &[hourly_on_day()], Some(&w))
}

#[test]
fn in_utc_the_wall_clock_buckets_are_the_instants() {
    let p = route(&doc(r#", "granularity": "1 day""#), Some(0));
    assert_eq!(p.source, "rollup", "{:?}", p.candidates);
    assert_eq!(
        p.rollups[0].ranges,
        vec![(Some(NOV1 + 24 * HOUR), NOV1 + 8 * 24 * HOUR)]
    );
    let def = hourly_on_day().def;
    let sql = generate(&bound(&doc(r#", "granularity": "1 day""#)), &p, &[&def]).rows_sql;
    assert!(
        sql.contains(r#"CAST((r.bucket AT TIME ZONE 'UTC') AS "pg_catalog"."timestamptz")"#),
        "{sql}"
    );
}

#[test]
fn an_offset_moves_the_rollup_part_and_the_base_edges_back_to_instants() {
    // +05:30: 00:00Z is 05:30 on the wall clock; whole wall-clock hours from 06:00 come from
    // the rollup, the half hour before (00:00Z..00:30Z as instants) from the base table
    let p = route(&doc(""), Some(19_800));
    assert_eq!(p.source, "rollup+base", "{:?}", p.candidates);
    let off = 19_800 * 1_000_000;
    assert_eq!(
        p.rollups[0].ranges,
        vec![(Some(NOV1 + 30 * HOUR), NOV1 + 8 * 24 * HOUR + 5 * HOUR)]
    );
    assert_eq!(
        p.base_ranges,
        vec![
            (Some(NOV1 + 24 * HOUR), NOV1 + 30 * HOUR - off),
            (
                Some(NOV1 + 8 * 24 * HOUR + 5 * HOUR - off),
                NOV1 + 8 * 24 * HOUR
            ),
        ]
    );
}

#[test]
fn hourly_answers_in_a_half_hour_zone_are_not_read_from_hourly_wall_clock_buckets() {
    let p = route(&doc(r#", "granularity": "1 hour""#), Some(19_800));
    assert_eq!(p.source, "base");
    assert!(
        p.candidates[0].reason.contains("+05:30"),
        "{:?}",
        p.candidates
    );
    // a whole-hour zone lines up: 00:00Z is 19:00 on the wall clock, a whole hour
    let p = route(&doc(r#", "granularity": "1 hour""#), Some(-5 * 3600));
    assert_eq!(p.source, "rollup", "{:?}", p.candidates);
    assert_eq!(
        p.rollups[0].ranges,
        vec![(Some(NOV1 + 19 * HOUR), NOV1 + 7 * 24 * HOUR + 19 * HOUR)]
    );
}

#[test]
fn an_offset_change_near_the_window_leaves_it_to_the_base_table() {
    let p = route(&doc(""), None);
    assert_eq!(p.source, "base");
    assert!(
        p.candidates[0].reason.contains("changes its UTC offset"),
        "{:?}",
        p.candidates
    );
}
