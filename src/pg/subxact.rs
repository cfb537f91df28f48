//! Running something that may raise inside an internal subtransaction, as PL/pgSQL's
//! `BEGIN ... EXCEPTION` does: on an error its work (SPI connections, locks, memory) is rolled
//! back and the caller goes on.

use pgrx::pg_sys;
use pgrx::PgTryBuilder;

/// `f()`, or None when it raised (the error is discarded with the subtransaction).
pub fn try_or_none<T>(f: impl FnOnce() -> T + std::panic::UnwindSafe) -> Option<T> {
    // SAFETY: the globals are the backend's current memory context and resource owner, read and
    // restored on this thread only; BeginInternalSubTransaction is called inside a transaction
    // (every SQL function runs in one) and each path below ends the subtransaction it began.
    unsafe {
        let context = pg_sys::CurrentMemoryContext;
        let owner = pg_sys::CurrentResourceOwner;
        pg_sys::BeginInternalSubTransaction(std::ptr::null());
        pg_sys::MemoryContextSwitchTo(context);
        PgTryBuilder::new(|| {
            let v = f();
            pg_sys::ReleaseCurrentSubTransaction();
            pg_sys::MemoryContextSwitchTo(context);
            pg_sys::CurrentResourceOwner = owner;
            Some(v)
        })
        .catch_others(|_| {
            pg_sys::MemoryContextSwitchTo(context);
            pg_sys::RollbackAndReleaseCurrentSubTransaction();
            pg_sys::CurrentResourceOwner = owner;
            None
        })
        .execute()
    }
}
