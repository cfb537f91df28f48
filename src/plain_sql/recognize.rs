//! A parsed `Query` → a `Recipe`, or why not. Only what is fully understood is recognized: one
//! tracked table, aggregates the router computes as PostgreSQL does, `WHERE` an AND of time
//! bounds and dimension filters with the types' own operators, `GROUP BY` a bucket of the time
//! column and columns, `ORDER BY` outputs with default operators, `LIMIT`. Values are kept as
//! expressions (copies) the plan node evaluates at execution, so parameters and generic plans
//! route too.

use super::nodes::{list, node_tag, text, value_expr};
use pgrx::pg_sys::{self, NodeTag};
use routed_core::plain::{Bound, Filter, FilterValue, Recipe};

pub type Decline = &'static str;

/// What the hook keeps: the recipe, the expressions its indexes name, and the bucket's own
/// expression (over the time column) with the time column's attribute number.
pub struct Recognized {
    pub recipe: Recipe,
    pub exprs: Vec<*mut pg_sys::Node>,
    pub bucket_expr: Option<*mut pg_sys::Node>,
    pub time_attno: i16,
    /// Each target's expression (copies, grouped expressions resolved), for EXPLAIN VERBOSE.
    pub shown: Vec<*mut pg_sys::Node>,
}

pub(super) struct Ctx {
    rtindex: u32,
    relid: pg_sys::Oid,
    time_attno: i16,
    /// For a source read through a subquery of plain columns (Metabase's `"source"`): the
    /// table's attribute behind each of the subquery's columns.
    sub: Option<Vec<i16>>,
    /// The attribute number of the last time column `is_time` matched, as the query writes it.
    time_var: std::cell::Cell<i16>,
    /// PostgreSQL 18's RTE_GROUP: its index and grouped expressions.
    group_rte: Option<(u32, *mut pg_sys::List)>,
    exprs: Vec<*mut pg_sys::Node>,
}

impl Ctx {
    fn keep(&mut self, e: *mut pg_sys::Node) -> usize {
        // SAFETY: e is an expression node of the query being planned; the copy is the plan's.
        self.exprs
            .push(unsafe { pg_sys::copyObjectImpl(e as *const _) as *mut pg_sys::Node });
        self.exprs.len() - 1
    }

    /// The query's expression, with PostgreSQL 18's grouped-expression Vars replaced by what
    /// they stand for.
    unsafe fn resolve(&self, e: *mut pg_sys::Node) -> *mut pg_sys::Node {
        // SAFETY: e is a node of the query (callers pass non-NULL nodes).
        unsafe {
            if let Some((group, exprs)) = self.group_rte {
                if node_tag(e) == NodeTag::T_Var {
                    let v = e as *mut pg_sys::Var;
                    if (*v).varno as u32 == group && (*v).varlevelsup == 0 {
                        let grouped = list::<pg_sys::Node>(exprs);
                        return grouped
                            .get((*v).varattno as usize - 1)
                            .copied()
                            .unwrap_or(e);
                    }
                }
            }
            e
        }
    }

    /// The column a Var of the source names (not a system column).
    unsafe fn column(
        &self,
        e: *mut pg_sys::Node,
    ) -> Option<(i16, String, pg_sys::Oid, pg_sys::Oid)> {
        // SAFETY: e is a node of the query.
        unsafe {
            let e = self.resolve(e);
            if node_tag(e) != NodeTag::T_Var {
                return None;
            }
            let v = e as *mut pg_sys::Var;
            if (*v).varno as u32 != self.rtindex || (*v).varlevelsup != 0 || (*v).varattno <= 0 {
                return None;
            }
            let attno = match &self.sub {
                Some(map) => *map.get((*v).varattno as usize - 1)?,
                None => (*v).varattno,
            };
            let name = text(pg_sys::get_attname(self.relid, attno, false))?;
            Some((attno, name, (*v).vartype, (*v).varcollid))
        }
    }

    fn is_time(&self, e: *mut pg_sys::Node) -> bool {
        // SAFETY: e is a node of the query.
        let time = unsafe { self.column(e) }.is_some_and(|c| c.0 == self.time_attno);
        if time {
            // SAFETY: column() found a Var (possibly behind a grouped expression)
            let v = unsafe { self.resolve(e) } as *mut pg_sys::Var;
            // SAFETY: as above
            self.time_var.set(unsafe { (*v).varattno });
        }
        time
    }
}

/// The router's op for a comparison operator of `ty` (the type's default btree operators only).
unsafe fn comparison(opno: pg_sys::Oid, ty: pg_sys::Oid) -> Option<&'static str> {
    // SAFETY: lookup_type_cache and get_opfamily_member read the syscache for a valid type.
    unsafe {
        let tc = pg_sys::lookup_type_cache(
            ty,
            (pg_sys::TYPECACHE_EQ_OPR
                | pg_sys::TYPECACHE_LT_OPR
                | pg_sys::TYPECACHE_GT_OPR
                | pg_sys::TYPECACHE_BTREE_OPFAMILY) as i32,
        );
        if tc.is_null() || (*tc).btree_opf == pg_sys::InvalidOid {
            return None;
        }
        let member =
            |strategy: u32| pg_sys::get_opfamily_member((*tc).btree_opf, ty, ty, strategy as i16);
        if opno == (*tc).eq_opr {
            Some("=")
        } else if opno == (*tc).lt_opr {
            Some("<")
        } else if opno == (*tc).gt_opr {
            Some(">")
        } else if opno == member(pg_sys::BTLessEqualStrategyNumber) {
            Some("<=")
        } else if opno == member(pg_sys::BTGreaterEqualStrategyNumber) {
            Some(">=")
        } else if (*tc).eq_opr != pg_sys::InvalidOid && opno == pg_sys::get_negator((*tc).eq_opr) {
            Some("!=")
        } else {
            None
        }
    }
}

fn flipped(op: &'static str) -> &'static str {
    match op {
        "<" => ">",
        ">" => "<",
        "<=" => ">=",
        ">=" => "<=",
        o => o,
    }
}

/// The conjuncts of an AND (nested ANDs flattened).
pub(super) unsafe fn conjuncts(n: *mut pg_sys::Node, out: &mut Vec<*mut pg_sys::Node>) {
    if n.is_null() {
        return;
    }
    // SAFETY: n is a qual node of the query.
    unsafe {
        if node_tag(n) == NodeTag::T_BoolExpr
            && (*(n as *mut pg_sys::BoolExpr)).boolop == pg_sys::BoolExprType::AND_EXPR
        {
            for a in list::<pg_sys::Node>((*(n as *mut pg_sys::BoolExpr)).args) {
                conjuncts(a, out);
            }
        } else if node_tag(n) == NodeTag::T_List {
            for a in list::<pg_sys::Node>(n as *mut pg_sys::List) {
                conjuncts(a, out);
            }
        } else {
            out.push(n);
        }
    }
}

pub(super) enum Clause {
    Lower(Bound),
    Upper(Bound),
    Filter(Filter),
}

/// One conjunct: a bound of the time column, or a filter on a column.
pub(super) unsafe fn clause(
    cx: &mut Ctx,
    n: *mut pg_sys::Node,
    bounds: bool,
) -> Result<Clause, Decline> {
    // SAFETY: n is a qual node of the query.
    unsafe {
        match node_tag(n) {
            NodeTag::T_OpExpr => {
                let op = n as *mut pg_sys::OpExpr;
                let args = list::<pg_sys::Node>((*op).args);
                if args.len() != 2 {
                    return Err("an operator that is not binary");
                }
                let (col, value, flip) = match (cx.column(args[0]), cx.column(args[1])) {
                    (Some(c), None) => (c, args[1], false),
                    (None, Some(c)) => (c, args[0], true),
                    _ => return Err("a comparison that is not column against value"),
                };
                if !value_expr(value) {
                    return Err("a comparison value that is not a stable expression");
                }
                let (attno, name, ty, coll) = col;
                if pg_sys::exprType(value) != ty || (*op).inputcollid != coll {
                    return Err("a comparison of another type or collation");
                }
                let o =
                    comparison((*op).opno, ty).ok_or("an operator that is not the type's own")?;
                let o = if flip { flipped(o) } else { o };
                if bounds && attno == cx.time_attno {
                    let expr = cx.keep(value);
                    return match o {
                        ">=" | ">" => Ok(Clause::Lower(Bound {
                            expr,
                            inclusive: o == ">=",
                        })),
                        "<=" | "<" => Ok(Clause::Upper(Bound {
                            expr,
                            inclusive: o == "<=",
                        })),
                        _ => Err("a time condition that is not a range"),
                    };
                }
                let value = FilterValue::Scalar(cx.keep(value));
                Ok(Clause::Filter(Filter {
                    column: name,
                    op: o.into(),
                    value,
                }))
            }
            NodeTag::T_ScalarArrayOpExpr => {
                let op = n as *mut pg_sys::ScalarArrayOpExpr;
                let args = list::<pg_sys::Node>((*op).args);
                let Some((attno, name, ty, coll)) = cx.column(args[0]) else {
                    return Err("IN on something other than a column");
                };
                if attno == cx.time_attno || !value_expr(args[1]) || (*op).inputcollid != coll {
                    return Err("an IN list that is not of values");
                }
                if pg_sys::get_element_type(pg_sys::exprType(args[1])) != ty {
                    return Err("an IN list of another type");
                }
                let o = match (comparison((*op).opno, ty), (*op).useOr) {
                    (Some("="), true) => "in",
                    (Some("!="), false) => "not in",
                    _ => return Err("an array comparison other than IN and NOT IN"),
                };
                let value = FilterValue::List(cx.keep(args[1]));
                Ok(Clause::Filter(Filter {
                    column: name,
                    op: o.into(),
                    value,
                }))
            }
            NodeTag::T_NullTest => {
                let t = n as *mut pg_sys::NullTest;
                let Some((_, name, ..)) = cx.column((*t).arg as *mut pg_sys::Node) else {
                    return Err("IS NULL on something other than a column");
                };
                if (*t).argisrow {
                    return Err("a row IS NULL");
                }
                let op = if (*t).nulltesttype == pg_sys::NullTestType::IS_NULL {
                    "is null"
                } else {
                    "is not null"
                };
                Ok(Clause::Filter(Filter {
                    column: name,
                    op: op.into(),
                    value: FilterValue::None,
                }))
            }
            _ => Err("a condition other than a comparison, IN or IS NULL"),
        }
    }
}

mod bucket;
mod measure;
mod query;
use bucket::bucket;
use measure::measure;
pub use query::recognize;
