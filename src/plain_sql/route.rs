//! The node's question to the router: the recipe's document with its values, answered as typed
//! rows through `answer`'s flow (cache, rollups, base), accepted only in the native plan's
//! exact output types.

use crate::answer::flow::answer_rows;
use crate::answer::typed::TypedRows;
use crate::pg::jsonb::JsonbDoc;
use pgrx::pg_sys;
use routed_core::plain::{document, Evaluated, Output, Recipe};

/// Rows the router answered, deformed one at a time.
pub struct Routed {
    pub rows: TypedRows,
    desc: pg_sys::TupleDesc,
    /// What EXPLAIN ANALYZE shows: source, rollups, cache.
    pub summary: String,
}

impl Routed {
    /// Row `i`'s values and NULL flags (by-reference values point into `self.rows`).
    pub fn deform(&self, i: usize) -> (Vec<pg_sys::Datum>, Vec<bool>) {
        let n = self.rows.types.len();
        let mut values = vec![pg_sys::Datum::from(0); n];
        let mut nulls = vec![true; n];
        let mut t = self.rows.tuple(i);
        // SAFETY: t is a tuple of the body's column types, which desc describes; the arrays
        // have one entry per column.
        unsafe {
            pg_sys::heap_deform_tuple(&mut t, self.desc, values.as_mut_ptr(), nulls.as_mut_ptr())
        };
        (values, nulls)
    }
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

/// The router's answer in the native plan's `types`, or why the native plan must answer.
pub fn route(
    recipe: &Recipe,
    values: &[Evaluated],
    types: &[pg_sys::Oid],
) -> Result<Routed, &'static str> {
    if let Some(why) = ruled_out() {
        return Err(why);
    }
    let doc = document(recipe, values, zone_offset())?;
    let fits = |t: &TypedRows| {
        recipe.outputs.iter().zip(types).all(|(o, ty)| match o {
            Output::Column(c) => t.types.get(*c) == Some(ty),
            Output::Bucket => t.types.first() == Some(&pg_sys::TIMESTAMPTZOID),
            Output::Junk => true,
        })
    };
    let (rows, summary) = answer_rows(
        &JsonbDoc::from_text(&doc),
        None,
        false,
        &|a| TypedRows::from_body(a.body).is_some_and(|t| fits(&t)),
        &|_| {},
        |a| {
            crate::answer::last_meta::remember(&a);
            let rollup = a
                .answer
                .rollup
                .map(|r| format!(" ({r})"))
                .unwrap_or_default();
            (
                TypedRows::from_body(a.answer.body),
                format!("{}{rollup}, cache {}", a.answer.source, a.outcome.name()),
            )
        },
    );
    let rows = rows
        .filter(fits)
        .ok_or("the router's types differ from the query's")?;
    let grouped = recipe.bucket.is_some() || !recipe.dimensions.is_empty();
    if !grouped && rows.len() != 1 {
        return Err("an ungrouped aggregate without its one row");
    }
    let desc = rows.descriptor();
    Ok(Routed {
        rows,
        desc,
        summary,
    })
}

/// What the router would do now (EXPLAIN without ANALYZE): decides, does not run.
pub fn candidate(recipe: &Recipe, values: &[Evaluated]) -> String {
    if let Some(why) = ruled_out() {
        return format!("native: {why}");
    }
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
