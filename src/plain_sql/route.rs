//! The node's question to the router: the recipe's document with its values, answered through
//! `answer`'s flow (cache, rollups, base). The router's typed rows are shaped into the query's
//! own columns once, when computed (the node's `Shaper`), and kept so in the cache under the
//! query's shape: a hit hands back finished tuples.

use crate::answer::flow::{answer_rows, DocRef, RowsForm, PLAIN_PREFIX};
use crate::answer::typed::TypedRows;
use pgrx::pg_sys;
use routed_core::plain::{document, Evaluated, Recipe};

/// Turns the router's rows into the query's own (None when their types are not the ones the
/// native plan returns).
pub type Shaper<'a> = &'a dyn Fn(&TypedRows) -> Option<Vec<u8>>;

/// Rows of the query's own columns, with what EXPLAIN ANALYZE shows.
pub struct Routed {
    pub rows: TypedRows,
    pub summary: String,
}

/// The session TimeZone's UTC offset in seconds when it never changes (UTC, fixed offsets).
fn zone_offset() -> Option<i64> {
    let mut off: std::ffi::c_long = 0;
    // SAFETY: session_timezone is this backend's current zone; the call only reads it.
    unsafe { pg_sys::pg_get_timezone_offset(pg_sys::session_timezone, &mut off) }
        .then_some(off as i64)
}

/// Why this execution must not route, if it must not.
fn ruled_out() -> Option<&'static str> {
    if !crate::gucs::TRANSPARENT.get() {
        return Some("routed.transparent is off");
    }
    if crate::pg::fast::has_written() {
        return Some("this transaction has written");
    }
    if crate::pg::fast::isolation_level() >= pg_sys::XACT_SERIALIZABLE as i32 {
        return Some("SERIALIZABLE");
    }
    None
}

/// The answer in the native plan's `types` (the query's shape is `shape`, a digest of its
/// recipe and bucket expression), or why the native plan must answer.
pub fn route(
    recipe: &Recipe,
    values: &[Evaluated],
    types: &[pg_sys::Oid],
    shape: &str,
    shaper: Shaper,
) -> Result<Routed, &'static str> {
    if let Some(why) = ruled_out() {
        return Err(why);
    }
    in_bucket_zone(recipe, || route_here(recipe, values, types, shape, shaper))
}

/// Runs `f` in the TimeZone the query's bucket names (`date_trunc(unit, ts, zone)`): the
/// router's calendar buckets, its check of a rollup's grid and the cache key all follow the
/// session TimeZone. The bounds are instants already.
fn in_bucket_zone<T>(recipe: &Recipe, f: impl FnOnce() -> T) -> T {
    match recipe
        .bucket
        .as_ref()
        .and_then(|b| b.zone())
        .and_then(|z| std::ffi::CString::new(z).ok())
    {
        Some(zone) => crate::pg::time::in_time_zone(&zone, f),
        None => f(),
    }
}

fn route_here(
    recipe: &Recipe,
    values: &[Evaluated],
    types: &[pg_sys::Oid],
    shape: &str,
    shaper: Shaper,
) -> Result<Routed, &'static str> {
    let doc = document(recipe, values, zone_offset())?;
    let prefix = format!("{PLAIN_PREFIX}{shape}:");
    let ours = |body: &[u8]| {
        routed_core::cache::rows::types(body).is_some_and(|t| {
            t.len() == types.len() && t.iter().zip(types).all(|(a, b)| *a == b.to_u32())
        })
    };
    let reshape = |body: &[u8]| TypedRows::from_body(body).and_then(|t| shaper(&t));
    let form = RowsForm {
        prefix: &prefix,
        accept: &|a| ours(a.body),
        check: &|_| {},
        reshape: Some(&reshape),
    };
    let (rows, summary) = answer_rows(DocRef::Text(&doc), None, false, form, |a| {
        crate::answer::last_meta::remember(&a);
        let rollup = a
            .answer
            .rollup
            .map(|r| format!(" ({r})"))
            .unwrap_or_default();
        let rows = ours(a.answer.body)
            .then(|| TypedRows::from_body(a.answer.body))
            .flatten();
        (
            rows,
            format!("{}{rollup}, cache {}", a.answer.source, a.outcome.name()),
        )
    });
    let rows = rows.ok_or("the router's rows are not the query's types")?;
    Ok(Routed { rows, summary })
}

/// What the router would do now (EXPLAIN without ANALYZE): decides, does not run.
pub fn candidate(recipe: &Recipe, values: &[Evaluated]) -> String {
    if let Some(why) = ruled_out() {
        return format!("native: {why}");
    }
    in_bucket_zone(recipe, || candidate_here(recipe, values))
}

fn candidate_here(recipe: &Recipe, values: &[Evaluated]) -> String {
    let doc = match document(recipe, values, zone_offset()) {
        Ok(d) => d,
        Err(why) => return format!("native: {why}"),
    };
    let p = crate::answer::pipeline::plan_parsed(crate::answer::pipeline::parse(&doc, None));
    let rollups = if p.rollups.is_empty() {
        String::new()
    } else {
        format!(" ({})", p.rollups.join("+"))
    };
    format!(
        "{}{rollups}, {} segment(s)",
        p.plan.source,
        p.plan.segments.len()
    )
}
