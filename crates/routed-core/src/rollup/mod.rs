//! Rollup definitions: which re-aggregatable states a rollup keeps, parsed from
//! `create_rollup`'s `measures`, and the SQL that computes those states from source rows.
//! The same state expressions fill the rollup and aggregate the base-table segments of a
//! `rollup+base` answer, so both halves of an answer are computed the same way.

use crate::error::{show, Error, ErrorKind, Result};
use crate::model::{oid, Column, Relation};
use crate::names::quote_ident;
use crate::query::{Agg, MAX_IDENTIFIER_BYTES, MAX_ITEMS};
use serde_json::Value;
use std::fmt::Write;

mod from_finer;
mod layout;
pub mod touched;

pub use from_finer::finer_covered_sql;

/// A re-aggregatable state over source rows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum StateKind {
    /// `count(*)`: rows in the bucket (always kept).
    Rows,
    /// `count(col)`: non-null values.
    Count,
    Sum,
    Min,
    Max,
    /// The sum behind an average, in the type its average divides (`float8` for real columns).
    AvgSum,
    /// A quantile sketch (serves every `q` of `percentile`): approximate.
    Quantile,
    /// A distinct-count sketch: approximate.
    Distinct,
}

impl StateKind {
    pub fn name(self) -> &'static str {
        match self {
            StateKind::Rows | StateKind::Count => "count",
            StateKind::Sum => "sum",
            StateKind::Min => "min",
            StateKind::Max => "max",
            StateKind::AvgSum => "avg_sum",
            StateKind::Quantile => "quantile",
            StateKind::Distinct => "distinct",
        }
    }

    /// Stable key in the catalog.
    pub fn key(self) -> &'static str {
        match self {
            StateKind::Rows => "rows",
            other => other.name(),
        }
    }

    pub fn from_key(key: &str) -> Option<StateKind> {
        Some(match key {
            "rows" => StateKind::Rows,
            "count" => StateKind::Count,
            "sum" => StateKind::Sum,
            "min" => StateKind::Min,
            "max" => StateKind::Max,
            "avg_sum" => StateKind::AvgSum,
            "quantile" => StateKind::Quantile,
            "distinct" => StateKind::Distinct,
            _ => return None,
        })
    }

    /// The aggregate that merges partial states of this kind.
    pub fn merge(self) -> &'static str {
        match self {
            StateKind::Rows | StateKind::Count | StateKind::Sum | StateKind::AvgSum => "sum",
            StateKind::Min => "min",
            StateKind::Max => "max",
            StateKind::Quantile => "\"routed\".\"quantile_merge\"",
            StateKind::Distinct => "\"routed\".\"distinct_merge\"",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct State {
    pub kind: StateKind,
    pub column: Option<String>,
    /// Column of the rollup table holding it (`sum(records_processed)`).
    pub name: String,
    /// Base type OID of the source column (0 for `Rows`).
    pub base_oid: u32,
}

impl State {
    /// The aggregate over source rows that computes this state.
    pub fn expr(&self, qualifier: &str) -> String {
        let col = self
            .column
            .as_deref()
            .map(|c| format!("{qualifier}{}", quote_ident(c)));
        match (self.kind, col) {
            (StateKind::Rows, _) => "count(*)".into(),
            (StateKind::AvgSum, Some(c)) if matches!(self.base_oid, oid::FLOAT4 | oid::FLOAT8) => {
                format!("sum(CAST({c} AS \"pg_catalog\".\"float8\"))")
            }
            (StateKind::AvgSum, Some(c)) => format!("sum({c})"),
            (StateKind::Quantile, Some(c)) => {
                format!("\"routed\".\"quantile_state\"(CAST({c} AS \"pg_catalog\".\"float8\"))")
            }
            (StateKind::Distinct, Some(c)) => format!("\"routed\".\"distinct_state\"({c})"),
            (kind, Some(c)) => format!("{}({c})", kind.name()),
            (kind, None) => unreachable!("{kind:?} needs a column"),
        }
    }
}

/// What a rollup keeps: bucket width, dimensions and states. Plain data, so routing is tested
/// without a server.
#[derive(Debug, Clone, PartialEq)]
pub struct RollupDef {
    pub name: String,
    pub time_column: String,
    pub width_secs: i64,
    pub dimensions: Vec<String>,
    pub states: Vec<State>,
}

impl RollupDef {
    /// `"routed"."name"`
    pub fn relation(&self) -> String {
        format!("\"routed\".{}", quote_ident(&self.name))
    }

    /// `"routed"."name$delta"`: states of rows inserted below the rollup's threshold, not yet
    /// merged into it. Answers read the rollup and its deltas together.
    pub fn delta_relation(&self) -> String {
        format!(
            "\"routed\".{}",
            quote_ident(&format!("{}$delta", self.name))
        )
    }

    /// The SQL a statement trigger runs to add the states of its inserted rows (the transition
    /// table `routed_new`) below the threshold (`$1`) to the deltas.
    pub fn delta_insert_sql(&self) -> String {
        format!(
            "INSERT INTO {} {}",
            self.delta_relation(),
            self.states_select(&format!(
                "routed_new AS s WHERE s.{} < $1",
                quote_ident(&self.time_column)
            ))
        )
    }

    /// `bucket, dims, merged states` over a relation `u` of partial states, grouped: what
    /// refresh writes back when it folds deltas into the rollup.
    pub fn merge_select(&self, from: &str) -> String {
        let mut sql = String::from("SELECT u.bucket");
        for d in &self.dimensions {
            let _ = write!(sql, ", u.{}", quote_ident(d));
        }
        for st in &self.states {
            let n = quote_ident(&st.name);
            let _ = write!(sql, ", {}(u.{n})", st.kind.merge());
        }
        let _ = write!(sql, " FROM {from} AS u GROUP BY 1");
        for i in 0..self.dimensions.len() {
            let _ = write!(sql, ", {}", i + 2);
        }
        sql
    }

    pub fn state(&self, kind: StateKind, column: Option<&str>) -> Option<&State> {
        self.states
            .iter()
            .find(|s| s.kind == kind && s.column.as_deref() == column)
    }

    /// `SELECT bucket, dims, states FROM <from>` grouped by bucket and dimensions, where
    /// `from` names the source rows as `s` (`"public"."metrics" AS s WHERE ...`).
    pub fn states_select(&self, from: &str) -> String {
        let mut sql = String::with_capacity(256);
        let _ = write!(
            sql,
            "SELECT date_bin(INTERVAL '{} seconds', s.{}, TIMESTAMPTZ '1970-01-01 00:00:00+00') AS bucket",
            self.width_secs,
            quote_ident(&self.time_column)
        );
        for d in &self.dimensions {
            let _ = write!(sql, ", s.{}", quote_ident(d));
        }
        for st in &self.states {
            let _ = write!(sql, ", {} AS {}", st.expr("s."), quote_ident(&st.name));
        }
        let _ = write!(sql, " FROM {from} GROUP BY 1");
        for i in 0..self.dimensions.len() {
            let _ = write!(sql, ", {}", i + 2);
        }
        sql
    }

    /// The states as stored in the catalog (`routed.rollup_catalog.states`).
    pub fn states_json(&self) -> Value {
        Value::Array(
            self.states
                .iter()
                .map(|s| {
                    serde_json::json!({"kind": s.kind.key(), "column": s.column, "name": s.name, "base_oid": s.base_oid})
                })
                .collect(),
        )
    }

    /// Reads states back from the catalog's JSON.
    pub fn states_from_json(v: &Value) -> Option<Vec<State>> {
        v.as_array()?
            .iter()
            .map(|s| {
                Some(State {
                    kind: StateKind::from_key(s.get("kind")?.as_str()?)?,
                    column: s.get("column").and_then(Value::as_str).map(str::to_string),
                    name: s.get("name")?.as_str()?.to_string(),
                    base_oid: s.get("base_oid")?.as_u64()? as u32,
                })
            })
            .collect()
    }
}

/// Parses `create_rollup`'s `measures` (the document's measure form without names) into the
/// states to keep. `count(*)` is always kept; `avg` keeps a sum and a count.
pub fn parse_states(measures: &Value, rel: &Relation) -> Result<Vec<State>> {
    let items = measures
        .as_array()
        .ok_or_else(|| Error::invalid("measures", "must be a JSON array of measures"))?;
    if items.len() > MAX_ITEMS {
        return Err(Error::invalid(
            "measures",
            format!("{} measures; at most {MAX_ITEMS} are allowed", items.len()),
        ));
    }
    let mut states = vec![State {
        kind: StateKind::Rows,
        column: None,
        name: "count(*)".into(),
        base_oid: 0,
    }];
    for (i, m) in items.iter().enumerate() {
        if let Some((agg, column, col)) = rollup_measure(m, &format!("measures[{i}]"), rel)? {
            add_states(&mut states, agg, &column, col.base_oid);
        }
    }
    Ok(states)
}

/// One measure of a rollup definition, checked against the source: None for `count` of rows
/// (always kept), else the aggregate and its column.
fn rollup_measure<'r>(
    m: &Value,
    path: &str,
    rel: &'r Relation,
) -> Result<Option<(Agg, String, &'r Column)>> {
    let obj = m.as_object().ok_or_else(|| {
        Error::invalid(
            path,
            "must be an object like {\"agg\": \"sum\", \"column\": \"x\"}",
        )
    })?;
    if let Some(k) = obj.keys().find(|k| !matches!(k.as_str(), "agg" | "column")) {
        return Err(Error::invalid(
            format!("{path}.{k}"),
            "unknown key; a rollup measure has only \"agg\" and \"column\"",
        ));
    }
    let agg_text = obj.get("agg").and_then(Value::as_str).ok_or_else(|| {
        Error::invalid(
            format!("{path}.agg"),
            "is required: one of count, sum, min, max, avg, percentile, count_distinct",
        )
    })?;
    let agg = match agg_text {
        "count" => Agg::Count,
        "sum" => Agg::Sum,
        "min" => Agg::Min,
        "max" => Agg::Max,
        "avg" => Agg::Avg,
        "percentile" => Agg::Percentile,
        "count_distinct" => Agg::CountDistinct,
        other => {
            return Err(Error::invalid(
                format!("{path}.agg"),
                format!(
                    "unknown aggregate {}; expected one of count, sum, min, max, avg, percentile, count_distinct",
                    show(other)
                ),
            ))
        }
    };
    let column = match obj.get("column") {
        None | Some(Value::Null) if agg == Agg::Count => return Ok(None),
        None | Some(Value::Null) => {
            return Err(Error::invalid(
                format!("{path}.column"),
                format!("is required for {}", agg.name()),
            ))
        }
        Some(Value::String(c)) => c.clone(),
        Some(_) => return Err(Error::invalid(format!("{path}.column"), "must be a string")),
    };
    let col = rel.column(&column).ok_or_else(|| {
        Error::new(
            ErrorKind::UndefinedColumn,
            format!("{path}.column"),
            format!(
                "column {} does not exist in {}",
                show(&column),
                rel.display()
            ),
        )
    })?;
    if crate::resolve::result_type(agg, col).is_none() {
        return Err(Error::new(
            ErrorKind::DatatypeMismatch,
            format!("{path}.column"),
            format!(
                "{} cannot be applied to column {} of type {}",
                agg.name(),
                show(&column),
                col.ty.name
            ),
        ));
    }
    Ok(Some((agg, column, col)))
}

/// Adds the states `agg` of `column` needs that the rollup does not keep yet.
fn add_states(states: &mut Vec<State>, agg: Agg, column: &str, base_oid: u32) {
    let kinds: &[StateKind] = match agg {
        Agg::Count => &[StateKind::Count],
        Agg::Sum => &[StateKind::Sum],
        Agg::Min => &[StateKind::Min],
        Agg::Max => &[StateKind::Max],
        Agg::Percentile => &[StateKind::Quantile],
        Agg::CountDistinct => &[StateKind::Distinct],
        Agg::Avg => &[StateKind::AvgSum, StateKind::Count],
    };
    for &kind in kinds {
        if states
            .iter()
            .any(|s| s.kind == kind && s.column.as_deref() == Some(column))
        {
            continue;
        }
        let readable = format!("{}({column})", kind.name());
        let name = if readable.len() <= MAX_IDENTIFIER_BYTES {
            readable
        } else {
            format!("{}#{}", kind.name(), states.len())
        };
        states.push(State {
            kind,
            column: Some(column.to_string()),
            name,
            base_oid,
        });
    }
}

/// Checks the rollup's dimensions against the source and the names the rollup table uses.
pub fn check_dimensions(dimensions: &[String], rel: &Relation) -> Result<()> {
    for (i, d) in dimensions.iter().enumerate() {
        let path = format!("dimensions[{i}]");
        if rel.column(d).is_none() {
            return Err(Error::new(
                ErrorKind::UndefinedColumn,
                path,
                format!("column {} does not exist in {}", show(d), rel.display()),
            ));
        }
        if d == "bucket" || d.contains('(') || dimensions[..i].contains(d) {
            return Err(Error::invalid(
                path,
                format!("{} cannot be a rollup dimension: it is repeated or collides with the rollup's own columns", show(d)),
            ));
        }
    }
    Ok(())
}
