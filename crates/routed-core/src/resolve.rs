//! Binds a parsed document to a relation: every name must be a column the caller may read,
//! every aggregate must fit its column's type, and each output column gets PostgreSQL's own
//! result type for that aggregate.

use crate::error::{show, Error, ErrorKind, Result};
use crate::model::{oid, Column, Relation, SqlType};
use crate::names::did_you_mean;
use crate::post::bind::{bind_post, MeasureType};
use crate::post::Post;
use crate::query::{Agg, Dir, Filter, FilterValue, Measure, Op, Query, TimeSpec};
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

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutputColumn {
    pub name: String,
    /// pg_type.typname of the result (`int8`, `numeric`, `timestamptz`...).
    pub type_name: String,
    pub type_oid: u32,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Bound {
    pub relation: String,
    pub relation_display: String,
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
        let col = column(rel, d, &format!("dimensions[{i}]"))?;
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
        let (measure, output, ty) = bind_measure(m, rel, &format!("measures[{}]", at(q, i)))?;
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
    let filters = bind_filters(&q.filters, rel, "where")?;
    let post = bind_post(q, &outputs, keys, &types)?;
    let answer = post.as_ref().map_or(&outputs[..], |p| &p.outputs[..]);
    let order = bind_order(q, answer, keys);
    Ok(Bound {
        relation: rel.quoted(),
        relation_display: rel.display(),
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

/// One measure and its output column, typed as PostgreSQL types the aggregate's result.
fn bind_measure(
    m: &Measure,
    rel: &Relation,
    path: &str,
) -> Result<(BoundMeasure, OutputColumn, MeasureType)> {
    let mut same_as_column = None;
    let (type_oid, type_name) = match &m.column {
        None => (oid::INT8, "int8".to_string()),
        Some(c) => {
            let col = column(rel, c, &format!("{path}.column"))?;
            if matches!(m.agg, Agg::Min | Agg::Max) {
                same_as_column = Some(col);
            }
            result_type(m.agg, col).ok_or_else(|| {
                Error::new(
                    ErrorKind::DatatypeMismatch,
                    format!("{path}.column"),
                    format!(
                        "{} cannot be applied to column {} of type {}",
                        m.agg.name(),
                        show(c),
                        col.ty.name
                    ),
                )
                .with_hint(agg_type_hint(m.agg))
            })?
        }
    };
    if m.column.is_none() && !rel.table_selectable {
        return Err(no_privilege(rel, None));
    }
    let filters = bind_filters(&m.filters, rel, &format!("{path}.where"))?;
    let measure = BoundMeasure {
        agg: m.agg,
        column: m.column.clone(),
        q: m.q,
        filters,
    };
    // what a `having` value on this measure is read as
    let ty = match same_as_column {
        Some(col) => MeasureType {
            scalar: col.ty.clone(),
            array: col.array_ty.clone(),
            base_oid: col.base_oid,
        },
        None => MeasureType {
            scalar: SqlType::builtin(type_oid, &type_name),
            array: builtin_array(type_oid).map(|(o, n)| SqlType::builtin(o, n)),
            base_oid: type_oid,
        },
    };
    let output = OutputColumn {
        name: m.name.clone(),
        type_name,
        type_oid,
    };
    Ok((measure, output, ty))
}

/// The array type of an aggregate's built-in result type.
fn builtin_array(type_oid: u32) -> Option<(u32, &'static str)> {
    Some(match type_oid {
        oid::INT8 => (1016, "_int8"),
        oid::NUMERIC => (1231, "_numeric"),
        oid::FLOAT4 => (1021, "_float4"),
        oid::FLOAT8 => (1022, "_float8"),
        oid::MONEY => (791, "_money"),
        oid::INTERVAL => (1187, "_interval"),
        _ => return None,
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

fn column<'a>(rel: &'a Relation, name: &str, path: &str) -> Result<&'a Column> {
    let col = rel.column(name).ok_or_else(|| {
        let e = Error::new(
            ErrorKind::UndefinedColumn,
            path,
            format!("column {} does not exist in {}", show(name), rel.display()),
        );
        match did_you_mean(name, rel.columns.iter().map(|c| c.name.as_str())) {
            Some(h) => e.with_hint(h),
            None => e,
        }
    })?;
    if !col.selectable {
        return Err(no_privilege(rel, Some(name)));
    }
    Ok(col)
}

fn no_privilege(rel: &Relation, column: Option<&str>) -> Error {
    let what = match column {
        Some(c) => format!("column {} of table {}", show(c), rel.display()),
        None => format!("table {}", rel.display()),
    };
    Error::new(
        ErrorKind::InsufficientPrivilege,
        "",
        format!("permission denied for {what}"),
    )
}

fn bind_filters(filters: &[Filter], rel: &Relation, path: &str) -> Result<Vec<BoundFilter>> {
    filters
        .iter()
        .enumerate()
        .map(|(i, f)| {
            let col = column(rel, &f.column, &format!("{path}[{i}].column"))?;
            let comparable = !matches!(col.base_oid, oid::JSON | oid::XML | oid::POINT);
            if !comparable && !matches!(f.op, Op::IsNull | Op::IsNotNull) {
                return Err(Error::new(
                    ErrorKind::DatatypeMismatch,
                    format!("{path}[{i}].op"),
                    format!(
                        "column {} of type {} supports only \"is null\" and \"is not null\"",
                        show(&f.column),
                        col.ty.name
                    ),
                ));
            }
            let cast = match f.op {
                Op::IsNull | Op::IsNotNull => None,
                Op::In | Op::NotIn => Some(col.array_ty.clone().ok_or_else(|| {
                    Error::new(
                        ErrorKind::DatatypeMismatch,
                        format!("{path}[{i}].op"),
                        format!(
                            "column {} of type {} has no array type for \"{}\"",
                            show(&f.column),
                            col.ty.name,
                            f.op.name()
                        ),
                    )
                })?),
                _ => Some(col.ty.clone()),
            };
            Ok(BoundFilter {
                column: f.column.clone(),
                op: f.op,
                value: f.value.clone(),
                cast,
                path: f.path.clone(),
            })
        })
        .collect()
}

/// PostgreSQL's result type (oid, typname) of `agg` over `col`, or None when it does not apply.
pub(crate) fn result_type(agg: Agg, col: &Column) -> Option<(u32, String)> {
    use oid::*;
    let same = || Some((col.ty.oid, col.ty.name.clone()));
    let t = |o: u32, n: &str| Some((o, n.to_string()));
    match (agg, col.base_oid) {
        (Agg::CountDistinct, JSON | XML | POINT) => None,
        (Agg::Count | Agg::CountDistinct, _) => t(INT8, "int8"),
        (Agg::Sum, INT2 | INT4) => t(INT8, "int8"),
        (Agg::Sum, INT8 | NUMERIC) => t(NUMERIC, "numeric"),
        (Agg::Sum, FLOAT4) => t(FLOAT4, "float4"),
        (Agg::Sum, FLOAT8) => t(FLOAT8, "float8"),
        (Agg::Sum, MONEY) => t(MONEY, "money"),
        (Agg::Sum | Agg::Avg, INTERVAL) => t(INTERVAL, "interval"),
        (Agg::Avg, INT2 | INT4 | INT8 | NUMERIC) => t(NUMERIC, "numeric"),
        (Agg::Avg, FLOAT4 | FLOAT8) => t(FLOAT8, "float8"),
        (Agg::Percentile, INT2 | INT4 | INT8 | NUMERIC | FLOAT4 | FLOAT8) => t(FLOAT8, "float8"),
        (
            Agg::Min | Agg::Max,
            INT2 | INT4 | INT8 | NUMERIC | FLOAT4 | FLOAT8 | MONEY | INTERVAL | DATE | TIMESTAMP
            | TIMESTAMPTZ | TEXT | VARCHAR | BPCHAR,
        ) => same(),
        _ => None,
    }
}

fn agg_type_hint(agg: Agg) -> &'static str {
    match agg {
        Agg::Sum => "sum takes smallint, integer, bigint, numeric, real, double precision, money or interval columns",
        Agg::Avg => "avg takes smallint, integer, bigint, numeric, real, double precision or interval columns",
        Agg::Percentile => "percentile takes smallint, integer, bigint, numeric, real or double precision columns",
        Agg::Min | Agg::Max => "min and max take numeric, text, date, time and interval columns",
        Agg::Count | Agg::CountDistinct => "count_distinct cannot be applied to json, xml or point columns",
    }
}
