//! Creating a rollup (`routed._create_rollup`): checks a rollup definition against its source, tracks the source
//! when needed, creates the empty rollup table and its index, and registers it. The
//! `routed.create_rollup` procedure (sql/rollups.sql) commits this, then backfills by refreshing.

use crate::catalog::load_relation;
use crate::catalog::relation_name;
use crate::error::{raise_with, OrRaise};
use crate::pg::jsonb::JsonbArg;
use pgrx::prelude::*;
use pgrx::PgSqlErrorCode;
use routed_core::query::MAX_IDENTIFIER_BYTES;
use routed_core::rollup::{check_dimensions, parse_states, RollupDef};

fn spi_error(what: &str, e: pgrx::spi::Error) -> ! {
    raise_with(
        PgSqlErrorCode::ERRCODE_INTERNAL_ERROR,
        format!("{what}: {e}"),
        None,
    )
}

fn invalid(message: String, hint: Option<String>) -> ! {
    raise_with(
        PgSqlErrorCode::ERRCODE_INVALID_PARAMETER_VALUE,
        message,
        hint,
    )
}

/// Checks the definition, creates the rollup's relations and registers it.
pub fn create(
    name: &str,
    source: pg_sys::Oid,
    granularity: Interval,
    dimensions: Vec<String>,
    measures: JsonbArg,
    refresh_interval: Interval,
    refresh_lag: Interval,
) {
    check_settings(name, granularity, refresh_interval, refresh_lag);
    let qualified = relation_name(source);
    let rel = load_relation(&qualified);
    let time_column = tracked_time_column(source, &rel);
    check_dimensions(&dimensions, &rel).or_raise();
    let measures_value: serde_json::Value = serde_json::from_str(&measures.0)
        .unwrap_or_else(|e| invalid(format!("measures: {e}"), None));
    let def = RollupDef {
        name: name.to_string(),
        time_column,
        width_secs: (granularity.as_micros() / 1_000_000) as i64,
        dimensions,
        states: parse_states(&measures_value, &rel).or_raise(),
    };
    Spi::connect_mut(|c| {
        let exists = !c
            .select("SELECT 1 FROM routed.rollup_catalog WHERE name = $1", None, &[name.into()])?
            .is_empty();
        if exists {
            raise_with(
                PgSqlErrorCode::ERRCODE_DUPLICATE_OBJECT,
                format!("rollup \"{name}\" already exists"),
                None,
            );
        }
        create_relations(c, &def, &qualified.quoted())?;
        c.update(
            "INSERT INTO routed.rollup_catalog (name, source, time_column, granularity, dimensions, \
             measures, states, refresh_interval, refresh_lag, delta_sql) \
             VALUES ($1, $2, $3, $4, $5, $6::jsonb, $7::jsonb, $8, $9, $10)",
            None,
            &[
                name.into(),
                source.into(),
                def.time_column.clone().into(),
                granularity.into(),
                def.dimensions.clone().into(),
                measures.0.clone().into(),
                def.states_json().to_string().into(),
                refresh_interval.into(),
                refresh_lag.into(),
                def.delta_insert_sql().into(),
            ],
        )?;
        Ok::<_, pgrx::spi::Error>(())
    })
    .unwrap_or_else(|e| spi_error("create_rollup failed", e));
}

/// The name, the bucket width and the refresh settings, before anything is read or written.
fn check_settings(
    name: &str,
    granularity: Interval,
    refresh_interval: Interval,
    refresh_lag: Interval,
) {
    if name.is_empty() || name.len() > MAX_IDENTIFIER_BYTES {
        invalid(
            format!("rollup name must be 1 to {MAX_IDENTIFIER_BYTES} bytes"),
            None,
        );
    }
    let width_us = granularity.as_micros();
    if granularity.months() != 0 || width_us <= 0 || width_us % 1_000_000 != 0 {
        invalid(
            format!("granularity must be a positive whole number of seconds, days at most, got {granularity}"),
            Some("rollups use fixed-width buckets ('1 hour', '5 minutes', '1 day'); calendar days, weeks and months are answered from them".into()),
        );
    }
    if refresh_interval.as_micros() <= 0 || refresh_lag.as_micros() < 0 {
        invalid(
            "refresh_interval must be positive and refresh_lag not negative".into(),
            None,
        );
    }
}

/// The empty rollup table and its deltas, each with its bucket index, and the rollup's
/// covering index (`RollupDef::covering_index_sql`).
fn create_relations(
    c: &mut pgrx::spi::SpiClient<'_>,
    def: &RollupDef,
    source: &str,
) -> Result<(), pgrx::spi::Error> {
    let table = def.relation();
    let from = format!("{source} AS s WHERE false");
    // sketches go out of line (TOAST), so queries of plain states scan narrow rows; autovacuum
    // after every 10,000 new rows keeps the visibility map current, so reads of recent buckets
    // stay index-only
    let mut ddl = vec![
        format!(
            "CREATE TABLE {table} WITH (toast_tuple_target = 128, \
             autovacuum_vacuum_insert_threshold = 10000, autovacuum_vacuum_insert_scale_factor = 0, \
             autovacuum_vacuum_scale_factor = 0.02, autovacuum_analyze_scale_factor = 0.02) AS {} WITH NO DATA",
            def.states_select(&from)
        ),
        format!("CREATE INDEX ON {table} (bucket)"),
        format!(
            "CREATE TABLE {} (LIKE {table}) WITH (toast_tuple_target = 128)",
            def.delta_relation()
        ),
        format!("CREATE INDEX ON {} (bucket)", def.delta_relation()),
    ];
    ddl.extend(def.covering_index_sql());
    for sql in ddl {
        c.update(sql.as_str(), None, &[])?;
    }
    Ok(())
}

/// The source's tracked time column (timestamptz, timestamp or date); tracks it first when it
/// has exactly one timestamptz column.
fn tracked_time_column(source: pg_sys::Oid, rel: &routed_core::model::Relation) -> String {
    let tracked = Spi::get_one_with_args::<String>(
        "SELECT time_column::text FROM routed.tracked WHERE source = $1",
        &[source.into()],
    )
    .ok()
    .flatten();
    if let Some(col) = tracked {
        return col;
    }
    let candidates: Vec<&str> = rel
        .columns
        .iter()
        .filter(|c| c.base_oid == routed_core::model::oid::TIMESTAMPTZ)
        .map(|c| c.name.as_str())
        .collect();
    let [col] = candidates[..] else {
        raise_with(
            PgSqlErrorCode::ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE,
            format!("{} is not tracked", rel.display()),
            Some(format!(
                "call routed.track('{}', '<time column>') first",
                rel.display()
            )),
        )
    };
    Spi::run_with_args(
        "SELECT routed._track($1, $2, false)",
        &[source.into(), col.into()],
    )
    .unwrap_or_else(|e| spi_error("tracking failed", e));
    col.to_string()
}

/// `create_rollup(..., from_rollup => finer)`: builds rollup `name` from rollup `finer` from
/// now on (run by the procedure before the backfill), once the finer one keeps what it needs.
pub fn set_from_rollup(name: &str, finer: &str) {
    Spi::connect_mut(|c| {
        let Some((rollup, _)) = super::loaded::read(c, name, true)? else {
            super::loaded::no_rollup(name)
        };
        let Some((from, _)) = super::loaded::read(c, finer, false)? else {
            raise_with(
                PgSqlErrorCode::ERRCODE_UNDEFINED_OBJECT,
                format!("from_rollup: rollup \"{finer}\" does not exist"),
                Some("routed.rollups lists the rollups".into()),
            )
        };
        let why = if from.source != rollup.source || from.source == pg_sys::InvalidOid {
            Err("it is not a rollup of the same source".to_string())
        } else {
            rollup.def.check_finer(&from.def)
        };
        if let Err(why) = why {
            invalid(
                format!("rollup \"{name}\" cannot be built from rollup \"{finer}\": {why}"),
                Some("from_rollup names a rollup of the same source whose granularity divides this one's and which keeps its dimensions and measures".into()),
            );
        }
        c.update(
            "UPDATE routed.rollup_catalog SET from_rollup = $2 WHERE name = $1",
            None,
            &[name.into(), finer.into()],
        )?;
        Ok::<_, pgrx::spi::Error>(())
    })
    .unwrap_or_else(|e| spi_error("create_rollup failed", e))
}
