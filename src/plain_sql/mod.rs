//! Plain SQL answered by the router (`routed.transparent`): the planner hook recognizes an
//! aggregate query over a tracked source (`recognize`), keeps PostgreSQL's own plan as the child
//! of a "Routed Aggregate" node (`hook`), and the node asks `answer`'s flow for typed rows when
//! it runs (`node`, `route`, `eval`), or runs its child. It may call `answer`, `catalog`, `pg`,
//! `gucs` and `error`; nothing calls back into it.

mod eval;
mod hook;
mod node;
mod nodes;
mod recognize;
mod route;

pub use hook::install;
