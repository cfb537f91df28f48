//! The query document (versions 1 and 2) as types, and its limits. `parse` turns JSON into
//! these.

use crate::budget::Freshness;
use crate::time::{Granularity, TimeBound};
use expr::Expr;

pub mod expr;

/// Largest document accepted, in bytes of JSON text.
pub const MAX_DOCUMENT_BYTES: usize = 1 << 20;
/// Largest `limit`.
pub const MAX_LIMIT: u64 = 1_000_000;
/// Most entries in `dimensions`, `measures`, `where` (per level) and `order`.
pub const MAX_ITEMS: usize = 64;
/// Most values in one `in` / `not in` list.
pub const MAX_IN_VALUES: usize = 10_000;
/// PostgreSQL identifiers are at most NAMEDATALEN - 1 bytes.
pub const MAX_IDENTIFIER_BYTES: usize = 63;
/// Longest `source` text (schema, name, quotes and the dot).
pub(crate) const MAX_SOURCE_BYTES: usize = 2 * MAX_IDENTIFIER_BYTES + 5;

#[derive(Debug, Clone, PartialEq)]
pub struct Query {
    pub source: String,
    /// Lookup joins to dimension tables, in document order.
    pub joins: Vec<Join>,
    pub time: Option<TimeSpec>,
    pub dimensions: Vec<String>,
    /// The aggregate measures, in document order.
    pub measures: Vec<Measure>,
    /// Measures computed after aggregation (`expr`), each with its place among the document's
    /// measures.
    pub computed: Vec<Computed>,
    pub filters: Vec<Filter>,
    /// Conditions on measures, applied to the aggregated rows (`column` names a measure).
    pub having: Vec<Filter>,
    pub order: Vec<OrderBy>,
    pub limit: Option<u64>,
    pub exact: bool,
    pub freshness: Option<Freshness>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct TimeSpec {
    pub column: Option<String>,
    pub from: Option<TimeBound>,
    /// Exclusive upper bound; `now` when the document leaves it out.
    pub to: TimeBound,
    pub granularity: Option<Granularity>,
}

impl TimeSpec {
    /// True when the range moves with the clock (`now-24h`, `today`, or an implicit `to: now`).
    pub fn is_relative(&self) -> bool {
        self.to.is_relative() || self.from.is_some_and(|f| f.is_relative())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Agg {
    Count,
    Sum,
    Min,
    Max,
    Avg,
    CountDistinct,
    Percentile,
}

pub const AGG_NAMES: &str = "count, sum, min, max, avg, count_distinct, percentile";

impl Agg {
    pub fn parse(s: &str) -> Option<Agg> {
        Some(match s {
            "count" => Agg::Count,
            "sum" => Agg::Sum,
            "min" => Agg::Min,
            "max" => Agg::Max,
            "avg" => Agg::Avg,
            "count_distinct" => Agg::CountDistinct,
            "percentile" => Agg::Percentile,
            _ => return None,
        })
    }

    pub fn name(self) -> &'static str {
        match self {
            Agg::Count => "count",
            Agg::Sum => "sum",
            Agg::Min => "min",
            Agg::Max => "max",
            Agg::Avg => "avg",
            Agg::CountDistinct => "count_distinct",
            Agg::Percentile => "percentile",
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Measure {
    pub name: String,
    pub agg: Agg,
    pub column: Option<String>,
    pub q: Option<f64>,
    pub filters: Vec<Filter>,
}

/// `{"table": "rules", "on": {"rule_id": "rule_id"}, "left": false}`: a many-to-one join; the
/// table's columns are named `table.column` (the table as written).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Join {
    pub table: String,
    /// (source column, table column) pairs, sorted by source column.
    pub on: Vec<(String, String)>,
    pub left: bool,
}

/// `{"name": ..., "expr": ...}`: arithmetic over the document's other measures.
#[derive(Debug, Clone, PartialEq)]
pub struct Computed {
    pub name: String,
    pub expr: Expr,
    /// Index of this measure in the document's `measures` array (its output position).
    pub at: usize,
}

impl Query {
    /// Output names of the measures in document order (aggregate and computed interleaved).
    pub fn measure_names(&self) -> Vec<&str> {
        let mut aggs = self.measures.iter();
        let total = self.measures.len() + self.computed.len();
        (0..total)
            .map(|at| match self.computed.iter().find(|c| c.at == at) {
                Some(c) => c.name.as_str(),
                None => aggs
                    .next()
                    .expect("positions cover every measure")
                    .name
                    .as_str(),
            })
            .collect()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
    In,
    NotIn,
    IsNull,
    IsNotNull,
}

pub const OP_NAMES: &str = "=, !=, <, <=, >, >=, in, not in, is null, is not null";

impl Op {
    pub fn parse(s: &str) -> Option<Op> {
        Some(match s {
            "=" => Op::Eq,
            "!=" => Op::Ne,
            "<" => Op::Lt,
            "<=" => Op::Le,
            ">" => Op::Gt,
            ">=" => Op::Ge,
            "in" => Op::In,
            "not in" => Op::NotIn,
            "is null" => Op::IsNull,
            "is not null" => Op::IsNotNull,
            _ => return None,
        })
    }

    pub fn name(self) -> &'static str {
        match self {
            Op::Eq => "=",
            Op::Ne => "!=",
            Op::Lt => "<",
            Op::Le => "<=",
            Op::Gt => ">",
            Op::Ge => ">=",
            Op::In => "in",
            Op::NotIn => "not in",
            Op::IsNull => "is null",
            Op::IsNotNull => "is not null",
        }
    }
}

/// A filter value as text, later cast to the column's type by PostgreSQL's input function.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FilterValue {
    None,
    One(String),
    List(Vec<String>),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Filter {
    pub column: String,
    pub op: Op,
    pub value: FilterValue,
    /// JSON path of the value, for errors raised when PostgreSQL casts it.
    pub path: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dir {
    Asc,
    Desc,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrderBy {
    pub by: String,
    pub dir: Dir,
}
