//! Incremental refresh, in bounded steps (each its own transaction, driven by the
//! `routed.refresh_rollup` procedure or the background worker):
//!
//! * `_refresh_begin` raises the rollup's threshold to the new watermark target and commits, so
//!   writers from then on log changes below it;
//! * each `_refresh_step` recomputes the buckets of a batch of logged changes, merges a batch of
//!   inserted rows' deltas into their buckets, and, after waiting for transactions already
//!   writing to the source (they may have read the old threshold), materializes the next chunk
//!   above the watermark. Each of these is one statement, so it reads one snapshot.
//!
//! Nothing here locks the source against writers: waiting for current writers (as CREATE INDEX
//! CONCURRENTLY does) lets new ones proceed.

use super::loaded::{load, no_rollup, Loaded};
use crate::error::raise_with;
use pgrx::datum::TimestampWithTimeZone;
use pgrx::prelude::*;
use pgrx::PgSqlErrorCode;

/// Logged changes consumed per step.
const LOG_BATCH: i64 = 10_000;
/// Width of one backfill step, at least one bucket.
const CHUNK_SECS: i64 = 86_400;

fn spi_error(e: pgrx::spi::Error) -> ! {
    raise_with(
        PgSqlErrorCode::ERRCODE_INTERNAL_ERROR,
        format!("refresh failed: {e}"),
        None,
    )
}

/// A rollup whose source a restore did not bring back (routed._resolve_source).
fn unused_rollup(name: &str) -> ! {
    raise_with(
        PgSqlErrorCode::ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE,
        format!("rollup \"{name}\" is unused: its source was not restored"),
        Some(format!(
            "Drop it with SELECT routed.drop_rollup('{}') and create it again on a restored source.",
            name.replace('\'', "''")
        )),
    )
}

/// Raises the threshold to the watermark this refresh will reach; returns that target.
/// Writers cache thresholds: the relcache invalidation of the source (sent at commit)
/// makes each of them read it again when it next locks the source.
pub fn begin(name: &str, upto: Option<TimestampWithTimeZone>) -> TimestampWithTimeZone {
    let (target, source) = Spi::get_two_with_args::<TimestampWithTimeZone, pg_sys::Oid>(
        "UPDATE routed.rollup_catalog c SET threshold = greatest(c.threshold, t.target)
           FROM (SELECT id, least(now() - refresh_lag, coalesce($2, 'infinity')) AS target
                   FROM routed.rollup_catalog WHERE name = $1) t
          WHERE c.id = t.id RETURNING t.target, c.source::oid",
        &[name.into(), upto.into()],
    )
    .unwrap_or_else(|e| match e {
        pgrx::spi::Error::InvalidPosition => no_rollup(name),
        e => spi_error(e),
    });
    let Some(target) = target else {
        no_rollup(name)
    };
    let Some(source) = source else {
        unused_rollup(name)
    };
    // SAFETY: source is a relation oid read from the catalog; the invalidation is sent at commit.
    unsafe { pg_sys::CacheInvalidateRelcacheByRelid(source) };
    target
}

/// Waits until every transaction that holds a write lock on the source now has finished,
/// without keeping new writers out.
fn wait_for_writers(source: pg_sys::Oid) {
    // writers aimed at a partition lock only the partition
    for rel in crate::pg::partitions::partition_tree(source) {
        let tag = pg_sys::LOCKTAG {
            locktag_field1: crate::pg::fast::database_id().into(),
            locktag_field2: rel.into(),
            locktag_field3: 0,
            locktag_field4: 0,
            locktag_type: pg_sys::LockTagType::LOCKTAG_RELATION as u8,
            locktag_lockmethodid: pg_sys::DEFAULT_LOCKMETHOD as u8,
        };
        // SAFETY: tag names a relation of the source's tree in this database; WaitForLockers
        // only waits (it may raise on cancel).
        unsafe { pg_sys::WaitForLockers(tag, pg_sys::ShareLock as pg_sys::LOCKMODE, false) };
    }
}

/// The SQL names one rollup's refresh statements are built from.
struct Names {
    source: String,
    table: String,
    delta: String,
    col: String,
    width: String,
}

const EPOCH: &str = "TIMESTAMPTZ '1970-01-01 00:00:00+00'";

impl Names {
    fn of(r: &Loaded) -> Names {
        Names {
            source: crate::catalog::relation_name(r.source).quoted(),
            table: r.def.relation(),
            delta: r.def.delta_relation(),
            col: routed_core::names::quote_ident(&r.def.time_column),
            width: format!("INTERVAL '{} seconds'", r.def.width_secs),
        }
    }
}

/// One bounded step; true while work remains.
pub fn step(
    name: &str,
    from: Option<TimestampWithTimeZone>,
    to: Option<TimestampWithTimeZone>,
    target: TimestampWithTimeZone,
) -> bool {
    if crate::pg::fast::isolation_level() >= pg_sys::XACT_REPEATABLE_READ as i32 {
        raise_with(
            PgSqlErrorCode::ERRCODE_ACTIVE_SQL_TRANSACTION,
            "refresh_rollup must run at READ COMMITTED isolation".into(),
            Some("its steps must see rows committed while it waits for writers".into()),
        );
    }
    Spi::connect_mut(|c| {
        let r = load(c, name)?;
        let n = Names::of(&r);
        let tree = super::tree_guard::settled_tree(c, r.source, &n.source)?;
        let (consumed, merged, logged_rows) = apply_logged(c, &r, &n, from, to)?;
        let (watermark, advanced_rows) = advance(c, &r, &n, target)?;
        super::tree_guard::check(tree, r.source, &n.source, name);
        c.update(
            "UPDATE routed.rollup_catalog SET watermark = $2, row_count = row_count + $3 WHERE id = $1",
            None,
            &[r.id.into(), watermark.into(), (logged_rows + advanced_rows).into()],
        )?;
        Ok::<_, pgrx::spi::Error>(
            consumed >= LOG_BATCH || merged >= LOG_BATCH || watermark.is_some_and(|w| w < target),
        )
    })
    .unwrap_or_else(|e| spi_error(e))
}

/// Step 1: a batch of logged changes and deltas below the watermark's bucket, in one statement
/// so that all of it reads one snapshot: the buckets of logged changes are recomputed from the
/// source up to the watermark (all their deltas dropped, the partial bucket's too: the recompute
/// sees those rows), other deltas are merged into the rollup rows of their bucket and dimensions
/// (the partial bucket's stay deltas until it is whole). Returns (changes consumed, deltas
/// merged, change in the rollup's row count).
fn apply_logged(
    c: &mut pgrx::spi::SpiClient<'_>,
    r: &Loaded,
    n: &Names,
    from: Option<TimestampWithTimeZone>,
    to: Option<TimestampWithTimeZone>,
) -> Result<(i64, i64, i64), pgrx::spi::Error> {
    let Names {
        source,
        table,
        delta,
        col,
        width,
    } = n;
    // the logged buckets, from the source, or from the finer rollup where it is exact
    let recomputed = r.from_source_or_finer("(SELECT m FROM ranges)", |ranges| {
        format!(
            "unnest({ranges}) AS x(range) JOIN {source} AS s \
             ON s.{col} >= lower(x.range) AND s.{col} < upper(x.range)"
        )
    });
    let sql = format!(
        "WITH log AS (
           DELETE FROM routed.invalidations i WHERE i.ctid = ANY(ARRAY(
             SELECT ctid FROM routed.invalidations WHERE rollup_id = $1
                AND ($2::timestamptz IS NULL OR hi >= $2) AND ($3::timestamptz IS NULL OR lo < $3)
              LIMIT {LOG_BATCH}))
           RETURNING i.lo, i.hi),
         ranges AS (
           SELECT coalesce(range_agg(tstzrange(
                    CASE WHEN isfinite(lo) THEN date_bin({width}, lo, {EPOCH}) ELSE lo END,
                    CASE WHEN isfinite(hi) THEN date_bin({width}, hi, {EPOCH}) + {width} ELSE hi END)),
                    '{{}}'::tstzmultirange)
                  * tstzmultirange(tstzrange('-infinity', coalesce($4, '-infinity'))) AS m
             FROM log),
         deltas AS (
           DELETE FROM {delta} d USING ranges
            WHERE ranges.m @> d.bucket
               OR d.ctid = ANY(ARRAY(
                    SELECT ctid FROM {delta} WHERE bucket < coalesce(date_bin({width}, $4, {EPOCH}), '-infinity')
                     LIMIT {LOG_BATCH}))
           RETURNING d.*),
         keys AS (SELECT DISTINCT {key_cols} FROM deltas d, ranges WHERE NOT ranges.m @> d.bucket),
         dropped AS (DELETE FROM {table} r USING ranges WHERE ranges.m @> r.bucket RETURNING 1),
         old AS (
           DELETE FROM {table} r USING keys k, ranges
            WHERE r.bucket = k.bucket AND NOT ranges.m @> r.bucket{key_match}
           RETURNING r.*),
         partial AS (
           SELECT * FROM old
           UNION ALL SELECT d.* FROM deltas d, ranges WHERE NOT ranges.m @> d.bucket
           UNION ALL {recomputed}),
         written AS (INSERT INTO {table} {merged} RETURNING 1)
       SELECT (SELECT count(*) FROM log), (SELECT count(*) FROM deltas),
              (SELECT count(*) FROM written) - (SELECT count(*) FROM old) - (SELECT count(*) FROM dropped)",
        key_cols = std::iter::once("d.bucket".to_string())
            .chain(r.def.dimensions.iter().map(|d| format!("d.{}", routed_core::names::quote_ident(d))))
            .collect::<Vec<_>>()
            .join(", "),
        key_match = r
            .def
            .dimensions
            .iter()
            .map(|d| {
                let d = routed_core::names::quote_ident(d);
                format!(" AND r.{d} IS NOT DISTINCT FROM k.{d}")
            })
            .collect::<String>(),
        merged = r.def.merge_select("partial"),
    );
    let counts = c
        .update(
            sql.as_str(),
            None,
            &[r.id.into(), from.into(), to.into(), r.watermark.into()],
        )?
        .first();
    Ok((
        counts.get(1)?.unwrap_or(0),
        counts.get(2)?.unwrap_or(0),
        counts.get(3)?.unwrap_or(0),
    ))
}

/// Step 2, above the watermark: whole buckets one chunk at a time into the rollup, then the
/// partial bucket up to the target (the head) into the deltas, so answers read the base table
/// only for rows newer than the last refresh. Each statement replaces what the rollup and its
/// deltas held for its range, so it reads one snapshot. Writers that read the old threshold
/// logged nothing for rows between it and the new one: wait for them first, so that these
/// snapshots see their rows. (Below the watermark every change was logged either way, so step 1
/// needs no wait.) Returns the new watermark and the change in the rollup's row count.
fn advance(
    c: &mut pgrx::spi::SpiClient<'_>,
    r: &Loaded,
    n: &Names,
    target: TimestampWithTimeZone,
) -> Result<(Option<TimestampWithTimeZone>, i64), pgrx::spi::Error> {
    let Names {
        source,
        table,
        delta,
        col,
        width,
    } = n;
    let (floor_w, floor_t): (Option<TimestampWithTimeZone>, Option<TimestampWithTimeZone>) = c
        .select(
            format!("SELECT date_bin({width}, $1, {EPOCH}), date_bin({width}, $2, {EPOCH})")
                .as_str(),
            None,
            &[r.watermark.into(), target.into()],
        )?
        .first()
        .get_two()?;
    let floor_t = floor_t.unwrap_or(target);
    let from_sql = format!("{source} AS s WHERE s.{col} >= $1 AND s.{col} < $2");
    let chunk = if r.finer.is_some() {
        let parts = r.from_source_or_finer("tstzmultirange(tstzrange($1, $2))", |ranges| {
            format!(
                "unnest({ranges}) AS x(range) JOIN {source} AS s \
                 ON s.{col} >= lower(x.range) AND s.{col} < upper(x.range)"
            )
        });
        r.def.merge_select(&format!("({parts})"))
    } else {
        r.def.states_select(&from_sql)
    };
    if floor_w.is_none_or(|f| f < floor_t) {
        wait_for_writers(r.source);
        let (start, end) = next_chunk(c, r, n, floor_w, floor_t)?;
        let sql = format!(
            "WITH gone AS (DELETE FROM {table} WHERE bucket >= $1 AND bucket < $2 RETURNING 1),
                  gone_deltas AS (DELETE FROM {delta} WHERE bucket >= $1 AND bucket < $2 RETURNING 1),
                  written AS (INSERT INTO {table} {chunk} RETURNING 1)
             SELECT (SELECT count(*) FROM written) - (SELECT count(*) FROM gone),
                    (SELECT count(*) FROM gone_deltas)"
        );
        let rows = c
            .update(sql.as_str(), None, &[start.into(), end.into()])?
            .first()
            .get_one::<i64>()?;
        if end > start {
            pgrx::notice!("rollup \"{}\": materialized {start} to {end}", r.def.name);
        }
        return Ok((Some(end), rows.unwrap_or(0)));
    }
    if let Some(w) = r.watermark.filter(|w| *w < target) {
        // the partial bucket grows: append the states of rows since the last refresh (a writer
        // logs, rather than adds deltas for, rows between the watermark and the threshold, so
        // nothing here is counted twice)
        wait_for_writers(r.source);
        let sql = format!("INSERT INTO {delta} {}", r.def.states_select(&from_sql));
        c.update(sql.as_str(), None, &[w.into(), target.into()])?;
        return Ok((Some(target), 0));
    }
    Ok((r.watermark, 0))
}

/// The next chunk to materialize above the watermark: one chunk of whole buckets from the
/// watermark (or the first row), or up to the next row when the source has a gap.
fn next_chunk(
    c: &mut pgrx::spi::SpiClient<'_>,
    r: &Loaded,
    n: &Names,
    floor_w: Option<TimestampWithTimeZone>,
    floor_t: TimestampWithTimeZone,
) -> Result<(TimestampWithTimeZone, TimestampWithTimeZone), pgrx::spi::Error> {
    let Names {
        source, col, width, ..
    } = n;
    let first: Option<TimestampWithTimeZone> = c
        .select(
            format!(
                "SELECT date_bin({width}, min(s.{col}), {EPOCH}) FROM {source} AS s
                  WHERE s.{col} >= coalesce($1, '-infinity') AND s.{col} < $2"
            )
            .as_str(),
            None,
            &[floor_w.into(), floor_t.into()],
        )?
        .first()
        .get_one()?;
    let start = floor_w.or(first).unwrap_or(floor_t);
    let w = r.def.width_secs;
    let chunk = w * ((CHUNK_SECS + w - 1) / w);
    let end: TimestampWithTimeZone = c
        .select(
            "SELECT least(greatest($1 + make_interval(secs => $2), coalesce($3, $4)), $4)",
            None,
            &[
                start.into(),
                (chunk as f64).into(),
                first.into(),
                floor_t.into(),
            ],
        )?
        .first()
        .get_one()?
        .unwrap_or(floor_t);
    Ok((start, end))
}
