//! Where a document's names are found: the source's columns and the joined tables' (named
//! `table.column`), with the caller's privileges; the joins' own checks; filters.

use super::{BoundFilter, BoundJoin};
use crate::error::{show, Error, ErrorKind, Result};
use crate::model::{oid, Column, Relation};
use crate::names::did_you_mean;
use crate::query::{Filter, Join, Op};

/// `{table}.column` names a column of the joined `table` (the first join whose name and a dot
/// start it): its index and the column's name.
pub(crate) fn attribute_of<'t, 'n>(
    tables: impl Iterator<Item = &'t str>,
    name: &'n str,
) -> Option<(usize, &'n str)> {
    tables.enumerate().find_map(|(i, t)| {
        let rest = name.strip_prefix(t)?.strip_prefix('.')?;
        (!rest.is_empty()).then_some((i, rest))
    })
}

/// Where names are looked up: the source, and the joined tables under their names.
pub(super) struct Scope<'a> {
    pub(super) source: &'a Relation,
    pub(super) joins: Vec<(&'a str, &'a Relation)>,
}

impl<'a> Scope<'a> {
    /// A source column, or a joined table's (`rules.rule_name`); the join's index for those.
    pub(super) fn column(&self, name: &str, path: &str) -> Result<(&'a Column, Option<usize>)> {
        match attribute_of(self.joins.iter().map(|(n, _)| *n), name) {
            Some((j, col)) => Ok((column(self.joins[j].1, col, path)?, Some(j))),
            None => Ok((column(self.source, name, path)?, None)),
        }
    }
}

/// A join: its columns exist and may be read, each pair compares one base type, and the
/// table's side carries a primary key or unique index (so each fact matches at most one row).
pub(super) fn bind_join(
    i: usize,
    j: &Join,
    source: &Relation,
    table: &Relation,
) -> Result<BoundJoin> {
    let path = format!("join[{i}].on");
    for (s, t) in &j.on {
        let sc = column(source, s, &path)?;
        let tc = column(table, t, &format!("{path}.{s}"))?;
        if sc.base_oid != tc.base_oid {
            return Err(Error::new(
                ErrorKind::DatatypeMismatch,
                format!("{path}.{s}"),
                format!(
                    "{} is {} but {}.{} is {}; join columns must have the same type",
                    show(s),
                    sc.ty.name,
                    table.display(),
                    t,
                    tc.ty.name
                ),
            ));
        }
    }
    let on_table: Vec<&str> = j.on.iter().map(|(_, t)| t.as_str()).collect();
    let keyed = table
        .unique_keys
        .iter()
        .any(|k| k.iter().all(|c| on_table.contains(&c.as_str())));
    if !keyed {
        return Err(Error::invalid(
            path,
            format!(
                "{} has no primary key or unique index on ({}); a lookup join must match at most one row per fact",
                table.display(),
                on_table.join(", ")
            ),
        )
        .with_hint(format!(
            "add one: ALTER TABLE {} ADD PRIMARY KEY ({})",
            table.quoted(),
            on_table
                .iter()
                .map(|c| crate::names::quote_ident(c))
                .collect::<Vec<_>>()
                .join(", ")
        )));
    }
    if !matches!(table.kind, 'r' | 'p' | 'm' | 'f' | 'v') {
        return Err(Error::invalid(
            format!("join[{i}].table"),
            "expected a table, view or materialized view",
        ));
    }
    Ok(BoundJoin {
        name: j.table.clone(),
        relation: table.quoted(),
        relation_display: table.display(),
        oid: table.oid,
        on: j.on.clone(),
        left: j.left,
        tracked: table.tracked_whole,
    })
}

pub(super) fn column<'a>(rel: &'a Relation, name: &str, path: &str) -> Result<&'a Column> {
    let col = rel.column(name).ok_or_else(|| {
        let e = Error::new(
            ErrorKind::UndefinedColumn,
            path,
            format!("column {} does not exist in {}", show(name), rel.display()),
        );
        match did_you_mean(name, rel.columns.iter().map(|c| c.name.as_str())) {
            Some(h) => e.with_hint(h),
            None => e,
        }
    })?;
    if !col.selectable {
        return Err(no_privilege(rel, Some(name)));
    }
    Ok(col)
}

pub(super) fn no_privilege(rel: &Relation, column: Option<&str>) -> Error {
    let what = match column {
        Some(c) => format!("column {} of table {}", show(c), rel.display()),
        None => format!("table {}", rel.display()),
    };
    Error::new(
        ErrorKind::InsufficientPrivilege,
        "",
        format!("permission denied for {what}"),
    )
}

pub(super) fn bind_filters(
    filters: &[Filter],
    scope: &Scope<'_>,
    path: &str,
) -> Result<Vec<BoundFilter>> {
    filters
        .iter()
        .enumerate()
        .map(|(i, f)| {
            let (col, _) = scope.column(&f.column, &format!("{path}[{i}].column"))?;
            let comparable = !matches!(col.base_oid, oid::JSON | oid::XML | oid::POINT);
            if !comparable && !matches!(f.op, Op::IsNull | Op::IsNotNull) {
                return Err(Error::new(
                    ErrorKind::DatatypeMismatch,
                    format!("{path}[{i}].op"),
                    format!(
                        "column {} of type {} supports only \"is null\" and \"is not null\"",
                        show(&f.column),
                        col.ty.name
                    ),
                ));
            }
            let cast = match f.op {
                Op::IsNull | Op::IsNotNull => None,
                Op::In | Op::NotIn => Some(col.array_ty.clone().ok_or_else(|| {
                    Error::new(
                        ErrorKind::DatatypeMismatch,
                        format!("{path}[{i}].op"),
                        format!(
                            "column {} of type {} has no array type for \"{}\"",
                            show(&f.column),
                            col.ty.name,
                            f.op.name()
                        ),
                    )
                })?),
                _ => Some(col.ty.clone()),
            };
            Ok(BoundFilter {
                column: f.column.clone(),
                op: f.op,
                value: f.value.clone(),
                cast,
                path: f.path.clone(),
            })
        })
        .collect()
}
