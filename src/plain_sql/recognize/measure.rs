//! Aggregates the router computes as PostgreSQL does (percentile_cont and count(DISTINCT) exactly
//! unless `routed.approximate` is on, when the document allows its sketches).

use super::super::nodes::{cast_arg, list, node_tag, text};
use super::{clause, conjuncts, Clause, Ctx, Decline};
use pgrx::pg_sys::{self, NodeTag};
use routed_core::plain::Measure;

/// A measure the router computes exactly as the aggregate does.
pub(super) unsafe fn measure(cx: &mut Ctx, a: *mut pg_sys::Aggref) -> Result<Measure, Decline> {
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
            ("count", [c], true, false) => (
                "count_distinct",
                Some(col(*c).ok_or("count of an expression")?),
                None,
            ),
            ("sum" | "min" | "max" | "avg", [c], false, false) => (
                name.as_str(),
                Some(col(*c).ok_or("an aggregate of an expression")?),
                None,
            ),
            ("percentile_cont", [c], false, true) => {
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
