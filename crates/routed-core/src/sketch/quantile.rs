//! Quantile sketch with relative error: values fall into log-spaced buckets
//! `(γ^(i-1), γ^i]` with `γ = (1 + α) / (1 - α)`, so every bucket's representative is within
//! `α` of every value in it (DDSketch). Counts add, so merging is exact. Quantiles follow
//! `percentile_cont`: the values at the two ranks around `q·(n-1)`, linearly interpolated.

use super::varint::{get_i64, get_u64, put_i64, put_u64};
use super::DecodeError;

/// Relative error of every value read back from the sketch.
pub const RELATIVE_ERROR: f64 = 0.01;
/// Serialized format version (first byte).
pub const FORMAT_VERSION: u8 = 1;
/// Magnitudes below this count as zero.
const MIN_MAGNITUDE: f64 = 1e-9;

/// Counts of consecutive bucket indexes starting at `offset` (dense: merging is array adds).
#[derive(Debug, Clone, Default)]
struct Store {
    offset: i32,
    counts: Vec<u64>,
}

impl Store {
    fn add(&mut self, index: i32, count: u64) {
        if self.counts.is_empty() {
            self.offset = index;
            self.counts.push(count);
            return;
        }
        if index < self.offset {
            let grow = (self.offset - index) as usize;
            self.counts.splice(0..0, std::iter::repeat_n(0, grow));
            self.offset = index;
        }
        let i = (index - self.offset) as usize;
        if i >= self.counts.len() {
            self.counts.resize(i + 1, 0);
        }
        self.counts[i] += count;
    }

    /// (index, count) of non-empty buckets, ascending.
    fn iter(&self) -> impl DoubleEndedIterator<Item = (i32, u64)> + '_ {
        self.counts
            .iter()
            .enumerate()
            .filter(|(_, c)| **c > 0)
            .map(|(i, c)| (self.offset + i as i32, *c))
    }

    fn total(&self) -> u64 {
        self.counts.iter().sum()
    }
}

#[derive(Debug, Clone, Default)]
pub struct QuantileSketch {
    positive: Store,
    /// Buckets of |x| for negative x.
    negative: Store,
    zero: u64,
}

/// Equal when they hold the same counts (however their stores are laid out).
impl PartialEq for QuantileSketch {
    fn eq(&self, other: &Self) -> bool {
        self.to_bytes() == other.to_bytes()
    }
}

fn gamma_ln() -> f64 {
    ((1.0 + RELATIVE_ERROR) / (1.0 - RELATIVE_ERROR)).ln()
}

fn index_of(magnitude: f64) -> i32 {
    (magnitude.ln() / gamma_ln()).ceil() as i32
}

/// The bucket's representative: within the relative error of all its values.
fn value_of(index: i32) -> f64 {
    let gamma = (1.0 + RELATIVE_ERROR) / (1.0 - RELATIVE_ERROR);
    2.0 * (f64::from(index) * gamma_ln()).exp() / (gamma + 1.0)
}

impl QuantileSketch {
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a value; NaN and infinities are not representable and are ignored.
    pub fn add(&mut self, x: f64) {
        if !x.is_finite() {
            return;
        }
        if x.abs() < MIN_MAGNITUDE {
            self.zero += 1;
        } else if x > 0.0 {
            self.positive.add(index_of(x), 1);
        } else {
            self.negative.add(index_of(-x), 1);
        }
    }

    pub fn count(&self) -> u64 {
        self.zero + self.positive.total() + self.negative.total()
    }

    pub fn merge(&mut self, other: &QuantileSketch) {
        self.zero += other.zero;
        for (i, c) in other.positive.iter() {
            self.positive.add(i, c);
        }
        for (i, c) in other.negative.iter() {
            self.negative.add(i, c);
        }
    }

    /// Merges a serialized sketch without building it first (the merge aggregate's hot path).
    pub fn merge_bytes(&mut self, bytes: &[u8]) -> Result<(), DecodeError> {
        match bytes.first() {
            Some(&FORMAT_VERSION) => {}
            Some(_) => return Err(DecodeError("unknown quantile sketch format version")),
            None => return Err(DecodeError("empty quantile sketch")),
        }
        let mut pos = 1;
        self.zero += get_u64(bytes, &mut pos)?;
        for negative in [false, true] {
            let len = get_u64(bytes, &mut pos)?;
            let mut index = 0i64;
            for _ in 0..len {
                index += get_i64(bytes, &mut pos)?;
                let i = i32::try_from(index)
                    .ok()
                    .filter(|i| i.unsigned_abs() < 1 << 20)
                    .ok_or(DecodeError("quantile bucket out of range"))?;
                let c = get_u64(bytes, &mut pos)?;
                let store = if negative {
                    &mut self.negative
                } else {
                    &mut self.positive
                };
                store.add(i, c);
            }
        }
        if pos != bytes.len() {
            return Err(DecodeError("trailing bytes after quantile sketch"));
        }
        Ok(())
    }

    /// The (approximate) value of rank `k` (0-based) in ascending order.
    fn value_at_rank(&self, k: u64) -> f64 {
        let mut seen = 0;
        for (i, c) in self.negative.iter().rev() {
            seen += c;
            if k < seen {
                return -value_of(i);
            }
        }
        seen += self.zero;
        if k < seen {
            return 0.0;
        }
        for (i, c) in self.positive.iter() {
            seen += c;
            if k < seen {
                return value_of(i);
            }
        }
        self.positive
            .iter()
            .next_back()
            .map_or(0.0, |(i, _)| value_of(i))
    }

    /// `percentile_cont(q)` estimated from the sketch; None when it holds no values.
    pub fn quantile(&self, q: f64) -> Option<f64> {
        let n = self.count();
        if n == 0 || !(0.0..=1.0).contains(&q) {
            return None;
        }
        let rank = q * (n - 1) as f64;
        let lo = rank.floor();
        let (a, b) = (
            self.value_at_rank(lo as u64),
            self.value_at_rank(rank.ceil() as u64),
        );
        Some(a + (rank - lo) * (b - a))
    }

    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out =
            Vec::with_capacity(8 + 3 * (self.positive.counts.len() + self.negative.counts.len()));
        out.push(FORMAT_VERSION);
        put_u64(&mut out, self.zero);
        for store in [&self.positive, &self.negative] {
            put_u64(&mut out, store.iter().count() as u64);
            let mut previous = 0i64;
            for (i, c) in store.iter() {
                put_i64(&mut out, i64::from(i) - previous);
                put_u64(&mut out, c);
                previous = i64::from(i);
            }
        }
        out
    }

    pub fn from_bytes(bytes: &[u8]) -> Result<Self, DecodeError> {
        let mut s = Self::default();
        s.merge_bytes(bytes)?;
        Ok(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// percentile_cont over sorted values.
    fn exact(sorted: &[f64], q: f64) -> f64 {
        let rank = q * (sorted.len() - 1) as f64;
        let (lo, hi) = (rank.floor() as usize, rank.ceil() as usize);
        sorted[lo] + (rank - rank.floor()) * (sorted[hi] - sorted[lo])
    }

    #[test]
    fn quantiles_are_within_one_percent_of_percentile_cont() {
        let mut values: Vec<f64> = (1..=5000)
            .map(|i| (f64::from(i % 97) * 0.13).exp() + f64::from(i) * 0.01)
            .collect();
        let mut s = QuantileSketch::new();
        for v in &values {
            s.add(*v);
        }
        values.sort_by(f64::total_cmp);
        for q in [0.0, 0.01, 0.25, 0.5, 0.9, 0.95, 0.99, 1.0] {
            let (e, got) = (exact(&values, q), s.quantile(q).unwrap());
            assert!((got - e).abs() <= RELATIVE_ERROR * e, "q {q}: {got} vs {e}");
        }
    }

    #[test]
    fn negative_zero_and_positive_values_keep_their_order() {
        let mut s = QuantileSketch::new();
        for v in [-100.0, -1.0, 0.0, 0.0, 2.0, 300.0] {
            s.add(v);
        }
        assert!((s.quantile(0.0).unwrap() + 100.0).abs() <= 1.0);
        assert_eq!(s.quantile(0.4).unwrap(), 0.0);
        assert!((s.quantile(1.0).unwrap() - 300.0).abs() <= 3.0);
        assert_eq!(QuantileSketch::new().quantile(0.5), None);
    }

    #[test]
    fn merging_equals_adding_everything_to_one_sketch() {
        let (mut a, mut b, mut all) = (
            QuantileSketch::new(),
            QuantileSketch::new(),
            QuantileSketch::new(),
        );
        for i in 0..1000 {
            let v = f64::from(i) * 1.7 - 300.0;
            if i % 3 == 0 {
                a.add(v)
            } else {
                b.add(v)
            }
            all.add(v);
        }
        a.merge(&b);
        assert_eq!(a, all);
        assert_eq!(QuantileSketch::from_bytes(&a.to_bytes()).unwrap(), all);
    }

    #[test]
    fn bad_bytes_are_errors_not_panics() {
        assert!(QuantileSketch::from_bytes(&[]).is_err());
        assert!(QuantileSketch::from_bytes(&[9, 0]).is_err());
        assert!(QuantileSketch::from_bytes(&[FORMAT_VERSION, 0, 5]).is_err());
        let mut ok = QuantileSketch::new();
        ok.add(1.0);
        let mut bytes = ok.to_bytes();
        bytes.push(0);
        assert!(QuantileSketch::from_bytes(&bytes).is_err());
    }
}
