//! SQL generation: a plan in, one statement and its parameters out. Identifiers come only from
//! the bound (catalog-checked) document and are quoted; every value, including widths, offsets,
//! quantiles and the limit, travels as a `$n` text parameter cast to its type in the statement.

use crate::model::{oid, SqlType};
use crate::names::quote_ident;
use crate::query::{Agg, Dir, FilterValue, Op};
use crate::resolve::{Bound, BoundFilter, BoundTime, TimeKind};
use crate::route::{Plan, SourceKind};
use crate::time::{Granularity, Offset, TimeBound};

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

pub fn generate(bound: &Bound, plan: &Plan) -> Generated {
    debug_assert!(plan.segments.iter().all(|s| s.kind == SourceKind::Base));
    let mut g = Gen { params: Vec::new() };
    let rows_sql = g.rows(bound);
    let outputs = (1..=bound.outputs.len()).map(|i| format!("r.c{i}")).collect::<Vec<_>>().join(", ");
    let order = order_by(bound, |i| format!("r.c{}", i + 1));
    let json_sql = format!(
        "SELECT coalesce(jsonb_agg(jsonb_build_array({outputs}){order}), '[]'::jsonb)::text FROM ({rows_sql}) AS r",
        order = if order.is_empty() { String::new() } else { format!(" ORDER BY {order}") },
    );
    Generated { rows_sql, json_sql, params: g.params }
}

struct Gen {
    params: Vec<Param>,
}

impl Gen {
    fn param(&mut self, value: ParamValue, cast: SqlType, path: &str) -> String {
        let sql = format!("CAST(${} AS {})", self.params.len() + 1, cast.sql());
        self.params.push(Param { value, cast, path: path.into() });
        sql
    }

    fn text(&mut self, value: String, oid: u32, type_name: &str, path: &str) -> String {
        self.param(ParamValue::Text(value), SqlType::builtin(oid, type_name), path)
    }

    fn rows(&mut self, b: &Bound) -> String {
        let mut select = Vec::new();
        if let Some(t) = b.time.as_ref().filter(|t| t.granularity.is_some()) {
            select.push(self.bucket(t));
        }
        select.extend(b.dimensions.iter().map(|d| quote_ident(d)));
        for (i, m) in b.measures.iter().enumerate() {
            let path = format!("measures[{i}]");
            let col = m.column.as_deref().map(quote_ident);
            let agg = match (m.agg, col) {
                (Agg::Count, None) => "count(*)".to_string(),
                (Agg::Count, Some(c)) => format!("count({c})"),
                (Agg::CountDistinct, Some(c)) => format!("count(DISTINCT {c})"),
                (Agg::Sum, Some(c)) => format!("sum({c})"),
                (Agg::Min, Some(c)) => format!("min({c})"),
                (Agg::Max, Some(c)) => format!("max({c})"),
                (Agg::Avg, Some(c)) => format!("avg({c})"),
                (Agg::Percentile, Some(c)) => {
                    let q = m.q.expect("parse requires q for percentile");
                    let q = self.text(q.to_string(), oid::FLOAT8, "float8", &format!("{path}.q"));
                    format!("percentile_cont({q}) WITHIN GROUP (ORDER BY CAST({c} AS \"pg_catalog\".\"float8\"))")
                }
                (_, None) => unreachable!("parse requires a column for {}", m.agg.name()),
            };
            let filter = self.conjunction(&m.filters);
            select.push(if filter.is_empty() { agg } else { format!("{agg} FILTER (WHERE {filter})") });
        }
        let select: Vec<String> = select.into_iter().enumerate().map(|(i, e)| format!("{e} AS c{}", i + 1)).collect();
        let mut sql = format!("SELECT {} FROM {}", select.join(", "), b.relation);
        let mut conds = Vec::new();
        if let Some(t) = &b.time {
            let col = quote_ident(&t.column);
            if let Some(from) = &t.from {
                conds.push(format!("{col} >= {}", self.bound(from, "time.from")));
            }
            conds.push(format!("{col} < {}", self.bound(&t.to, "time.to")));
        }
        let filters = self.conjunction(&b.filters);
        if !filters.is_empty() {
            conds.push(filters);
        }
        if !conds.is_empty() {
            sql.push_str(&format!(" WHERE {}", conds.join(" AND ")));
        }
        let keys = b.group_keys();
        if keys > 0 {
            let ords: Vec<String> = (1..=keys).map(|i| i.to_string()).collect();
            sql.push_str(&format!(" GROUP BY {}", ords.join(", ")));
        }
        let order = order_by(b, |i| (i + 1).to_string());
        if !order.is_empty() {
            sql.push_str(&format!(" ORDER BY {order}"));
        }
        if let Some(limit) = b.limit {
            let l = self.text(limit.to_string(), oid::INT8, "int8", "limit");
            sql.push_str(&format!(" LIMIT {l}"));
        }
        sql
    }

    fn bucket(&mut self, t: &BoundTime) -> String {
        let col = quote_ident(&t.column);
        let ts = match t.kind {
            TimeKind::TimestampTz => col,
            TimeKind::Timestamp | TimeKind::Date => format!("CAST({col} AS \"pg_catalog\".\"timestamptz\")"),
        };
        match t.granularity.expect("bucket needs a granularity") {
            Granularity::Fixed(seconds) => {
                let width = self.text(format!("{seconds} seconds"), oid::INTERVAL, "interval", "time.granularity");
                format!("date_bin({width}, {ts}, TIMESTAMPTZ '1970-01-01 00:00:00+00')")
            }
            calendar => format!("date_trunc('{}', {ts})", calendar.calendar_field().expect("calendar width")),
        }
    }

    fn bound(&mut self, b: &TimeBound, path: &str) -> String {
        match *b {
            TimeBound::Absolute(us) => {
                self.text(crate::time::format_rfc3339_utc(us), oid::TIMESTAMPTZ, "timestamptz", path)
            }
            TimeBound::NowMinus(Offset::Seconds(0)) => "now()".into(),
            TimeBound::NowMinus(Offset::Seconds(s)) => {
                format!("(now() - {})", self.text(format!("{s} seconds"), oid::INTERVAL, "interval", path))
            }
            TimeBound::NowMinus(Offset::Days(d)) => {
                format!("(now() - {})", self.text(format!("{d} days"), oid::INTERVAL, "interval", path))
            }
            TimeBound::Today => "date_trunc('day', now())".into(),
            TimeBound::Yesterday => "(date_trunc('day', now()) - INTERVAL '1 day')".into(),
        }
    }

    fn conjunction(&mut self, filters: &[BoundFilter]) -> String {
        let parts: Vec<String> = filters.iter().map(|f| self.filter(f)).collect();
        parts.join(" AND ")
    }

    fn filter(&mut self, f: &BoundFilter) -> String {
        let col = quote_ident(&f.column);
        let cast = || f.cast.clone().expect("bind gives comparisons a cast type");
        match (&f.value, f.op) {
            (_, Op::IsNull) => format!("{col} IS NULL"),
            (_, Op::IsNotNull) => format!("{col} IS NOT NULL"),
            (FilterValue::List(vs), Op::In) => {
                format!("{col} = ANY({})", self.param(ParamValue::TextArray(vs.clone()), cast(), &f.path))
            }
            (FilterValue::List(vs), Op::NotIn) => {
                format!("{col} <> ALL({})", self.param(ParamValue::TextArray(vs.clone()), cast(), &f.path))
            }
            (FilterValue::One(v), op) => {
                let sym = match op {
                    Op::Eq => "=",
                    Op::Ne => "<>",
                    Op::Lt => "<",
                    Op::Le => "<=",
                    Op::Gt => ">",
                    Op::Ge => ">=",
                    _ => unreachable!("list operators take lists"),
                };
                format!("{col} {sym} {}", self.param(ParamValue::Text(v.clone()), cast(), &f.path))
            }
            (v, op) => unreachable!("parse pairs {op:?} with {v:?}"),
        }
    }
}

/// ORDER BY list over output columns, named by `name(index)`.
fn order_by(b: &Bound, name: impl Fn(usize) -> String) -> String {
    let items: Vec<String> = b
        .order
        .iter()
        .map(|(i, dir)| format!("{}{}", name(*i), if *dir == Dir::Desc { " DESC" } else { "" }))
        .collect();
    items.join(", ")
}
