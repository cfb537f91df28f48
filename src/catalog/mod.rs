//! What the router needs to know about relations, as the caller sees them: names resolved with
//! the caller's search_path, columns, types, privileges. It may call `pg` and `error`.

mod relation;

pub use relation::{
    load_relation, load_relation_at, register_invalidation_callbacks, relation_name,
};
