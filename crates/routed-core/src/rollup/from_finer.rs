//! Rollups built from rollups (`create_rollup(..., from_rollup => 'metrics_hourly')`): a coarser
//! rollup's buckets are computed from a finer rollup's states (its rows and deltas) wherever
//! the finer one holds exactly the source's rows in the refreshing statement's snapshot (whole
//! buckets below its watermark without pending invalidations), and from the source's rows
//! everywhere else. Both halves are partial states merged by the same merge as deltas, so
//! averages stay sums and counts (no average of averages).

use super::{RollupDef, State};
use crate::names::quote_ident;
use std::fmt::Write;

const EPOCH: &str = "TIMESTAMPTZ '1970-01-01 00:00:00+00'";

impl RollupDef {
    /// Why `finer` cannot feed this rollup (same source and time column assumed checked by the
    /// caller): its width must divide this one's, its dimensions include these, its states
    /// include every state this rollup keeps.
    pub fn check_finer(&self, finer: &RollupDef) -> Result<(), String> {
        if finer.name == self.name {
            return Err("a rollup cannot be built from itself".into());
        }
        if finer.time_column != self.time_column {
            return Err(format!(
                "it buckets {} and this rollup buckets {}",
                quote_ident(&finer.time_column),
                quote_ident(&self.time_column)
            ));
        }
        if finer.width_secs <= 0 || self.width_secs % finer.width_secs != 0 {
            return Err(format!(
                "its granularity ({} s) does not divide this rollup's ({} s)",
                finer.width_secs, self.width_secs
            ));
        }
        if let Some(d) = self
            .dimensions
            .iter()
            .find(|d| !finer.dimensions.contains(d))
        {
            return Err(format!("it does not keep dimension {}", quote_ident(d)));
        }
        if let Some(s) = self.states.iter().find(|s| finer.matching(s).is_none()) {
            return Err(format!("it does not keep the state {}", s.name));
        }
        Ok(())
    }

    /// This rollup's state of the same kind and column as `s`.
    fn matching(&self, s: &State) -> Option<&State> {
        self.state(s.kind, s.column.as_deref())
    }

    /// Rows of partial states at this rollup's width and dimensions (not grouped: the caller
    /// merges them), from the finer rollup's rows and deltas whose buckets start in `ranges`
    /// (a `tstzmultirange` expression). Reads the finer rollup through its bucket index, one
    /// range at a time.
    pub fn finer_states_select(&self, finer: &RollupDef, ranges: &str) -> String {
        let mut cols = format!(
            "date_bin(INTERVAL '{} seconds', f.bucket, {EPOCH}) AS bucket",
            self.width_secs
        );
        for d in &self.dimensions {
            let d = quote_ident(d);
            let _ = write!(cols, ", f.{d}");
        }
        for s in &self.states {
            let from = self.finer_state_name(finer, s);
            let _ = write!(
                cols,
                ", f.{} AS {}",
                quote_ident(from),
                quote_ident(&s.name)
            );
        }
        [finer.relation(), finer.delta_relation()]
            .iter()
            .map(|rel| {
                format!(
                    "SELECT {cols} FROM unnest({ranges}) AS fx(range) JOIN {rel} AS f \
                     ON f.bucket >= lower(fx.range) AND f.bucket < upper(fx.range)"
                )
            })
            .collect::<Vec<_>>()
            .join(" UNION ALL ")
    }

    fn finer_state_name<'f>(&self, finer: &'f RollupDef, s: &State) -> &'f str {
        finer
            .matching(s)
            .map(|f| f.name.as_str())
            .expect("check_finer ran when the rollup was created")
    }
}

/// A `tstzmultirange` expression: where the finer rollup (catalog id `finer_id`, bucket width
/// `finer_width_secs`) holds exactly the source's rows in this statement's snapshot. Its
/// buckets below the watermark's bucket are whole; rows and changes there are in its deltas
/// or its log, so only logged ranges (widened to its buckets, as the router reads them) are
/// left out. Empty when the finer rollup has no watermark (or is gone).
pub fn finer_covered_sql(finer_id: i32, finer_width_secs: i64) -> String {
    let w = format!("INTERVAL '{finer_width_secs} seconds'");
    format!(
        "coalesce((SELECT tstzmultirange(tstzrange('-infinity', coalesce(date_bin({w}, c.watermark, {EPOCH}), '-infinity')))
           - coalesce((SELECT range_agg(tstzrange(
                  CASE WHEN isfinite(i.lo) THEN date_bin({w}, i.lo, {EPOCH}) ELSE i.lo END,
                  CASE WHEN isfinite(i.hi) THEN date_bin({w}, i.hi, {EPOCH}) + {w} ELSE i.hi END, '[)'))
                FROM routed.invalidations i WHERE i.rollup_id = c.id), '{{}}'::tstzmultirange)
          FROM routed.rollup_catalog c WHERE c.id = {finer_id}), '{{}}'::tstzmultirange)"
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rollup::StateKind;

    fn st(kind: StateKind, column: Option<&str>, name: &str) -> State {
        State {
            kind,
            column: column.map(str::to_string),
            name: name.into(),
            base_oid: 0,
        }
    }

    fn def(name: &str, width: i64, dims: &[&str], states: Vec<State>) -> RollupDef {
        RollupDef {
            name: name.into(),
            time_column: "ts".into(),
            width_secs: width,
            dimensions: dims.iter().map(|d| d.to_string()).collect(),
            states,
        }
    }

    fn hourly() -> RollupDef {
        def(
            "hourly",
            3600,
            &["region", "status"],
            vec![
                st(StateKind::Rows, None, "count(*)"),
                st(StateKind::Sum, Some("v"), "sum(v)"),
                st(StateKind::AvgSum, Some("v"), "avg_sum(v)"),
                st(StateKind::Count, Some("v"), "count(v)"),
                st(StateKind::Max, Some("v"), "max(v)"),
            ],
        )
    }

    #[test]
    fn a_coarser_subset_is_accepted_and_maps_states_by_kind_and_column() {
        let daily = def(
            "daily",
            86_400,
            &["status"],
            vec![
                st(StateKind::Rows, None, "count(*)"),
                st(StateKind::AvgSum, Some("v"), "avg_sum#1"),
                st(StateKind::Count, Some("v"), "count(v)"),
            ],
        );
        assert_eq!(daily.check_finer(&hourly()), Ok(()));
        let sql = daily.finer_states_select(&hourly(), "$R");
        assert!(sql.contains("f.\"avg_sum(v)\" AS \"avg_sum#1\""), "{sql}");
        assert!(sql.contains("INTERVAL '86400 seconds', f.bucket"), "{sql}");
        assert!(
            sql.contains("JOIN \"routed\".\"hourly$delta\" AS f"),
            "{sql}"
        );
        assert!(!sql.contains("region"), "{sql}");
    }

    #[test]
    fn what_the_finer_rollup_lacks_is_refused() {
        let h = hourly();
        let bad_width = def("w", 5400, &[], vec![st(StateKind::Rows, None, "count(*)")]);
        assert!(bad_width
            .check_finer(&h)
            .unwrap_err()
            .contains("does not divide"));
        let finer_width = def("w", 60, &[], vec![st(StateKind::Rows, None, "count(*)")]);
        assert!(finer_width.check_finer(&h).is_err());
        let dim = def(
            "d",
            86_400,
            &["host"],
            vec![st(StateKind::Rows, None, "count(*)")],
        );
        assert!(dim.check_finer(&h).unwrap_err().contains("\"host\""));
        let state = def(
            "s",
            86_400,
            &[],
            vec![
                st(StateKind::Rows, None, "count(*)"),
                st(StateKind::Min, Some("v"), "min(v)"),
            ],
        );
        assert!(state.check_finer(&h).unwrap_err().contains("min(v)"));
        let mut other_time = def(
            "t",
            86_400,
            &[],
            vec![st(StateKind::Rows, None, "count(*)")],
        );
        other_time.time_column = "created".into();
        assert!(other_time.check_finer(&h).is_err());
        assert!(h.check_finer(&h).unwrap_err().contains("itself"));
    }

    #[test]
    fn covered_ranges_leave_out_pending_buckets_and_the_watermark_bucket() {
        let sql = finer_covered_sql(7, 3600);
        assert!(sql.contains("c.id = 7"), "{sql}");
        assert!(sql.contains("i.rollup_id = c.id"), "{sql}");
        assert!(
            sql.contains("date_bin(INTERVAL '3600 seconds', c.watermark"),
            "{sql}"
        );
    }
}
