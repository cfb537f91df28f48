//! Parsing the query document: JSON in, typed `Query` out, or an error naming the JSON path and
//! what is allowed. Strict: unknown keys, wrong types and out-of-range values are errors, never
//! silently ignored.

pub mod expr;
mod items;
mod json;
mod path;

use crate::budget::{Freshness, FRESHNESS_NAMES};
use crate::error::{show, Error, Result};
use crate::query::*;
use crate::time::{parse_granularity, parse_time_bound, Offset, TimeBound};
use items::{parse_filters, parse_limit, parse_measure, parse_order, MeasureItem};
use json::{as_array, as_object, as_str, check_keys, parse_name, type_error};
use path::{top, ROOT};
use serde_json::Value;

/// Parses document text: size limit first, then JSON (nesting depth is bounded by the parser),
/// then the document.
pub fn parse_text(text: &str) -> Result<Query> {
    if text.len() > MAX_DOCUMENT_BYTES {
        return Err(Error::invalid(
            "",
            format!(
                "document is {} bytes; at most {} bytes are allowed",
                text.len(),
                MAX_DOCUMENT_BYTES
            ),
        ));
    }
    let value: Value = serde_json::from_str(text).map_err(|e| {
        let why = if e.to_string().contains("recursion limit") {
            "document is nested too deeply".to_string()
        } else {
            format!("document is not valid JSON: {e}")
        };
        Error::invalid("", why)
    })?;
    parse(&value)
}

/// The document's keys, each read by its own step.
const KEYS: &[&str] = &[
    "version",
    "source",
    "join",
    "time",
    "dimensions",
    "measures",
    "where",
    "having",
    "order",
    "limit",
    "exact",
    "freshness",
];

pub fn parse(doc: &Value) -> Result<Query> {
    let obj = as_object(doc, ROOT, "an object (the query document)")?;
    check_keys(obj, ROOT, KEYS)?;
    check_version(obj.get("version"))?;
    let (measures, computed) = parse_measures(obj.get("measures"))?;
    let query = Query {
        source: parse_source(obj.get("source"))?.to_string(),
        joins: list(obj.get("join"), "join", parse_join)?,
        time: obj.get("time").map(parse_time).transpose()?,
        dimensions: list(obj.get("dimensions"), "dimensions", parse_name)?,
        measures,
        computed,
        filters: match obj.get("where") {
            None => vec![],
            Some(v) => parse_filters(v, top("where"))?,
        },
        having: match obj.get("having") {
            None => vec![],
            Some(v) => parse_filters(v, top("having"))?,
        },
        order: list(obj.get("order"), "order", parse_order)?,
        limit: obj.get("limit").map(parse_limit).transpose()?,
        exact: parse_exact(obj.get("exact"))?,
        freshness: obj.get("freshness").map(parse_freshness).transpose()?,
    };
    check_output_names(&query)?;
    Ok(query)
}

fn check_version(v: Option<&Value>) -> Result<()> {
    match v {
        Some(v) if !matches!(v.as_u64(), Some(1 | 2)) => Err(Error::invalid(
            "version",
            "unsupported version; expected 1 or 2",
        )),
        _ => Ok(()),
    }
}

fn parse_join(v: &Value, path: path::Path<'_>) -> Result<Join> {
    let obj = as_object(v, path, "an object with table, on, left")?;
    check_keys(obj, path, &["table", "on", "left"])?;
    let table = match obj.get("table") {
        None => {
            return Err(Error::invalid(
                path.key("table"),
                "is required: the dimension table to join",
            ))
        }
        Some(t) => as_str(t, path.key("table"))?,
    };
    if table.trim().is_empty() || table.len() > MAX_SOURCE_BYTES {
        return Err(Error::invalid(
            path.key("table"),
            format!("invalid relation name {}", show(table)),
        ));
    }
    let on_path = path.key("on");
    let on = match obj.get("on") {
        None => {
            return Err(Error::invalid(
                on_path,
                "is required: {\"source column\": \"table column\", ...}",
            ))
        }
        Some(o) => as_object(
            o,
            on_path,
            "an object mapping source columns to the table's",
        )?,
    };
    if on.is_empty() || on.len() > MAX_ITEMS {
        return Err(Error::invalid(
            on_path,
            format!("must map 1 to {MAX_ITEMS} columns, got {}", on.len()),
        ));
    }
    let mut pairs = Vec::with_capacity(on.len());
    for (k, v) in on {
        let key = json::check_name(k, on_path)?;
        pairs.push((key, parse_name(v, on_path.key(k))?));
    }
    pairs.sort();
    let left = match obj.get("left") {
        None => false,
        Some(Value::Bool(b)) => *b,
        Some(v) => return Err(type_error(path.key("left"), "a boolean", v)),
    };
    Ok(Join {
        table: table.to_string(),
        on: pairs,
        left,
    })
}

fn parse_source(v: Option<&Value>) -> Result<&str> {
    let Some(v) = v else {
        return Err(Error::invalid(
            "source",
            "is required: the table, view or materialized view to query",
        ));
    };
    let source = as_str(v, top("source"))?;
    if source.trim().is_empty() || source.len() > MAX_SOURCE_BYTES {
        return Err(Error::invalid(
            "source",
            format!("invalid relation name {}", show(source)),
        ));
    }
    Ok(source)
}

/// An optional array under a top-level key, each item read by `item` at its path.
fn list<T>(
    v: Option<&Value>,
    key: &'static str,
    item: impl Fn(&Value, path::Path<'_>) -> Result<T>,
) -> Result<Vec<T>> {
    match v {
        None => Ok(vec![]),
        Some(v) => as_array(v, top(key), 0)?
            .iter()
            .enumerate()
            .map(|(i, x)| item(x, top(key).index(i)))
            .collect(),
    }
}

/// The aggregate measures and the computed ones (with their places); at least one aggregate.
fn parse_measures(v: Option<&Value>) -> Result<(Vec<Measure>, Vec<Computed>)> {
    let v = v.ok_or_else(|| {
        Error::invalid("measures", "is required: a non-empty array of measures, e.g. [{\"name\": \"n\", \"agg\": \"count\"}]")
    })?;
    let (mut measures, mut computed) = (Vec::new(), Vec::new());
    for (at, m) in as_array(v, top("measures"), 1)?.iter().enumerate() {
        match parse_measure(m, top("measures").index(at))? {
            MeasureItem::Aggregate(m) => measures.push(m),
            MeasureItem::Computed(name, expr) => computed.push(Computed { name, expr, at }),
        }
    }
    if measures.is_empty() {
        return Err(Error::invalid(
            "measures",
            "needs at least one aggregate (agg); computed measures are computed from them",
        ));
    }
    Ok((measures, computed))
}

fn parse_exact(v: Option<&Value>) -> Result<bool> {
    match v {
        None => Ok(false),
        Some(Value::Bool(b)) => Ok(*b),
        Some(v) => Err(type_error(top("exact"), "a boolean", v)),
    }
}

fn parse_freshness(v: &Value) -> Result<Freshness> {
    let name = as_str(v, top("freshness"))?;
    Freshness::parse(name).ok_or_else(|| {
        Error::invalid(
            "freshness",
            format!(
                "unknown level {}; expected one of {FRESHNESS_NAMES}",
                show(name)
            ),
        )
    })
}

fn parse_time(v: &Value) -> Result<TimeSpec> {
    let obj = as_object(
        v,
        top("time"),
        "an object with column, from, to, granularity",
    )?;
    check_keys(obj, top("time"), &["column", "from", "to", "granularity"])?;
    let column = obj
        .get("column")
        .map(|c| parse_name(c, top("time").key("column")))
        .transpose()?;
    let bound = |key: &str| -> Result<Option<TimeBound>> {
        let time = top("time");
        let path = time.key(key);
        obj.get(key)
            .map(|b| parse_time_bound(&path.to_string(), as_str(b, path)?))
            .transpose()
    };
    let from = bound("from")?;
    let to = bound("to")?.unwrap_or(TimeBound::NowMinus(Offset::Seconds(0)));
    if let (Some(TimeBound::Absolute(f)), TimeBound::Absolute(t)) = (from, to) {
        if f > t {
            return Err(Error::invalid(
                "time",
                "from is later than to; the range would be empty",
            ));
        }
    }
    let granularity = obj
        .get("granularity")
        .map(|g| {
            parse_granularity(
                "time.granularity",
                as_str(g, top("time").key("granularity"))?,
            )
        })
        .transpose()?;
    Ok(TimeSpec {
        column,
        from,
        to,
        granularity,
    })
}

/// Output columns are `bucket`, dimensions and measures; their names must be distinct, and
/// `order` must name one of them.
fn check_output_names(q: &Query) -> Result<()> {
    let mut seen: Vec<&str> = Vec::with_capacity(1 + q.dimensions.len() + q.measures.len());
    if q.time.as_ref().is_some_and(|t| t.granularity.is_some()) {
        seen.push("bucket");
    }
    let dims = q
        .dimensions
        .iter()
        .enumerate()
        .map(|(i, d)| (d.as_str(), i, false));
    let names = q.measure_names();
    let measures = names.iter().enumerate().map(|(i, m)| (*m, i, true));
    for (name, i, is_measure) in dims.chain(measures) {
        if seen.contains(&name) {
            let path = if is_measure {
                format!("measures[{i}].name")
            } else {
                format!("dimensions[{i}]")
            };
            return Err(Error::invalid(
                path,
                format!(
                    "output column {} appears twice; names must be distinct",
                    show(name)
                ),
            ));
        }
        seen.push(name);
    }
    for (i, h) in q.having.iter().enumerate() {
        if !names.contains(&h.column.as_str()) {
            return Err(Error::invalid(
                format!("having[{i}].column"),
                format!(
                    "{} is not a measure; expected one of {}",
                    show(&h.column),
                    names.join(", ")
                ),
            ));
        }
    }
    for (i, o) in q.order.iter().enumerate() {
        if !seen.contains(&o.by.as_str()) {
            return Err(Error::invalid(
                format!("order[{i}].by"),
                format!(
                    "{} is not an output column; expected one of {}",
                    show(&o.by),
                    seen.join(", ")
                ),
            ));
        }
    }
    Ok(())
}
