//! Loads what the core needs to know about a source, as the caller sees it: the relation named
//! by the document (resolved with the caller's search_path), its columns, their types and the
//! caller's privileges. One SPI query (planned once per backend) on the happy path; close-match
//! hints only on errors. What a lookup found is remembered per backend until a catalog it depends
//! on changes (syscache and relcache invalidation callbacks).

use crate::error::raise_with;
use pgrx::prelude::*;
use pgrx::spi::OwnedPreparedStatement;
use pgrx::{PgBuiltInOids, PgOid, PgSqlErrorCode};
use routed_core::model::{Column, Relation, SqlType};
use routed_core::names::{did_you_mean, QualifiedName};
use routed_core::{Error, ErrorKind};
use std::cell::{Cell, RefCell};
use std::collections::HashMap;

const RELATION_SQL: &str = "
SELECT n.nspname::text, c.relname::text, c.relkind::text, has_any_column_privilege(c.oid, 'SELECT'),
       a.attname::text, a.atttypid, tn.nspname::text, t.typname::text,
       CASE WHEN t.typtype = 'd' THEN t.typbasetype ELSE t.oid END,
       at.oid, an.nspname::text, at.typname::text,
       has_column_privilege(c.oid, a.attnum, 'SELECT'), c.oid,
       (SELECT t.time_column::text FROM routed.tracked t WHERE t.source = c.oid),
       (SELECT pg_catalog.jsonb_agg(k.cols)::text FROM (
          SELECT pg_catalog.jsonb_agg(ka.attname::text) AS cols
          FROM pg_catalog.pg_index i
          JOIN pg_catalog.pg_attribute ka ON ka.attrelid = i.indrelid AND ka.attnum = ANY (i.indkey)
          WHERE i.indrelid = c.oid AND i.indisunique AND i.indisvalid AND i.indpred IS NULL
            AND i.indexprs IS NULL
          GROUP BY i.indexrelid) k),
       EXISTS (SELECT 1 FROM pg_catalog.pg_trigger g JOIN pg_catalog.pg_proc f ON f.oid = g.tgfoid
                JOIN pg_catalog.pg_namespace fn ON fn.oid = f.pronamespace
                WHERE g.tgrelid = c.oid AND f.proname = '_table_changed' AND fn.nspname = 'routed')
         OR EXISTS (SELECT 1 FROM routed.tracked t WHERE t.source = c.oid)
FROM pg_catalog.pg_class c
JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
LEFT JOIN pg_catalog.pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
LEFT JOIN pg_catalog.pg_type t ON t.oid = a.atttypid
LEFT JOIN pg_catalog.pg_namespace tn ON tn.oid = t.typnamespace
LEFT JOIN pg_catalog.pg_type at ON at.oid = t.typarray
LEFT JOIN pg_catalog.pg_namespace an ON an.oid = at.typnamespace
WHERE c.oid = pg_catalog.to_regclass($1)
ORDER BY a.attnum";

const VISIBLE_SQL: &str = "
SELECT c.relname::text FROM pg_catalog.pg_class c
WHERE c.relkind IN ('r', 'p', 'v', 'm', 'f')
  AND CASE WHEN $1::text IS NULL THEN pg_catalog.pg_table_is_visible(c.oid)
           ELSE c.relnamespace = (SELECT oid FROM pg_catalog.pg_namespace WHERE nspname = $1) END";

thread_local! {
    /// RELATION_SQL prepared once per backend (planning its catalog join on every call cost
    /// about a millisecond); the plan cache revalidates it after catalog changes.
    static RELATION_PLAN: RefCell<Option<OwnedPreparedStatement>> = const { RefCell::new(None) };
}

/// (the name as written, quoted; search_path; user)
type Asked = (String, String, u32);

thread_local! {
    /// Bumped by every invalidation of a catalog a lookup reads (see below).
    static GENERATION: Cell<u64> = const { Cell::new(0) };
    /// What lookups found, valid while GENERATION is unchanged.
    static MEMO: RefCell<(u64, HashMap<Asked, Relation>)> = RefCell::new((0, HashMap::new()));
}

unsafe extern "C-unwind" fn forget_syscache(
    _arg: pg_sys::Datum,
    _cache: std::ffi::c_int,
    _hash: u32,
) {
    // only a counter: this may run while the memo is borrowed
    GENERATION.set(GENERATION.get().wrapping_add(1));
}

unsafe extern "C-unwind" fn forget_relcache(_arg: pg_sys::Datum, _relid: pg_sys::Oid) {
    GENERATION.set(GENERATION.get().wrapping_add(1));
}

/// Registered in `_PG_init`, once per process: a lookup's result is kept until any relation,
/// column, type, schema, role or membership changes (names may resolve differently, columns
/// and privileges may differ) or any relation's relcache entry is invalidated (tracking
/// installs and drops triggers, so it counts too). The callbacks run from
/// `AcceptInvalidationMessages`, which opening a relation or a new statement calls first.
pub fn register_invalidation_callbacks() {
    use pg_sys::SysCacheIdentifier::*;
    for cache in [
        RELOID,
        RELNAMENSP,
        ATTNUM,
        ATTNAME,
        TYPEOID,
        NAMESPACEOID,
        NAMESPACENAME,
        AUTHOID,
        AUTHMEMMEMROLE,
        AUTHMEMROLEMEM,
    ] {
        // SAFETY: a plain function pointer registered once per backend, for syscaches that exist
        // in every backend.
        unsafe {
            pg_sys::CacheRegisterSyscacheCallback(
                cache as i32,
                Some(forget_syscache),
                pg_sys::Datum::from(0usize),
            )
        };
    }
    // SAFETY: as above, for the relcache.
    unsafe {
        pg_sys::CacheRegisterRelcacheCallback(Some(forget_relcache), pg_sys::Datum::from(0usize))
    };
}

fn search_path() -> String {
    // SAFETY: namespace_search_path is the GUC's current value, a NUL-terminated string set by
    // PostgreSQL (or NULL), read in this process only.
    unsafe {
        let p = pg_sys::namespace_search_path;
        if p.is_null() {
            String::new()
        } else {
            std::ffi::CStr::from_ptr(p).to_string_lossy().into_owned()
        }
    }
}

/// The relation named by the document, as the caller sees it; remembered per backend until a
/// catalog it depends on changes.
pub fn load_relation(name: &QualifiedName) -> Relation {
    load_relation_at(name, "source")
}

/// As `load_relation`, for the relation named at `path` of the document (`join[0].table`).
pub fn load_relation_at(name: &QualifiedName, path: &str) -> Relation {
    // SAFETY: AcceptInvalidationMessages may run in any transaction; it processes the
    // invalidations that clear the memo before it is read.
    unsafe { pg_sys::AcceptInvalidationMessages() };
    let asked: Asked = (
        name.quoted(),
        search_path(),
        crate::pg::fast::user_and_context().0.to_u32(),
    );
    let generation = GENERATION.get();
    let known = MEMO.with_borrow_mut(|(g, m)| {
        if *g != generation {
            m.clear();
            *g = generation;
        }
        m.get(&asked).cloned()
    });
    if let Some(r) = known {
        return r;
    }
    let r = lookup(name, path);
    MEMO.with_borrow_mut(|(g, m)| {
        // an invalidation during the lookup leaves the memo for the next call to clear
        if *g == GENERATION.get() && m.len() < 256 {
            m.insert(asked, r.clone());
        }
    });
    r
}

fn lookup(name: &QualifiedName, path: &str) -> Relation {
    let rel = Spi::connect(|client| -> Result<Option<Relation>, pgrx::spi::Error> {
        let plan = match RELATION_PLAN.with_borrow_mut(Option::take) {
            Some(p) => p,
            None => client
                .prepare(RELATION_SQL, &[PgOid::BuiltIn(PgBuiltInOids::TEXTOID)])?
                .keep(),
        };
        let table = client.select(&plan, None, &[name.quoted().into()]);
        RELATION_PLAN.set(Some(plan));
        let table = table?;
        let mut rel: Option<Relation> = None;
        for row in table {
            let r = rel.get_or_insert_with(|| Relation {
                oid: row
                    .get::<pg_sys::Oid>(14)
                    .ok()
                    .flatten()
                    .map(u32::from)
                    .unwrap_or(0),
                schema: row.get(1).ok().flatten().unwrap_or_default(),
                name: row.get(2).ok().flatten().unwrap_or_default(),
                kind: row
                    .get::<String>(3)
                    .ok()
                    .flatten()
                    .and_then(|k| k.chars().next())
                    .unwrap_or('?'),
                columns: Vec::new(),
                table_selectable: row.get(4).ok().flatten().unwrap_or(false),
                tracked_time_column: row.get(15).ok().flatten(),
                unique_keys: row
                    .get::<String>(16)
                    .ok()
                    .flatten()
                    .and_then(|k| serde_json::from_str(&k).ok())
                    .unwrap_or_default(),
                tracked_whole: row.get(17).ok().flatten().unwrap_or(false),
            });
            let Some(col_name) = row.get::<String>(5)? else {
                continue;
            };
            let oid = |i: usize| row.get::<pg_sys::Oid>(i).ok().flatten().map(u32::from);
            let text = |i: usize| row.get::<String>(i).ok().flatten();
            let array_ty = match (oid(10), text(11), text(12)) {
                (Some(o), Some(s), Some(n)) if o != 0 => Some(SqlType {
                    oid: o,
                    schema: s,
                    name: n,
                }),
                _ => None,
            };
            r.columns.push(Column {
                name: col_name,
                ty: SqlType {
                    oid: oid(6).unwrap_or(0),
                    schema: text(7).unwrap_or_default(),
                    name: text(8).unwrap_or_default(),
                },
                array_ty,
                base_oid: oid(9).unwrap_or(0),
                selectable: row.get(13)?.unwrap_or(false),
            });
        }
        Ok(rel)
    })
    .unwrap_or_else(|e| {
        raise_with(
            PgSqlErrorCode::ERRCODE_INTERNAL_ERROR,
            format!("catalog lookup failed: {e}"),
            None,
        )
    });
    match rel {
        Some(r) if matches!(r.kind, 'r' | 'p' | 'v' | 'm' | 'f') => r,
        Some(r) => raise_with(
            PgSqlErrorCode::ERRCODE_WRONG_OBJECT_TYPE,
            format!(
                "{path}: \"{}\" is not a table, view or materialized view",
                r.display()
            ),
            None,
        ),
        None => crate::error::raise(unknown_relation(name, path)),
    }
}

fn unknown_relation(name: &QualifiedName, path: &str) -> Error {
    let e = Error::new(
        ErrorKind::UndefinedTable,
        path,
        format!("relation {} does not exist", name.quoted()),
    );
    let visible: Vec<String> = Spi::connect(|client| -> Result<Vec<String>, pgrx::spi::Error> {
        let rows = client.select(VISIBLE_SQL, None, &[name.schema.clone().into()])?;
        Ok(rows
            .filter_map(|r| r.get::<String>(1).ok().flatten())
            .collect())
    })
    .unwrap_or_default();
    match did_you_mean(&name.name, visible.iter().map(String::as_str)) {
        Some(h) => e.with_hint(h),
        None => e.with_hint("the source is looked up with your search_path; schema-qualify it (public.metrics) if needed"),
    }
}

/// Schema-qualified name of a relation OID.
pub fn relation_name(oid: pg_sys::Oid) -> QualifiedName {
    Spi::connect(|c| {
        let row = c
            .select(
                "SELECT n.nspname::text, c.relname::text FROM pg_catalog.pg_class c \
                 JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace WHERE c.oid = $1",
                None,
                &[oid.into()],
            )?
            .first();
        Ok::<_, pgrx::spi::Error>(QualifiedName {
            schema: row.get::<String>(1)?,
            name: row.get::<String>(2)?.unwrap_or_default(),
        })
    })
    .unwrap_or_else(|e| {
        raise_with(
            PgSqlErrorCode::ERRCODE_INTERNAL_ERROR,
            format!("relation lookup failed: {e}"),
            None,
        )
    })
}
