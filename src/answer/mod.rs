//! The answer flow shared by `routed_query`, `routed_rows` and the worker's revalidation:
//! parse, budget, cache lookup, route, codegen, read-only execution, the jsonb writer. It may
//! call `cache`, `catalog`, `changes` (has this transaction written), `rollups::freshness`,
//! `pg`, `gucs` and `error`.

pub mod entry;
pub mod exec;
pub mod flow;
pub mod jsonb_build;
mod known;
pub mod last_meta;
pub mod pipeline;
pub mod rows;
pub mod typed;
