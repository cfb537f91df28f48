//! How much of the document's range a rollup that fits can answer: whole buckets below its
//! watermark and outside logged changes (or within budget of them); the rest is read from the
//! base table.

use super::eligible::eligible;
use super::{RollupFacts, Window};
use crate::resolve::Bound;
use crate::time::{format_interval, format_rfc3339_utc};

/// An open start: below every instant PostgreSQL can store.
pub const OPEN: i64 = i64::MIN;

pub struct Coverage {
    /// Bucket width in microseconds.
    pub width: i64,
    /// The end of what the rollup can read: the watermark when the range runs through it (the
    /// partial bucket below it is materialized as deltas), else a bucket boundary.
    pub to_us: i64,
    /// What it can answer, sorted and disjoint: whole buckets (and the partial one ending at
    /// `to_us`) below the watermark, outside changes logged longer ago than the budget.
    /// `OPEN` as a start means unbounded below.
    pub answerable: Vec<(i64, i64)>,
    /// Logged changes it would serve within budget: `(lo, hi, age)`.
    pub within_budget: Vec<(i64, i64, i64)>,
    pub staleness_us: i64,
    pub approximate: bool,
    pub reason: String,
}

impl Coverage {
    /// Staleness of reading `ranges` from this rollup: the oldest change within budget it
    /// would serve there.
    pub fn staleness_of(&self, ranges: &[(i64, i64)]) -> i64 {
        self.within_budget
            .iter()
            .filter(|(lo, hi, _)| ranges.iter().any(|(a, b)| lo < b && a < hi))
            .map(|(_, _, age)| *age)
            .max()
            .unwrap_or(0)
    }

    /// The part of `[lo, hi)` this rollup can read: whole buckets of its grid (and the partial
    /// bucket ending at its watermark), inside what it can answer.
    pub fn take(&self, lo: i64, hi: i64) -> Vec<(i64, i64)> {
        let mut out = Vec::new();
        for &(a, b) in &self.answerable {
            let (l, h) = (lo.max(a), hi.min(b));
            let l = if l == OPEN {
                OPEN
            } else {
                ceil_to(l, self.width)
            };
            let h = if h == b && b == self.to_us {
                h
            } else {
                floor_to(h, self.width)
            };
            if l < h {
                out.push((l, h));
            }
        }
        out
    }
}

pub fn floor_to(us: i64, width: i64) -> i64 {
    us.div_euclid(width) * width
}

pub fn ceil_to(us: i64, width: i64) -> i64 {
    -floor_to(-us, width)
}

/// How much of the document a rollup can answer, or why it cannot.
pub fn cover(
    bound: &Bound,
    budget_us: i64,
    r: &RollupFacts,
    window: Option<&Window>,
) -> Result<Coverage, String> {
    let super::eligible::Fit {
        width,
        approximate,
        window: w,
    } = eligible(bound, r, window)?;
    let Some(watermark) = r.watermark_us else {
        return Err("nothing is materialized yet".into());
    };
    let from = w.from_us.map_or(OPEN, |f| ceil_to(f, width));
    // the watermark may fall inside a bucket (refresh materializes the partial bucket up to it
    // as deltas): that bucket is usable when the range runs through the watermark
    let to = if w.to_us >= watermark {
        watermark
    } else {
        floor_to(w.to_us, width)
    };
    if from >= to {
        return Err("no whole bucket of the range is materialized".into());
    }
    let mut holes = Vec::new();
    let mut within_budget = Vec::new();
    for p in &r.pending {
        let lo = p.lo_us.max(from);
        let hi = p.hi_us.min(to);
        if lo >= hi {
            continue;
        }
        // at least 1µs: a bucket missing a logged change is never exact, however recent the
        // change (a transaction's own writes and commits after its now() included)
        let age = (w.now_us - p.since_us).max(1);
        if age <= budget_us {
            within_budget.push((lo, hi, age));
        } else {
            // below every instant PostgreSQL can store: the range is open (a TRUNCATE)
            holes.push((if lo > i64::MIN / 2 { lo } else { OPEN }, hi));
        }
    }
    let holes = merge_closed(holes);
    let mut answerable = Vec::new();
    let mut at = from;
    for &(lo, hi) in &holes {
        if at < lo {
            answerable.push((at, lo));
        }
        at = at.max(hi);
    }
    if at < to {
        answerable.push((at, to));
    }
    let staleness = within_budget.iter().map(|p| p.2).max().unwrap_or(0);
    let reason = format!(
        "materialized from {} to {}{}{}{}",
        if from == OPEN {
            "the start".into()
        } else {
            format_rfc3339_utc(from)
        },
        format_rfc3339_utc(to),
        if approximate {
            "; percentile and count_distinct from sketches (approximate)"
        } else {
            ""
        },
        if holes.is_empty() {
            String::new()
        } else {
            format!(
                "; {} invalidated range(s) left to other sources",
                holes.len()
            )
        },
        if staleness > 0 {
            format!(
                "; invalidated buckets served at staleness {}",
                format_interval(staleness)
            )
        } else {
            String::new()
        }
    );
    Ok(Coverage {
        width,
        to_us: to,
        answerable,
        within_budget,
        staleness_us: staleness,
        approximate,
        reason,
    })
}

fn merge_closed(ranges: Vec<(i64, i64)>) -> Vec<(i64, i64)> {
    merge(
        ranges
            .into_iter()
            .map(|(lo, hi)| ((lo != OPEN).then_some(lo), hi))
            .collect(),
    )
    .into_iter()
    .map(|(lo, hi)| (lo.unwrap_or(OPEN), hi))
    .collect()
}

/// Sorts and merges overlapping or touching ranges (`None` = unbounded below).
pub fn merge(mut ranges: Vec<(Option<i64>, i64)>) -> Vec<(Option<i64>, i64)> {
    ranges.sort_by_key(|(lo, _)| lo.unwrap_or(i64::MIN));
    let mut out: Vec<(Option<i64>, i64)> = Vec::with_capacity(ranges.len());
    for (lo, hi) in ranges {
        match out.last_mut() {
            Some(last) if lo.unwrap_or(i64::MIN) <= last.1 => last.1 = last.1.max(hi),
            _ => out.push((lo, hi)),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn merge_joins_overlapping_and_touching_ranges() {
        let m = merge(vec![
            (Some(5), 7),
            (Some(1), 3),
            (Some(3), 4),
            (None, 0),
            (Some(6), 9),
        ]);
        assert_eq!(m, vec![(None, 0), (Some(1), 4), (Some(5), 9)]);
    }

    #[test]
    fn floor_and_ceil_handle_negative_instants() {
        assert_eq!(floor_to(-1, 10), -10);
        assert_eq!(ceil_to(-1, 10), 0);
        assert_eq!(ceil_to(10, 10), 10);
        assert_eq!(floor_to(19, 10), 10);
    }
}
