//! Composing a plan from several rollups of one source: the source that reads the fewest rows
//! per unit of time takes the whole buckets it can answer in what is still uncovered, then the
//! next cheapest; the base table reads what is left (sub-bucket edges, the tail above the
//! watermarks, invalidated buckets). Segments tile the window: no gap, no overlap.

use super::coverage::{Coverage, OPEN};

/// A rollup that can answer part of the window, with its estimated cost: rows it holds per
/// row of the base table over the same time (below 1 it is cheaper than the base table).
pub struct Usable<'a> {
    pub index: usize,
    pub cover: &'a Coverage,
    pub cost: f64,
    pub width: i64,
}

/// Which rollup reads which ranges (bucket starts), and what the base table reads.
pub struct Composition {
    pub reads: Vec<(usize, Vec<(i64, i64)>)>,
    pub base: Vec<(i64, i64)>,
    pub staleness_us: i64,
}

/// Cheapest first; among equals the coarser, then the one declared first.
pub fn compose(from: i64, to: i64, mut usable: Vec<Usable<'_>>) -> Composition {
    usable.sort_by(|a, b| {
        a.cost
            .total_cmp(&b.cost)
            .then(b.width.cmp(&a.width))
            .then(a.index.cmp(&b.index))
    });
    let mut uncovered = vec![(from, to)];
    let mut reads = Vec::new();
    let mut staleness_us = 0;
    for u in usable {
        if u.cost >= 1.0 {
            continue;
        }
        let taken: Vec<(i64, i64)> = uncovered
            .iter()
            .flat_map(|&(lo, hi)| u.cover.take(lo, hi))
            .collect();
        if taken.is_empty() {
            continue;
        }
        uncovered = subtract(&uncovered, &taken);
        staleness_us = staleness_us.max(u.cover.staleness_of(&taken));
        reads.push((u.index, taken));
    }
    Composition {
        reads,
        base: uncovered,
        staleness_us,
    }
}

/// `ranges` without `minus` (both sorted and disjoint).
pub fn subtract(ranges: &[(i64, i64)], minus: &[(i64, i64)]) -> Vec<(i64, i64)> {
    let mut out = Vec::new();
    for &(lo, hi) in ranges {
        let mut at = lo;
        for &(a, b) in minus {
            if b <= at || a >= hi {
                continue;
            }
            if at < a {
                out.push((at, a));
            }
            at = at.max(b);
        }
        if at < hi {
            out.push((at, hi));
        }
    }
    out
}

/// `None` for an open start, as plans and SQL spell it.
pub fn opened(lo: i64) -> Option<i64> {
    (lo != OPEN).then_some(lo)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subtract_leaves_the_gaps() {
        assert_eq!(
            subtract(&[(0, 10), (20, 30)], &[(2, 4), (8, 22), (25, 30)]),
            vec![(0, 2), (4, 8), (22, 25)]
        );
        assert_eq!(subtract(&[(OPEN, 10)], &[(OPEN, 5)]), vec![(5, 10)]);
        assert_eq!(subtract(&[(0, 10)], &[]), vec![(0, 10)]);
    }
}
