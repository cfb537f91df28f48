//! Timestamps as the cache and the change ring keep them (Unix microseconds), the session
//! TimeZone's offset over a window, and running SQL in a given TimeZone.

use pgrx::pg_sys;

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

const DAY_SECS: i64 = 86_400;

/// The session TimeZone's UTC offset in seconds (east positive) when it stays the same from a
/// day before `from` (or all past, without one) to a day after `to`; None when it changes
/// there. Wall-clock rollups (over `timestamp` and `date` columns) answer only such windows.
pub fn constant_utc_offset(from_unix_us: Option<i64>, to_unix_us: i64) -> Option<i64> {
    let start = from_unix_us.map_or(i64::MIN / 2, |f| f.div_euclid(1_000_000) - DAY_SECS);
    let end = to_unix_us.div_euclid(1_000_000).saturating_add(DAY_SECS);
    let mut at: pg_sys::pg_time_t = start;
    let mut first: Option<i64> = None;
    loop {
        let (mut before, mut before_dst, mut boundary): (i64, i32, i64) = (0, 0, 0);
        let (mut after, mut after_dst) = (0, 0);
        // SAFETY: session_timezone is set once the session's GUCs are (always, in a backend);
        // the out pointers are locals.
        let found = unsafe {
            pg_sys::pg_next_dst_boundary(
                &at,
                &mut before,
                &mut before_dst,
                &mut boundary,
                &mut after,
                &mut after_dst,
                pg_sys::session_timezone,
            )
        };
        if found < 0 {
            return None;
        }
        let off = before;
        if first.is_some_and(|f| f != off) {
            return None;
        }
        first = Some(off);
        if found == 0 || boundary > end {
            return first;
        }
        if after != off {
            return None;
        }
        at = boundary;
    }
}

/// Runs `f` with TimeZone set to UTC, restored after (also on error, by the abort): SQL that
/// compares a `timestamp` or `date` time column with a wall-clock rollup's timestamptz buckets
/// then reads the column as UTC, as the rollup stores it.
pub fn in_utc<T>(f: impl FnOnce() -> T) -> T {
    in_time_zone(c"UTC", f)
}

/// Runs `f` with TimeZone set to `zone` (a name the setting accepts), restored after, also on
/// error (the abort closes the nest level).
pub fn in_time_zone<T>(zone: &std::ffi::CStr, f: impl FnOnce() -> T) -> T {
    // SAFETY: a new GUC nest level, closed by AtEOXact_GUC below on success; an error unwinds
    // through the (sub)transaction abort, which closes it.
    let level = unsafe { pg_sys::NewGUCNestLevel() };
    // SAFETY: name and value are NUL-terminated; GUC_ACTION_SAVE keeps the old value for the
    // nest level; a zone the setting rejects raises an ERROR.
    unsafe {
        pg_sys::set_config_option(
            c"TimeZone".as_ptr(),
            zone.as_ptr(),
            pg_sys::GucContext::PGC_USERSET,
            pg_sys::GucSource::PGC_S_SESSION,
            pg_sys::GucAction::GUC_ACTION_SAVE,
            true,
            pgrx::PgLogLevel::ERROR as i32,
            false,
        )
    };
    let out = f();
    // SAFETY: closes the level opened above (isCommit: keep nothing of it but restore).
    unsafe { pg_sys::AtEOXact_GUC(true, level) };
    out
}
