//! What the cache must know to keep an answer (the relations it read, its time range, its
//! staleness), or why it must not keep it (security, too many relations).

use super::pipeline::Prepared;
use crate::cache;
use crate::rollups::freshness;
use pgrx::pg_sys;
use routed_core::cache::entry::{EntryMeta, MAX_RELS, RELATIVE, TRACKED};
use std::time::Instant;

/// What the cache must know to serve this answer later, or why it must not keep it.
pub fn entry_meta(p: &mut Prepared, as_of_us: i64, started: Instant) -> Result<EntryMeta, String> {
    let source = pg_sys::Oid::from(p.source_oid);
    if let Some(why) = cache::unshareable(source) {
        return Err(why.into());
    }
    let mut rels = vec![source];
    // joined tables count as a whole: any change of theirs touches the entry
    let mut whole = 0u32;
    for j in &p.bound.joins {
        whole |= 1 << rels.len().min(31);
        rels.push(pg_sys::Oid::from(j.oid));
    }
    for name in &p.rollups {
        for table in [name.clone(), format!("{name}$delta")] {
            rels.push(rollup_oid(&table).ok_or("rollup table not found")?);
        }
    }
    if rels.len() > MAX_RELS {
        return Err("reads too many relations".into());
    }
    for &rel in &rels {
        if !cache::table_privilege(rel) {
            return Err("read with column privileges only".into());
        }
        if cache::row_security_applies(rel) {
            return Err("row security applies".into());
        }
    }
    let relative = p.query.time.as_ref().is_some_and(|t| t.is_relative());
    let tracked = p.tracked_range && p.bound.joins.iter().all(|j| j.tracked);
    let (from_us, to_us) = if !p.tracked_range || p.bound.time.is_none() {
        (i64::MIN, i64::MAX)
    } else {
        if p.window.is_none() {
            p.window = freshness::window(&p.bound);
        }
        match &p.window {
            Some(w) => (w.from_us.unwrap_or(i64::MIN), w.to_us),
            None => (i64::MIN, i64::MAX),
        }
    };
    let mut meta = EntryMeta {
        db: crate::pg::fast::database_id().to_u32(),
        source: p.source_oid,
        nrels: rels.len() as u32,
        flags: if relative { RELATIVE } else { 0 } | if tracked { TRACKED } else { 0 },
        whole,
        role: crate::pg::fast::user_id().to_u32(),
        from_us,
        to_us,
        as_of_us,
        stale_since_us: if p.plan.staleness_micros > 0 {
            as_of_us - p.plan.staleness_micros
        } else {
            i64::MAX
        },
        pos: 0,
        cost_us: started.elapsed().as_micros() as u64,
        ..Default::default()
    };
    for (i, r) in rels.iter().enumerate() {
        meta.rels[i] = r.to_u32();
    }
    Ok(meta)
}

fn rollup_oid(table: &str) -> Option<pg_sys::Oid> {
    let name = std::ffi::CString::new(table).ok()?;
    // SAFETY: get_namespace_oid and get_relname_relid only read the syscache with NUL-terminated
    // names that live across the calls; missing_ok, so they return InvalidOid instead of raising.
    unsafe {
        let ns = pg_sys::get_namespace_oid(c"routed".as_ptr(), true);
        let oid = pg_sys::get_relname_relid(name.as_ptr(), ns);
        (oid != pg_sys::InvalidOid).then_some(oid)
    }
}
