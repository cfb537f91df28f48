//! The router: a pure function from a bound document, the candidate sources and the budget to
//! a plan of time segments, each read from one source. Today the base table is the only
//! candidate; rollups and the cache add candidates here without changing the plan's shape.

use crate::resolve::Bound;
use crate::time::TimeBound;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SourceKind {
    Base,
}

impl SourceKind {
    pub fn name(self) -> &'static str {
        match self {
            SourceKind::Base => "base",
        }
    }
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

#[derive(Debug, Clone, PartialEq)]
pub struct Plan {
    pub candidates: Vec<Candidate>,
    pub segments: Vec<Segment>,
    /// `meta.source`: base, rollup or rollup+base.
    pub source: &'static str,
    pub staleness_micros: i64,
    pub budget_micros: i64,
    pub approximate: bool,
}

pub fn plan(bound: &Bound, budget_micros: i64) -> Plan {
    let base = Candidate {
        kind: SourceKind::Base,
        relation: bound.relation_display.clone(),
        can_answer: true,
        reason: "the base table answers every document exactly, at staleness 0".into(),
        staleness_micros: Some(0),
        exact: true,
    };
    let (from, to) = match &bound.time {
        Some(t) => (t.from, Some(t.to)),
        None => (None, None),
    };
    Plan {
        candidates: vec![base],
        segments: vec![Segment {
            kind: SourceKind::Base,
            from,
            to,
        }],
        source: "base",
        staleness_micros: 0,
        budget_micros,
        approximate: false,
    }
}
