//! Binds a parsed document to a relation: every name must be a column the caller may read,
//! every aggregate must fit its column's type, and each output column gets PostgreSQL's own
//! result type for that aggregate.

use crate::error::{show, Error, ErrorKind, Result};
pub use crate::model::OutputColumn;
use crate::model::{oid, Relation, SqlType};
pub(crate) use scope::attribute_of;
use scope::{bind_filters, bind_join, column, Scope};
use types::bind_measure;
pub(crate) use types::result_type;

mod scope;
mod types;
use crate::post::bind::bind_post;
use crate::post::Post;
use crate::query::{Agg, Dir, FilterValue, Op, Query, TimeSpec};
use crate::time::{Granularity, TimeBound};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TimeKind {
    TimestampTz,
    Timestamp,
    Date,
}

#[derive(Debug, Clone, PartialEq)]
pub struct BoundTime {
    pub column: String,
    pub kind: TimeKind,
    pub from: Option<TimeBound>,
    pub to: TimeBound,
    pub granularity: Option<Granularity>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct BoundFilter {
    pub column: String,
    pub op: Op,
    pub value: FilterValue,
    /// Type the value is cast to (the column's, or its array type for `in` lists).
    pub cast: Option<SqlType>,
    pub path: String,
}

#[derive(Debug, Clone, PartialEq)]
pub struct BoundMeasure {
    pub agg: Agg,
    pub column: Option<String>,
    pub q: Option<f64>,
    pub filters: Vec<BoundFilter>,
}

/// A lookup join, checked many-to-one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BoundJoin {
    /// The table as the document wrote it: its columns are named `{name}.column`.
    pub name: String,
    pub relation: String,
    pub relation_display: String,
    pub oid: u32,
    /// (source column, table column).
    pub on: Vec<(String, String)>,
    pub left: bool,
    /// Its changes are published (`routed.track(table)`).
    pub tracked: bool,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Bound {
    pub relation: String,
    pub relation_display: String,
    /// Dimension tables joined; dimensions and filters name their columns `table.column`.
    pub joins: Vec<BoundJoin>,
    pub time: Option<BoundTime>,
    pub dimensions: Vec<String>,
    pub measures: Vec<BoundMeasure>,
    pub filters: Vec<BoundFilter>,
    /// (output column index, direction), user order first, then the group keys as tie-breakers.
    pub order: Vec<(usize, Dir)>,
    pub limit: Option<u64>,
    pub outputs: Vec<OutputColumn>,
    /// `exact: true`: approximate sources (sketches) may not answer.
    pub exact: bool,
    /// Computed measures, shares and `having`, over the aggregated `outputs`.
    pub post: Option<Post>,
}

impl Bound {
    /// Number of leading output columns that are group keys (bucket and dimensions).
    pub fn group_keys(&self) -> usize {
        usize::from(self.time.as_ref().is_some_and(|t| t.granularity.is_some()))
            + self.dimensions.len()
    }

    /// `(join index, column)` when `name` is a joined table's column (`rules.rule_name`).
    pub fn attribute<'n>(&self, name: &'n str) -> Option<(usize, &'n str)> {
        attribute_of(self.joins.iter().map(|j| j.name.as_str()), name)
    }

    /// The source's columns an answer groups or filters on (dimensions, filter columns, join
    /// keys): what a rollup must keep to answer it.
    pub fn source_columns_read(&self) -> Vec<&str> {
        let mut cols: Vec<&str> = Vec::new();
        let filters = self
            .filters
            .iter()
            .chain(self.measures.iter().flat_map(|m| m.filters.iter()))
            .map(|f| f.column.as_str());
        let keys = self
            .joins
            .iter()
            .flat_map(|j| j.on.iter().map(|(s, _)| s.as_str()));
        for c in self
            .dimensions
            .iter()
            .map(String::as_str)
            .chain(filters)
            .chain(keys)
        {
            if self.attribute(c).is_none() && !cols.contains(&c) {
                cols.push(c);
            }
        }
        cols
    }

    /// The answer's columns: `outputs` (the aggregation's), or the layer's after it.
    pub fn answer_columns(&self) -> &[OutputColumn] {
        match &self.post {
            Some(p) => &p.outputs,
            None => &self.outputs,
        }
    }
}

/// Columns of output at most; PostgreSQL functions take at most 100 arguments.
pub const MAX_OUTPUTS: usize = 100;

pub fn bind(q: &Query, rel: &Relation) -> Result<Bound> {
    bind_joined(q, rel, &[])
}

/// `joined`: the relations of the document's joins, in order.
pub fn bind_joined(q: &Query, rel: &Relation, joined: &[Relation]) -> Result<Bound> {
    assert_eq!(q.joins.len(), joined.len(), "one relation per join");
    let scope = Scope {
        source: rel,
        joins: q
            .joins
            .iter()
            .map(|j| j.table.as_str())
            .zip(joined.iter())
            .collect(),
    };
    let joins = q
        .joins
        .iter()
        .zip(joined)
        .enumerate()
        .map(|(i, (j, r))| bind_join(i, j, rel, r))
        .collect::<Result<Vec<_>>>()?;
    let time = q.time.as_ref().map(|t| bind_time(t, rel)).transpose()?;
    let mut outputs = Vec::new();
    if time.as_ref().is_some_and(|t| t.granularity.is_some()) {
        outputs.push(OutputColumn {
            name: "bucket".into(),
            type_name: "timestamptz".into(),
            type_oid: oid::TIMESTAMPTZ,
        });
    }
    for (i, d) in q.dimensions.iter().enumerate() {
        let (col, _) = scope.column(d, &format!("dimensions[{i}]"))?;
        outputs.push(OutputColumn {
            name: d.clone(),
            type_name: col.ty.name.clone(),
            type_oid: col.ty.oid,
        });
    }
    let mut measures = Vec::with_capacity(q.measures.len());
    let mut types = Vec::with_capacity(q.measures.len());
    let keys = outputs.len();
    for (i, m) in q.measures.iter().enumerate() {
        let (measure, output, ty) = bind_measure(m, &scope, &format!("measures[{}]", at(q, i)))?;
        measures.push(measure);
        outputs.push(output);
        types.push(ty);
    }
    if keys + q.measures.len() + q.computed.len() > MAX_OUTPUTS {
        return Err(Error::invalid(
            "measures",
            format!(
                "{} output columns; at most {MAX_OUTPUTS} are allowed",
                keys + q.measures.len() + q.computed.len()
            ),
        ));
    }
    let filters = bind_filters(&q.filters, &scope, "where")?;
    let post = bind_post(q, &outputs, keys, &types)?;
    let answer = post.as_ref().map_or(&outputs[..], |p| &p.outputs[..]);
    let order = bind_order(q, answer, keys);
    Ok(Bound {
        relation: rel.quoted(),
        relation_display: rel.display(),
        joins,
        time,
        dimensions: q.dimensions.clone(),
        measures,
        filters,
        order,
        limit: q.limit,
        outputs,
        exact: q.exact,
        post,
    })
}

/// The document index of aggregate measure `i` (computed ones sit between them).
fn at(q: &Query, i: usize) -> usize {
    let mut seen = 0;
    for at in 0.. {
        if q.computed.iter().any(|c| c.at == at) {
            continue;
        }
        if seen == i {
            return at;
        }
        seen += 1;
    }
    unreachable!()
}

/// The time column: named by the document, else the source's tracked one; of a time type.
fn bind_time(t: &TimeSpec, rel: &Relation) -> Result<BoundTime> {
    let tracked = rel.tracked_time_column.as_deref();
    let name = t.column.as_deref().or(tracked).ok_or_else(|| {
        Error::invalid(
            "time.column",
            format!(
                "is required: {} is not tracked, so name its time column",
                rel.display()
            ),
        )
    })?;
    let col = column(rel, name, "time.column")?;
    let kind = match col.base_oid {
        oid::TIMESTAMPTZ => TimeKind::TimestampTz,
        oid::TIMESTAMP => TimeKind::Timestamp,
        oid::DATE => TimeKind::Date,
        _ => {
            return Err(Error::new(
                ErrorKind::DatatypeMismatch,
                "time.column",
                format!(
                    "column {} has type {}; expected timestamptz, timestamp or date",
                    show(name),
                    col.ty.name
                ),
            ))
        }
    };
    Ok(BoundTime {
        column: name.into(),
        kind,
        from: t.from,
        to: t.to,
        granularity: t.granularity,
    })
}

/// The document's order by output index, then every group key not named (ascending), so the
/// answer's order is always deterministic. `keys`: the outputs before the measures.
fn bind_order(q: &Query, outputs: &[OutputColumn], keys: usize) -> Vec<(usize, Dir)> {
    let mut order: Vec<(usize, Dir)> = q
        .order
        .iter()
        .map(|o| {
            (
                outputs
                    .iter()
                    .position(|c| c.name == o.by)
                    .expect("parse checked order names"),
                o.dir,
            )
        })
        .collect();
    for k in 0..keys {
        if !order.iter().any(|(i, _)| *i == k) {
            order.push((k, Dir::Asc));
        }
    }
    order
}
