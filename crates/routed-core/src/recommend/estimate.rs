//! How large a rollup would be: buckets over the source's time span times the combinations of
//! its dimensions (planner statistics), never more than the source's rows.

use serde_json::Value;
use std::collections::HashMap;

/// Distinct values assumed for a column without statistics.
const UNKNOWN_DISTINCT: f64 = 100.0;

/// A source's planner statistics.
#[derive(Debug, Clone, PartialEq)]
pub struct SourceFacts {
    /// The table's own name, for the rollup's.
    pub table_name: String,
    /// Estimated rows (pg_class.reltuples).
    pub rows: f64,
    /// Seconds between the time column's lowest and highest values.
    pub span_secs: f64,
    /// pg_stats.n_distinct per column (negative: a fraction of the rows).
    pub n_distinct: HashMap<String, f64>,
}

impl SourceFacts {
    /// Estimated rows of a rollup with these dimensions and width.
    pub fn rows_for(&self, columns: &[String], width_secs: i64) -> f64 {
        let buckets = (self.span_secs / width_secs as f64).ceil().max(1.0);
        let groups: f64 = columns
            .iter()
            .map(|c| match self.n_distinct.get(c) {
                Some(&d) if d < 0.0 => (-d * self.rows).max(1.0),
                Some(&d) if d > 0.0 => d,
                _ => UNKNOWN_DISTINCT,
            })
            .product();
        // rows spread over the buckets: a bucket holds at most its share of the source
        (buckets * groups)
            .min(self.rows)
            .min(buckets * (self.rows / buckets).max(1.0))
    }
}

/// Bytes per rollup row: the bucket, the dimensions, 16 bytes per plain state and the sketches'
/// typical serialized sizes, plus the heap tuple's overhead.
pub fn row_bytes(dims: usize, states: &[Value]) -> f64 {
    let per_state: f64 = states
        .iter()
        .map(|s| match s["agg"].as_str() {
            Some("percentile") => 600.0,
            Some("count_distinct") => 300.0,
            Some("avg") => 24.0,
            _ => 12.0,
        })
        .sum();
    32.0 + 8.0 + 16.0 * dims as f64 + per_state
}
