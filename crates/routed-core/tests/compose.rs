// Composed plans: several rollups of one source share an answer, the cheapest per unit of time
// first; the base table reads only what no rollup covers. The segments must tile the window
// exactly (no gap, no overlap), each rollup segment made of its own whole buckets, below its
// watermark and outside changes too old for the budget.

mod common;

use proptest::prelude::*;
use routed_core::parse::parse_text;
use routed_core::resolve::{bind, Bound};
use routed_core::rollup::{parse_states, RollupDef};
use routed_core::route::{plan, Pending, Plan, RollupFacts, SourceKind, Window};
use routed_core::time::TimeBound;

const HOUR: i64 = 3_600_000_000;
const DAY: i64 = 24 * HOUR;
/// 2026-11-01T00:00:00Z
const NOV1: i64 = 1_793_491_200_000_000;
const NOW: i64 = NOV1 + 30 * DAY;

fn rollup(name: &str, width_secs: i64, dims: &[&str], cost: Option<f64>) -> RollupFacts {
    let measures = serde_json::json!([{"agg": "count"}, {"agg": "sum", "column": "records"}]);
    RollupFacts {
        def: RollupDef {
            name: name.into(),
            time_column: "ts".into(),
            width_secs,
            dimensions: dims.iter().map(|d| d.to_string()).collect(),
            states: parse_states(&measures, &common::metrics()).unwrap(),
        },
        watermark_us: Some(NOW - 10 * 60_000_000),
        pending: vec![],
        blocked: None,
        rows_per_base_row: cost,
    }
}

fn hourly() -> RollupFacts {
    rollup("m_hourly", 3600, &["status", "region"], Some(0.1))
}

fn daily() -> RollupFacts {
    rollup("m_daily", 86_400, &["status", "region"], Some(0.01))
}

fn bound() -> Bound {
    // the window comes from Window below; the document's own bounds only need a time range
    let doc = r#"{"source": "metrics", "time": {"column": "ts", "from": "now-30d"},
      "where": [{"column": "status", "op": "=", "value": "ERROR"}],
      "measures": [{"name": "n", "agg": "count"}, {"name": "r", "agg": "sum", "column": "records"}]}"#;
    bind(&parse_text(doc).unwrap(), &common::metrics()).unwrap()
}

fn route(facts: &[RollupFacts], from: i64, to: i64, budget: i64) -> Plan {
    let w = Window {
        now_us: NOW,
        from_us: Some(from),
        to_us: to,
        calendar_boundaries_us: None,
        offset_secs: None,
    };
    plan(&bound(), budget, facts, Some(&w))
}

fn at(b: &Option<TimeBound>) -> i64 {
    match b {
        Some(TimeBound::Absolute(us)) => *us,
        other => panic!("plans carry absolute bounds, got {other:?}"),
    }
}

/// (source relation, from, to) of each segment, in time order.
fn tiles(p: &Plan) -> Vec<(String, i64, i64)> {
    p.segments
        .iter()
        .map(|s| (s.relation.clone(), at(&s.from), at(&s.to)))
        .collect()
}

#[test]
fn the_daily_rollup_tiles_the_middle_the_hourly_the_edges_the_base_the_rest() {
    // the last 30 days up to a minute past 10:08, the ADR-0034 shape
    let to = NOV1 + 29 * DAY + 10 * HOUR + 8 * 60_000_000 + 1;
    let from = to - 30 * DAY + 1;
    let p = route(&[hourly(), daily()], from, to, 0);
    assert_eq!(p.source, "rollup+base");
    let d = |n: i64| NOV1 + n * DAY;
    let h = |n: i64| from - from.rem_euclid(HOUR) + n * HOUR;
    assert_eq!(
        tiles(&p),
        vec![
            ("public.metrics".into(), from, h(1)),
            ("m_hourly".into(), h(1), d(0)),
            ("m_daily".into(), d(0), d(29)),
            ("m_hourly".into(), d(29), d(29) + 10 * HOUR),
            ("public.metrics".into(), d(29) + 10 * HOUR, to),
        ]
    );
    // the cheaper rollup is read first, and meta names both
    assert_eq!(
        p.rollups.iter().map(|r| r.index).collect::<Vec<_>>(),
        vec![1, 0]
    );
}

#[test]
fn cost_decides_not_width() {
    // an hourly rollup with fewer rows per unit of time than the daily one (fewer dimensions)
    // answers everything it can; the daily one has nothing left to add
    let lean = rollup("m_hourly_status", 3600, &["status"], Some(0.001));
    let p = route(&[daily(), lean], NOV1 + HOUR / 2, NOV1 + 5 * DAY, 0);
    assert_eq!(p.rollups.len(), 1);
    assert_eq!(p.rollups[0].index, 1);
    // a rollup no cheaper than the base table is never read
    let dense = rollup("m_dense", 3600, &["status"], Some(1.5));
    assert_eq!(route(&[dense], NOV1, NOV1 + DAY, 0).source, "base");
}

#[test]
fn a_day_invalidated_in_the_daily_rollup_is_read_from_the_hourly_one_at_budget_zero() {
    let mut daily = daily();
    daily.pending = vec![Pending {
        lo_us: NOV1 + 3 * DAY,
        hi_us: NOV1 + 4 * DAY,
        since_us: NOW - 60_000_000,
    }];
    let p = route(&[hourly(), daily.clone()], NOV1, NOV1 + 7 * DAY, 0);
    assert_eq!((p.source, p.staleness_micros), ("rollup", 0));
    assert!(tiles(&p).contains(&("m_hourly".into(), NOV1 + 3 * DAY, NOV1 + 4 * DAY)));
    // within budget the daily rollup serves it and says how stale
    let p = route(&[hourly(), daily], NOV1, NOV1 + 7 * DAY, 120_000_000);
    assert_eq!(p.rollups.len(), 1);
    assert_eq!(p.staleness_micros, 60_000_000);
}

fn checks(facts: &[RollupFacts], from: i64, to: i64, budget: i64) -> Result<(), TestCaseError> {
    let p = route(facts, from, to, budget);
    if p.rollups.is_empty() {
        // nothing for a rollup: the document as it was written, from the base table
        prop_assert_eq!((p.source, p.segments.len()), ("base", 1));
        return Ok(());
    }
    let t = tiles(&p);
    // tiles the window: starts at from, ends at to, each segment starts where the last ended
    prop_assert_eq!(t.first().map(|s| s.1), Some(from));
    prop_assert_eq!(t.last().map(|s| s.2), Some(to));
    for pair in t.windows(2) {
        prop_assert_eq!(pair[0].2, pair[1].1, "gap or overlap in {:?}", t);
    }
    for (s, (rel, lo, hi)) in p.segments.iter().zip(&t) {
        prop_assert!(lo < hi);
        if s.kind == SourceKind::Base {
            continue;
        }
        let r = facts.iter().find(|r| &r.def.name == rel).unwrap();
        let width = r.def.width_secs * 1_000_000;
        let watermark = r.watermark_us.unwrap();
        prop_assert_eq!(lo.rem_euclid(width), 0, "starts on its grid");
        prop_assert!(*hi <= watermark);
        prop_assert!(hi.rem_euclid(width) == 0 || *hi == watermark);
        for pd in &r.pending {
            if NOW - pd.since_us > budget {
                prop_assert!(*hi <= pd.lo_us || *lo >= pd.hi_us, "reads a stale range");
            }
        }
    }
    Ok(())
}

proptest! {
    #[test]
    fn segments_tile_the_window_from_sources_that_can_answer_them(
        from_off in 0..20 * DAY, len in 1..12 * DAY, wm_off in 0..DAY,
        stale_day in 0i64..30, stale_age in 0..600_000_000i64, budget in 0..300_000_000i64,
        five_min in any::<bool>(),
    ) {
        let from = NOV1 + from_off;
        let to = (from + len).min(NOW);
        let mut h = hourly();
        h.watermark_us = Some(NOW - wm_off);
        let mut d = daily();
        d.watermark_us = Some(NOW - wm_off / 2 - DAY);
        d.pending = vec![Pending { lo_us: NOV1 + stale_day * DAY, hi_us: NOV1 + (stale_day + 1) * DAY, since_us: NOW - stale_age }];
        let mut facts = vec![h, d];
        if five_min {
            facts.push(rollup("m_5min", 300, &["status", "region"], Some(0.5)));
        }
        checks(&facts, from, to, budget)?;
    }
}

#[test]
fn one_statement_reads_every_rollup_of_the_plan_and_the_base_rows_once() {
    let to = NOV1 + 29 * DAY + 10 * HOUR + 8 * 60_000_000 + 1;
    let facts = [hourly(), daily()];
    let p = route(&facts, to - 30 * DAY + 1, to, 0);
    let defs: Vec<&RollupDef> = p.rollups.iter().map(|r| &facts[r.index].def).collect();
    let g = routed_core::codegen::generate(&bound(), &p, &defs);
    // the daily rollup once (one range), the hourly one once per edge (each range its own
    // part, so each is read index-only), the base table once for both partial edges
    for (rel, n) in [
        ("\"routed\".\"m_daily\"", 1),
        ("\"routed\".\"m_hourly$delta\"", 2),
        ("\"public\".\"metrics\" AS s", 1),
    ] {
        assert_eq!(
            g.rows_sql.matches(rel).count(),
            n,
            "{rel} in {}",
            g.rows_sql
        );
    }
    assert_eq!(
        g.rows_sql.matches(" OR (r.bucket").count(),
        0,
        "{}",
        g.rows_sql
    );
    assert_eq!(g.rows_sql.matches("UNION ALL").count(), 6, "{}", g.rows_sql);
}
