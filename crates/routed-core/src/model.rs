//! Catalog facts the extension loads for one query: the relation, its columns with their types
//! and the caller's privileges. Plain data, so binding and routing are testable without a server.

use crate::names::quote_ident;

/// Built-in type OIDs the core reasons about (stable across PostgreSQL versions).
pub mod oid {
    pub const BOOL: u32 = 16;
    pub const INT8: u32 = 20;
    pub const INT2: u32 = 21;
    pub const INT4: u32 = 23;
    pub const TEXT: u32 = 25;
    pub const JSON: u32 = 114;
    pub const XML: u32 = 142;
    pub const POINT: u32 = 600;
    pub const FLOAT4: u32 = 700;
    pub const FLOAT8: u32 = 701;
    pub const MONEY: u32 = 790;
    pub const BPCHAR: u32 = 1042;
    pub const VARCHAR: u32 = 1043;
    pub const DATE: u32 = 1082;
    pub const TIMESTAMP: u32 = 1114;
    pub const TIMESTAMPTZ: u32 = 1184;
    pub const INTERVAL: u32 = 1186;
    pub const NUMERIC: u32 = 1700;
}

/// A type as the catalog names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SqlType {
    pub oid: u32,
    pub schema: String,
    pub name: String,
}

impl SqlType {
    pub fn builtin(oid: u32, name: &str) -> SqlType {
        SqlType {
            oid,
            schema: "pg_catalog".into(),
            name: name.into(),
        }
    }

    /// Schema-qualified and quoted, without a type modifier, so a cast never truncates
    /// (`"pg_catalog"."bpchar"`, not `character`, which means char(1)).
    pub fn sql(&self) -> String {
        format!("{}.{}", quote_ident(&self.schema), quote_ident(&self.name))
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Column {
    pub name: String,
    pub ty: SqlType,
    /// The type's array type, for `in` lists; None when the type has none.
    pub array_ty: Option<SqlType>,
    /// The base type's OID (the type itself unless it is a domain).
    pub base_oid: u32,
    /// Whether the caller may SELECT this column (table or column privilege).
    pub selectable: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Relation {
    pub oid: u32,
    pub schema: String,
    pub name: String,
    /// pg_class.relkind: r, p, v, m, f.
    pub kind: char,
    pub columns: Vec<Column>,
    /// Whether the caller may SELECT the whole table (needed for `count(*)` without columns).
    pub table_selectable: bool,
    /// The time column `routed.track` recorded, used when a document names none.
    pub tracked_time_column: Option<String>,
    /// Column sets of its primary key and unique indexes (plain columns, no predicate).
    pub unique_keys: Vec<Vec<String>>,
    /// Tracked as a whole (`routed.track(table)`): every change is published as a change of
    /// all of it, so answers that join it can stay exact.
    pub tracked_whole: bool,
}

impl Relation {
    pub fn column(&self, name: &str) -> Option<&Column> {
        self.columns.iter().find(|c| c.name == name)
    }

    pub fn quoted(&self) -> String {
        format!("{}.{}", quote_ident(&self.schema), quote_ident(&self.name))
    }

    pub fn display(&self) -> String {
        format!("{}.{}", self.schema, self.name)
    }
}

/// One column of an answer: its name and PostgreSQL's type for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutputColumn {
    pub name: String,
    /// pg_type.typname of the result (`int8`, `numeric`, `timestamptz`...).
    pub type_name: String,
    pub type_oid: u32,
}
