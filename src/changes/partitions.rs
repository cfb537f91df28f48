//! Partitioned sources. A statement aimed at the partitioned table fires its statement triggers
//! only; one aimed at a partition fires that partition's (PostgreSQL 15–18), so the capture
//! triggers sit on every table of the tree and each notes its changes under the tree's root, the
//! tracked source. Partitions created, attached or detached later: `routed._sync_partitions`
//! (sql/rollups.sql) installs or drops their triggers and notes the rows they bring or take
//! through `note_change`.

use pgrx::prelude::*;
use std::cell::RefCell;
use std::collections::HashMap;

thread_local! {
    /// The root of each partition a capture trigger fired on, until a relcache invalidation
    /// (ATTACH and DETACH send one for the partition).
    static ROOTS: RefCell<HashMap<pg_sys::Oid, pg_sys::Oid>> = RefCell::new(HashMap::new());
}

/// Registered in `_PG_init`; runs inside invalidation processing, so it only touches the map.
unsafe extern "C-unwind" fn forget_roots(_arg: pg_sys::Datum, _relid: pg_sys::Oid) {
    ROOTS.with(|m| {
        if let Ok(mut m) = m.try_borrow_mut() {
            m.clear();
        }
    });
}

pub fn register_invalidation_callback() {
    // SAFETY: a plain function pointer registered once per backend from _PG_init.
    unsafe {
        pg_sys::CacheRegisterRelcacheCallback(Some(forget_roots), pg_sys::Datum::from(0usize))
    };
}

/// The tracked source a write to `rel` changes: rel itself, or the root of its partition tree.
pub fn source_of(rel: pg_sys::Relation) -> pg_sys::Oid {
    // SAFETY: rel is an open relation (the trigger's); rd_rel is its pg_class row.
    let (relid, is_partition) = unsafe { ((*rel).rd_id, (*(*rel).rd_rel).relispartition) };
    if !is_partition {
        return relid;
    }
    if let Some(root) = ROOTS.with_borrow(|m| m.get(&relid).copied()) {
        return root;
    }
    let root = crate::pg::partitions::partition_root(relid);
    ROOTS.with_borrow_mut(|m| m.insert(relid, root));
    root
}

/// Rows of `source` with times in [lo, hi] appeared or went away outside a statement the
/// capture triggers saw (a partition attached or detached): the cache counts the range as
/// changed at commit and the source's rollups log it for their next refresh.
pub fn note_change(source: pg_sys::Oid, lo: i64, hi: i64) {
    let ranges = [(lo, hi)];
    crate::changes::publish::note(source, &ranges);
    super::notify::note(source, &ranges);
    if lo < crate::rollups::thresholds::max_threshold(source) {
        super::capture::log_ranges(source, &ranges);
    }
}
