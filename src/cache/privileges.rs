//! What a hit re-checks: the caller's table-level SELECT on every relation the entry read, and
//! no row security for the caller on any of them. Results are remembered per backend until a
//! catalog they depend on changes (pg_class: ACLs, owners, row security; roles; memberships):
//! the syscache callbacks below run from `AcceptInvalidationMessages`, which every lookup calls
//! first, so a REVOKE committed elsewhere still takes effect on the next call.

use crate::pg::fast;
use pgrx::pg_sys;
use routed_core::cache::entry::EntryMeta;
use routed_core::cache::FastHash;
use std::cell::{Cell, RefCell};
use std::collections::HashMap;

/// (role, security context, row_security, relation)
type Asked = (u32, i32, bool, u32);

thread_local! {
    /// Bumped by every invalidation of the catalogs a check reads.
    static GENERATION: Cell<u64> = const { Cell::new(0) };
    static MEMO: RefCell<(u64, HashMap<Asked, bool, FastHash>)> =
        const { RefCell::new((0, HashMap::with_hasher(FastHash))) };
}

unsafe extern "C-unwind" fn forget(_arg: pg_sys::Datum, _cache: std::ffi::c_int, _hash: u32) {
    // only a counter: this may run while the memo is borrowed
    GENERATION.set(GENERATION.get().wrapping_add(1));
}

/// Registered in `_PG_init`, once per process.
pub fn register_invalidation_callbacks() {
    use pg_sys::SysCacheIdentifier::{AUTHMEMMEMROLE, AUTHMEMROLEMEM, AUTHOID, RELOID};
    for cache in [RELOID, AUTHOID, AUTHMEMMEMROLE, AUTHMEMROLEMEM] {
        // SAFETY: a plain function pointer registered once per backend, for syscaches that exist
        // in every backend.
        unsafe {
            pg_sys::CacheRegisterSyscacheCallback(
                cache as i32,
                Some(forget),
                pg_sys::Datum::from(0usize),
            )
        };
    }
}

/// SELECT on every relation the entry read, and none of them under row security for the caller.
pub fn privileges_allow(meta: &EntryMeta) -> bool {
    let (role, context) = fast::user_and_context();
    let rls = crate::pg::fast::row_security();
    meta.rels().iter().all(|&rel| {
        let asked = (role.to_u32(), context, rls, rel);
        let generation = GENERATION.get();
        let known = MEMO.with_borrow_mut(|(g, m)| {
            if *g != generation {
                m.clear();
                *g = generation;
            }
            m.get(&asked).copied()
        });
        known.unwrap_or_else(|| {
            let oid = pg_sys::Oid::from(rel);
            let allowed = table_privilege(oid) && !row_security_applies(oid);
            // an invalidation that arrived during the check leaves the answer unremembered
            MEMO.with_borrow_mut(|(g, m)| {
                if *g == generation && GENERATION.get() == generation {
                    m.insert(asked, allowed);
                }
            });
            allowed
        })
    })
}

pub fn row_security_applies(oid: pg_sys::Oid) -> bool {
    // SAFETY: check_enable_rls with noError reads the catalogs and returns a code; oid is any
    // relation oid.
    let rls = unsafe { pg_sys::check_enable_rls(oid, pg_sys::InvalidOid, true) };
    rls == pg_sys::CheckEnableRlsResult::RLS_ENABLED as i32
}

/// Whether the caller holds table-level SELECT (what a hit re-checks) on `oid`.
pub fn table_privilege(oid: pg_sys::Oid) -> bool {
    let mut missing = false;
    // SAFETY: pg_class_aclcheck_ext reports a missing relation through `missing` instead of
    // raising.
    unsafe {
        pg_sys::pg_class_aclcheck_ext(oid, fast::user_id(), pg_sys::ACL_SELECT as _, &mut missing)
            == pg_sys::AclResult::ACLCHECK_OK
            && !missing
    }
}

/// Why answers read from `oid` must not be shared through the cache, if they must not: a
/// temporary table is its session's own, and a `security_invoker` view checks the privileges
/// and row security of the tables it reads as the caller, which a hit's re-check of the view
/// alone would miss.
pub fn unshareable(oid: pg_sys::Oid) -> Option<&'static str> {
    // SAFETY: get_rel_persistence reads the syscache; it returns 0 for a missing relation.
    if unsafe { pg_sys::get_rel_persistence(oid) } as u8 == pg_sys::RELPERSISTENCE_TEMP {
        return Some("reads a temporary table");
    }
    // SAFETY: get_rel_relkind reads the syscache; it returns 0 for a missing relation.
    if unsafe { pg_sys::get_rel_relkind(oid) } as u8 != pg_sys::RELKIND_VIEW {
        return None;
    }
    // the caller's query holds a lock on the view, so its relcache entry stays valid here
    // SAFETY: the relation is locked by the caller's query (see above), so the relcache entry is
    // valid until closed below.
    let invoker = unsafe {
        let rel = pg_sys::RelationIdGetRelation(oid);
        if rel.is_null() {
            return Some("the view is gone");
        }
        let options = (*rel).rd_options as *const pg_sys::ViewOptions;
        let invoker = !options.is_null() && (*options).security_invoker;
        pg_sys::RelationClose(rel);
        invoker
    };
    invoker.then_some("reads a security_invoker view")
}
