//! `create_rollup(..., from_rollup => 'finer')`: records that a new rollup is backfilled and
//! refreshed from a finer rollup of the same source (`routed._set_from_rollup`, run by the
//! procedure before the backfill), after checking that the finer one keeps what it needs.

use super::loaded::read;
use crate::error::raise_with;
use pgrx::prelude::*;
use pgrx::PgSqlErrorCode;

fn spi_error(e: pgrx::spi::Error) -> ! {
    raise_with(
        PgSqlErrorCode::ERRCODE_INTERNAL_ERROR,
        format!("create_rollup failed: {e}"),
        None,
    )
}

/// Builds rollup `name` from rollup `finer` from now on.
pub fn set(name: &str, finer: &str) {
    Spi::connect_mut(|c| {
        let Some((rollup, _)) = read(c, name, true)? else {
            super::loaded::no_rollup(name)
        };
        let Some((from, _)) = read(c, finer, false)? else {
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
            raise_with(
                PgSqlErrorCode::ERRCODE_INVALID_PARAMETER_VALUE,
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
    .unwrap_or_else(|e| spi_error(e))
}
