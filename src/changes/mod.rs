//! What changed: the capture trigger notes each statement's changed time ranges (and logs them
//! for rollups), the trigger on tables tracked as a whole notes all of their time (`whole`),
//! and at COMMIT they are published to the cache's change ring. It writes shared memory only
//! through `cache::shmem`; with `routed.notify` on it also queues `NOTIFY`s
//! (`notify`). It may call `rollups::thresholds`, `pg` and `error`.

pub mod capture;
mod corrections;
pub mod notify;
pub mod partitions;
pub mod publish;
mod transition;
pub mod whole;
