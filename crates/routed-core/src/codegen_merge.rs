//! One measure of a rollup answer from the parts' merged states, cast to PostgreSQL's own
//! result type for it (called by `codegen_rollup`'s outer SELECT).

use crate::codegen::Gen;
use crate::model::oid;
use crate::names::quote_ident;
use crate::query::Agg;
use crate::resolve::BoundMeasure;
use crate::rollup::{RollupDef, State, StateKind};
use std::fmt::Write;

impl Gen {
    /// One measure from merged states, cast to PostgreSQL's own result type for it.
    pub(crate) fn merged(&mut self, def: &RollupDef, m: &BoundMeasure, result_type: &str) {
        let col = m.column.as_deref();
        let state = |kind| def.state(kind, col).expect("the router checked the states");
        match m.agg {
            Agg::Count => {
                let kind = if col.is_none() {
                    StateKind::Rows
                } else {
                    StateKind::Count
                };
                self.push("CAST(coalesce(");
                self.merge(state(kind), m);
                self.push(", 0) AS \"pg_catalog\".\"int8\")");
            }
            Agg::Sum => {
                self.push("CAST(");
                self.merge(state(StateKind::Sum), m);
                let _ = write!(self.sql, " AS \"pg_catalog\".{})", quote_ident(result_type));
            }
            Agg::Min | Agg::Max => {
                let kind = if m.agg == Agg::Min {
                    StateKind::Min
                } else {
                    StateKind::Max
                };
                self.merge(state(kind), m);
            }
            Agg::Avg => {
                // PostgreSQL's avg divides its sum by its count in the same types
                let divisor = if result_type == "numeric" {
                    "numeric"
                } else {
                    "float8"
                };
                self.push("(CAST(");
                self.merge(state(StateKind::AvgSum), m);
                let _ = write!(
                    self.sql,
                    " AS \"pg_catalog\".{}) / CAST(nullif(",
                    quote_ident(result_type)
                );
                self.merge(state(StateKind::Count), m);
                let _ = write!(self.sql, ", 0) AS \"pg_catalog\".\"{divisor}\"))");
            }
            Agg::Percentile => {
                self.push("\"routed\".\"quantile\"(");
                self.merge(state(StateKind::Quantile), m);
                self.push(", ");
                let q = m.q.expect("parse requires q for percentile");
                self.text(q.to_string(), oid::FLOAT8, "float8", "measures.q");
                self.push(")");
            }
            Agg::CountDistinct => {
                self.push("CAST(coalesce(\"routed\".\"distinct_count\"(");
                self.merge(state(StateKind::Distinct), m);
                self.push("), 0) AS \"pg_catalog\".\"int8\")");
            }
        }
    }

    fn merge(&mut self, s: &State, m: &BoundMeasure) {
        let _ = write!(self.sql, "{}(u.{})", s.kind.merge(), quote_ident(&s.name));
        if !m.filters.is_empty() {
            self.qualifier = "u.";
            self.push(" FILTER (WHERE ");
            self.conjunction(&m.filters);
            self.push(")");
        }
    }
}
