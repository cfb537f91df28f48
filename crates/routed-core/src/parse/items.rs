//! The document's lists: measures, filters (`where`, and a measure's `FILTER`), order, limit.

use super::expr::parse_expr;
use super::json::{as_array, as_object, as_str, check_keys, parse_name, scalar_text, type_error};
use super::path::Path;
use crate::error::{show, Error, Result};
use crate::query::expr::Expr;
use crate::query::*;
use serde_json::Value;

/// One entry of `measures`: an aggregate, or a computed measure (`expr`).
pub enum MeasureItem {
    Aggregate(Measure),
    Computed(String, Expr),
}

pub fn parse_measure(v: &Value, path: Path<'_>) -> Result<MeasureItem> {
    let obj = as_object(
        v,
        path,
        "an object with name, agg, column, q, where (or name, expr)",
    )?;
    let name = match obj.get("name") {
        None => {
            return Err(Error::invalid(
                path.key("name"),
                "is required: the output column's name",
            ))
        }
        Some(n) => parse_name(n, path.key("name"))?,
    };
    if let Some(e) = obj.get("expr") {
        check_keys(obj, path, &["name", "expr"])?;
        let text = as_str(e, path.key("expr"))?;
        let expr = parse_expr(text).map_err(|e| {
            Error::invalid(
                path.key("expr"),
                format!("at position {}: {}", e.position, e.message),
            )
            .with_hint(EXPR_HINT)
        })?;
        return Ok(MeasureItem::Computed(name, expr));
    }
    check_keys(obj, path, &["name", "agg", "column", "q", "where", "expr"])?;
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
    Ok(MeasureItem::Aggregate(Measure {
        name,
        agg,
        column,
        q,
        filters,
    }))
}

const EXPR_HINT: &str = "an expression takes + - * /, parentheses, numeric literals, the names \
    of the document's other measures and share(measure, dimension, ...)";

pub fn parse_filters(v: &Value, path: Path<'_>) -> Result<Vec<Filter>> {
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

pub fn parse_order(v: &Value, path: Path<'_>) -> Result<OrderBy> {
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

pub fn parse_limit(v: &Value) -> Result<u64> {
    match v.as_u64() {
        Some(n) if (1..=MAX_LIMIT).contains(&n) => Ok(n),
        _ => Err(Error::invalid(
            "limit",
            format!("must be an integer from 1 to {MAX_LIMIT}, got {v}"),
        )),
    }
}
