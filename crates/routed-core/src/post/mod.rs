//! What happens to an answer's rows after aggregation: computed measures (`expr`), shares
//! (`share(m, dim, …)`) and `having`. It is one outer layer over whatever produced the
//! aggregated rows (the base table, rollups, or both), so every source serves it alike and the
//! cache stores its finished answer.
//!
//! Order of evaluation, as SQL's: conditions on measures without shares (HAVING), then shares
//! over the rows left (window sums), then conditions on measures with shares, then `order` and
//! `limit`.

pub mod bind;

use crate::model::OutputColumn;
use crate::model::SqlType;
use crate::query::expr::BinOp;
use crate::query::{FilterValue, Op};

/// The layer over the aggregated rows (`c1…cK`: bucket, dimensions, aggregate measures).
#[derive(Debug, Clone, PartialEq)]
pub struct Post {
    /// The answer's columns: bucket, dimensions, then every measure in document order.
    pub outputs: Vec<OutputColumn>,
    /// How each answer column is made, in `outputs`' order.
    pub columns: Vec<Value>,
    /// Window sums the expressions divide by.
    pub shares: Vec<Share>,
    /// Conditions read before shares are computed (no share inside).
    pub early: Vec<Condition>,
    /// Conditions on measures that contain a share.
    pub late: Vec<Condition>,
}

/// One answer column or condition operand.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// Aggregated column `c{n+1}`, as it is.
    Aggregated(usize),
    Computed(Computed),
}

/// A computed measure: its tree and its type (`numeric`, or `float8` when an operand is).
#[derive(Debug, Clone, PartialEq)]
pub struct Computed {
    pub expr: Term,
    pub float: bool,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Term {
    /// A literal, passed as a parameter of the expression's type; `path` for its errors.
    Number {
        text: String,
        path: String,
    },
    /// An aggregated column.
    Aggregated(usize),
    /// Another computed measure's value, cast to this expression's type.
    Measure(Box<Computed>),
    /// Aggregated column `measure` over its window sum `shares[slot]`.
    Share {
        slot: usize,
        measure: usize,
    },
    Neg(Box<Term>),
    Bin(BinOp, Box<Term>, Box<Term>),
}

impl Term {
    pub fn has_share(&self) -> bool {
        match self {
            Term::Number { .. } | Term::Aggregated(_) => false,
            Term::Share { .. } => true,
            Term::Measure(c) => c.expr.has_share(),
            Term::Neg(t) => t.has_share(),
            Term::Bin(_, a, b) => a.has_share() || b.has_share(),
        }
    }
}

/// `sum(c{measure+1}) OVER (PARTITION BY …)` in the expression's type.
#[derive(Debug, Clone, PartialEq)]
pub struct Share {
    pub measure: usize,
    pub partition: Vec<usize>,
    pub float: bool,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Condition {
    pub value: Value,
    pub op: Op,
    pub operand: FilterValue,
    /// Type the operand is cast to (the measure's, or its array type for `in` lists).
    pub cast: Option<SqlType>,
    pub path: String,
}
