//! Rollups (continuous aggregates): creating and backfilling them, refreshing invalidated
//! buckets in bounded steps, the thresholds writers compare against, the freshness facts the
//! router reads, and the sketch aggregates. It may call `catalog`, `pg`, `gucs` and `error`.

pub mod admin;
pub mod freshness;
mod loaded;
pub mod refresh;
pub mod sketch_aggs;
pub mod thresholds;
mod tree_guard;
