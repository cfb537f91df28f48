//! How much of the document's range a rollup that fits can answer: whole buckets below its
//! watermark and outside logged changes (or within budget of them); the rest is read from the
//! base table.

use super::eligible::eligible;
use super::{RollupFacts, Window};
use crate::resolve::Bound;
use crate::time::{format_interval, format_rfc3339_utc};

pub struct Coverage {
    pub from_us: Option<i64>,
    pub to_us: i64,
    pub base_ranges: Vec<(Option<i64>, i64)>,
    pub staleness_us: i64,
    pub approximate: bool,
    pub reason: String,
}

fn floor_to(us: i64, width: i64) -> i64 {
    us.div_euclid(width) * width
}

fn ceil_to(us: i64, width: i64) -> i64 {
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
    let from = w.from_us.map(|f| ceil_to(f, width));
    // the watermark may fall inside a bucket (refresh materializes the partial bucket up to it
    // as deltas): that bucket is usable when the range runs through the watermark
    let to = if w.to_us >= watermark {
        watermark
    } else {
        floor_to(w.to_us, width)
    };
    if from.is_some_and(|f| f >= to) {
        return Err("no whole bucket of the range is materialized".into());
    }
    let mut base = Vec::new();
    if let (Some(f), Some(a)) = (w.from_us, from) {
        if f < a {
            base.push((Some(f), a));
        }
    }
    let mut staleness = 0;
    let mut refreshed_by_base = 0;
    for p in &r.pending {
        let lo = p.lo_us.max(from.unwrap_or(i64::MIN));
        let hi = p.hi_us.min(to);
        if lo >= hi {
            continue;
        }
        // at least 1µs: a bucket missing a logged change is never exact, however recent the
        // change (a transaction's own writes and commits after its now() included)
        let age = (w.now_us - p.since_us).max(1);
        if age <= budget_us {
            staleness = staleness.max(age);
        } else {
            // below every instant PostgreSQL can store: the range is open (a TRUNCATE)
            base.push(((lo > i64::MIN / 2).then_some(lo), hi));
            refreshed_by_base += 1;
        }
    }
    if to < w.to_us {
        base.push((Some(to), w.to_us));
    }
    let base = merge(base);
    let reason = format!(
        "materialized from {} to {}{}{}{}",
        from.map_or("the start".into(), format_rfc3339_utc),
        format_rfc3339_utc(to),
        if approximate {
            "; percentile and count_distinct from sketches (approximate)"
        } else {
            ""
        },
        if refreshed_by_base > 0 {
            format!("; {refreshed_by_base} invalidated range(s) read from the base table")
        } else {
            String::new()
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
        from_us: from,
        to_us: to,
        base_ranges: base,
        staleness_us: staleness,
        approximate,
        reason,
    })
}

/// Sorts and merges overlapping or touching ranges (`None` = unbounded below).
fn merge(mut ranges: Vec<(Option<i64>, i64)>) -> Vec<(Option<i64>, i64)> {
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
