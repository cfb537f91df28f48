//! The planner hook: plans every query as PostgreSQL would (through the previous hook), and on
//! top of the plan of an aggregate query it recognized, puts the "Routed Aggregate" node that
//! keeps that plan as its child. The recognizer only reads the query (it copies what it keeps),
//! so the native plan is exactly the plan without the extension.

use super::node::SCAN_METHODS;
use super::recognize::{recognize, Recognized};
use pgrx::pg_sys;
use std::cell::Cell;

static mut PREV_PLANNER: pg_sys::planner_hook_type = None;

thread_local! {
    /// Set while the hook recognizes a query: the catalog reads it makes are planned too.
    static RECOGNIZING: Cell<bool> = const { Cell::new(false) };
}

/// Sets RECOGNIZING while it lives (cleared on the way out of an ERROR too).
struct Recognizing;

impl Recognizing {
    fn start() -> Recognizing {
        RECOGNIZING.set(true);
        Recognizing
    }
}

impl Drop for Recognizing {
    fn drop(&mut self) {
        RECOGNIZING.set(false);
    }
}

/// Installs the hook (chained to the one before) and registers the node's methods.
pub fn install() {
    // SAFETY: _PG_init runs once per process before any planning; the previous hook is kept
    // and called for every query.
    unsafe {
        PREV_PLANNER = pg_sys::planner_hook;
        pg_sys::planner_hook = Some(plan);
        pg_sys::RegisterCustomScanMethods(&raw const SCAN_METHODS);
    }
}

#[pgrx::pg_guard]
unsafe extern "C-unwind" fn plan(
    parse: *mut pg_sys::Query,
    query_string: *const std::ffi::c_char,
    cursor_options: i32,
    bound_params: pg_sys::ParamListInfo,
) -> *mut pg_sys::PlannedStmt {
    let recognized = if crate::gucs::TRANSPARENT.get()
        && !parse.is_null()
        && !RECOGNIZING.get()
        && !crate::answer::flow::answering()
    {
        let _recognizing = Recognizing::start();
        // SAFETY: parse is the query about to be planned; recognize only reads it.
        unsafe { recognize(parse, cursor_options, !crate::gucs::APPROXIMATE.get()).ok() }
    } else {
        None
    };
    // SAFETY: the previous hook or the standard planner, with the arguments we were given.
    let stmt = unsafe {
        match PREV_PLANNER {
            Some(prev) => prev(parse, query_string, cursor_options, bound_params),
            None => pg_sys::standard_planner(parse, query_string, cursor_options, bound_params),
        }
    };
    match recognized {
        // SAFETY: stmt is the plan just made for the query r was recognized in.
        Some(r) => unsafe { wrap(stmt, r) },
        None => stmt,
    }
}

unsafe fn append(l: *mut pg_sys::List, n: *mut pg_sys::Node) -> *mut pg_sys::List {
    // SAFETY: l is NIL or a pointer List; lappend copies nothing.
    unsafe { pg_sys::lappend(l, n as *mut std::ffi::c_void) }
}

/// The node on top of `stmt`'s plan tree, producing the same columns.
unsafe fn wrap(stmt: *mut pg_sys::PlannedStmt, r: Recognized) -> *mut pg_sys::PlannedStmt {
    // SAFETY: stmt is a fresh PlannedStmt whose planTree is the native plan; every node made
    // here is palloc'd in the planner's memory context, like the plan itself.
    unsafe {
        let native = (*stmt).planTree;
        let c =
            pg_sys::palloc0(std::mem::size_of::<pg_sys::CustomScan>()) as *mut pg_sys::CustomScan;
        (*c).scan.plan.type_ = pg_sys::NodeTag::T_CustomScan;
        let p = &mut (*c).scan.plan;
        p.startup_cost = (*native).startup_cost;
        p.total_cost = (*native).total_cost;
        p.plan_rows = (*native).plan_rows;
        p.plan_width = (*native).plan_width;
        p.parallel_safe = false;
        // unique beside the native plan's ids (0..n); only instrumentation reads it
        p.plan_node_id = 1_000_000;
        p.extParam = (*native).extParam;
        p.allParam = (*native).allParam;
        let mut tlist = std::ptr::null_mut();
        let mut scan_tlist = std::ptr::null_mut();
        let targets = super::nodes::list::<pg_sys::TargetEntry>((*native).targetlist);
        for (i, t) in targets.iter().enumerate() {
            let e = (**t).expr as *mut pg_sys::Node;
            let (ty, typmod, coll) = (
                pg_sys::exprType(e),
                pg_sys::exprTypmod(e),
                pg_sys::exprCollation(e),
            );
            let var = pg_sys::makeVar(pg_sys::INDEX_VAR as _, (i + 1) as i16, ty, typmod, coll, 0);
            let name = if (**t).resname.is_null() {
                std::ptr::null_mut()
            } else {
                pg_sys::pstrdup((**t).resname)
            };
            let out = pg_sys::makeTargetEntry(
                var as *mut pg_sys::Expr,
                (i + 1) as i16,
                name,
                (**t).resjunk,
            );
            (*out).resorigtbl = (**t).resorigtbl;
            (*out).resorigcol = (**t).resorigcol;
            tlist = append(tlist, out as *mut pg_sys::Node);
            // what EXPLAIN VERBOSE prints for the column: the query's own expression
            // (a typed NULL if it were ever of another type: an INDEX_VAR here would make
            // EXPLAIN VERBOSE resolve the column through itself)
            let shown = r
                .shown
                .get(i)
                .copied()
                .filter(|e| pg_sys::exprType(*e) == ty)
                .unwrap_or_else(|| pg_sys::makeNullConst(ty, typmod, coll) as *mut pg_sys::Node);
            let scan =
                pg_sys::makeTargetEntry(shown as *mut pg_sys::Expr, (i + 1) as i16, name, false);
            scan_tlist = append(scan_tlist, scan as *mut pg_sys::Node);
        }
        p.targetlist = tlist;
        (*c).custom_scan_tlist = scan_tlist;
        (*c).custom_plans = append(std::ptr::null_mut(), native as *mut pg_sys::Node);
        let recipe = std::ffi::CString::new(r.recipe.to_json()).expect("JSON has no NUL");
        let mut exprs = std::ptr::null_mut();
        for e in &r.exprs {
            exprs = append(exprs, *e);
        }
        let bucket = r
            .bucket_expr
            .map_or(std::ptr::null_mut(), |b| append(std::ptr::null_mut(), b));
        let mut private = append(
            std::ptr::null_mut(),
            pg_sys::makeString(pg_sys::pstrdup(recipe.as_ptr())) as *mut pg_sys::Node,
        );
        private = append(private, exprs as *mut pg_sys::Node);
        private = append(private, bucket as *mut pg_sys::Node);
        private = append(
            private,
            pg_sys::makeInteger(i32::from(r.time_attno)) as *mut pg_sys::Node,
        );
        // the shape of the query's rows: its recipe, bucket expression and output types
        let bucket_text = r.bucket_expr.map_or(String::new(), |b| {
            std::ffi::CStr::from_ptr(pg_sys::nodeToString(b as *const _))
                .to_string_lossy()
                .into_owned()
        });
        let types: Vec<String> = targets
            .iter()
            .map(|t| {
                pg_sys::exprType((**t).expr as *mut pg_sys::Node)
                    .to_u32()
                    .to_string()
            })
            .collect();
        let shape = routed_core::normalize::fingerprint_of(&format!(
            "{}\0{bucket_text}\0{}",
            r.recipe.to_json(),
            types.join(",")
        ));
        let shape = std::ffi::CString::new(shape).expect("hex has no NUL");
        private = append(
            private,
            pg_sys::makeString(pg_sys::pstrdup(shape.as_ptr())) as *mut pg_sys::Node,
        );
        // whether its values need the query's parameters (EXPLAIN of a generic plan has none)
        let params = r
            .exprs
            .iter()
            .any(|e| !pg_sys::pull_paramids(*e as *mut pg_sys::Expr).is_null());
        private = append(
            private,
            pg_sys::makeInteger(i32::from(params)) as *mut pg_sys::Node,
        );
        (*c).custom_private = private;
        (*c).methods = &raw const SCAN_METHODS;
        (*stmt).planTree = c as *mut pg_sys::Plan;
        stmt
    }
}
