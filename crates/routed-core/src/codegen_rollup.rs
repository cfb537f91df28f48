//! SQL for plans that read rollups: each rollup's buckets in its ranges, plus base-table rows
//! for the ranges no rollup answers, all as partial states, merged by one outer aggregation.
//! A state's expression depends only on its kind and source column, so the states of
//! different rollups of one source merge with each other and with the base part, which uses
//! the same expressions: the parts add up to exactly what the base table alone would give.

use crate::codegen::{Gen, ParamValue};
use crate::model::{oid, SqlType};
use crate::names::quote_ident;
use crate::query::Agg;
use crate::resolve::{Bound, BoundFilter, BoundMeasure, BoundTime, TimeKind};
use crate::rollup::{RollupDef, State, StateKind};
use crate::route::Plan;
use crate::time::format_rfc3339_utc;
use std::fmt::Write;

const TSTZMULTIRANGE: u32 = 4534;
/// Base-table ranges up to this many are OR'ed conditions; more are joined from a multirange.
const MAX_OR_RANGES: usize = 16;
const TS: &str = "\"pg_catalog\".\"timestamp\"";
const TSTZ: &str = "\"pg_catalog\".\"timestamptz\"";
const EPOCH: &str = "TIMESTAMP '1970-01-01 00:00:00'";
const EPOCH_TZ: &str = "TIMESTAMPTZ '1970-01-01 00:00:00+00'";
/// A wall-clock rollup's bucket (stored as if read in UTC) read in the session TimeZone.
const WALL_BUCKET: &str = "CAST((r.bucket AT TIME ZONE 'UTC') AS \"pg_catalog\".\"timestamptz\")";

/// `{[a,b),[c,d)}` with `-infinity` for an open start.
pub fn multirange_text(ranges: &[(Option<i64>, i64)]) -> String {
    let parts: Vec<String> = ranges
        .iter()
        .map(|(lo, hi)| {
            let lo = lo.map_or("-infinity".into(), format_rfc3339_utc);
            format!("[\"{lo}\",\"{}\")", format_rfc3339_utc(*hi))
        })
        .collect();
    format!("{{{}}}", parts.join(","))
}

impl Gen {
    fn timestamptz(&mut self, us: i64, path: &str) {
        self.text(
            format_rfc3339_utc(us),
            oid::TIMESTAMPTZ,
            "timestamptz",
            path,
        );
    }

    fn ranges(&mut self, ranges: &[(Option<i64>, i64)]) {
        self.param(
            ParamValue::Text(multirange_text(ranges)),
            SqlType::builtin(TSTZMULTIRANGE, "tstzmultirange"),
            "time",
        );
    }

    pub(crate) fn rollup_rows(&mut self, b: &Bound, defs: &[&RollupDef], plan: &Plan) {
        let t = b
            .time
            .as_ref()
            .expect("the router reads rollups only for time ranges");
        // fixed granularities: each part computes the answer's bucket (a multiple of every
        // rollup's width); calendar ones: each part keeps its rollup's buckets and the outer
        // query truncates them once (the router checked that they tile the calendar buckets),
        // so base rows pay for date_bin, not for a time-zone conversion each
        let first = defs[0];
        let shape = Shape {
            states: needed_states(first, &b.measures),
            dims: b.source_columns_read(),
            source_filters: b
                .filters
                .iter()
                .filter(|f| b.attribute(&f.column).is_none())
                .cloned()
                .collect(),
            bucketed: t.granularity.is_some(),
            calendar: t.granularity.is_some_and(|g| g.calendar_field().is_some()),
            // the finest width read: base rows binned to it lie inside one calendar bucket
            width_secs: defs
                .iter()
                .map(|d| d.width_secs)
                .min()
                .unwrap_or(first.width_secs),
        };
        self.merged_select(b, first, t, &shape);
        self.push(" FROM (");
        // one part per range (a plain range condition is read index-only; an OR of ranges
        // becomes a bitmap scan of the heap), or one over a multirange for many ranges
        let mut first_part = true;
        for (def, read) in defs.iter().zip(&plan.rollups) {
            let parts: Vec<&[(Option<i64>, i64)]> = if read.ranges.len() > MAX_OR_RANGES {
                vec![&read.ranges[..]]
            } else {
                read.ranges.chunks(1).collect()
            };
            for ranges in parts {
                if !first_part {
                    self.push(" UNION ALL ");
                }
                first_part = false;
                self.rollup_part(def, ranges, t, &shape);
            }
        }
        if !plan.base_ranges.is_empty() {
            self.base_part(b, first, &plan.base_ranges, t, &shape);
        }
        self.push(") AS u");
        // joined tables after the rollup's states are read: their columns group and filter
        // the merge (each part kept the join keys)
        self.join_clauses(b, "u.");
        self.qualifier = "u.";
        let attribute_filters: Vec<BoundFilter> = b
            .filters
            .iter()
            .filter(|f| b.attribute(&f.column).is_some())
            .cloned()
            .collect();
        if !attribute_filters.is_empty() {
            self.push(" WHERE ");
            self.conjunction(&attribute_filters);
        }
        self.qualifier = "";
        self.group_order_limit(b);
    }

    /// The outer SELECT: merges the parts' partial states into the answer's columns.
    fn merged_select(&mut self, b: &Bound, def: &RollupDef, t: &BoundTime, shape: &Shape) {
        let mut columns: Vec<String> = Vec::new();
        if shape.bucketed {
            let start = self.sql.len();
            if shape.calendar {
                self.bucket_of(t, "u.b");
            } else {
                self.push("u.b");
            }
            columns.push(self.sql.split_off(start));
        }
        self.qualifier = "u.";
        for d in &b.dimensions {
            columns.push(self.column_ref(d));
        }
        for (mi, m) in b.measures.iter().enumerate() {
            let start = self.sql.len();
            self.merged(def, m, &b.outputs[b.group_keys() + mi].type_name);
            columns.push(self.sql.split_off(start));
        }
        self.push("SELECT ");
        for (i, c) in columns.iter().enumerate() {
            if i > 0 {
                self.push(", ");
            }
            let _ = write!(self.sql, "{c} AS c{}", i + 1);
        }
    }

    /// One rollup's part: its buckets (and deltas) starting inside `ranges`. States are named
    /// as in the first rollup (names follow kind and column, so they agree).
    fn rollup_part(
        &mut self,
        def: &RollupDef,
        ranges: &[(Option<i64>, i64)],
        t: &BoundTime,
        shape: &Shape,
    ) {
        self.push("SELECT ");
        // a timestamp or date column's rollup keeps wall-clock buckets as if read in UTC: the
        // answer reads their wall-clock start in the session TimeZone, as the base rows' times
        let bucket = if t.kind == TimeKind::TimestampTz {
            "r.bucket"
        } else {
            WALL_BUCKET
        };
        if shape.calendar {
            self.push(bucket);
        } else if shape.bucketed {
            self.bucket_of(t, bucket);
        } else {
            self.push("NULL");
        }
        self.push(" AS b");
        for d in &shape.dims {
            let _ = write!(self.sql, ", r.{}", quote_ident(d));
        }
        for s in &shape.states {
            let own = def
                .state(s.kind, s.column.as_deref())
                .expect("the router checked the states");
            let _ = write!(self.sql, ", r.{}", quote_ident(&own.name));
            if own.name != s.name {
                let _ = write!(self.sql, " AS {}", quote_ident(&s.name));
            }
        }
        let _ = write!(
            self.sql,
            " FROM (SELECT * FROM {} UNION ALL SELECT * FROM {}) AS r WHERE ",
            def.relation(),
            def.delta_relation()
        );
        self.time_ranges(ranges, "r.bucket", "time");
        self.qualifier = "r.";
        if !shape.source_filters.is_empty() {
            self.push(" AND ");
            self.conjunction(&shape.source_filters);
        }
    }

    /// `(col >= a AND col < b) OR ...` for a few ranges, so the planner sees them (index
    /// scans, estimates); a multirange containment for many.
    fn time_ranges(&mut self, ranges: &[(Option<i64>, i64)], col: &str, path: &str) {
        if ranges.len() > MAX_OR_RANGES {
            self.ranges(ranges);
            let _ = write!(self.sql, " @> {col}");
            return;
        }
        self.push("(");
        for (i, (lo, hi)) in ranges.iter().enumerate() {
            self.push(if i > 0 { " OR (" } else { "(" });
            if let Some(lo) = lo {
                let _ = write!(self.sql, "{col} >= ");
                self.timestamptz(*lo, path);
                self.push(" AND ");
            }
            let _ = write!(self.sql, "{col} < ");
            self.timestamptz(*hi, path);
            self.push(")");
        }
        self.push(")");
    }

    /// The base part: the same states over the rows of the ranges no rollup answers.
    fn base_part(
        &mut self,
        b: &Bound,
        def: &RollupDef,
        ranges: &[(Option<i64>, i64)],
        t: &BoundTime,
        shape: &Shape,
    ) {
        let col = quote_ident(&def.time_column);
        self.push(" UNION ALL SELECT ");
        if shape.calendar {
            // a wall-clock rollup's parts: binned on the wall clock, then read in the session
            // TimeZone (whose offset need not be a multiple of the width)
            let (open, rest) = match t.kind {
                TimeKind::TimestampTz => ("date_bin(", format!("s.{col}, {EPOCH_TZ})")),
                _ => (
                    "CAST(date_bin(",
                    format!("CAST(s.{col} AS {TS}), {EPOCH}) AS {TSTZ})"),
                ),
            };
            self.push(open);
            self.text(
                format!("{} seconds", shape.width_secs),
                oid::INTERVAL,
                "interval",
                "time.granularity",
            );
            let _ = write!(self.sql, ", {rest}");
        } else if shape.bucketed {
            self.bucket_of(t, &format!("s.{col}"));
        } else {
            self.push("NULL");
        }
        for d in &shape.dims {
            let _ = write!(self.sql, ", s.{}", quote_ident(d));
        }
        for s in &shape.states {
            let _ = write!(self.sql, ", {}", s.expr("s."));
        }
        self.base_rows(b, ranges, &col);
        self.qualifier = "s.";
        if !shape.source_filters.is_empty() {
            self.push(" AND ");
            self.conjunction(&shape.source_filters);
        }
        self.push(" GROUP BY 1");
        for i in 0..shape.dims.len() {
            let _ = write!(self.sql, ", {}", i + 2);
        }
    }

    /// `FROM` the base table, restricted to the ranges no rollup answers.
    fn base_rows(&mut self, b: &Bound, ranges: &[(Option<i64>, i64)], col: &str) {
        if ranges.len() <= MAX_OR_RANGES {
            let _ = write!(self.sql, " FROM {} AS s WHERE ", b.relation);
            self.time_ranges(ranges, &format!("s.{col}"), "time");
        } else {
            self.push(" FROM unnest(");
            self.ranges(ranges);
            let _ = write!(
                self.sql,
                ") AS x(range) JOIN {} AS s ON s.{col} >= lower(x.range) AND s.{col} < upper(x.range) WHERE true",
                b.relation
            );
        }
    }
}

/// What every part reads: the states the measures need, the columns they group and filter on,
/// and how buckets are computed.
struct Shape<'a> {
    states: Vec<&'a State>,
    /// Source columns each part groups by (the answer's, filters', join keys).
    dims: Vec<&'a str>,
    /// The document's filters on source columns (each part applies them; filters on joined
    /// columns apply after the join).
    source_filters: Vec<BoundFilter>,
    bucketed: bool,
    calendar: bool,
    width_secs: i64,
}

fn needed_states<'a>(def: &'a RollupDef, measures: &[BoundMeasure]) -> Vec<&'a State> {
    def.states
        .iter()
        .filter(|s| {
            measures.iter().any(|m| {
                let same_col = s.column.as_deref() == m.column.as_deref();
                match (m.agg, s.kind) {
                    (Agg::Count, StateKind::Rows) => m.column.is_none(),
                    (Agg::Count, StateKind::Count) | (Agg::Sum, StateKind::Sum) => same_col,
                    (Agg::Min, StateKind::Min) | (Agg::Max, StateKind::Max) => same_col,
                    (Agg::Avg, StateKind::AvgSum | StateKind::Count) => same_col,
                    (Agg::Percentile, StateKind::Quantile)
                    | (Agg::CountDistinct, StateKind::Distinct) => same_col,
                    _ => false,
                }
            })
        })
        .collect()
}
