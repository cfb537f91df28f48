//! Partition trees.

use pgrx::prelude::*;

/// The root of a partition's tree (the relation itself when it is not a partition).
pub fn partition_root(rel: pg_sys::Oid) -> pg_sys::Oid {
    // SAFETY: pg_partition_root is a built-in taking one regclass; called through pgrx's guarded
    // direct call, it returns NULL only for a missing relation.
    unsafe {
        pgrx::direct_function_call::<pg_sys::Oid>(pg_sys::pg_partition_root, &[rel.into_datum()])
    }
    .unwrap_or(rel)
}

/// Every table of the source's partition tree, the source first (only it when not partitioned).
/// Raises when the tree cannot be read: a refresh must not wait for fewer writers than it should.
pub fn partition_tree(source: pg_sys::Oid) -> Vec<pg_sys::Oid> {
    let mut tree = vec![source];
    let read = Spi::connect(|c| {
        let rows = c.select(
            "SELECT relid::oid FROM pg_catalog.pg_partition_tree($1) WHERE relid <> $1",
            None,
            &[source.into()],
        )?;
        for r in rows {
            if let Some(oid) = r.get::<pg_sys::Oid>(1)? {
                tree.push(oid);
            }
        }
        Ok::<_, pgrx::spi::Error>(())
    });
    if let Err(e) = read {
        crate::error::raise_with(
            pgrx::PgSqlErrorCode::ERRCODE_INTERNAL_ERROR,
            format!("reading the partitions of a source failed: {e}"),
            None,
        );
    }
    tree
}

/// The source's tree as the catalog says now (not as this transaction's catalog snapshot last
/// read it), sorted.
pub fn fresh_tree(source: pg_sys::Oid) -> Vec<pg_sys::Oid> {
    // SAFETY: plain calls between statements: the next catalog read takes a new snapshot after
    // processing every committed catalog change.
    unsafe {
        pg_sys::AcceptInvalidationMessages();
        pg_sys::InvalidateCatalogSnapshot();
    }
    let mut tree = partition_tree(source);
    tree.sort_unstable_by_key(|o| o.to_u32());
    tree
}
