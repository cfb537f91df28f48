//! A parsed `Query` → a `Recipe`, or why not. Only what is fully understood is recognized: one
//! tracked table, aggregates the router computes as PostgreSQL does, `WHERE` an AND of time
//! bounds and dimension filters with the types' own operators, `GROUP BY` a bucket of the time
//! column and columns, `ORDER BY` outputs with default operators, `LIMIT`. Values are kept as
//! expressions (copies) the plan node evaluates at execution, so parameters and generic plans
//! route too.

use super::nodes::{cast_arg, const_integer, const_text, list, node_tag, text, value_expr};
use pgrx::pg_sys::{self, NodeTag};
use routed_core::plain::{Bound, BucketKind, Filter, FilterValue, Measure, Recipe};

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

struct Ctx {
    rtindex: u32,
    relid: pg_sys::Oid,
    time_attno: i16,
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
            let name = text(pg_sys::get_attname(self.relid, (*v).varattno, false))?;
            Some(((*v).varattno, name, (*v).vartype, (*v).varcollid))
        }
    }

    fn is_time(&self, e: *mut pg_sys::Node) -> bool {
        // SAFETY: e is a node of the query.
        unsafe { self.column(e) }.is_some_and(|c| c.0 == self.time_attno)
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
unsafe fn conjuncts(n: *mut pg_sys::Node, out: &mut Vec<*mut pg_sys::Node>) {
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

enum Clause {
    Lower(Bound),
    Upper(Bound),
    Filter(Filter),
}

/// One conjunct: a bound of the time column, or a filter on a column.
unsafe fn clause(cx: &mut Ctx, n: *mut pg_sys::Node, bounds: bool) -> Result<Clause, Decline> {
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

/// The bucket an expression of the time column makes, if it is one the router builds alike.
unsafe fn bucket(cx: &mut Ctx, e: *mut pg_sys::Node) -> Option<BucketKind> {
    // SAFETY: e is a node of the query.
    unsafe {
        let func = |n: *mut pg_sys::Node| -> Option<(String, Vec<*mut pg_sys::Node>, pg_sys::Oid)> {
            if node_tag(n) != NodeTag::T_FuncExpr {
                return None;
            }
            let f = n as *mut pg_sys::FuncExpr;
            if pg_sys::get_func_namespace((*f).funcid)
                != pg_sys::Oid::from(pg_sys::PG_CATALOG_NAMESPACE)
            {
                return None;
            }
            Some((
                text(pg_sys::get_func_name((*f).funcid))?,
                list((*f).args),
                (*f).funcresulttype,
            ))
        };
        if let Some((name, args, result)) = func(e) {
            return match (name.as_str(), args.as_slice()) {
                ("date_trunc", [unit, ts])
                    if cx.is_time(*ts) && result == pg_sys::TIMESTAMPTZOID =>
                {
                    let u = const_text(*unit)?.to_ascii_lowercase();
                    let u = u.strip_suffix('s').unwrap_or(&u).to_string();
                    ["second", "minute", "hour", "day", "week", "month"]
                        .contains(&u.as_str())
                        .then_some(BucketKind::Trunc(u))
                }
                ("date_bin", [stride, ts, origin])
                    if cx.is_time(*ts) && value_expr(*stride) && value_expr(*origin) =>
                {
                    Some(BucketKind::Bin {
                        stride: cx.keep(*stride),
                        origin: cx.keep(*origin),
                    })
                }
                ("date", [ts]) if cx.is_time(*ts) && result == pg_sys::DATEOID => {
                    Some(BucketKind::Date)
                }
                _ => None,
            };
        }
        // floor(extract(epoch from ts) / n) * n
        let binary = |n: *mut pg_sys::Node, name: &str| -> Option<[*mut pg_sys::Node; 2]> {
            if node_tag(n) != NodeTag::T_OpExpr {
                return None;
            }
            let op = n as *mut pg_sys::OpExpr;
            let args = list::<pg_sys::Node>((*op).args);
            let opname = text(pg_sys::get_opname((*op).opno))?;
            ((*op).opresulttype == pg_sys::NUMERICOID && opname == name && args.len() == 2)
                .then(|| [args[0], args[1]])
        };
        let [floored, n1] = binary(e, "*")?;
        let (fname, fargs, _) = func(floored)?;
        if fname != "floor" || fargs.len() != 1 {
            return None;
        }
        let [epoch, n2] = binary(fargs[0], "/")?;
        let (ename, eargs, _) = func(epoch)?;
        let width = const_integer(n1)?;
        if ename != "extract" || eargs.len() != 2 || const_integer(n2)? != width {
            return None;
        }
        let field = const_text(eargs[0])?.to_ascii_lowercase();
        (field == "epoch" && cx.is_time(eargs[1]) && width > 0).then_some(BucketKind::Epoch(width))
    }
}

/// A measure the router computes exactly as the aggregate does.
unsafe fn measure(cx: &mut Ctx, a: *mut pg_sys::Aggref, exact: bool) -> Result<Measure, Decline> {
    // SAFETY: a is an Aggref of the query.
    unsafe {
        if pg_sys::get_func_namespace((*a).aggfnoid)
            != pg_sys::Oid::from(pg_sys::PG_CATALOG_NAMESPACE)
            || (*a).agglevelsup != 0
            || (*a).aggvariadic
        {
            return Err("an aggregate the router does not know");
        }
        let name = text(pg_sys::get_func_name((*a).aggfnoid)).unwrap_or_default();
        let args: Vec<*mut pg_sys::Node> = list::<pg_sys::TargetEntry>((*a).args)
            .into_iter()
            .map(|t| (*t).expr as *mut pg_sys::Node)
            .collect();
        let distinct = !(*a).aggdistinct.is_null();
        let ordered = (*a).aggkind == b'o' as std::ffi::c_char;
        if !(*a).aggorder.is_null() && !ordered {
            return Err("an aggregate with ORDER BY");
        }
        let col = |e: *mut pg_sys::Node| cx.column(e).map(|c| c.1);
        let (agg, column, q) = match (name.as_str(), args.as_slice(), distinct, ordered) {
            ("count", [], false, false) if (*a).aggstar => ("count", None, None),
            ("count", [c], false, false) => (
                "count",
                Some(col(*c).ok_or("count of an expression")?),
                None,
            ),
            ("count", [c], true, false) if exact => (
                "count_distinct",
                Some(col(*c).ok_or("count of an expression")?),
                None,
            ),
            ("sum" | "min" | "max" | "avg", [c], false, false) => (
                name.as_str(),
                Some(col(*c).ok_or("an aggregate of an expression")?),
                None,
            ),
            ("percentile_cont", [c], false, true) if exact => {
                let direct = list::<pg_sys::Node>((*a).aggdirectargs);
                let [qn] = direct.as_slice() else {
                    return Err("percentile_cont of several fractions");
                };
                // `0.95` is a numeric constant cast to float8: fold it
                let qn = &pg_sys::eval_const_expressions(
                    std::ptr::null_mut(),
                    pg_sys::copyObjectImpl(*qn as *const _) as *mut pg_sys::Node,
                );
                if node_tag(*qn) != NodeTag::T_Const
                    || (*(*qn as *mut pg_sys::Const)).consttype != pg_sys::FLOAT8OID
                    || (*(*qn as *mut pg_sys::Const)).constisnull
                {
                    return Err("percentile_cont of a fraction that is not a constant");
                }
                let qv = f64::from_bits((*(*qn as *mut pg_sys::Const)).constvalue.value() as u64);
                let sort = list::<pg_sys::SortGroupClause>((*a).aggorder);
                let tc =
                    pg_sys::lookup_type_cache(pg_sys::FLOAT8OID, pg_sys::TYPECACHE_LT_OPR as i32);
                if sort.len() != 1 || (*sort[0]).sortop != (*tc).lt_opr || (*sort[0]).nulls_first {
                    return Err("percentile_cont in another order");
                }
                let c = col(cast_arg(*c, pg_sys::FLOAT8OID))
                    .ok_or("percentile_cont of an expression")?;
                ("percentile", Some(c), Some(qv))
            }
            _ => return Err("an aggregate the router does not compute exactly"),
        };
        let mut filters = Vec::new();
        let mut parts = Vec::new();
        conjuncts((*a).aggfilter as *mut pg_sys::Node, &mut parts);
        for p in parts {
            match clause(cx, p, false)? {
                Clause::Filter(f) => filters.push(f),
                _ => return Err("a FILTER on the time column"),
            }
        }
        Ok(Measure {
            agg: agg.into(),
            column,
            q,
            filters,
        })
    }
}

mod query;
pub use query::recognize;
