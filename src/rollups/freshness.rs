//! What the router needs to know about a source's rollups, read in the statement's snapshot:
//! definitions, watermarks, pending invalidated ranges (bucket-aligned, with the oldest log
//! time), whether the caller may read them, what reading each costs against the source
//! (planner statistics), and the document's window evaluated at `now`.

use crate::pg::params::typed_args;
use crate::pg::snapshot::read;
use pgrx::prelude::*;
use routed_core::codegen::window_sql;
use routed_core::resolve::{Bound, TimeKind};
use routed_core::rollup::RollupDef;
use routed_core::route::{Pending, RollupFacts, Window};

thread_local! {
    /// The source whose facts an answer is using, and relcache invalidations seen for it.
    static WATCHED: std::cell::Cell<(pg_sys::Oid, u64)> = const { std::cell::Cell::new((pg_sys::InvalidOid, 0)) };
}

/// Called for every relcache invalidation this backend processes (see `thresholds`).
pub fn note_invalidation(relid: pg_sys::Oid) {
    WATCHED.with(|w| {
        let (oid, n) = w.get();
        if relid == oid || relid == pg_sys::InvalidOid {
            w.set((oid, n + 1));
        }
    });
}

/// Starts watching `source` before its facts are read; the mark for `changed_since`.
pub fn watch(source: pg_sys::Oid) -> u64 {
    WATCHED.with(|w| {
        let n = w.get().1;
        w.set((source, n));
        n
    })
}

/// Whether the watched source's relcache entry was invalidated since `mark`: the answer's plan,
/// made after its facts were read, may know partitions they do not (an ATTACH committed while
/// it waited for a lock), so its rollup parts may miss rows the plan's base parts and the plain
/// SQL see.
pub fn changed_since(mark: u64) -> bool {
    WATCHED.with(|w| w.get().1 != mark)
}

const FACTS_SQL: &str = "
SELECT c.name, c.time_column::text, extract(epoch FROM c.granularity)::int8, c.dimensions,
       c.states::text, CAST(extract(epoch FROM c.watermark) * 1000000 AS int8),
       has_table_privilege(to_regclass(format('routed.%I', c.name)), 'SELECT')
         AND has_table_privilege(to_regclass(format('routed.%I', c.name || '$delta')), 'SELECT'),
       cl.relrowsecurity, p.los, p.his, p.sinces,
       CASE WHEN st.tuples > 0 AND rc.reltuples >= 0 THEN CAST(rc.reltuples / st.tuples AS float8) END,
       -- a partition attached or detached after this snapshot: the catalog (read fresh, as the
       -- answer's plan will be) and the snapshot disagree on the tree, and the rollup's facts
       -- do not know its rows yet
       cl.relkind = 'p' AND
         (SELECT array_agg(t.relid::oid ORDER BY t.relid::oid) FROM pg_catalog.pg_partition_tree(c.source) t)
         IS DISTINCT FROM
         (WITH RECURSIVE t(relid) AS (SELECT c.source::oid UNION ALL
                                      SELECT i.inhrelid FROM pg_catalog.pg_inherits i JOIN t ON i.inhparent = t.relid)
          SELECT array_agg(t.relid ORDER BY t.relid) FROM t)
  FROM routed.rollup_catalog c
  JOIN pg_catalog.pg_class cl ON cl.oid = c.source
  -- a partitioned source's rows are its partitions' (autovacuum never analyzes the parent)
  CROSS JOIN LATERAL (SELECT CASE WHEN cl.relkind <> 'p' THEN cl.reltuples
                                  ELSE (SELECT sum(greatest(p.reltuples, 0)) FROM pg_catalog.pg_partition_tree(c.source) t
                                          JOIN pg_catalog.pg_class p ON p.oid = t.relid WHERE t.isleaf) END AS tuples) st
  LEFT JOIN pg_catalog.pg_class rc ON rc.oid = to_regclass(format('routed.%I', c.name))
  LEFT JOIN LATERAL (
        SELECT array_agg(g.lo) AS los, array_agg(g.hi) AS his, array_agg(g.since) AS sinces
          FROM (SELECT CASE WHEN isfinite(i.lo)
                            THEN CAST(extract(epoch FROM date_bin(c.granularity, i.lo, TIMESTAMPTZ '1970-01-01 00:00:00+00')) * 1000000 AS int8)
                            ELSE -9223372036854775807 END AS lo,
                       CASE WHEN isfinite(i.hi)
                            THEN CAST(extract(epoch FROM date_bin(c.granularity, i.hi, TIMESTAMPTZ '1970-01-01 00:00:00+00') + c.granularity) * 1000000 AS int8)
                            ELSE 9223372036854775807 END AS hi,
                       CAST(extract(epoch FROM min(i.logged_at)) * 1000000 AS int8) AS since
                  FROM routed.invalidations i WHERE i.rollup_id = c.id GROUP BY 1, 2) g) p ON true
 WHERE c.source = $1
 ORDER BY c.name";

/// The source's rollups; empty when it has none (or the extension's catalog is unreadable).
pub fn rollups(source: u32) -> Vec<RollupFacts> {
    read(FACTS_SQL, &[pg_sys::Oid::from(source).into()], |rows| {
        (0..rows.len())
            .filter_map(|i| {
                let states = rows
                    .get::<String>(i, 5)
                    .and_then(|t| serde_json::from_str(&t).ok())
                    .and_then(|v| RollupDef::states_from_json(&v))?;
                let name: String = rows.get(i, 1)?;
                let readable = rows.get::<bool>(i, 7).unwrap_or(false);
                let row_security = rows.get::<bool>(i, 8).unwrap_or(true);
                let tree_changed = rows.get::<bool>(i, 13).unwrap_or(true);
                let blocked = if tree_changed {
                    Some("a partition of the source was attached or detached after this statement's snapshot".to_string())
                } else if row_security {
                    Some("the source has row security, which a rollup would bypass".to_string())
                } else if !readable {
                    Some(format!(
                        "no SELECT privilege on routed.{name} and its deltas"
                    ))
                } else {
                    None
                };
                let los: Vec<i64> = rows.get(i, 9).unwrap_or_default();
                let his: Vec<i64> = rows.get(i, 10).unwrap_or_default();
                let sinces: Vec<i64> = rows.get(i, 11).unwrap_or_default();
                let pending = los
                    .iter()
                    .zip(&his)
                    .zip(&sinces)
                    .map(|((lo, hi), since)| Pending {
                        lo_us: *lo,
                        hi_us: *hi,
                        since_us: *since,
                    })
                    .collect();
                Some(RollupFacts {
                    def: RollupDef {
                        name,
                        time_column: rows.get(i, 2)?,
                        width_secs: rows.get(i, 3)?,
                        dimensions: rows.get(i, 4).unwrap_or_default(),
                        states,
                    },
                    watermark_us: rows.get(i, 6),
                    pending,
                    blocked,
                    rows_per_base_row: rows.get(i, 12),
                })
            })
            .collect()
    })
}

/// The document's window as the server evaluates it now (None without a time range).
pub fn window(bound: &Bound) -> Option<Window> {
    let (sql, params) = window_sql(bound)?;
    let args = typed_args(&params);
    let wall_clock = bound
        .time
        .as_ref()
        .is_some_and(|t| t.kind != TimeKind::TimestampTz);
    read(&sql, &args, |rows| {
        let from_us = rows.get(0, 1);
        let to_us = rows.get(0, 2)?;
        Some(Window {
            from_us,
            to_us,
            now_us: rows.get(0, 3)?,
            calendar_boundaries_us: rows.get(0, 4),
            offset_secs: wall_clock
                .then(|| crate::pg::time::constant_utc_offset(from_us, to_us))
                .flatten(),
        })
    })
}
