//! How a rollup is laid out for reads proportional to what a document needs: besides the
//! bucket index (refresh and unfiltered ranges), a covering index led by the first dimension
//! and the bucket, holding the other dimensions and every plain state, so a document filtering
//! on that dimension reads only its rows, from the index alone (index-only scans).

use super::{RollupDef, StateKind};
use crate::names::quote_ident;

/// PostgreSQL's limit on the columns of one index (INDEX_MAX_KEYS).
const MAX_INDEX_COLUMNS: usize = 32;

impl RollupDef {
    /// `CREATE INDEX` of the covering index, or None for a rollup without dimensions.
    /// Sketches stay out (they are large and live in TOAST); past the column limit the index
    /// keeps only its keys.
    pub fn covering_index_sql(&self) -> Option<String> {
        let lead = self.dimensions.first()?;
        let mut include: Vec<String> = self.dimensions[1..]
            .iter()
            .map(|d| quote_ident(d))
            .collect();
        include.extend(
            self.states
                .iter()
                .filter(|s| !matches!(s.kind, StateKind::Quantile | StateKind::Distinct))
                .map(|s| quote_ident(&s.name)),
        );
        let mut sql = format!(
            "CREATE INDEX ON {} ({}, bucket)",
            self.relation(),
            quote_ident(lead)
        );
        if !include.is_empty() && include.len() + 2 <= MAX_INDEX_COLUMNS {
            sql.push_str(&format!(" INCLUDE ({})", include.join(", ")));
        }
        Some(sql)
    }
}
