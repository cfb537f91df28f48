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
    fn GetTempNamespaceState(temp: *mut Oid, temp_toast: *mut Oid);
    #[link_name = "bytea_output"]
    static BYTEA_OUTPUT: std::ffi::c_int;
    #[link_name = "locale_monetary"]
    static LOCALE_MONETARY: *const std::ffi::c_char;
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

/// This backend's temporary schema, InvalidOid until it creates a temporary object: its tables
/// come first in every search_path, so the same name may mean another relation here.
pub fn temp_namespace() -> Oid {
    let (mut temp, mut toast) = (Oid::INVALID, Oid::INVALID);
    unsafe { GetTempNamespaceState(&mut temp, &mut toast) };
    temp
}

/// The `bytea_output` setting (hex or escape), which bytea values in answers are printed with.
pub fn bytea_output() -> i32 {
    unsafe { BYTEA_OUTPUT }
}

/// The `lc_monetary` setting (a C string), which money values in answers are printed with.
pub fn lc_monetary() -> *const std::ffi::c_char {
    unsafe { LOCALE_MONETARY }
}
