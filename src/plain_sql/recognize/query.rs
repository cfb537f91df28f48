//! The query as a whole: its shape, its one source, then each target, condition, group and
//! sort key through the parts in `recognize`.

use super::super::nodes::{list, node_tag, text, value_expr};
use super::{bucket, clause, conjuncts, measure, Clause, Ctx, Decline, Recognized};
use pgrx::pg_sys::{self, NodeTag};
use routed_core::names::QualifiedName;
use routed_core::plain::{measure_name, Output, Recipe};

/// The shape PostgreSQL's own plan must keep: anything but one plain aggregate query.
unsafe fn shape(q: *mut pg_sys::Query, cursor_options: i32) -> Result<(), Decline> {
    // SAFETY: q is the query being planned.
    unsafe {
        let q = &*q;
        if q.commandType != pg_sys::CmdType::CMD_SELECT
            || !q.utilityStmt.is_null()
            || q.querySource != pg_sys::QuerySource::QSRC_ORIGINAL
        {
            return Err("not a SELECT");
        }
        if !q.hasAggs {
            return Err("not an aggregate");
        }
        if q.hasWindowFuncs
            || q.hasTargetSRFs
            || q.hasSubLinks
            || q.hasDistinctOn
            || q.hasRecursive
            || q.hasModifyingCTE
            || q.hasForUpdate
            || q.hasRowSecurity
            || !q.cteList.is_null()
            || !q.rowMarks.is_null()
            || !q.setOperations.is_null()
            || !q.groupingSets.is_null()
            || !q.havingQual.is_null()
            || !q.distinctClause.is_null()
            || !q.windowClause.is_null()
            || !q.limitOffset.is_null()
            || q.groupDistinct
        {
            return Err("a clause the router does not answer");
        }
        if q.limitOption == pg_sys::LimitOption::LIMIT_OPTION_WITH_TIES {
            return Err("FETCH ... WITH TIES");
        }
        if cursor_options & pg_sys::CURSOR_OPT_SCROLL as i32 != 0 {
            return Err("a scrollable cursor");
        }
        Ok(())
    }
}

/// The one relation the query reads (directly, or through a subquery of its plain columns),
/// with PostgreSQL 18's RTE_GROUP beside it.
#[allow(clippy::type_complexity)]
unsafe fn source(
    q: *mut pg_sys::Query,
) -> Result<
    (
        u32,
        pg_sys::Oid,
        Option<(u32, *mut pg_sys::List)>,
        Option<Vec<i16>>,
    ),
    Decline,
> {
    // SAFETY: q is the query being planned; its range table entries are read only.
    unsafe {
        let mut rel = None;
        #[allow(unused_mut)]
        let mut group = None;
        for (i, rte) in list::<pg_sys::RangeTblEntry>((*q).rtable)
            .into_iter()
            .enumerate()
        {
            let index = i as u32 + 1;
            match (*rte).rtekind {
                pg_sys::RTEKind::RTE_RELATION | pg_sys::RTEKind::RTE_SUBQUERY if rel.is_none() => {
                    rel = Some((index, rte))
                }
                #[cfg(feature = "pg18")]
                pg_sys::RTEKind::RTE_GROUP => group = Some((index, (*rte).groupexprs)),
                _ => return Err("more than one relation"),
            }
        }
        let (index, rte) = rel.ok_or("no relation")?;
        let only_ref = |jointree: *mut pg_sys::FromExpr, index: u32| {
            let from = list::<pg_sys::Node>((*jointree).fromlist);
            matches!(from.as_slice(), [only] if node_tag(*only) == NodeTag::T_RangeTblRef
                && (*(*only as *mut pg_sys::RangeTblRef)).rtindex as u32 == index)
        };
        if !only_ref((*q).jointree, index) {
            return Err("a join");
        }
        let (table, sub) = if (*rte).rtekind == pg_sys::RTEKind::RTE_SUBQUERY {
            let sq = (*rte).subquery;
            let tables = list::<pg_sys::RangeTblEntry>((*sq).rtable);
            let plain = (*sq).commandType == pg_sys::CmdType::CMD_SELECT
                && !(*sq).hasAggs
                && !(*sq).hasWindowFuncs
                && !(*sq).hasTargetSRFs
                && !(*sq).hasSubLinks
                && !(*sq).hasRowSecurity
                && (*sq).cteList.is_null()
                && (*sq).groupClause.is_null()
                && (*sq).distinctClause.is_null()
                && (*sq).sortClause.is_null()
                && (*sq).limitCount.is_null()
                && (*sq).limitOffset.is_null()
                && (*sq).setOperations.is_null()
                && (*sq).rowMarks.is_null()
                && (*(*sq).jointree).quals.is_null()
                && tables.len() == 1
                && (*tables[0]).rtekind == pg_sys::RTEKind::RTE_RELATION
                && only_ref((*sq).jointree, 1);
            if !plain {
                return Err("a subquery that is not a projection of one table");
            }
            let mut map = Vec::new();
            for t in list::<pg_sys::TargetEntry>((*sq).targetList) {
                let e = (*t).expr as *mut pg_sys::Node;
                if node_tag(e) != NodeTag::T_Var
                    || (*(e as *mut pg_sys::Var)).varno != 1
                    || (*(e as *mut pg_sys::Var)).varattno <= 0
                {
                    return Err("a subquery with computed columns");
                }
                map.push((*(e as *mut pg_sys::Var)).varattno);
            }
            (tables[0], Some(map))
        } else {
            (rte, None)
        };
        let kind = (*table).relkind as u8;
        if !(*table).inh || !(*table).tablesample.is_null() || !(kind == b'r' || kind == b'p') {
            return Err("ONLY, TABLESAMPLE, or not a table");
        }
        Ok((index, (*table).relid, group, sub))
    }
}

/// The source's tracked time column (only tracked sources route), with its schema-qualified name.
fn tracked(relid: pg_sys::Oid) -> Option<(QualifiedName, String)> {
    // SAFETY: syscache lookups of a relation the planner has locked.
    let name = unsafe {
        QualifiedName {
            schema: text(pg_sys::get_namespace_name(pg_sys::get_rel_namespace(relid))),
            name: text(pg_sys::get_rel_name(relid))?,
        }
    };
    let rel = crate::catalog::load_relation(&name);
    (rel.oid == relid.to_u32())
        .then_some(())
        .and(rel.tracked_time_column.map(|t| (name, t)))
}

/// The recipe of `q`, or why PostgreSQL's own plan must answer it.
///
/// # Safety
/// `q` is the query being planned, before the planner has seen it.
pub unsafe fn recognize(
    q: *mut pg_sys::Query,
    cursor_options: i32,
    exact: bool,
) -> Result<Recognized, Decline> {
    // SAFETY: q is the query being planned; everything below reads it (and copies what it keeps).
    unsafe {
        shape(q, cursor_options)?;
        let (rtindex, relid, group_rte, sub) = source(q)?;
        let (name, time_column) = tracked(relid).ok_or("the source is not tracked")?;
        let time_name = std::ffi::CString::new(time_column.clone()).map_err(|_| "a bad name")?;
        let time_attno = pg_sys::get_attnum(relid, time_name.as_ptr());
        if time_attno <= 0 || pg_sys::get_atttype(relid, time_attno) != pg_sys::TIMESTAMPTZOID {
            return Err("a time column that is not timestamptz");
        }
        let mut cx = Ctx {
            rtindex,
            relid,
            time_attno,
            sub,
            time_var: std::cell::Cell::new(0),
            group_rte,
            exprs: Vec::new(),
        };
        let mut recipe = Recipe {
            source: name.quoted(),
            time_column,
            exact,
            ..Default::default()
        };

        let mut parts = Vec::new();
        conjuncts((*(*q).jointree).quals, &mut parts);
        for p in parts {
            match clause(&mut cx, p, true)? {
                Clause::Lower(b) => recipe.lower.push(b),
                Clause::Upper(b) => recipe.upper.push(b),
                Clause::Filter(f) => recipe.filters.push(f),
            }
        }

        if recipe.upper.is_empty() {
            // the document's window ends now; the query's does not end
            return Err("no upper time bound");
        }
        let grouped: Vec<u32> = list::<pg_sys::SortGroupClause>((*q).groupClause)
            .into_iter()
            .map(|g| (*g).tleSortGroupRef)
            .collect();
        // each target: its router output name (None for a measure's, set below)
        let mut names: Vec<(u32, String)> = Vec::new();
        let mut bucket_expr = None;
        let mut outputs = Vec::new();
        let mut measure_targets = Vec::new();
        let mut shown = Vec::new();
        for tle in list::<pg_sys::TargetEntry>((*q).targetList) {
            let e = cx.resolve((*tle).expr as *mut pg_sys::Node);
            shown.push(pg_sys::copyObjectImpl(e as *const _) as *mut pg_sys::Node);
            let sortgroup = (*tle).ressortgroupref;
            if node_tag(e) == NodeTag::T_Aggref {
                if grouped.contains(&sortgroup) && sortgroup != 0 {
                    return Err("GROUP BY an aggregate");
                }
                let m = measure(&mut cx, e as *mut pg_sys::Aggref)?;
                recipe.measures.push(m);
                let i = recipe.measures.len() - 1;
                measure_targets.push(i);
                names.push((sortgroup, measure_name(i)));
                outputs.push(Some(i));
                continue;
            }
            if !grouped.contains(&sortgroup) || sortgroup == 0 {
                if (*tle).resjunk && sortgroup == 0 {
                    return Err("a junk column");
                }
                return Err("an output that is neither grouped nor an aggregate");
            }
            if let Some((attno, col, ..)) = cx.column(e) {
                if attno == cx.time_attno {
                    return Err("GROUP BY the raw time column");
                }
                if col == "bucket"
                    || col
                        .strip_prefix('m')
                        .is_some_and(|d| d.parse::<u32>().is_ok())
                {
                    return Err("a column named like a router output");
                }
                if !recipe.dimensions.contains(&col) {
                    recipe.dimensions.push(col.clone());
                }
                names.push((sortgroup, col));
                outputs.push(None);
            } else if let Some(kind) = bucket(&mut cx, e) {
                if recipe.bucket.as_ref().is_some_and(|b| *b != kind) {
                    return Err("two different buckets");
                }
                recipe.bucket = Some(kind);
                bucket_expr = Some(pg_sys::copyObjectImpl(e as *const _) as *mut pg_sys::Node);
                names.push((sortgroup, "bucket".into()));
                outputs.push(None);
            } else {
                return Err("a grouped expression the router does not build");
            }
        }
        if grouped.iter().any(|g| !names.iter().any(|(s, _)| s == g)) {
            return Err("GROUP BY something not selected");
        }
        // router output columns: bucket, dimensions, measures
        let base = usize::from(recipe.bucket.is_some()) + recipe.dimensions.len();
        for ((_, n), m) in names.iter().zip(&outputs) {
            recipe.outputs.push(match m {
                Some(i) => Output::Column(base + i),
                None if n == "bucket" => Output::Bucket,
                None => Output::Column(
                    usize::from(recipe.bucket.is_some())
                        + recipe
                            .dimensions
                            .iter()
                            .position(|d| d == n)
                            .expect("a dimension"),
                ),
            });
        }
        for (tle, out) in list::<pg_sys::TargetEntry>((*q).targetList)
            .iter()
            .zip(recipe.outputs.iter_mut())
        {
            if (**tle).resjunk {
                *out = Output::Junk;
            }
        }

        for s in list::<pg_sys::SortGroupClause>((*q).sortClause) {
            let (_, n) = names
                .iter()
                .find(|(r, _)| *r == (*s).tleSortGroupRef)
                .ok_or("ORDER BY something not selected")?;
            let tle = list::<pg_sys::TargetEntry>((*q).targetList)
                .into_iter()
                .find(|t| (**t).ressortgroupref == (*s).tleSortGroupRef)
                .ok_or("ORDER BY something not selected")?;
            let ty = pg_sys::exprType((*tle).expr as *mut pg_sys::Node);
            let tc = pg_sys::lookup_type_cache(
                ty,
                (pg_sys::TYPECACHE_LT_OPR | pg_sys::TYPECACHE_GT_OPR) as i32,
            );
            let desc = if (*s).sortop == (*tc).lt_opr && !(*s).nulls_first {
                false
            } else if (*s).sortop == (*tc).gt_opr && (*s).nulls_first {
                true
            } else {
                return Err("ORDER BY with another operator or NULLS placement");
            };
            recipe.order.push((n.clone(), desc));
        }
        if !(*q).limitCount.is_null() {
            if !value_expr((*q).limitCount) {
                return Err("a LIMIT that is not a value");
            }
            recipe.limit = Some(cx.keep((*q).limitCount));
        }
        if measure_targets.is_empty() {
            return Err("no aggregate");
        }
        Ok(Recognized {
            recipe,
            exprs: cx.exprs,
            bucket_expr,
            time_attno: cx.time_var.get(),
            shown,
        })
    }
}
