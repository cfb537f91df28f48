//! Reading a statement's transition table: the time column of each row, through its own read
//! pointer, as PostgreSQL's own scans of it do, as the range of instants it may stand for.

use pgrx::prelude::*;

/// PostgreSQL's UTC offsets stay within ±16 hours (TimeZone accepts up to ±15:59:59).
const MAX_OFFSET_US: i64 = 16 * 3_600_000_000;
const DAY_US: i64 = 86_400_000_000;

/// The tracked time column: its attribute number and type.
#[derive(Clone, Copy)]
pub struct TimeColumn {
    pub attnum: i32,
    pub kind: TimeKind,
}

#[derive(Clone, Copy, PartialEq, Eq)]
pub enum TimeKind {
    TimestampTz,
    /// wall-clock: the instant depends on the reader's TimeZone
    Timestamp,
    Date,
}

impl TimeKind {
    pub fn of(typid: pg_sys::Oid) -> Option<TimeKind> {
        match typid {
            pg_sys::TIMESTAMPTZOID => Some(TimeKind::TimestampTz),
            pg_sys::TIMESTAMPOID => Some(TimeKind::Timestamp),
            pg_sys::DATEOID => Some(TimeKind::Date),
            _ => None,
        }
    }

    /// The instants (timestamptz, inclusive) a stored value may mean in any session TimeZone: a
    /// `timestamp` or `date` is compared with timestamptz bounds in the reader's TimeZone, so
    /// its change is published widened by the largest offset; infinities stay themselves.
    pub fn instants(self, datum: pg_sys::Datum) -> (i64, i64) {
        match self {
            TimeKind::TimestampTz => {
                let v = datum.value() as i64;
                (v, v)
            }
            TimeKind::Timestamp => {
                let v = datum.value() as i64;
                if v == i64::MIN || v == i64::MAX {
                    (v, v)
                } else {
                    (
                        v.saturating_sub(MAX_OFFSET_US),
                        v.saturating_add(MAX_OFFSET_US),
                    )
                }
            }
            TimeKind::Date => match datum.value() as i32 {
                i32::MIN => (i64::MIN, i64::MIN),
                i32::MAX => (i64::MAX, i64::MAX),
                d => {
                    let start = i64::from(d) * DAY_US;
                    (start - MAX_OFFSET_US, start + DAY_US - 1 + MAX_OFFSET_US)
                }
            },
        }
    }
}

impl TimeKind {
    /// The value as a wall-clock rollup stores it (a `timestamp` or `date` read as UTC; a
    /// timestamptz as itself), in PostgreSQL's microseconds, as an inclusive range of one.
    pub fn as_rollup_bucket_time(self, datum: pg_sys::Datum) -> (i64, i64) {
        match self {
            TimeKind::TimestampTz | TimeKind::Timestamp => {
                let v = datum.value() as i64;
                (v, v)
            }
            TimeKind::Date => {
                let v = match datum.value() as i32 {
                    i32::MIN => i64::MIN,
                    i32::MAX => i64::MAX,
                    d => i64::from(d) * DAY_US,
                };
                (v, v)
            }
        }
    }
}

/// Calls `each` with the instants the time column of every row of a transition table may
/// mean (`(lo, hi)`, inclusive; one instant for timestamptz), skipping NULL times; returns
/// whether some rows had a NULL time. A NULL table (no such transition) has none.
///
/// # Safety
/// `store` is NULL or the statement's transition table, alive for the trigger call, and `col`
/// a column of `rel`.
pub unsafe fn scan_times(
    store: *mut pg_sys::Tuplestorestate,
    rel: pg_sys::Relation,
    col: TimeColumn,
    each: impl FnMut(i64, i64),
) -> bool {
    // SAFETY: passed on from the caller.
    unsafe { scan_with(store, rel, col, TimeKind::instants, each) }
}

/// As [`scan_times`], with each time as a wall-clock rollup stores it
/// ([`TimeKind::as_rollup_bucket_time`]).
///
/// # Safety
/// As for [`scan_times`].
pub unsafe fn scan_rollup_times(
    store: *mut pg_sys::Tuplestorestate,
    rel: pg_sys::Relation,
    col: TimeColumn,
    each: impl FnMut(i64, i64),
) -> bool {
    // SAFETY: passed on from the caller.
    unsafe { scan_with(store, rel, col, TimeKind::as_rollup_bucket_time, each) }
}

/// # Safety
/// As for [`scan_times`].
unsafe fn scan_with(
    store: *mut pg_sys::Tuplestorestate,
    rel: pg_sys::Relation,
    col: TimeColumn,
    map: fn(TimeKind, pg_sys::Datum) -> (i64, i64),
    mut each: impl FnMut(i64, i64),
) -> bool {
    let attnum = col.attnum;
    if store.is_null() {
        return false;
    }
    // SAFETY: the tuplestore is the statement's transition table, alive for the trigger call; the
    // slot is made for rel's descriptor and dropped before we return.
    unsafe {
        let slot = pg_sys::MakeSingleTupleTableSlot((*rel).rd_att, &pg_sys::TTSOpsMinimalTuple);
        let ptr = pg_sys::tuplestore_alloc_read_pointer(store, pg_sys::EXEC_FLAG_REWIND as i32);
        pg_sys::tuplestore_select_read_pointer(store, ptr);
        pg_sys::tuplestore_rescan(store);
        let mut nulls = false;
        let i = (attnum - 1) as usize;
        while pg_sys::tuplestore_gettupleslot(store, true, false, slot) {
            if i32::from((*slot).tts_nvalid) < attnum {
                pg_sys::slot_getsomeattrs_int(slot, attnum);
            }
            if *(*slot).tts_isnull.add(i) {
                nulls = true;
                continue;
            }
            let (lo, hi) = map(col.kind, *(*slot).tts_values.add(i));
            each(lo, hi);
        }
        pg_sys::ExecDropSingleTupleTableSlot(slot);
        nulls
    }
}

/// Min and max of the time column over a transition table (None when it has no non-null
/// times), and whether some rows had a NULL time.
///
/// # Safety
/// As for [`scan_times`].
pub unsafe fn range_of(
    store: *mut pg_sys::Tuplestorestate,
    rel: pg_sys::Relation,
    col: TimeColumn,
) -> (Option<(i64, i64)>, bool) {
    let mut range: Option<(i64, i64)> = None;
    // SAFETY: passed on from the caller.
    let nulls = unsafe {
        scan_times(store, rel, col, |a, b| {
            range = Some(match range {
                None => (a, b),
                Some((lo, hi)) => (lo.min(a), hi.max(b)),
            })
        })
    };
    (range, nulls)
}
