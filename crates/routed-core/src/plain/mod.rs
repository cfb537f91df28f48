//! Plain SQL's recipe: what the planner hook understood of an aggregate query (the time
//! bounds, the bucket, dimensions, measures, filters, order and limit, each value as the index
//! of an expression the executor evaluates), and the document it becomes once those values are
//! known. Pure: the hook and the plan node live in the extension (`src/plain_sql/`).

use crate::time::format_rfc3339_utc;
use serde_json::{json, Map, Value};

/// How the query buckets its time column.
#[derive(Clone, Debug, PartialEq)]
pub enum BucketKind {
    /// `date_trunc('<unit>', ts)`: second, minute, hour, day, week or month.
    Trunc(String),
    /// `date_trunc('<unit>', ts, '<zone>')`: as `Trunc`, in the named TimeZone (a full zone
    /// name PostgreSQL reads alike as a TimeZone setting; the answer is computed in it).
    TruncIn { unit: String, zone: String },
    /// `floor(extract(epoch from ts) / n) * n` (Grafana's `$__timeGroup`): n seconds.
    Epoch(i64),
    /// `date_bin(stride, ts, origin)`: expressions `stride` (interval) and `origin`.
    Bin { stride: usize, origin: usize },
    /// `CAST(ts AS date)` / `ts::date`: calendar days in the session TimeZone.
    Date,
}

impl BucketKind {
    /// The TimeZone the bucket names, which the answer is computed in (None: the session's).
    pub fn zone(&self) -> Option<&str> {
        match self {
            BucketKind::TruncIn { zone, .. } => Some(zone),
            _ => None,
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct Bound {
    pub expr: usize,
    pub inclusive: bool,
}

#[derive(Clone, Debug, PartialEq)]
pub enum FilterValue {
    None,
    /// One value (`=`, `<>`, ranges).
    Scalar(usize),
    /// An array value (`IN`, `NOT IN`).
    List(usize),
}

#[derive(Clone, Debug, PartialEq)]
pub struct Filter {
    pub column: String,
    /// The document's op: `=`, `!=`, `<`, `<=`, `>`, `>=`, `in`, `not in`, `is null`,
    /// `is not null`.
    pub op: String,
    pub value: FilterValue,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Measure {
    pub agg: String,
    pub column: Option<String>,
    pub q: Option<f64>,
    pub filters: Vec<Filter>,
}

/// Where each of the query's output columns comes from.
#[derive(Clone, Debug, PartialEq)]
pub enum Output {
    /// The bucket's expression evaluated at the router's bucket start.
    Bucket,
    /// The router's output column (0-based).
    Column(usize),
    /// A junk column the executor drops (NULL).
    Junk,
}

#[derive(Clone, Debug, PartialEq, Default)]
pub struct Recipe {
    /// The source as the document names it (schema-qualified, quoted).
    pub source: String,
    pub time_column: String,
    pub lower: Vec<Bound>,
    pub upper: Vec<Bound>,
    pub bucket: Option<BucketKind>,
    pub dimensions: Vec<String>,
    pub measures: Vec<Measure>,
    pub filters: Vec<Filter>,
    /// (router output name, descending)
    pub order: Vec<(String, bool)>,
    pub limit: Option<usize>,
    pub outputs: Vec<Output>,
    pub exact: bool,
}

/// An expression's value at execution.
#[derive(Clone, Debug, PartialEq)]
pub enum Evaluated {
    Null,
    /// A timestamptz, microseconds since the Unix epoch.
    Time(i64),
    /// An interval.
    Interval {
        months: i32,
        days: i32,
        micros: i64,
    },
    Int(i64),
    /// A value as its type's output function prints it.
    Text(String),
    List(Vec<Option<String>>),
}

/// The name of measure `i` in the document.
pub fn measure_name(i: usize) -> String {
    format!("m{i}")
}

const MIN_US: i64 = -62_135_596_800_000_000; // 0001-01-01T00:00:00Z
const MAX_US: i64 = 253_402_300_799_999_999; // 9999-12-31T23:59:59.999999Z

fn time(values: &[Evaluated], i: usize) -> Result<i64, &'static str> {
    match values.get(i) {
        Some(Evaluated::Time(t)) if (MIN_US..=MAX_US).contains(t) => Ok(*t),
        Some(Evaluated::Time(_)) => Err("a time bound outside years 1 to 9999"),
        Some(Evaluated::Null) => Err("a NULL time bound"),
        _ => Err("a time bound of another type"),
    }
}

/// The granularity of the router's buckets for `kind`; `zone_offset` is the session TimeZone's
/// fixed offset in seconds (None when it changes over time), which sub-day truncation needs.
fn granularity(
    kind: &BucketKind,
    values: &[Evaluated],
    zone_offset: Option<i64>,
) -> Result<String, &'static str> {
    let fixed = |unit: i64| -> Result<String, &'static str> {
        match zone_offset {
            Some(off) if off % unit == 0 => Ok(format!("{unit} seconds")),
            _ => Err("the session TimeZone's offset is not a whole number of the bucket's unit"),
        }
    };
    match kind {
        BucketKind::Trunc(unit) | BucketKind::TruncIn { unit, .. } => match unit.as_str() {
            "second" => Ok("1 second".into()),
            "minute" => fixed(60),
            "hour" => fixed(3600),
            "day" => Ok("1 day".into()),
            "week" => Ok("1 week".into()),
            "month" => Ok("1 month".into()),
            _ => Err("an unsupported date_trunc unit"),
        },
        BucketKind::Epoch(n) if *n > 0 => Ok(format!("{n} seconds")),
        BucketKind::Epoch(_) => Err("a bucket width that is not positive"),
        BucketKind::Date => Ok("1 day".into()),
        BucketKind::Bin { stride, origin } => {
            let Some(Evaluated::Interval {
                months: 0,
                days,
                micros,
            }) = values.get(*stride)
            else {
                return Err("a date_bin stride with months, or NULL");
            };
            let width = i64::from(*days) * 86_400_000_000 + micros;
            if width <= 0 || width % 1_000_000 != 0 {
                return Err("a date_bin stride that is not a whole number of seconds");
            }
            if time(values, *origin)?.rem_euclid(width) != 0 {
                return Err("a date_bin origin not aligned to the Unix epoch");
            }
            Ok(format!("{} seconds", width / 1_000_000))
        }
    }
}

fn filter_json(f: &Filter, values: &[Evaluated]) -> Result<Value, &'static str> {
    let mut o = Map::new();
    o.insert("column".into(), json!(f.column));
    o.insert("op".into(), json!(f.op));
    match &f.value {
        FilterValue::None => {}
        FilterValue::Scalar(i) => match values.get(*i) {
            Some(Evaluated::Text(t)) => {
                o.insert("value".into(), json!(t));
            }
            Some(Evaluated::Int(n)) => {
                o.insert("value".into(), json!(n.to_string()));
            }
            Some(Evaluated::Time(t)) if (MIN_US..=MAX_US).contains(t) => {
                o.insert("value".into(), json!(format_rfc3339_utc(*t)));
            }
            _ => return Err("a filter value that is NULL or out of range"),
        },
        FilterValue::List(i) => match values.get(*i) {
            Some(Evaluated::List(items)) => {
                let has_null = items.iter().any(Option::is_none);
                if has_null && f.op == "not in" {
                    return Err("NOT IN a list with NULL");
                }
                let kept: Vec<&String> = items.iter().flatten().collect();
                if kept.is_empty() {
                    return Err("an IN list without values");
                }
                o.insert("value".into(), json!(kept));
            }
            _ => return Err("a NULL list"),
        },
    }
    Ok(Value::Object(o))
}

/// The document `recipe` asks once its expressions evaluated to `values`, or why it cannot be
/// routed (the plan node then runs PostgreSQL's own plan).
pub fn document(
    recipe: &Recipe,
    values: &[Evaluated],
    zone_offset: Option<i64>,
) -> Result<String, &'static str> {
    let mut from: Option<i64> = None;
    for b in &recipe.lower {
        let t = time(values, b.expr)? + i64::from(!b.inclusive);
        from = Some(from.map_or(t, |f| f.max(t)));
    }
    let mut to: Option<i64> = None;
    for b in &recipe.upper {
        let t = time(values, b.expr)? + i64::from(b.inclusive);
        to = Some(to.map_or(t, |u| u.min(t)));
    }
    let to = to.ok_or("no upper time bound")?;
    if to > MAX_US || from.is_some_and(|f| f >= to) {
        return Err("an empty or unbounded window");
    }
    let mut t = Map::new();
    t.insert("column".into(), json!(recipe.time_column));
    if let Some(f) = from {
        t.insert("from".into(), json!(format_rfc3339_utc(f)));
    }
    t.insert("to".into(), json!(format_rfc3339_utc(to)));
    if let Some(kind) = &recipe.bucket {
        t.insert(
            "granularity".into(),
            json!(granularity(kind, values, zone_offset)?),
        );
    }
    let mut measures = Vec::with_capacity(recipe.measures.len());
    for (i, m) in recipe.measures.iter().enumerate() {
        let mut o = Map::new();
        o.insert("name".into(), json!(measure_name(i)));
        o.insert("agg".into(), json!(m.agg));
        if let Some(c) = &m.column {
            o.insert("column".into(), json!(c));
        }
        if let Some(q) = m.q {
            o.insert("q".into(), json!(q));
        }
        if !m.filters.is_empty() {
            let w = m
                .filters
                .iter()
                .map(|f| filter_json(f, values))
                .collect::<Result<Vec<_>, _>>()?;
            o.insert("where".into(), Value::Array(w));
        }
        measures.push(Value::Object(o));
    }
    let mut doc = Map::new();
    doc.insert("source".into(), json!(recipe.source));
    doc.insert("time".into(), Value::Object(t));
    if !recipe.dimensions.is_empty() {
        doc.insert("dimensions".into(), json!(recipe.dimensions));
    }
    doc.insert("measures".into(), Value::Array(measures));
    if !recipe.filters.is_empty() {
        let w = recipe
            .filters
            .iter()
            .map(|f| filter_json(f, values))
            .collect::<Result<Vec<_>, _>>()?;
        doc.insert("where".into(), Value::Array(w));
    }
    if !recipe.order.is_empty() {
        let o: Vec<Value> = recipe
            .order
            .iter()
            .map(|(by, desc)| json!({"by": by, "dir": if *desc { "desc" } else { "asc" }}))
            .collect();
        doc.insert("order".into(), Value::Array(o));
    }
    if let Some(i) = recipe.limit {
        match values.get(i) {
            Some(Evaluated::Int(n)) if *n > 0 => {
                doc.insert("limit".into(), json!(n));
            }
            Some(Evaluated::Null) => {}
            _ => return Err("a LIMIT that is not positive"),
        }
    }
    if recipe.exact {
        doc.insert("exact".into(), json!(true));
    }
    Ok(Value::Object(doc).to_string())
}

mod json;
#[cfg(test)]
mod tests;
