//! The router: a pure function from a bound document, the rollups of its source with their
//! freshness facts, the budget and the clock to a plan of time segments, each read from one
//! source. A rollup answers the whole buckets it holds exactly (or within budget); the base
//! table answers partial edge buckets, the tail above the watermark and invalidated buckets
//! too stale for the budget. At budget 0 the plan's answer is the base table's answer.

use crate::query::Agg;
use crate::resolve::{Bound, BoundMeasure, TimeKind};
use crate::rollup::{RollupDef, StateKind};
use crate::time::{format_interval, format_rfc3339_utc, Granularity, TimeBound};

const MICROS: i64 = 1_000_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SourceKind {
    Base,
    Rollup,
}

impl SourceKind {
    pub fn name(self) -> &'static str {
        match self {
            SourceKind::Base => "base",
            SourceKind::Rollup => "rollup",
        }
    }
}

/// Changes logged against a rollup and not yet refreshed: bucket-aligned `[lo, hi)` and the
/// time the oldest of them was logged (no later than its commit, so staleness measured from it
/// is never understated).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pending {
    pub lo_us: i64,
    pub hi_us: i64,
    pub since_us: i64,
}

/// A rollup of the document's source as the router sees it.
#[derive(Debug, Clone, PartialEq)]
pub struct RollupFacts {
    pub def: RollupDef,
    /// Rows below it are materialized (whole buckets in the rollup, the partial bucket at the
    /// watermark in its deltas); None while nothing is.
    pub watermark_us: Option<i64>,
    pub pending: Vec<Pending>,
    /// Why the caller may not read it at all (privileges, row security), if so.
    pub blocked: Option<String>,
}

/// The document's time window as absolute instants, evaluated by the server at `now`.
#[derive(Debug, Clone, PartialEq)]
pub struct Window {
    /// The instant staleness is measured at (the statement's clock, not the transaction's).
    pub now_us: i64,
    pub from_us: Option<i64>,
    pub to_us: i64,
    /// For calendar granularities: the bucket boundaries from the start of `from`'s bucket to
    /// `to`, so the router can check that a rollup's buckets tile the calendar buckets in the
    /// session TimeZone; None when they could not be listed (no `from`).
    pub calendar_boundaries_us: Option<Vec<i64>>,
}

/// One source the router considered, and why it can or cannot answer.
#[derive(Debug, Clone, PartialEq)]
pub struct Candidate {
    pub kind: SourceKind,
    pub relation: String,
    pub can_answer: bool,
    pub reason: String,
    /// Staleness of an answer from this source, in microseconds (None when it cannot answer).
    pub staleness_micros: Option<i64>,
    pub exact: bool,
}

/// A half-open time range `[from, to)` read from one source; open ends mean unbounded.
#[derive(Debug, Clone, PartialEq)]
pub struct Segment {
    pub kind: SourceKind,
    pub from: Option<TimeBound>,
    pub to: Option<TimeBound>,
}

/// The rollup part of a plan: read rollup buckets in `[from, to)` except those inside
/// `base_ranges`, and base rows inside `base_ranges` (sorted, disjoint).
#[derive(Debug, Clone, PartialEq)]
pub struct RollupRead {
    pub index: usize,
    pub from_us: Option<i64>,
    pub to_us: i64,
    pub base_ranges: Vec<(Option<i64>, i64)>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Plan {
    pub candidates: Vec<Candidate>,
    pub segments: Vec<Segment>,
    /// `meta.source`: base, rollup or rollup+base.
    pub source: &'static str,
    pub rollup: Option<RollupRead>,
    pub staleness_micros: i64,
    pub budget_micros: i64,
    pub approximate: bool,
}

pub fn plan(
    bound: &Bound,
    budget_micros: i64,
    rollups: &[RollupFacts],
    window: Option<&Window>,
) -> Plan {
    let base = Candidate {
        kind: SourceKind::Base,
        relation: bound.relation_display.clone(),
        can_answer: true,
        reason: "the base table answers every document exactly, at staleness 0".into(),
        staleness_micros: Some(0),
        exact: true,
    };
    let mut candidates = Vec::with_capacity(rollups.len() + 1);
    let mut best: Option<(usize, Coverage)> = None;
    for (i, r) in rollups.iter().enumerate() {
        match cover(bound, budget_micros, r, window) {
            Ok(c) => {
                candidates.push(Candidate {
                    kind: SourceKind::Rollup,
                    relation: r.def.name.clone(),
                    can_answer: true,
                    reason: c.reason.clone(),
                    staleness_micros: Some(c.staleness_us),
                    exact: c.staleness_us == 0 && !c.approximate,
                });
                let better = match &best {
                    None => true,
                    Some((j, _)) => {
                        let (a, b) = (&r.def, &rollups[*j].def);
                        (a.width_secs, std::cmp::Reverse(a.dimensions.len()))
                            > (b.width_secs, std::cmp::Reverse(b.dimensions.len()))
                    }
                };
                if better {
                    best = Some((i, c));
                }
            }
            Err(reason) => candidates.push(Candidate {
                kind: SourceKind::Rollup,
                relation: r.def.name.clone(),
                can_answer: false,
                reason,
                staleness_micros: None,
                exact: false,
            }),
        }
    }
    candidates.push(base);
    let Some((index, c)) = best else {
        let (from, to) = match &bound.time {
            Some(t) => (t.from, Some(t.to)),
            None => (None, None),
        };
        return Plan {
            candidates,
            segments: vec![Segment {
                kind: SourceKind::Base,
                from,
                to,
            }],
            source: "base",
            rollup: None,
            staleness_micros: 0,
            budget_micros,
            approximate: false,
        };
    };
    let abs = |us: i64| Some(TimeBound::Absolute(us));
    let mut segments = vec![Segment {
        kind: SourceKind::Rollup,
        from: c.from_us.and_then(abs),
        to: abs(c.to_us),
    }];
    segments.extend(c.base_ranges.iter().map(|(lo, hi)| Segment {
        kind: SourceKind::Base,
        from: lo.and_then(abs),
        to: abs(*hi),
    }));
    Plan {
        candidates,
        segments,
        source: if c.base_ranges.is_empty() {
            "rollup"
        } else {
            "rollup+base"
        },
        rollup: Some(RollupRead {
            index,
            from_us: c.from_us,
            to_us: c.to_us,
            base_ranges: c.base_ranges,
        }),
        staleness_micros: c.staleness_us,
        budget_micros,
        approximate: c.approximate,
    }
}

struct Coverage {
    from_us: Option<i64>,
    to_us: i64,
    base_ranges: Vec<(Option<i64>, i64)>,
    staleness_us: i64,
    approximate: bool,
    reason: String,
}

fn floor_to(us: i64, width: i64) -> i64 {
    us.div_euclid(width) * width
}

fn ceil_to(us: i64, width: i64) -> i64 {
    -floor_to(-us, width)
}

/// How much of the document a rollup can answer, or why it cannot.
fn cover(
    bound: &Bound,
    budget_us: i64,
    r: &RollupFacts,
    window: Option<&Window>,
) -> Result<Coverage, String> {
    let def = &r.def;
    if let Some(why) = &r.blocked {
        return Err(why.clone());
    }
    let (Some(t), Some(w)) = (&bound.time, window) else {
        return Err("the document has no time range; rollups answer time ranges only".into());
    };
    if t.column != def.time_column || t.kind != TimeKind::TimestampTz {
        return Err(format!(
            "the rollup is bucketed on {}, not {}",
            def.time_column, t.column
        ));
    }
    let width = def.width_secs * MICROS;
    match t.granularity {
        None => {}
        Some(Granularity::Fixed(g)) if g % def.width_secs == 0 => {}
        Some(Granularity::Fixed(_)) => {
            return Err(format!(
                "granularity is not a multiple of the rollup's {}",
                format_interval(width)
            ))
        }
        Some(cal) => {
            let Some(boundaries) = &w.calendar_boundaries_us else {
                return Err(format!(
                    "{} buckets need a time.from to check the rollup's grid",
                    cal.canonical()
                ));
            };
            // every boundary, the start of `from`'s bucket included: then each of the rollup's
            // buckets, edge buckets too, lies in one calendar bucket
            if let Some(b) = boundaries.iter().find(|b| b.rem_euclid(width) != 0) {
                return Err(format!(
                    "{} buckets in this TimeZone start off the rollup's {} grid (at {})",
                    cal.canonical(),
                    format_interval(width),
                    format_rfc3339_utc(*b)
                ));
            }
        }
    }
    let not_dimension = |c: &str| !def.dimensions.iter().any(|d| d == c);
    if let Some(d) = bound.dimensions.iter().find(|d| not_dimension(d)) {
        return Err(format!("{d} is not one of the rollup's dimensions"));
    }
    let filter_columns = bound
        .filters
        .iter()
        .chain(bound.measures.iter().flat_map(|m| m.filters.iter()));
    if let Some(f) = filter_columns.map(|f| &f.column).find(|c| not_dimension(c)) {
        return Err(format!(
            "the filter on {f} needs a column the rollup does not keep"
        ));
    }
    if let Some(m) = bound.measures.iter().find(|m| !derivable(def, m)) {
        return Err(format!(
            "{}({}) cannot be derived from the rollup's states",
            m.agg.name(),
            m.column.as_deref().unwrap_or("*")
        ));
    }
    let approximate = bound.measures.iter().any(|m| is_sketched(m.agg));
    if approximate && bound.exact {
        return Err("exact: true rules out the rollup's approximate sketches".into());
    }
    let Some(watermark) = r.watermark_us else {
        return Err("nothing is materialized yet".into());
    };
    let from = w.from_us.map(|f| ceil_to(f, width));
    // the watermark may fall inside a bucket (refresh materializes the partial bucket up to it
    // as deltas): that bucket is usable when the range runs through the watermark
    let to = if w.to_us >= watermark {
        watermark
    } else {
        floor_to(w.to_us, width)
    };
    if from.is_some_and(|f| f >= to) {
        return Err("no whole bucket of the range is materialized".into());
    }
    let mut base = Vec::new();
    if let (Some(f), Some(a)) = (w.from_us, from) {
        if f < a {
            base.push((Some(f), a));
        }
    }
    let mut staleness = 0;
    let mut refreshed_by_base = 0;
    for p in &r.pending {
        let lo = p.lo_us.max(from.unwrap_or(i64::MIN));
        let hi = p.hi_us.min(to);
        if lo >= hi {
            continue;
        }
        // at least 1µs: a bucket missing a logged change is never exact, however recent the
        // change (a transaction's own writes and commits after its now() included)
        let age = (w.now_us - p.since_us).max(1);
        if age <= budget_us {
            staleness = staleness.max(age);
        } else {
            // below every instant PostgreSQL can store: the range is open (a TRUNCATE)
            base.push(((lo > i64::MIN / 2).then_some(lo), hi));
            refreshed_by_base += 1;
        }
    }
    if to < w.to_us {
        base.push((Some(to), w.to_us));
    }
    let base = merge(base);
    let reason = format!(
        "materialized from {} to {}{}{}{}",
        from.map_or("the start".into(), format_rfc3339_utc),
        format_rfc3339_utc(to),
        if approximate {
            "; percentile and count_distinct from sketches (approximate)"
        } else {
            ""
        },
        if refreshed_by_base > 0 {
            format!("; {refreshed_by_base} invalidated range(s) read from the base table")
        } else {
            String::new()
        },
        if staleness > 0 {
            format!(
                "; invalidated buckets served at staleness {}",
                format_interval(staleness)
            )
        } else {
            String::new()
        }
    );
    Ok(Coverage {
        from_us: from,
        to_us: to,
        base_ranges: base,
        staleness_us: staleness,
        approximate,
        reason,
    })
}

fn derivable(def: &RollupDef, m: &BoundMeasure) -> bool {
    let col = m.column.as_deref();
    match (m.agg, col) {
        (Agg::Count, None) => def.state(StateKind::Rows, None).is_some(),
        (Agg::Count, c) => def.state(StateKind::Count, c).is_some(),
        (Agg::Sum, c) => def.state(StateKind::Sum, c).is_some(),
        (Agg::Min, c) => def.state(StateKind::Min, c).is_some(),
        (Agg::Max, c) => def.state(StateKind::Max, c).is_some(),
        (Agg::Avg, c) => {
            def.state(StateKind::AvgSum, c).is_some() && def.state(StateKind::Count, c).is_some()
        }
        (Agg::Percentile, c) => def.state(StateKind::Quantile, c).is_some(),
        (Agg::CountDistinct, c) => def.state(StateKind::Distinct, c).is_some(),
    }
}

/// Measures a rollup answers from sketches, approximately.
fn is_sketched(agg: Agg) -> bool {
    matches!(agg, Agg::Percentile | Agg::CountDistinct)
}

/// Sorts and merges overlapping or touching ranges (`None` = unbounded below).
fn merge(mut ranges: Vec<(Option<i64>, i64)>) -> Vec<(Option<i64>, i64)> {
    ranges.sort_by_key(|(lo, _)| lo.unwrap_or(i64::MIN));
    let mut out: Vec<(Option<i64>, i64)> = Vec::with_capacity(ranges.len());
    for (lo, hi) in ranges {
        match out.last_mut() {
            Some(last) if lo.unwrap_or(i64::MIN) <= last.1 => last.1 = last.1.max(hi),
            _ => out.push((lo, hi)),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn merge_joins_overlapping_and_touching_ranges() {
        let m = merge(vec![
            (Some(5), 7),
            (Some(1), 3),
            (Some(3), 4),
            (None, 0),
            (Some(6), 9),
        ]);
        assert_eq!(m, vec![(None, 0), (Some(1), 4), (Some(5), 9)]);
    }

    #[test]
    fn floor_and_ceil_handle_negative_instants() {
        assert_eq!(floor_to(-1, 10), -10);
        assert_eq!(ceil_to(-1, 10), 0);
        assert_eq!(ceil_to(10, 10), 10);
        assert_eq!(floor_to(19, 10), 10);
    }
}
