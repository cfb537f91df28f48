//! Read-only SPI in the calling statement's snapshot. The router's freshness facts (watermarks,
//! logged changes) and the answer's query must see the same snapshot, or a writer committing
//! between them could make a stale rollup bucket look exact. pgrx's `select` takes a new
//! snapshot per query once the transaction has written; SPI's `read_only` mode does not.

use crate::error::raise_with;
use pgrx::datum::DatumWithOid;
use pgrx::prelude::*;
use pgrx::PgSqlErrorCode;
use std::ffi::CString;

/// Result rows of one read, valid inside the closure given to [`read`].
pub struct Rows {
    table: *mut pg_sys::SPITupleTable,
    count: usize,
}

impl Rows {
    pub fn len(&self) -> usize {
        self.count
    }

    /// SPI's result table, for callers that copy tuples out whole.
    pub fn table(&self) -> *mut pg_sys::SPITupleTable {
        self.table
    }

    /// Column `col` (1-based) of row `row` (0-based); None when NULL.
    pub fn get<T: FromDatum>(&self, row: usize, col: i32) -> Option<T> {
        // SAFETY: self.table is SPI's tuptable of the query run by read(), valid until its
        // SPI_finish after the callback; row and col are bounds-checked by SPI_getbinval's caller.
        unsafe {
            let t = &*self.table;
            let tuple = *t.vals.add(row);
            let mut isnull = false;
            let datum = pg_sys::SPI_getbinval(tuple, t.tupdesc, col, &mut isnull);
            let typoid = pg_sys::SPI_gettypeid(t.tupdesc, col);
            T::from_polymorphic_datum(datum, isnull, typoid)
        }
    }
}

/// Runs `sql` read-only in the current snapshot and hands its rows to `f`.
pub fn read<R>(sql: &str, args: &[DatumWithOid<'_>], f: impl FnOnce(&Rows) -> R) -> R {
    let c_sql = CString::new(sql).expect("generated SQL has no NUL");
    let mut types: Vec<pg_sys::Oid> = args.iter().map(|a| a.oid()).collect();
    let mut values: Vec<pg_sys::Datum> = args
        .iter()
        .map(|a| {
            a.datum()
                .map_or(pg_sys::Datum::from(0usize), |d| d.sans_lifetime())
        })
        .collect();
    let nulls: Vec<std::ffi::c_char> = args
        .iter()
        .map(|a| if a.datum().is_some() { b' ' } else { b'n' } as std::ffi::c_char)
        .collect();
    // SAFETY: connect, execute in the active snapshot, let the callback read SPI_tuptable, then
    // finish: SPI's documented sequence; sql is NUL-terminated, types and nulls have one entry per
    // argument.
    unsafe {
        if pg_sys::SPI_connect() != pg_sys::SPI_OK_CONNECT as i32 {
            raise_with(
                PgSqlErrorCode::ERRCODE_INTERNAL_ERROR,
                "SPI_connect failed".into(),
                None,
            );
        }
        let rc = pg_sys::SPI_execute_with_args(
            c_sql.as_ptr(),
            args.len() as i32,
            types.as_mut_ptr(),
            values.as_mut_ptr(),
            nulls.as_ptr(),
            true,
            0,
        );
        if rc != pg_sys::SPI_OK_SELECT as i32 {
            raise_with(
                PgSqlErrorCode::ERRCODE_INTERNAL_ERROR,
                format!("read failed ({rc})"),
                None,
            );
        }
        let rows = Rows {
            table: pg_sys::SPI_tuptable,
            count: pg_sys::SPI_processed as usize,
        };
        let out = f(&rows);
        pg_sys::SPI_finish();
        out
    }
}
