//! The router: a pure function from a bound document, the rollups of its source with their
//! freshness facts, the budget and the clock to a plan of time segments, each read from one
//! source. A rollup answers the whole buckets it holds exactly (or within budget); the base
//! table answers partial edge buckets, the tail above the watermark and invalidated buckets
//! too stale for the budget. At budget 0 the plan's answer is the base table's answer.

use crate::resolve::Bound;
use crate::rollup::RollupDef;
use crate::time::TimeBound;
use coverage::{cover, Coverage};

mod coverage;
mod eligible;

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
