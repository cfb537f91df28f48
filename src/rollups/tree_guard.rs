//! A refresh step of a partitioned source against a concurrent ATTACH or DETACH. A statement
//! plans with the partitions it knows before it takes its snapshot, so an ATTACH committing in
//! between would let the step consume the attached rows' logged range without reading them.
//! The step first waits for DDL changing the tree (an ATTACH holds the default partition) and
//! reads the tree fresh; at its end it reads it again and fails, rolling its work back, when it
//! changed.

use crate::error::raise_with;
use pgrx::prelude::*;
use pgrx::PgSqlErrorCode;

/// The tree of a partitioned source, settled (None for other sources).
pub fn settled_tree(
    c: &mut pgrx::spi::SpiClient<'_>,
    source: pg_sys::Oid,
    quoted: &str,
) -> Result<Option<Vec<pg_sys::Oid>>, pgrx::spi::Error> {
    let partitioned = c
        .select(
            "SELECT relkind = 'p' FROM pg_catalog.pg_class WHERE oid = $1",
            None,
            &[source.into()],
        )?
        .first()
        .get_one::<bool>()?
        .unwrap_or(false);
    if !partitioned {
        return Ok(None);
    }
    c.update(
        &format!("LOCK TABLE {quoted} IN ACCESS SHARE MODE"),
        None,
        &[],
    )?;
    Ok(Some(crate::pg::partitions::fresh_tree(source)))
}

/// Raises a serialization failure when the tree is no longer the settled one.
pub fn check(settled: Option<Vec<pg_sys::Oid>>, source: pg_sys::Oid, quoted: &str, rollup: &str) {
    if settled.is_some_and(|t| t != crate::pg::partitions::fresh_tree(source)) {
        raise_with(
            PgSqlErrorCode::ERRCODE_T_R_SERIALIZATION_FAILURE,
            format!("a partition of {quoted} was attached or detached while rollup \"{rollup}\" was refreshed"),
            Some("refresh it again (the background worker does at its next round)".into()),
        );
    }
}
