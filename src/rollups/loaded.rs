//! A rollup's definition as the refresh reads it from `routed.rollup_catalog`, with the finer
//! rollup it is built from (`create_rollup(..., from_rollup => ...)`), if any.

use crate::error::raise_with;
use pgrx::datum::TimestampWithTimeZone;
use pgrx::prelude::*;
use pgrx::PgSqlErrorCode;
use routed_core::rollup::RollupDef;

pub(super) fn no_rollup(name: &str) -> ! {
    raise_with(
        PgSqlErrorCode::ERRCODE_UNDEFINED_OBJECT,
        format!("rollup \"{name}\" does not exist"),
        Some("routed.rollups lists the rollups".into()),
    )
}

pub struct Loaded {
    pub id: i32,
    pub source: pg_sys::Oid,
    pub def: RollupDef,
    pub watermark: Option<TimestampWithTimeZone>,
    /// The finer rollup this one is built from: its catalog id and definition.
    pub finer: Option<(i32, RollupDef)>,
}

// `to_jsonb(c)`: a catalog from before from_rollup existed (a new library on an old schema,
// until ALTER EXTENSION UPDATE) reads as built from none
const ROW_SQL: &str =
    "SELECT id, source::oid, time_column::text, extract(epoch FROM granularity)::int8,
        dimensions, states::text, watermark, to_jsonb(c) ->> 'from_rollup'
   FROM routed.rollup_catalog c WHERE name = $1";

/// The rollup `name`, its catalog row locked for this refresh step.
pub fn load(c: &mut pgrx::spi::SpiClient<'_>, name: &str) -> Result<Loaded, pgrx::spi::Error> {
    let Some((mut loaded, finer)) = read(c, name, true)? else {
        no_rollup(name)
    };
    // the finer rollup's row unlocked: its own refresh may run meanwhile, and every statement
    // of this step reads its rows and its watermark in one snapshot
    if let Some(finer) = finer {
        loaded.finer = read(c, &finer, false)?
            .filter(|(f, _)| f.source == loaded.source && loaded.def.check_finer(&f.def).is_ok())
            .map(|(f, _)| (f.id, f.def));
    }
    Ok(loaded)
}

pub(super) fn read(
    c: &mut pgrx::spi::SpiClient<'_>,
    name: &str,
    lock: bool,
) -> Result<Option<(Loaded, Option<String>)>, pgrx::spi::Error> {
    let sql = if lock {
        format!("{ROW_SQL} FOR UPDATE")
    } else {
        ROW_SQL.to_string()
    };
    let row = c.update(sql.as_str(), None, &[name.into()])?.first();
    if row.is_empty() {
        return Ok(None);
    }
    let states_text: String = row.get(6)?.unwrap_or_default();
    let states = serde_json::from_str(&states_text)
        .ok()
        .and_then(|v| RollupDef::states_from_json(&v))
        .unwrap_or_else(|| {
            raise_with(
                PgSqlErrorCode::ERRCODE_DATA_CORRUPTED,
                format!("rollup \"{name}\" has unreadable states in routed.rollup_catalog"),
                None,
            )
        });
    let loaded = Loaded {
        id: row.get(1)?.unwrap_or_default(),
        source: row.get(2)?.unwrap_or(pg_sys::InvalidOid),
        def: RollupDef {
            name: name.to_string(),
            time_column: row.get(3)?.unwrap_or_default(),
            width_secs: row.get(4)?.unwrap_or(1),
            dimensions: row.get(5)?.unwrap_or_default(),
            states,
        },
        watermark: row.get(7)?,
        finer: None,
    };
    Ok(Some((loaded, row.get(8)?)))
}

impl Loaded {
    /// Rows of this rollup's states for the buckets in `ranges` (a `tstzmultirange`
    /// expression): from the source rows `source_from(ranges)` names as `s`, or, for a rollup
    /// built from a finer one, from the finer rollup where it holds exactly the source's rows
    /// and from the source for the rest. Partial states when built from a finer rollup (the
    /// caller merges them).
    pub fn from_source_or_finer(
        &self,
        ranges: &str,
        source_from: impl Fn(&str) -> String,
    ) -> String {
        let Some((finer_id, finer)) = &self.finer else {
            return self.def.states_select(&source_from(ranges));
        };
        let covered = routed_core::rollup::finer_covered_sql(*finer_id, finer.width_secs);
        format!(
            "{} UNION ALL {}",
            self.def
                .states_select(&source_from(&format!("({ranges}) - {covered}"))),
            self.def
                .finer_states_select(finer, &format!("({ranges}) * {covered}"))
        )
    }
}
