//! The buckets an UPDATE or DELETE statement touched, per bucket width, from the times of its
//! transition tables' rows: what it invalidates in each rollup, so that a correction of a few
//! rows scattered over a month recomputes those buckets, not the month. Bounded: past `limit`
//! buckets of one width, that width falls back to the statement's min..max span.
//!
//! Times are timestamptz as PostgreSQL stores them (microseconds since 2000-01-01 UTC);
//! buckets are aligned to the Unix epoch, as `date_bin(width, t, '1970-01-01 00:00:00+00')`
//! aligns rollup buckets. Infinite times are ranges of themselves.

use std::collections::BTreeSet;

/// 1970-01-01 minus 2000-01-01, in microseconds.
const UNIX_OFFSET_US: i128 = 946_684_800_000_000;

pub struct Touched {
    widths: Vec<Width>,
    /// min and max of every time seen (infinite ones included)
    span: Option<(i64, i64)>,
    /// -infinity or infinity was seen
    infinite: Vec<i64>,
    limit: usize,
}

struct Width {
    us: i64,
    /// bucket starts, None once more than `limit` were seen
    starts: Option<BTreeSet<i64>>,
}

/// The start of `t`'s bucket of `width` microseconds.
pub fn bucket_start(t: i64, width: i64) -> i64 {
    let unix = t as i128 + UNIX_OFFSET_US;
    let start = unix.div_euclid(width as i128) * width as i128 - UNIX_OFFSET_US;
    start.clamp(i64::MIN as i128 + 1, i64::MAX as i128 - 1) as i64
}

impl Touched {
    /// For the given bucket widths (microseconds, each > 0) and at most `limit` buckets each.
    pub fn new(widths: &[i64], limit: usize) -> Touched {
        let mut ws: Vec<i64> = widths.iter().copied().filter(|w| *w > 0).collect();
        ws.sort_unstable();
        ws.dedup();
        Touched {
            widths: ws
                .into_iter()
                .map(|us| Width {
                    us,
                    starts: Some(BTreeSet::new()),
                })
                .collect(),
            span: None,
            infinite: Vec::new(),
            limit: limit.max(1),
        }
    }

    pub fn add(&mut self, t: i64) {
        self.span = Some(match self.span {
            None => (t, t),
            Some((lo, hi)) => (lo.min(t), hi.max(t)),
        });
        if t == i64::MIN || t == i64::MAX {
            if !self.infinite.contains(&t) {
                self.infinite.push(t);
            }
            return;
        }
        for w in &mut self.widths {
            if let Some(starts) = &mut w.starts {
                starts.insert(bucket_start(t, w.us));
                if starts.len() > self.limit {
                    w.starts = None;
                }
            }
        }
    }

    /// min and max of every time seen.
    pub fn span(&self) -> Option<(i64, i64)> {
        self.span
    }

    /// What the statement invalidates in a rollup of `width`: inclusive `(lo, hi)` ranges,
    /// sorted, adjacent buckets merged; the span when the width was not given or overflowed.
    pub fn ranges(&self, width: i64) -> Vec<(i64, i64)> {
        let Some(span) = self.span else {
            return Vec::new();
        };
        let Some(starts) = self
            .widths
            .iter()
            .find(|w| w.us == width)
            .and_then(|w| w.starts.as_ref())
        else {
            return vec![span];
        };
        let mut out: Vec<(i64, i64)> = Vec::new();
        if self.infinite.contains(&i64::MIN) {
            out.push((i64::MIN, i64::MIN));
        }
        for &s in starts {
            let end = s.saturating_add(width - 1);
            match out.last_mut() {
                Some(last) if last.1 != i64::MIN && last.1.saturating_add(1) == s => last.1 = end,
                _ => out.push((s, end)),
            }
        }
        if self.infinite.contains(&i64::MAX) {
            out.push((i64::MAX, i64::MAX));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const HOUR: i64 = 3_600_000_000;

    #[test]
    fn scattered_rows_touch_their_buckets_only() {
        let mut t = Touched::new(&[HOUR, 24 * HOUR], 1000);
        for h in [3, 4, 10, 100] {
            t.add(h * HOUR + 17);
        }
        assert_eq!(
            t.ranges(HOUR),
            vec![
                (3 * HOUR, 5 * HOUR - 1),
                (10 * HOUR, 11 * HOUR - 1),
                (100 * HOUR, 101 * HOUR - 1)
            ]
        );
        assert_eq!(
            t.ranges(24 * HOUR),
            vec![(0, 24 * HOUR - 1), (96 * HOUR, 120 * HOUR - 1)]
        );
        assert_eq!(t.span(), Some((3 * HOUR + 17, 100 * HOUR + 17)));
    }

    #[test]
    fn buckets_align_to_the_unix_epoch() {
        // a week's buckets start on Thursdays (1970-01-01 was one), not on 2000-01-01
        let week = 7 * 24 * HOUR;
        let start = bucket_start(0, week);
        assert_eq!((start as i128 + UNIX_OFFSET_US) % week as i128, 0);
        assert!(start <= 0 && start > -week);
    }

    #[test]
    fn too_many_buckets_fall_back_to_the_span() {
        let mut t = Touched::new(&[HOUR], 2);
        for h in [1, 5, 9] {
            t.add(h * HOUR);
        }
        assert_eq!(t.ranges(HOUR), vec![(HOUR, 9 * HOUR)]);
    }

    #[test]
    fn infinite_times_are_their_own_ranges() {
        let mut t = Touched::new(&[HOUR], 10);
        t.add(i64::MIN);
        t.add(2 * HOUR);
        t.add(i64::MAX);
        assert_eq!(
            t.ranges(HOUR),
            vec![
                (i64::MIN, i64::MIN),
                (2 * HOUR, 3 * HOUR - 1),
                (i64::MAX, i64::MAX)
            ]
        );
        assert!(Touched::new(&[HOUR], 10).ranges(HOUR).is_empty());
    }

    proptest! {
        /// Every time lies in a returned range, every range's buckets hold a time, and ranges
        /// are disjoint, sorted and bucket-aligned.
        #[test]
        fn ranges_cover_exactly_the_touched_buckets(
            times in proptest::collection::vec(-10_000_000_000_000i64..10_000_000_000_000, 1..60),
            width_min in 1i64..2000,
        ) {
            let width = width_min * 60_000_000;
            let mut t = Touched::new(&[width], 1000);
            for &x in &times {
                t.add(x);
            }
            let ranges = t.ranges(width);
            for &x in &times {
                prop_assert!(ranges.iter().any(|(lo, hi)| *lo <= x && x <= *hi));
            }
            for w in ranges.windows(2) {
                prop_assert!(w[0].1 + 1 < w[1].0);
            }
            for &(lo, hi) in &ranges {
                prop_assert_eq!(bucket_start(lo, width), lo);
                prop_assert_eq!(bucket_start(hi + 1, width), hi + 1);
                let mut b = lo;
                while b <= hi {
                    prop_assert!(times.iter().any(|&x| bucket_start(x, width) == b));
                    b += width;
                }
            }
        }
    }
}
