//! Measures bound to their columns, typed as PostgreSQL types each aggregate's result.

use super::scope::{column, no_privilege, Scope};
use super::{bind_filters, BoundMeasure};
use crate::error::{show, Error, ErrorKind, Result};
use crate::model::{oid, Column, OutputColumn, SqlType};
use crate::post::bind::MeasureType;
use crate::query::{Agg, Measure};

/// One measure and its output column, typed as PostgreSQL types the aggregate's result.
pub(super) fn bind_measure(
    m: &Measure,
    scope: &Scope<'_>,
    path: &str,
) -> Result<(BoundMeasure, OutputColumn, MeasureType)> {
    let rel = scope.source;
    let mut same_as_column = None;
    let (type_oid, type_name) = match &m.column {
        None => (oid::INT8, "int8".to_string()),
        Some(c) => {
            if scope.column(c, "")?.1.is_some() {
                return Err(Error::invalid(
                    format!("{path}.column"),
                    format!(
                        "{} is a joined table's column; measures aggregate the source's columns",
                        show(c)
                    ),
                ));
            }
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
    let filters = bind_filters(&m.filters, scope, &format!("{path}.where"))?;
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
