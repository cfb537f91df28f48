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
    // SAFETY: GetUserIdAndSecContext only writes the two out-parameters; it cannot fail.
    unsafe { GetUserIdAndSecContext(&mut user, &mut context) };
    (user, context)
}

pub fn user_id() -> Oid {
    user_and_context().0
}

pub fn current_timestamp() -> TimestampTz {
    // SAFETY: GetCurrentTimestamp reads the clock; it cannot fail.
    unsafe { GetCurrentTimestamp() }
}

pub fn transaction_start_timestamp() -> TimestampTz {
    // SAFETY: reads this backend's transaction state; it cannot fail.
    unsafe { GetCurrentTransactionStartTimestamp() }
}

/// Whether this transaction has an xid: it has written something.
pub fn has_written() -> bool {
    // SAFETY: reads this backend's transaction state; it cannot fail.
    let xid = unsafe { GetTopTransactionIdIfAny() };
    xid != pgrx::pg_sys::InvalidTransactionId
}

/// This backend's temporary schema, InvalidOid until it creates a temporary object: its tables
/// come first in every search_path, so the same name may mean another relation here.
pub fn temp_namespace() -> Oid {
    let (mut temp, mut toast) = (Oid::INVALID, Oid::INVALID);
    // SAFETY: GetTempNamespaceState only writes the two out-parameters; it cannot fail.
    unsafe { GetTempNamespaceState(&mut temp, &mut toast) };
    temp
}

/// The `bytea_output` setting (hex or escape), which bytea values in answers are printed with.
pub fn bytea_output() -> i32 {
    // SAFETY: a GUC variable of this process, written only by SET.
    unsafe { BYTEA_OUTPUT }
}

/// The `lc_monetary` setting (a C string), which money values in answers are printed with.
pub fn lc_monetary() -> *const std::ffi::c_char {
    // SAFETY: a GUC variable of this process, written only by SET; the string lives until the next
    // SET.
    unsafe { LOCALE_MONETARY }
}

// Process globals PostgreSQL sets before any extension code runs in a backend and never
// changes afterwards (MyProcPid at fork, MyDatabaseId at connection), or changes only between
// statements of this same process (XactIsoLevel, row_security): reading them is a plain load.

/// This backend's process id.
pub fn my_pid() -> i32 {
    // SAFETY: set once at backend start, read by this process only.
    unsafe { pgrx::pg_sys::MyProcPid }
}

/// The database this backend is connected to.
pub fn database_id() -> Oid {
    // SAFETY: set once when the backend connects, before any of our code runs.
    unsafe { pgrx::pg_sys::MyDatabaseId }
}

/// The transaction's isolation level (`XACT_READ_COMMITTED` ... `XACT_SERIALIZABLE`).
pub fn isolation_level() -> i32 {
    // SAFETY: a GUC variable of this process, written only by SET and transaction start.
    unsafe { pgrx::pg_sys::XactIsoLevel }
}

/// The `row_security` setting.
pub fn row_security() -> bool {
    // SAFETY: a GUC variable of this process, written only by SET.
    unsafe { pgrx::pg_sys::row_security }
}
