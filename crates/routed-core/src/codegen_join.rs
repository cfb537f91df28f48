//! Lookup joins in generated SQL: the joined tables' columns as `jN."column"` and the JOIN
//! clauses, after the source's rows (`s.`) or after a rollup's merged parts (`u.`).

use crate::codegen::Gen;
use crate::names::quote_ident;
use crate::resolve::Bound;
use std::fmt::Write;

impl Gen {
    /// A column of the source (with the qualifier) or of a joined table (`j1."rule_name"`).
    pub(crate) fn column_ref(&self, name: &str) -> String {
        match crate::resolve::attribute_of(self.joins.iter().map(String::as_str), name) {
            Some((j, col)) => format!("j{}.{}", j + 1, quote_ident(col)),
            None => format!("{}{}", self.qualifier, quote_ident(name)),
        }
    }

    /// `[LEFT] JOIN table AS jN ON {from}key = jN.key ...` for every join.
    pub(crate) fn join_clauses(&mut self, b: &Bound, from: &str) {
        for (i, j) in b.joins.iter().enumerate() {
            let _ = write!(
                self.sql,
                " {}JOIN {} AS j{} ON ",
                if j.left { "LEFT " } else { "" },
                j.relation,
                i + 1
            );
            for (k, (src, col)) in j.on.iter().enumerate() {
                let _ = write!(
                    self.sql,
                    "{}{from}{} = j{}.{}",
                    if k > 0 { " AND " } else { "" },
                    quote_ident(src),
                    i + 1,
                    quote_ident(col)
                );
            }
        }
    }
}
