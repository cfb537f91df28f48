//! Whether a rollup can answer a document at all: the time column and bucket grid, the
//! dimensions and filters it keeps, the measures its states derive, sketches against `exact`.

use super::{RollupFacts, Window};
use crate::query::Agg;
use crate::resolve::{Bound, BoundMeasure, TimeKind};
use crate::rollup::{RollupDef, StateKind};
use crate::time::{format_interval, format_rfc3339_utc, Granularity};

const MICROS: i64 = 1_000_000;

/// What a rollup that can answer the document answers it with.
pub struct Fit<'w> {
    /// Bucket width in microseconds.
    pub width: i64,
    /// Some measures come from sketches.
    pub approximate: bool,
    /// The document's window (a rollup answers only documents with one).
    pub window: &'w Window,
}

/// Why the rollup cannot answer the document, or how it fits.
pub fn eligible<'w>(
    bound: &Bound,
    r: &RollupFacts,
    window: Option<&'w Window>,
) -> Result<Fit<'w>, String> {
    let def = &r.def;
    if let Some(why) = &r.blocked {
        return Err(why.clone());
    }
    let (Some(t), Some(w)) = (&bound.time, window) else {
        return Err("the document has no time range; rollups answer time ranges only".into());
    };
    if t.column != def.time_column {
        return Err(format!(
            "the rollup is bucketed on {}, not {}",
            def.time_column, t.column
        ));
    }
    let wall_clock = t.kind != TimeKind::TimestampTz;
    let offset = match w.offset_secs {
        Some(off) if wall_clock => off,
        None if wall_clock => {
            return Err(format!(
                "the session TimeZone changes its UTC offset within a day of the window, and {} is a {} column (its buckets are wall-clock times)",
                t.column,
                if t.kind == TimeKind::Date { "date" } else { "timestamp" }
            ))
        }
        _ => 0,
    };
    let width = def.width_secs * MICROS;
    match t.granularity {
        None => {}
        Some(Granularity::Fixed(g)) if g % def.width_secs == 0 && offset % def.width_secs != 0 => {
            return Err(format!(
                "the session TimeZone's UTC offset ({:+03}:{:02}) is not a multiple of the rollup's {}, so its wall-clock buckets straddle the answer's",
                offset / 3600,
                offset.abs() % 3600 / 60,
                format_interval(width)
            ))
        }
        Some(Granularity::Fixed(g)) if g % def.width_secs == 0 => {}
        Some(Granularity::Fixed(_)) => {
            return Err(format!(
                "granularity is not a multiple of the rollup's {}",
                format_interval(width)
            ))
        }
        Some(cal) => {
            let Some(boundaries) = &w.calendar_boundaries_us else {
                return Err(format!(
                    "{} buckets need a time.from to check the rollup's grid",
                    cal.canonical()
                ));
            };
            // every boundary, the start of `from`'s bucket included: then each of the rollup's
            // buckets, edge buckets too, lies in one calendar bucket
            if let Some(b) = boundaries.iter().find(|b| b.rem_euclid(width) != 0) {
                return Err(format!(
                    "{} buckets in this TimeZone start off the rollup's {} grid (at {})",
                    cal.canonical(),
                    format_interval(width),
                    format_rfc3339_utc(*b)
                ));
            }
        }
    }
    // joined tables' columns are read after the join, from the keys the rollup keeps
    let not_dimension =
        |c: &str| bound.attribute(c).is_none() && !def.dimensions.iter().any(|d| d == c);
    if let Some(d) = bound.dimensions.iter().find(|d| not_dimension(d)) {
        return Err(format!("{d} is not one of the rollup's dimensions"));
    }
    let filter_columns = bound
        .filters
        .iter()
        .chain(bound.measures.iter().flat_map(|m| m.filters.iter()));
    if let Some(f) = filter_columns.map(|f| &f.column).find(|c| not_dimension(c)) {
        return Err(format!(
            "the filter on {f} needs a column the rollup does not keep"
        ));
    }
    let keys = bound.joins.iter().flat_map(|j| j.on.iter().map(|(s, _)| s));
    if let Some(k) = keys.into_iter().find(|k| not_dimension(k)) {
        return Err(format!(
            "the join on {k} needs a key the rollup does not keep"
        ));
    }
    if let Some(m) = bound.measures.iter().find(|m| !derivable(def, m)) {
        return Err(format!(
            "{}({}) cannot be derived from the rollup's states",
            m.agg.name(),
            m.column.as_deref().unwrap_or("*")
        ));
    }
    let approximate = bound.measures.iter().any(|m| is_sketched(m.agg));
    if approximate && bound.exact {
        return Err("exact: true rules out the rollup's approximate sketches".into());
    }
    Ok(Fit {
        width,
        approximate,
        window: w,
    })
}

fn derivable(def: &RollupDef, m: &BoundMeasure) -> bool {
    let col = m.column.as_deref();
    match (m.agg, col) {
        (Agg::Count, None) => def.state(StateKind::Rows, None).is_some(),
        (Agg::Count, c) => def.state(StateKind::Count, c).is_some(),
        (Agg::Sum, c) => def.state(StateKind::Sum, c).is_some(),
        (Agg::Min, c) => def.state(StateKind::Min, c).is_some(),
        (Agg::Max, c) => def.state(StateKind::Max, c).is_some(),
        (Agg::Avg, c) => {
            def.state(StateKind::AvgSum, c).is_some() && def.state(StateKind::Count, c).is_some()
        }
        (Agg::Percentile, c) => def.state(StateKind::Quantile, c).is_some(),
        (Agg::CountDistinct, c) => def.state(StateKind::Distinct, c).is_some(),
    }
}

/// Measures a rollup answers from sketches, approximately.
fn is_sketched(agg: Agg) -> bool {
    matches!(agg, Agg::Percentile | Agg::CountDistinct)
}
