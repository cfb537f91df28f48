//! The shared-memory result cache: lookup and coalescing, storing an answer with what its
//! staleness depends on, privilege re-checks, revalidation, and the statistics tables. It may
//! call `pg`, `gucs` and `error`; `shmem` is the small interface `changes` writes through.
//! The store, ring and staleness rule are routed-core's.

mod explain;
mod fill;
mod key;
mod lookup;
mod privileges;
pub mod query_stats;
pub mod revalidate;
pub mod shmem;
mod staleness;
pub mod warm;

pub use explain::explain;
pub use fill::register_exit_callback;
pub use key::{remembered_key, KeyMemo};
pub use lookup::{count_bypass, lookup, reset, unusable, Found};
pub use privileges::{
    register_invalidation_callbacks, row_security_applies, table_privilege, unshareable,
};
pub use routed_core::cache::Outcome;
