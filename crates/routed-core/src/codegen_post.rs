//! The outer layer's SQL: over the aggregated rows `c1…cK`, the answer's columns `c1…cN`.
//! Division goes through NULLIF so dividing by zero gives NULL, as the SPEC says.

use crate::codegen::Gen;
use crate::model::oid;
use crate::post::{Computed, Condition, Post, Term, Value};
use crate::query::expr::BinOp;
use crate::resolve::Bound;
use std::fmt::Write;

const NUMERIC: &str = "\"pg_catalog\".\"numeric\"";
const FLOAT8: &str = "\"pg_catalog\".\"float8\"";

fn ty(float: bool) -> &'static str {
    if float {
        FLOAT8
    } else {
        NUMERIC
    }
}

impl Gen {
    /// Wraps the aggregation `inner` (already written, its parameters in `self`) in the layer.
    pub(crate) fn post_layer(&mut self, b: &Bound, post: &Post, inner: &str) {
        self.push("SELECT ");
        for (i, c) in post.columns.iter().enumerate() {
            if i > 0 {
                self.push(", ");
            }
            self.value(c, "a.");
            let _ = write!(self.sql, " AS c{}", i + 1);
        }
        self.push(" FROM (");
        let outer_conditions: Vec<&Condition> = if post.shares.is_empty() {
            self.push(inner);
            post.early.iter().chain(&post.late).collect()
        } else {
            self.push("SELECT i.*");
            for (n, s) in post.shares.iter().enumerate() {
                let _ = write!(
                    self.sql,
                    ", sum(CAST(i.c{} AS {})) OVER (PARTITION BY ",
                    s.measure + 1,
                    ty(s.float)
                );
                if s.partition.is_empty() {
                    // one window over the whole answer
                    self.push("NULL::int4");
                }
                for (k, key) in s.partition.iter().enumerate() {
                    let _ = write!(self.sql, "{}i.c{}", if k > 0 { ", " } else { "" }, key + 1);
                }
                let _ = write!(self.sql, ") AS s{}", n + 1);
            }
            self.push(" FROM (");
            self.push(inner);
            self.push(") AS i");
            self.conditions(&post.early.iter().collect::<Vec<_>>(), "i.");
            post.late.iter().collect()
        };
        self.push(") AS a");
        self.conditions(&outer_conditions, "a.");
        self.order_limit(b);
    }

    fn conditions(&mut self, conditions: &[&Condition], prefix: &str) {
        for (i, c) in conditions.iter().enumerate() {
            self.push(if i == 0 { " WHERE " } else { " AND " });
            let start = self.sql.len();
            self.value(&c.value, prefix);
            let lhs = self.sql.split_off(start);
            self.comparison(&lhs, c.op, &c.operand, c.cast.as_ref(), &c.path);
        }
    }

    fn value(&mut self, v: &Value, prefix: &str) {
        match v {
            Value::Aggregated(k) => {
                let _ = write!(self.sql, "{prefix}c{}", k + 1);
            }
            Value::Computed(c) => self.computed(c, prefix),
        }
    }

    fn computed(&mut self, c: &Computed, prefix: &str) {
        self.term(&c.expr, c.float, prefix);
    }

    fn term(&mut self, t: &Term, float: bool, prefix: &str) {
        let t_sql = ty(float);
        match t {
            Term::Number { text, path } => {
                let (o, name) = if float {
                    (oid::FLOAT8, "float8")
                } else {
                    (oid::NUMERIC, "numeric")
                };
                self.text(text.clone(), o, name, path);
            }
            Term::Aggregated(k) => {
                let _ = write!(self.sql, "CAST({prefix}c{} AS {t_sql})", k + 1);
            }
            Term::Measure(c) => {
                self.push("CAST(");
                self.computed(c, prefix);
                let _ = write!(self.sql, " AS {t_sql})");
            }
            Term::Share { .. } if prefix != "a." => {
                unreachable!("shares are read after the window")
            }
            Term::Share { slot, measure } => {
                // the slot's window sum was made in this expression's type
                let _ = write!(
                    self.sql,
                    "(CAST(a.c{} AS {t_sql}) / NULLIF(a.s{}, 0))",
                    measure + 1,
                    slot + 1
                );
            }
            Term::Neg(a) => {
                self.push("(- ");
                self.term(a, float, prefix);
                self.push(")");
            }
            Term::Bin(op, a, b) => {
                self.push("(");
                self.term(a, float, prefix);
                if *op == BinOp::Div {
                    self.push(" / NULLIF(");
                    self.term(b, float, prefix);
                    self.push(", 0))");
                } else {
                    let _ = write!(self.sql, " {} ", op.symbol());
                    self.term(b, float, prefix);
                    self.push(")");
                }
            }
        }
    }
}
