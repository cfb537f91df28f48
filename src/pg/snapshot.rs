//! Read-only SPI in the calling statement's snapshot. The router's freshness facts (watermarks,
//! logged changes) and the answer's query must see the same snapshot, or a writer committing
//! between them could make a stale rollup bucket look exact. pgrx's `select` takes a new
//! snapshot per query once the transaction has written; SPI's `read_only` mode does not.
//! Each SQL text is planned once per backend and its plan kept.

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

/// How a kept plan is planned on each execution.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Planning {
    /// PostgreSQL's choice (generic after five custom plans): catalog reads.
    Default,
    /// Always with the actual values: answers, whose best plan depends on the window.
    Custom,
}

/// Kept plans are bounded; past this many the least recently prepared half is freed.
const MAX_KEPT: usize = 64;

struct Kept {
    key: (String, Vec<pg_sys::Oid>, bool),
    plan: pg_sys::SPIPlanPtr,
}

thread_local! {
    /// Plans of the SQL texts this backend read, kept across calls: parsing and analysing a
    /// statement costs more than running it over few rows. The plan cache revalidates them
    /// after catalog changes (and replans on a different search_path).
    static KEPT: std::cell::RefCell<Vec<Kept>> = const { std::cell::RefCell::new(Vec::new()) };
    /// Kept plans executing now (reads nest when a read's query calls a function that reads).
    static RUNNING: std::cell::Cell<u32> = const { std::cell::Cell::new(0) };
}

/// The kept plan of `sql` with these argument types, prepared on first use. SPI is connected.
fn kept(sql: &str, types: &mut [pg_sys::Oid], planning: Planning) -> pg_sys::SPIPlanPtr {
    let custom = planning == Planning::Custom;
    let found = KEPT.with_borrow(|k| {
        k.iter()
            .find(|e| e.key.0 == sql && e.key.1 == types && e.key.2 == custom)
            .map(|e| e.plan)
    });
    if let Some(plan) = found {
        return plan;
    }
    let c_sql = CString::new(sql).expect("generated SQL has no NUL");
    let options = if custom {
        pg_sys::CURSOR_OPT_CUSTOM_PLAN as i32
    } else {
        0
    };
    // SAFETY: SPI is connected; c_sql is NUL-terminated and types has one entry per parameter.
    let plan = unsafe {
        pg_sys::SPI_prepare_cursor(
            c_sql.as_ptr(),
            types.len() as i32,
            types.as_mut_ptr(),
            options,
        )
    };
    // SAFETY: plan is a new, non-NULL plan; keeping it moves it to a context that lives as long
    // as the backend (until SPI_freeplan).
    if plan.is_null() || unsafe { pg_sys::SPI_keepplan(plan) } != 0 {
        raise_with(
            PgSqlErrorCode::ERRCODE_INTERNAL_ERROR,
            "could not plan a read".into(),
            None,
        );
    }
    KEPT.with_borrow_mut(|k| {
        // free old plans only when none is running (a read inside a read must not free the
        // plan its caller executes)
        if k.len() >= MAX_KEPT && RUNNING.get() == 0 {
            for old in k.drain(..MAX_KEPT / 2) {
                // SAFETY: old.plan was kept by this function and is no longer referenced.
                unsafe { pg_sys::SPI_freeplan(old.plan) };
            }
        }
        k.push(Kept {
            key: (sql.to_string(), types.to_vec(), custom),
            plan,
        });
    });
    plan
}

/// Runs `sql` read-only in the current snapshot and hands its rows to `f`.
pub fn read<R>(sql: &str, args: &[DatumWithOid<'_>], f: impl FnOnce(&Rows) -> R) -> R {
    read_planned(sql, args, Planning::Default, f)
}

/// [`read`], planned as `planning` says.
pub fn read_planned<R>(
    sql: &str,
    args: &[DatumWithOid<'_>],
    planning: Planning,
    f: impl FnOnce(&Rows) -> R,
) -> R {
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
    // SAFETY: connect, execute a kept plan read-only (in the active snapshot), let the callback
    // read SPI_tuptable, then finish: SPI's documented sequence; values and nulls have one entry
    // per argument.
    unsafe {
        if pg_sys::SPI_connect() != pg_sys::SPI_OK_CONNECT as i32 {
            raise_with(
                PgSqlErrorCode::ERRCODE_INTERNAL_ERROR,
                "SPI_connect failed".into(),
                None,
            );
        }
        let plan = kept(sql, &mut types, planning);
        RUNNING.set(RUNNING.get() + 1);
        let rc = pgrx::PgTryBuilder::new(std::panic::AssertUnwindSafe(|| {
            pg_sys::SPI_execute_plan(plan, values.as_mut_ptr(), nulls.as_ptr(), true, 0)
        }))
        .finally(|| RUNNING.set(RUNNING.get() - 1))
        .execute();
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
