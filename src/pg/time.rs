//! Timestamps as the cache and the change ring keep them: Unix microseconds.

/// Microseconds between the Unix epoch and PostgreSQL's (2000-01-01).
pub const POSTGRES_EPOCH_UNIX_MICROS: i64 = 946_684_800_000_000;

/// A PostgreSQL timestamp (microseconds since 2000-01-01) as Unix microseconds.
pub fn unix_us(pg_timestamp: i64) -> i64 {
    pg_timestamp.saturating_add(POSTGRES_EPOCH_UNIX_MICROS)
}

/// The current time (not the transaction's), in Unix microseconds.
pub fn now_us() -> i64 {
    unix_us(super::fast::current_timestamp())
}
