//! Runs generated SQL through SPI, read-only, with every value as a bound parameter of its own
//! type (see `pg::params`: a bad value is reported at its JSON path).

use crate::pg::params::typed_args;
use crate::pg::snapshot::{read_planned, Planning};
use routed_core::codegen::Generated;

/// Runs the JSON form of the query in the statement's snapshot (the one the router's freshness
/// facts were read in); returns the rows as JSON text (an array of arrays).
pub fn rows_json(generated: &Generated) -> String {
    let args = typed_args(&generated.params);
    read_planned(&generated.json_sql, &args, Planning::Custom, |rows| {
        rows.get::<String>(0, 1)
    })
    .unwrap_or_else(|| "[]".into())
}
