//! SQL generation: a plan in, one statement and its parameters out. Identifiers come only from
//! the bound (catalog-checked) document and are quoted; every value, including widths, offsets,
//! quantiles and the limit, travels as a `$n` text parameter cast to its type in the statement.

use crate::model::{oid, SqlType};
use crate::query::{Agg, Dir, FilterValue, Op};
use crate::resolve::{Bound, BoundFilter, BoundTime, TimeKind};
use crate::rollup::RollupDef;
use crate::route::Plan;
use crate::time::{Granularity, Offset, TimeBound};
use std::fmt::Write;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ParamValue {
    Text(String),
    TextArray(Vec<String>),
}

/// One `$n` parameter: its text, the type it is cast to, and the JSON path it came from (so a
/// value the type rejects is reported at its place in the document).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Param {
    pub value: ParamValue,
    pub cast: SqlType,
    pub path: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Generated {
    /// The typed rows, in answer order (used by `routed_rows`).
    pub rows_sql: String,
    /// One text value: the rows as a JSON array of arrays (used by `routed_query`).
    pub json_sql: String,
    pub params: Vec<Param>,
}

/// `rollups` are the definitions of the rollups the plan reads, in the plan's order.
pub fn generate(bound: &Bound, plan: &Plan, rollups: &[&RollupDef]) -> Generated {
    let mut g = Gen {
        sql: String::with_capacity(1024),
        params: Vec::new(),
        qualifier: "",
        joins: bound.joins.iter().map(|j| j.name.clone()).collect(),
    };
    if plan.rollups.is_empty() {
        g.rows(bound);
    } else {
        assert_eq!(
            plan.rollups.len(),
            rollups.len(),
            "one definition per rollup read"
        );
        g.rollup_rows(bound, rollups, plan);
    }
    if let Some(post) = &bound.post {
        let inner = std::mem::take(&mut g.sql);
        g.post_layer(bound, post, &inner);
    }
    let rows_sql = g.sql;
    let mut json_sql = String::with_capacity(rows_sql.len() + 160);
    json_sql.push_str("SELECT coalesce(jsonb_agg(jsonb_build_array(");
    for i in 1..=bound.answer_columns().len() {
        let _ = write!(json_sql, "{}r.c{i}", if i > 1 { ", " } else { "" });
    }
    json_sql.push(')');
    if !bound.order.is_empty() {
        json_sql.push_str(" ORDER BY ");
        order_by(&mut json_sql, bound, "r.c");
    }
    json_sql.push_str("), '[]'::jsonb)::text FROM (");
    json_sql.push_str(&rows_sql);
    json_sql.push_str(") AS r");
    Generated {
        rows_sql,
        json_sql,
        params: g.params,
    }
}

/// `SELECT from, to, now[, calendar boundaries]` as microseconds since the Unix epoch: the
/// document's window evaluated by the server (relative bounds and `today` depend on its clock
/// and TimeZone). None when the document has no time range.
pub fn window_sql(b: &Bound) -> Option<(String, Vec<Param>)> {
    let t = b.time.as_ref()?;
    let mut g = Gen {
        sql: String::with_capacity(256),
        params: Vec::new(),
        qualifier: "",
        joins: Vec::new(),
    };
    const US: &str = "CAST(extract(epoch FROM ";
    const END: &str = ") * 1000000 AS \"pg_catalog\".\"int8\")";
    g.push("SELECT ");
    match &t.from {
        Some(f) => {
            g.push(US);
            g.bound(f, "time.from");
            g.push(END);
        }
        None => g.push("NULL::int8"),
    }
    g.push(", ");
    g.push(US);
    g.bound(&t.to, "time.to");
    g.push(END);
    g.push(", CAST(extract(epoch FROM clock_timestamp()) * 1000000 AS \"pg_catalog\".\"int8\")");
    match (t.granularity.and_then(|c| c.calendar_field()), &t.from) {
        (Some(field), Some(f)) => {
            let _ = write!(
                g.sql,
                ", ARRAY(SELECT {US}b{END} FROM generate_series(date_trunc('{field}', "
            );
            g.bound(f, "time.from");
            g.push("), ");
            g.bound(&t.to, "time.to");
            let _ = write!(g.sql, ", INTERVAL '1 {field}') AS b)");
        }
        _ => g.push(", NULL::int8[]"),
    }
    Some((g.sql, g.params))
}

/// Writes SQL into one buffer; values go to `params` and appear only as `CAST($n AS type)`.
pub(crate) struct Gen {
    pub(crate) sql: String,
    pub(crate) params: Vec<Param>,
    /// Prefix for the source's column names (`s.`), empty when the query reads one relation.
    pub(crate) qualifier: &'static str,
    /// The joined tables' names as written: `rules.rule_name` is `j1."rule_name"`.
    pub(crate) joins: Vec<String>,
}

impl Gen {
    pub(crate) fn push(&mut self, s: &str) {
        self.sql.push_str(s);
    }

    pub(crate) fn param(&mut self, value: ParamValue, cast: SqlType, path: &str) {
        let _ = write!(
            self.sql,
            "CAST(${} AS {})",
            self.params.len() + 1,
            cast.sql()
        );
        self.params.push(Param {
            value,
            cast,
            path: path.into(),
        });
    }

    pub(crate) fn text(&mut self, value: String, oid: u32, type_name: &str, path: &str) {
        self.param(
            ParamValue::Text(value),
            SqlType::builtin(oid, type_name),
            path,
        )
    }

    fn rows(&mut self, b: &Bound) {
        if !b.joins.is_empty() {
            self.qualifier = "s.";
        }
        self.push("SELECT ");
        let mut n = 0;
        let mut next = |g: &mut Gen| {
            n += 1;
            if n > 1 {
                g.push(", ");
            }
            n
        };
        if let Some(t) = b.time.as_ref().filter(|t| t.granularity.is_some()) {
            let i = next(self);
            self.bucket(t);
            let _ = write!(self.sql, " AS c{i}");
        }
        for d in &b.dimensions {
            let i = next(self);
            let d = self.column_ref(d);
            self.push(&d);
            let _ = write!(self.sql, " AS c{i}");
        }
        for (mi, m) in b.measures.iter().enumerate() {
            let i = next(self);
            let col = m.column.as_deref().map(|c| self.column_ref(c));
            match (m.agg, col) {
                (Agg::Count, None) => self.push("count(*)"),
                (Agg::CountDistinct, Some(c)) => {
                    let _ = write!(self.sql, "count(DISTINCT {c})");
                }
                (Agg::Percentile, Some(c)) => {
                    let q = m.q.expect("parse requires q for percentile");
                    self.push("percentile_cont(");
                    self.text(
                        q.to_string(),
                        oid::FLOAT8,
                        "float8",
                        &format!("measures[{mi}].q"),
                    );
                    let _ = write!(
                        self.sql,
                        ") WITHIN GROUP (ORDER BY CAST({c} AS \"pg_catalog\".\"float8\"))"
                    );
                }
                // count, sum, min, max and avg are PostgreSQL's aggregates of the same name
                (agg, Some(c)) => {
                    let _ = write!(self.sql, "{}({c})", agg.name());
                }
                (_, None) => unreachable!("parse requires a column for {}", m.agg.name()),
            }
            if !m.filters.is_empty() {
                self.push(" FILTER (WHERE ");
                self.conjunction(&m.filters);
                self.push(")");
            }
            let _ = write!(self.sql, " AS c{i}");
        }
        self.push(" FROM ");
        self.push(&b.relation);
        if !b.joins.is_empty() {
            self.push(" AS s");
            self.join_clauses(b, "s.");
        }
        let mut conds = 0;
        let mut and = |g: &mut Gen| {
            g.push(if conds == 0 { " WHERE " } else { " AND " });
            conds += 1;
        };
        if let Some(t) = &b.time {
            let col = self.column_ref(&t.column);
            if let Some(from) = &t.from {
                and(self);
                self.push(&col);
                self.push(" >= ");
                self.bound(from, "time.from");
            }
            and(self);
            self.push(&col);
            self.push(" < ");
            self.bound(&t.to, "time.to");
        }
        if !b.filters.is_empty() {
            and(self);
            self.conjunction(&b.filters);
        }
        self.group_order_limit(b);
    }

    /// GROUP BY the group keys, ORDER BY and LIMIT of the answer, by output ordinal.
    pub(crate) fn group_order_limit(&mut self, b: &Bound) {
        let keys = b.group_keys();
        if keys > 0 {
            self.push(" GROUP BY 1");
            for k in 2..=keys {
                let _ = write!(self.sql, ", {k}");
            }
        }
        // with a layer after aggregation, that layer orders and limits
        if b.post.is_none() {
            self.order_limit(b);
        }
    }

    pub(crate) fn order_limit(&mut self, b: &Bound) {
        if !b.order.is_empty() {
            self.push(" ORDER BY ");
            order_by(&mut self.sql, b, "");
        }
        if let Some(limit) = b.limit {
            self.push(" LIMIT ");
            self.text(limit.to_string(), oid::INT8, "int8", "limit");
        }
    }

    /// The output bucket of the time column.
    fn bucket(&mut self, t: &BoundTime) {
        let col = self.column_ref(&t.column);
        self.bucket_of(t, &col);
    }

    /// The output bucket of `col`, an expression of the time column's type.
    pub(crate) fn bucket_of(&mut self, t: &BoundTime, col: &str) {
        let col = col.to_string();
        let ts = match t.kind {
            TimeKind::TimestampTz => col,
            TimeKind::Timestamp | TimeKind::Date => {
                format!("CAST({col} AS \"pg_catalog\".\"timestamptz\")")
            }
        };
        match t.granularity.expect("bucket needs a granularity") {
            Granularity::Fixed(seconds) => {
                self.push("date_bin(");
                self.text(
                    format!("{seconds} seconds"),
                    oid::INTERVAL,
                    "interval",
                    "time.granularity",
                );
                let _ = write!(self.sql, ", {ts}, TIMESTAMPTZ '1970-01-01 00:00:00+00')");
            }
            calendar => {
                let field = calendar.calendar_field().expect("calendar width");
                let _ = write!(self.sql, "date_trunc('{field}', {ts})");
            }
        }
    }

    fn bound(&mut self, b: &TimeBound, path: &str) {
        let offset = |n: i64, unit: &str| format!("{n} {unit}");
        match *b {
            TimeBound::Absolute(us) => self.text(
                crate::time::format_rfc3339_utc(us),
                oid::TIMESTAMPTZ,
                "timestamptz",
                path,
            ),
            TimeBound::NowMinus(Offset::Seconds(0)) => self.push("now()"),
            TimeBound::NowMinus(Offset::Seconds(s)) => {
                self.push("(now() - ");
                self.text(offset(s, "seconds"), oid::INTERVAL, "interval", path);
                self.push(")");
            }
            TimeBound::NowMinus(Offset::Days(d)) => {
                self.push("(now() - ");
                self.text(offset(d, "days"), oid::INTERVAL, "interval", path);
                self.push(")");
            }
            TimeBound::Today => self.push("date_trunc('day', now())"),
            TimeBound::Yesterday => self.push("(date_trunc('day', now()) - INTERVAL '1 day')"),
        }
    }

    pub(crate) fn conjunction(&mut self, filters: &[BoundFilter]) {
        for (i, f) in filters.iter().enumerate() {
            if i > 0 {
                self.push(" AND ");
            }
            self.filter(f);
        }
    }

    fn filter(&mut self, f: &BoundFilter) {
        let lhs = self.column_ref(&f.column);
        self.comparison(&lhs, f.op, &f.value, f.cast.as_ref(), &f.path);
    }

    /// `lhs op value`, the value a parameter cast to `cast`.
    pub(crate) fn comparison(
        &mut self,
        lhs: &str,
        op: Op,
        value: &FilterValue,
        cast: Option<&SqlType>,
        path: &str,
    ) {
        self.push(lhs);
        let cast = || cast.cloned().expect("bind gives comparisons a cast type");
        match (value, op) {
            (_, Op::IsNull) => self.push(" IS NULL"),
            (_, Op::IsNotNull) => self.push(" IS NOT NULL"),
            (FilterValue::List(vs), Op::In | Op::NotIn) => {
                self.push(if op == Op::In { " = ANY(" } else { " <> ALL(" });
                self.param(ParamValue::TextArray(vs.clone()), cast(), path);
                self.push(")");
            }
            (FilterValue::One(v), op) => {
                let sym = match op {
                    Op::Eq => " = ",
                    Op::Ne => " <> ",
                    Op::Lt => " < ",
                    Op::Le => " <= ",
                    Op::Gt => " > ",
                    Op::Ge => " >= ",
                    _ => unreachable!("list operators take lists"),
                };
                self.push(sym);
                self.param(ParamValue::Text(v.clone()), cast(), path);
            }
            (v, op) => unreachable!("parse pairs {op:?} with {v:?}"),
        }
    }
}

/// ORDER BY list over output columns, named `{prefix}{n}` (`3` or `r.c3`).
pub(crate) fn order_by(out: &mut String, b: &Bound, prefix: &str) {
    for (k, (i, dir)) in b.order.iter().enumerate() {
        let _ = write!(
            out,
            "{}{prefix}{}{}",
            if k > 0 { ", " } else { "" },
            i + 1,
            if *dir == Dir::Desc { " DESC" } else { "" }
        );
    }
}
