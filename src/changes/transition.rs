//! Reading a statement's transition table: the time column of each row, through its own read
//! pointer, as PostgreSQL's own scans of it do.

use pgrx::prelude::*;

/// Calls `each` with the time column of every row of a transition table whose time is not
/// NULL; returns whether some rows had a NULL time. A NULL table (no such transition) has none.
///
/// # Safety
/// `store` is NULL or the statement's transition table, alive for the trigger call, and
/// `attnum` a column of `rel`.
pub unsafe fn scan_times(
    store: *mut pg_sys::Tuplestorestate,
    rel: pg_sys::Relation,
    attnum: i32,
    mut each: impl FnMut(i64),
) -> bool {
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
            each((*(*slot).tts_values.add(i)).value() as i64);
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
    attnum: i32,
) -> (Option<(i64, i64)>, bool) {
    let mut range: Option<(i64, i64)> = None;
    // SAFETY: passed on from the caller.
    let nulls = unsafe {
        scan_times(store, rel, attnum, |v| {
            range = Some(match range {
                None => (v, v),
                Some((lo, hi)) => (lo.min(v), hi.max(v)),
            })
        })
    };
    (range, nulls)
}
