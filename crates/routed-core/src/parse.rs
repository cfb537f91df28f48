//! Parsing the query document: JSON in, typed `Query` out, or an error naming the JSON path and
//! what is allowed. Strict: unknown keys, wrong types and out-of-range values are errors, never
//! silently ignored.

use crate::budget::{Freshness, FRESHNESS_NAMES};
use crate::error::{show, Error, Result};
use crate::query::*;
use crate::time::{parse_granularity, parse_time_bound, Offset, TimeBound};
use serde_json::{Map, Value};

/// A JSON path, built only when an error needs its text (parsing runs on every call).
#[derive(Clone, Copy)]
pub enum Path<'a> {
    Root,
    Key(&'a Path<'a>, &'a str),
    Index(&'a Path<'a>, usize),
}

static ROOT: Path<'static> = Path::Root;

/// The path of a top-level key.
fn top(key: &'static str) -> Path<'static> {
    Path::Key(&ROOT, key)
}

impl<'a> Path<'a> {
    pub fn key(&'a self, key: &'a str) -> Path<'a> {
        Path::Key(self, key)
    }

    pub fn index(&'a self, i: usize) -> Path<'a> {
        Path::Index(self, i)
    }
}

impl std::fmt::Display for Path<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Path::Root => Ok(()),
            Path::Key(Path::Root, k) => write!(f, "{k}"),
            Path::Key(p, k) => write!(f, "{p}.{k}"),
            Path::Index(p, i) => write!(f, "{p}[{i}]"),
        }
    }
}

impl From<Path<'_>> for String {
    fn from(p: Path<'_>) -> String {
        p.to_string()
    }
}

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

pub fn parse(doc: &Value) -> Result<Query> {
    let obj = as_object(doc, ROOT, "an object (the query document)")?;
    check_keys(
        obj,
        ROOT,
        &[
            "version",
            "source",
            "time",
            "dimensions",
            "measures",
            "where",
            "order",
            "limit",
            "exact",
            "freshness",
        ],
    )?;
    if let Some(v) = obj.get("version") {
        if v.as_u64() != Some(1) {
            return Err(Error::invalid("version", "unsupported version; expected 1"));
        }
    }
    let source = match obj.get("source") {
        None => {
            return Err(Error::invalid(
                "source",
                "is required: the table, view or materialized view to query",
            ))
        }
        Some(v) => as_str(v, top("source"))?,
    };
    if source.trim().is_empty() || source.len() > MAX_SOURCE_BYTES {
        return Err(Error::invalid(
            "source",
            format!("invalid relation name {}", show(source)),
        ));
    }
    let time = obj.get("time").map(parse_time).transpose()?;
    let dimensions = match obj.get("dimensions") {
        None => vec![],
        Some(v) => as_array(v, top("dimensions"), 0)?
            .iter()
            .enumerate()
            .map(|(i, d)| parse_name(d, top("dimensions").index(i)))
            .collect::<Result<_>>()?,
    };
    let measures_json = obj.get("measures").ok_or_else(|| {
        Error::invalid("measures", "is required: a non-empty array of measures, e.g. [{\"name\": \"n\", \"agg\": \"count\"}]")
    })?;
    let measures = as_array(measures_json, top("measures"), 1)?
        .iter()
        .enumerate()
        .map(|(i, m)| parse_measure(m, top("measures").index(i)))
        .collect::<Result<Vec<_>>>()?;
    let filters = match obj.get("where") {
        None => vec![],
        Some(v) => parse_filters(v, top("where"))?,
    };
    let order = match obj.get("order") {
        None => vec![],
        Some(v) => as_array(v, top("order"), 0)?
            .iter()
            .enumerate()
            .map(|(i, o)| parse_order(o, top("order").index(i)))
            .collect::<Result<_>>()?,
    };
    let limit = obj.get("limit").map(parse_limit).transpose()?;
    let exact = match obj.get("exact") {
        None => false,
        Some(Value::Bool(b)) => *b,
        Some(v) => return Err(type_error(top("exact"), "a boolean", v)),
    };
    let freshness = match obj.get("freshness") {
        None => None,
        Some(v) => {
            let name = as_str(v, top("freshness"))?;
            Some(Freshness::parse(name).ok_or_else(|| {
                Error::invalid(
                    "freshness",
                    format!(
                        "unknown level {}; expected one of {FRESHNESS_NAMES}",
                        show(name)
                    ),
                )
            })?)
        }
    };
    let query = Query {
        source: source.to_string(),
        time,
        dimensions,
        measures,
        filters,
        order,
        limit,
        exact,
        freshness,
    };
    check_output_names(&query)?;
    Ok(query)
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

fn parse_measure(v: &Value, path: Path<'_>) -> Result<Measure> {
    let obj = as_object(v, path, "an object with name, agg, column, q, where")?;
    check_keys(obj, path, &["name", "agg", "column", "q", "where"])?;
    let name = match obj.get("name") {
        None => {
            return Err(Error::invalid(
                path.key("name"),
                "is required: the output column's name",
            ))
        }
        Some(n) => parse_name(n, path.key("name"))?,
    };
    let agg_path = path.key("agg");
    let agg_text = match obj.get("agg") {
        None => {
            return Err(Error::invalid(
                agg_path,
                format!("is required; expected one of {AGG_NAMES}"),
            ))
        }
        Some(a) => as_str(a, agg_path)?,
    };
    let agg = Agg::parse(agg_text).ok_or_else(|| {
        Error::invalid(
            agg_path,
            format!(
                "unknown aggregate {}; expected one of {AGG_NAMES}",
                show(agg_text)
            ),
        )
    })?;
    let column = obj
        .get("column")
        .map(|c| parse_name(c, path.key("column")))
        .transpose()?;
    if column.is_none() && agg != Agg::Count {
        return Err(Error::invalid(
            path.key("column"),
            format!("is required for {}", agg.name()),
        ));
    }
    let q = match (agg, obj.get("q")) {
        (Agg::Percentile, None) => {
            return Err(Error::invalid(
                path.key("q"),
                "is required for percentile: a number in [0, 1]",
            ))
        }
        (Agg::Percentile, Some(q)) => match q.as_f64() {
            Some(x) if (0.0..=1.0).contains(&x) => Some(x),
            _ => {
                return Err(Error::invalid(
                    path.key("q"),
                    format!("must be a number in [0, 1], got {q}"),
                ))
            }
        },
        (_, Some(_)) => {
            return Err(Error::invalid(
                path.key("q"),
                format!("is only allowed for percentile, not {}", agg.name()),
            ))
        }
        (_, None) => None,
    };
    let filters = match obj.get("where") {
        None => vec![],
        Some(w) => parse_filters(w, path.key("where"))?,
    };
    Ok(Measure {
        name,
        agg,
        column,
        q,
        filters,
    })
}

fn parse_filters(v: &Value, path: Path<'_>) -> Result<Vec<Filter>> {
    as_array(v, path, 0)?
        .iter()
        .enumerate()
        .map(|(i, f)| parse_filter(f, path.index(i)))
        .collect()
}

fn parse_filter(v: &Value, path: Path<'_>) -> Result<Filter> {
    let obj = as_object(v, path, "an object with column, op, value")?;
    check_keys(obj, path, &["column", "op", "value"])?;
    let column = match obj.get("column") {
        None => return Err(Error::invalid(path.key("column"), "is required")),
        Some(c) => parse_name(c, path.key("column"))?,
    };
    let op_path = path.key("op");
    let op_text = match obj.get("op") {
        None => {
            return Err(Error::invalid(
                op_path,
                format!("is required; expected one of {OP_NAMES}"),
            ))
        }
        Some(o) => as_str(o, op_path)?,
    };
    let op = Op::parse(op_text).ok_or_else(|| {
        Error::invalid(
            op_path,
            format!(
                "unknown operator {}; expected one of {OP_NAMES}",
                show(op_text)
            ),
        )
    })?;
    let value_path = path.key("value");
    let value = match (op, obj.get("value")) {
        (Op::IsNull | Op::IsNotNull, None) => FilterValue::None,
        (Op::IsNull | Op::IsNotNull, Some(_)) => {
            return Err(Error::invalid(
                value_path,
                format!("is not allowed with \"{}\"", op.name()),
            ))
        }
        (_, None) => {
            return Err(Error::invalid(
                value_path,
                format!("is required with \"{}\"", op.name()),
            ))
        }
        (Op::In | Op::NotIn, Some(Value::Array(items))) => {
            if items.is_empty() || items.len() > MAX_IN_VALUES {
                return Err(Error::invalid(
                    value_path,
                    format!(
                        "must be an array of 1 to {MAX_IN_VALUES} scalars, got {} values",
                        items.len()
                    ),
                ));
            }
            let values = items
                .iter()
                .enumerate()
                .map(|(i, x)| scalar_text(x, value_path.index(i)))
                .collect::<Result<_>>()?;
            FilterValue::List(values)
        }
        (Op::In | Op::NotIn, Some(other)) => {
            return Err(type_error(
                value_path,
                &format!("an array of scalars with \"{}\"", op.name()),
                other,
            ))
        }
        (_, Some(x)) => FilterValue::One(scalar_text(x, value_path)?),
    };
    Ok(Filter {
        column,
        op,
        value,
        path: value_path.to_string(),
    })
}

/// A JSON scalar as the text PostgreSQL's input function will read.
fn scalar_text(v: &Value, path: Path<'_>) -> Result<String> {
    match v {
        Value::String(s) => {
            if s.contains('\0') {
                return Err(Error::invalid(path, "must not contain a NUL character"));
            }
            Ok(s.clone())
        }
        Value::Number(n) => Ok(n.to_string()),
        Value::Bool(b) => Ok(b.to_string()),
        Value::Null => Err(Error::invalid(
            path,
            "is null; use the operators \"is null\" / \"is not null\" to test for NULL",
        )),
        other => Err(type_error(path, "a string, number or boolean", other)),
    }
}

fn parse_order(v: &Value, path: Path<'_>) -> Result<OrderBy> {
    let obj = as_object(v, path, "an object with by and dir")?;
    check_keys(obj, path, &["by", "dir"])?;
    let by = match obj.get("by") {
        None => {
            return Err(Error::invalid(
                path.key("by"),
                "is required: bucket, a dimension or a measure name",
            ))
        }
        Some(b) => parse_name(b, path.key("by"))?,
    };
    let dir = match obj.get("dir") {
        None => Dir::Asc,
        Some(d) => match as_str(d, path.key("dir"))? {
            "asc" => Dir::Asc,
            "desc" => Dir::Desc,
            other => {
                return Err(Error::invalid(
                    path.key("dir"),
                    format!("unknown direction {}; expected asc or desc", show(other)),
                ))
            }
        },
    };
    Ok(OrderBy { by, dir })
}

fn parse_limit(v: &Value) -> Result<u64> {
    match v.as_u64() {
        Some(n) if (1..=MAX_LIMIT).contains(&n) => Ok(n),
        _ => Err(Error::invalid(
            "limit",
            format!("must be an integer from 1 to {MAX_LIMIT}, got {v}"),
        )),
    }
}

/// A column, dimension or output name: a non-empty string of at most 63 bytes, no NUL.
fn parse_name(v: &Value, path: Path<'_>) -> Result<String> {
    let s = as_str(v, path)?;
    if s.is_empty() || s.len() > MAX_IDENTIFIER_BYTES || s.contains('\0') {
        return Err(Error::invalid(
            path,
            format!(
                "invalid name {}; expected 1 to {MAX_IDENTIFIER_BYTES} bytes without NUL",
                show(s)
            ),
        ));
    }
    Ok(s.to_string())
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
    let measures = q
        .measures
        .iter()
        .enumerate()
        .map(|(i, m)| (m.name.as_str(), i, true));
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

fn as_object<'a>(v: &'a Value, path: Path<'_>, what: &str) -> Result<&'a Map<String, Value>> {
    v.as_object().ok_or_else(|| type_error(path, what, v))
}

fn as_str<'a>(v: &'a Value, path: Path<'_>) -> Result<&'a str> {
    v.as_str().ok_or_else(|| type_error(path, "a string", v))
}

fn as_array<'a>(v: &'a Value, path: Path<'_>, min: usize) -> Result<&'a Vec<Value>> {
    let items = v
        .as_array()
        .ok_or_else(|| type_error(path, "an array", v))?;
    if items.len() < min || items.len() > MAX_ITEMS {
        return Err(Error::invalid(
            path,
            format!(
                "must have {min} to {MAX_ITEMS} entries, got {}",
                items.len()
            ),
        ));
    }
    Ok(items)
}

fn check_keys(obj: &Map<String, Value>, path: Path<'_>, allowed: &[&str]) -> Result<()> {
    for key in obj.keys() {
        if !allowed.contains(&key.as_str()) {
            return Err(Error::invalid(
                path.key(key),
                format!(
                    "unknown key {}; expected one of {}",
                    show(key),
                    allowed.join(", ")
                ),
            ));
        }
    }
    Ok(())
}

fn type_error(path: Path<'_>, expected: &str, got: &Value) -> Error {
    let kind = match got {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    };
    Error::invalid(path, format!("expected {expected}, got {kind}"))
}
