//! Safe wrappers over PostgreSQL internals that every concern shares: fast accessors for the hit
//! path, time conversions, SPI (kept plans, reads in the statement's snapshot, typed arguments)
//! and jsonb as function arguments. A leaf: it calls only `error`.

pub mod fast;
pub mod jsonb;
pub mod params;
pub mod partitions;
pub mod snapshot;
pub mod spi;
pub mod subxact;
pub mod time;
