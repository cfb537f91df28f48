//! Typed errors of the core. The extension maps `ErrorKind` to a SQLSTATE; every error names
//! the JSON path it is about and, where it helps, what would have been valid.

use std::fmt;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// 22023 invalid_parameter_value: the document itself is wrong.
    InvalidDocument,
    /// 42P01 undefined_table.
    UndefinedTable,
    /// 42703 undefined_column.
    UndefinedColumn,
    /// 42804 datatype_mismatch: a column's type does not fit its use.
    DatatypeMismatch,
    /// 42501 insufficient_privilege.
    InsufficientPrivilege,
}

impl ErrorKind {
    pub fn sqlstate(self) -> &'static str {
        match self {
            ErrorKind::InvalidDocument => "22023",
            ErrorKind::UndefinedTable => "42P01",
            ErrorKind::UndefinedColumn => "42703",
            ErrorKind::DatatypeMismatch => "42804",
            ErrorKind::InsufficientPrivilege => "42501",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Error {
    pub kind: ErrorKind,
    /// JSON path of the offending part (`measures[2].agg`); empty for the whole document.
    pub path: String,
    pub message: String,
    pub hint: Option<String>,
}

pub type Result<T> = std::result::Result<T, Error>;

impl Error {
    pub fn new(kind: ErrorKind, path: impl Into<String>, message: impl Into<String>) -> Self {
        Error {
            kind,
            path: path.into(),
            message: message.into(),
            hint: None,
        }
    }

    pub fn invalid(path: impl Into<String>, message: impl Into<String>) -> Self {
        Error::new(ErrorKind::InvalidDocument, path, message)
    }

    pub fn with_hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.path.is_empty() {
            write!(f, "{}", self.message)
        } else {
            write!(f, "{}: {}", self.path, self.message)
        }
    }
}

impl std::error::Error for Error {}

/// Shows a user-supplied string inside a message: quoted, control characters escaped and long
/// strings cut, so a hostile name cannot flood or garble the server log.
pub fn show(s: &str) -> String {
    const MAX: usize = 80;
    let mut out = String::from("\"");
    for (i, c) in s.chars().enumerate() {
        if i == MAX {
            out.push_str("...");
            break;
        }
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if c.is_control() => out.push_str(&c.escape_default().to_string()),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}
