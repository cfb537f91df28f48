//! The one place that turns a routed-core error into a PostgreSQL ERROR with its SQLSTATE.

use pgrx::pg_sys::panic::ErrorReport;
use pgrx::{PgLogLevel, PgSqlErrorCode};
use routed_core::{Error, ErrorKind};

pub fn code(kind: ErrorKind) -> PgSqlErrorCode {
    match kind {
        ErrorKind::InvalidDocument => PgSqlErrorCode::ERRCODE_INVALID_PARAMETER_VALUE,
        ErrorKind::UndefinedTable => PgSqlErrorCode::ERRCODE_UNDEFINED_TABLE,
        ErrorKind::UndefinedColumn => PgSqlErrorCode::ERRCODE_UNDEFINED_COLUMN,
        ErrorKind::DatatypeMismatch => PgSqlErrorCode::ERRCODE_DATATYPE_MISMATCH,
        ErrorKind::InsufficientPrivilege => PgSqlErrorCode::ERRCODE_INSUFFICIENT_PRIVILEGE,
    }
}

/// Raises `e` as an ERROR; never returns.
pub fn raise(e: Error) -> ! {
    raise_with(code(e.kind), e.to_string(), e.hint)
}

pub fn raise_with(code: PgSqlErrorCode, message: String, hint: Option<String>) -> ! {
    let mut report = ErrorReport::new(code, message, "routed");
    if let Some(h) = hint {
        report = report.set_hint(h);
    }
    report.report(PgLogLevel::ERROR);
    unreachable!("ERROR does not return")
}

/// Unwraps a core result or raises its error.
pub trait OrRaise<T> {
    fn or_raise(self) -> T;
}

impl<T> OrRaise<T> for Result<T, Error> {
    fn or_raise(self) -> T {
        self.unwrap_or_else(|e| raise(e))
    }
}
