//! The SQL surface: only `#[pg_extern]`s and the C-level `routed_rows`, each a thin wrapper.
//! It orchestrates `answer`, `rollups`, `cache` and `changes`; nothing calls back into it.
//! (Trigger and aggregate support functions live with their concern: `changes::capture`,
//! `rollups::sketch_aggs`.)

mod cache;
mod query;
mod rollups;
mod rows;

use crate::pg::jsonb::JsonbArg;
use pgrx::prelude::*;

fn staleness_micros(staleness: Option<Interval>) -> Option<i64> {
    staleness.map(|i| i.as_micros().clamp(i64::MIN as i128, i64::MAX as i128) as i64)
}

/// The document text; a NULL document is an error, not a NULL answer, so a dashboard
/// that lost its query hears about it.
fn document(query: Option<JsonbArg>) -> String {
    match query {
        Some(q) => q.0,
        None => crate::error::raise_with(
            pgrx::PgSqlErrorCode::ERRCODE_NULL_VALUE_NOT_ALLOWED,
            "query must not be NULL".into(),
            None,
        ),
    }
}
