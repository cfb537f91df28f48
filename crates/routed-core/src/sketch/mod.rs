//! Mergeable sketches kept in rollups for `percentile` and `count_distinct`: a relative-error
//! quantile sketch (DDSketch's log-spaced buckets, 1% relative error) and a HyperLogLog
//! distinct counter (4,096 registers, 1.6% relative standard error). Both serialize to bytes
//! that start with a format version, and merging serialized states is exact.

pub mod distinct;
pub mod quantile;
mod varint;

pub use distinct::DistinctSketch;
pub use quantile::QuantileSketch;

/// Why bytes could not be read back as a sketch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DecodeError(pub &'static str);

impl std::fmt::Display for DecodeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.0)
    }
}
