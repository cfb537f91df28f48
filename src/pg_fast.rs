//! PostgreSQL functions that cannot raise an ERROR, bound without pgrx's guard (a sigsetjmp
//! and a thread check per call): the cache-hit path calls them on every answer. Anything that
//! may raise stays behind `pg_sys`'s guarded bindings.

use pgrx::pg_sys::{Oid, TimestampTz, TransactionId};

unsafe extern "C" {
    /// The current user (SET ROLE, SECURITY DEFINER) and security context flags.
    fn GetUserIdAndSecContext(userid: *mut Oid, sec_context: *mut std::ffi::c_int);
    fn GetCurrentTimestamp() -> TimestampTz;
    fn GetCurrentTransactionStartTimestamp() -> TimestampTz;
    fn GetTopTransactionIdIfAny() -> TransactionId;
}

/// The current user id (what `GetUserId()` returns) and the security context.
pub fn user_and_context() -> (Oid, i32) {
    let (mut user, mut context) = (Oid::INVALID, 0);
    unsafe { GetUserIdAndSecContext(&mut user, &mut context) };
    (user, context)
}

pub fn user_id() -> Oid {
    user_and_context().0
}

pub fn current_timestamp() -> TimestampTz {
    unsafe { GetCurrentTimestamp() }
}

pub fn transaction_start_timestamp() -> TimestampTz {
    unsafe { GetCurrentTransactionStartTimestamp() }
}

/// Whether this transaction has an xid: it has written something.
pub fn has_written() -> bool {
    let xid = unsafe { GetTopTransactionIdIfAny() };
    xid != pgrx::pg_sys::InvalidTransactionId
}
