//! The router: a pure function from a bound document, the rollups of its source with their
//! freshness facts, the budget and the clock to a plan of time segments, each read from one
//! source. Each rollup answers the whole buckets it holds exactly (or within budget); several
//! may share one answer, the cheapest per unit of time first (coarse ones for the middle,
//! finer ones for the edges); the base table answers the rest: sub-bucket edges, the tail
//! above the watermarks, invalidated buckets too stale for the budget. At budget 0 the plan's
//! answer is the base table's answer.

use crate::resolve::{Bound, TimeKind};
use crate::rollup::RollupDef;
use crate::time::{format_interval, TimeBound};
use compose::{compose, opened, Usable};
use coverage::{cover, Coverage, OPEN};

mod compose;
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
    /// Its rows per row of the source (planner statistics), the cost of reading it against the
    /// base table over the same time; None when not yet analyzed.
    pub rows_per_base_row: Option<f64>,
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
    /// For a `timestamp` or `date` time column: the session TimeZone's UTC offset in seconds
    /// (east positive) when it is the same from a day before the window to a day after it;
    /// None when it changes there (or the column is timestamptz).
    pub offset_secs: Option<i64>,
}

impl Window {
    /// The window in the terms of a rollup over a `timestamp` or `date` column, whose buckets
    /// are wall-clock times stored as if read in UTC: each instant moved by the session's UTC
    /// offset (the clock `now` stays). Unchanged without a constant offset (such rollups
    /// cannot answer then).
    fn wall_clock(&self) -> Window {
        let off = self.offset_secs.unwrap_or(0) * MICROS;
        Window {
            now_us: self.now_us,
            from_us: self.from_us.map(|f| f.saturating_add(off)),
            to_us: self.to_us.saturating_add(off),
            calendar_boundaries_us: self
                .calendar_boundaries_us
                .as_ref()
                .map(|b| b.iter().map(|x| x.saturating_add(off)).collect()),
            offset_secs: self.offset_secs,
        }
    }
}

const MICROS: i64 = 1_000_000;

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
    /// For a rollup that can answer: its rows per row of the base table over the same time.
    pub cost: Option<f64>,
}

/// A half-open time range `[from, to)` read from one source; open ends mean unbounded.
#[derive(Debug, Clone, PartialEq)]
pub struct Segment {
    pub kind: SourceKind,
    /// The rollup's name, or the source relation for base segments.
    pub relation: String,
    pub from: Option<TimeBound>,
    pub to: Option<TimeBound>,
    /// Why this source reads this range.
    pub reason: String,
}

/// One rollup's part of a plan: its buckets starting inside `ranges` (sorted, disjoint; an
/// open start is None).
#[derive(Debug, Clone, PartialEq)]
pub struct RollupRead {
    pub index: usize,
    pub ranges: Vec<(Option<i64>, i64)>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Plan {
    pub candidates: Vec<Candidate>,
    pub segments: Vec<Segment>,
    /// `meta.source`: base, rollup or rollup+base.
    pub source: &'static str,
    /// The rollups read, cheapest first; empty for a base-only plan.
    pub rollups: Vec<RollupRead>,
    /// With rollups: the ranges the base table reads (sorted, disjoint).
    pub base_ranges: Vec<(Option<i64>, i64)>,
    pub staleness_micros: i64,
    pub budget_micros: i64,
    pub approximate: bool,
}

/// Cost of reading a rollup per unit of time against the base table: its statistics, else
/// (never analyzed) one base row a second.
fn cost(r: &RollupFacts) -> f64 {
    r.rows_per_base_row
        .unwrap_or(1.0 / r.def.width_secs.max(1) as f64)
}

pub fn plan(
    bound: &Bound,
    budget_micros: i64,
    rollups: &[RollupFacts],
    window: Option<&Window>,
) -> Plan {
    // a timestamp or date column's rollups hold wall-clock buckets: the router works in their
    // terms and moves what the base table reads back to instants
    let wall_clock = bound
        .time
        .as_ref()
        .is_some_and(|t| t.kind != TimeKind::TimestampTz);
    let moved = window.filter(|_| wall_clock).map(Window::wall_clock);
    let window = moved.as_ref().or(window);
    let back = window
        .and_then(|w| w.offset_secs)
        .filter(|_| wall_clock)
        .unwrap_or(0)
        * MICROS;
    let mut candidates = Vec::with_capacity(rollups.len() + 1);
    let mut covers: Vec<(usize, Coverage)> = Vec::new();
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
                    cost: Some(cost(r)),
                });
                covers.push((i, c));
            }
            Err(reason) => candidates.push(Candidate {
                kind: SourceKind::Rollup,
                relation: r.def.name.clone(),
                can_answer: false,
                reason,
                staleness_micros: None,
                exact: false,
                cost: None,
            }),
        }
    }
    candidates.push(Candidate {
        kind: SourceKind::Base,
        relation: bound.relation_display.clone(),
        can_answer: true,
        reason: "the base table answers every document exactly, at staleness 0".into(),
        staleness_micros: Some(0),
        exact: true,
        cost: Some(1.0),
    });
    let composed = window.filter(|_| !covers.is_empty()).map(|w| {
        let usable = covers
            .iter()
            .map(|(i, c)| Usable {
                index: *i,
                cover: c,
                cost: cost(&rollups[*i]),
                width: c.width,
            })
            .collect();
        compose(w.from_us.unwrap_or(OPEN), w.to_us, usable)
    });
    let Some(composed) = composed.filter(|c| !c.reads.is_empty()) else {
        return base_plan(bound, candidates, budget_micros);
    };
    let abs = |us: i64| Some(TimeBound::Absolute(us - back));
    let mut segments = Vec::new();
    let mut approximate = false;
    let mut reads = Vec::new();
    for (index, ranges) in &composed.reads {
        let c = &covers
            .iter()
            .find(|(i, _)| i == index)
            .expect("read from a cover")
            .1;
        approximate |= c.approximate;
        let r = &rollups[*index];
        for &(lo, hi) in ranges {
            segments.push(Segment {
                kind: SourceKind::Rollup,
                relation: r.def.name.clone(),
                from: opened(lo).and_then(abs),
                to: abs(hi),
                reason: format!(
                    "whole {} buckets below its watermark, {:.4} of the base table's rows per unit of time",
                    format_interval(c.width),
                    cost(r)
                ),
            });
        }
        reads.push(RollupRead {
            index: *index,
            ranges: ranges.iter().map(|&(lo, hi)| (opened(lo), hi)).collect(),
        });
    }
    for &(lo, hi) in &composed.base {
        segments.push(Segment {
            kind: SourceKind::Base,
            relation: bound.relation_display.clone(),
            from: opened(lo).and_then(abs),
            to: abs(hi),
            reason: "no whole materialized bucket of a usable rollup covers it (edge, tail or invalidated)".into(),
        });
    }
    segments.sort_by_key(|s| match s.from {
        Some(TimeBound::Absolute(us)) => us,
        _ => i64::MIN,
    });
    Plan {
        candidates,
        segments,
        source: if composed.base.is_empty() {
            "rollup"
        } else {
            "rollup+base"
        },
        rollups: reads,
        base_ranges: composed
            .base
            .iter()
            .map(|&(lo, hi)| (opened(lo).map(|l| l - back), hi - back))
            .collect(),
        staleness_micros: composed.staleness_us,
        budget_micros,
        approximate,
    }
}

/// The whole document from the base table.
fn base_plan(bound: &Bound, candidates: Vec<Candidate>, budget_micros: i64) -> Plan {
    let (from, to) = match &bound.time {
        Some(t) => (t.from, Some(t.to)),
        None => (None, None),
    };
    Plan {
        candidates,
        segments: vec![Segment {
            kind: SourceKind::Base,
            relation: bound.relation_display.clone(),
            from,
            to,
            reason: "no rollup can answer the document".into(),
        }],
        source: "base",
        rollups: Vec::new(),
        base_ranges: Vec::new(),
        staleness_micros: 0,
        budget_micros,
        approximate: false,
    }
}
