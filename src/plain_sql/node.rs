//! The "Routed Aggregate" plan node: a CustomScan on top of PostgreSQL's own plan, which it
//! keeps as its child. When it first runs it evaluates the recipe's values (parameters
//! included), builds the document and asks the router (cache, rollups, base) for typed rows;
//! every doubt (a value it cannot route, another type than the native plan's, a transaction that
//! wrote, SERIALIZABLE) runs the child instead, whose rows are PostgreSQL's answer by definition.

use super::eval::evaluate;
use super::nodes::list;
use super::route::{route, Routed};
use pgrx::pg_sys;
use pgrx::PgMemoryContexts;
use routed_core::plain::{Output, Recipe};
use std::ffi::CString;

pub static mut SCAN_METHODS: pg_sys::CustomScanMethods = pg_sys::CustomScanMethods {
    CustomName: c"Routed Aggregate".as_ptr(),
    CreateCustomScanState: Some(create_state),
};

static mut EXEC_METHODS: pg_sys::CustomExecMethods = pg_sys::CustomExecMethods {
    CustomName: c"Routed Aggregate".as_ptr(),
    BeginCustomScan: Some(begin),
    ExecCustomScan: Some(exec),
    EndCustomScan: Some(end),
    ReScanCustomScan: Some(rescan),
    MarkPosCustomScan: None,
    RestrPosCustomScan: None,
    EstimateDSMCustomScan: None,
    InitializeDSMCustomScan: None,
    ReInitializeDSMCustomScan: None,
    InitializeWorkerCustomScan: None,
    ShutdownCustomScan: None,
    ExplainCustomScan: Some(explain),
};

/// What the node is doing.
enum Mode {
    Start,
    Routed { rows: Routed, next: usize },
    Native,
}

/// The node's Rust state, dropped with the executor's memory.
struct Run {
    recipe: Recipe,
    states: Vec<(*mut pg_sys::ExprState, pg_sys::Oid)>,
    /// The bucket expression and the one-column-wide scan slot it reads the time from.
    bucket: Option<(*mut pg_sys::ExprState, *mut pg_sys::TupleTableSlot, usize)>,
    /// The native plan's output types, in order.
    types: Vec<pg_sys::Oid>,
    child: *mut pg_sys::PlanState,
    mode: Mode,
    /// What EXPLAIN ANALYZE reports.
    used: String,
}

#[repr(C)]
struct State {
    css: pg_sys::CustomScanState,
    run: *mut Run,
}

unsafe extern "C-unwind" fn create_state(cscan: *mut pg_sys::CustomScan) -> *mut pg_sys::Node {
    // SAFETY: a zeroed State in the executor's memory, tagged as a CustomScanState, as
    // ExecInitCustomScan expects of this callback.
    unsafe {
        let s = pg_sys::palloc0(std::mem::size_of::<State>()) as *mut State;
        (*s).css.ss.ps.type_ = pg_sys::NodeTag::T_CustomScanState;
        (*s).css.methods = &raw const EXEC_METHODS;
        (*s).css.flags = (*cscan).flags;
        s as *mut pg_sys::Node
    }
}

#[pgrx::pg_guard]
unsafe extern "C-unwind" fn begin(
    node: *mut pg_sys::CustomScanState,
    estate: *mut pg_sys::EState,
    eflags: i32,
) {
    // SAFETY: node is our State (create_state made it); its plan is the CustomScan the hook
    // built, whose custom_private holds [recipe, exprs, bucket expr list, time attno].
    unsafe {
        let s = node as *mut State;
        let cscan = (*node).ss.ps.plan as *mut pg_sys::CustomScan;
        let private = list::<pg_sys::Node>((*cscan).custom_private);
        let recipe_text = std::ffi::CStr::from_ptr((*(private[0] as *mut pg_sys::String)).sval);
        let recipe = Recipe::from_json(&recipe_text.to_string_lossy()).expect("the hook's recipe");
        let child = pg_sys::ExecInitNode(
            list::<pg_sys::Plan>((*cscan).custom_plans)[0],
            estate,
            eflags,
        );
        (*node).custom_ps = pg_sys::lappend(std::ptr::null_mut(), child as *mut _);
        let parent = &raw mut (*node).ss.ps;
        let states = list::<pg_sys::Node>(private[1] as *mut pg_sys::List)
            .into_iter()
            .map(|e| {
                pg_sys::fix_opfuncids(e);
                (
                    pg_sys::ExecInitExpr(e as *mut pg_sys::Expr, parent),
                    pg_sys::exprType(e),
                )
            })
            .collect();
        let time_attno = (*(private[3] as *mut pg_sys::Integer)).ival as usize;
        let bucket = list::<pg_sys::Node>(private[2] as *mut pg_sys::List)
            .first()
            .map(|e| {
                pg_sys::fix_opfuncids(*e);
                let desc = pg_sys::CreateTemplateTupleDesc(time_attno as i32);
                for i in 1..=time_attno {
                    pg_sys::TupleDescInitEntry(
                        desc,
                        i as i16,
                        std::ptr::null(),
                        pg_sys::TIMESTAMPTZOID,
                        -1,
                        0,
                    );
                }
                let slot = pg_sys::MakeSingleTupleTableSlot(desc, &pg_sys::TTSOpsVirtual);
                (
                    pg_sys::ExecInitExpr(*e as *mut pg_sys::Expr, std::ptr::null_mut()),
                    slot,
                    time_attno,
                )
            });
        let types = list::<pg_sys::TargetEntry>((*cscan).scan.plan.targetlist)
            .into_iter()
            .map(|t| pg_sys::exprType((*t).expr as *mut pg_sys::Node))
            .collect();
        let run = Run {
            recipe,
            states,
            bucket,
            types,
            child,
            mode: Mode::Start,
            used: String::new(),
        };
        (*s).run = PgMemoryContexts::CurrentMemoryContext.leak_and_drop_on_delete(run);
    }
}

/// Routes, or says why the child must answer.
unsafe fn start(node: *mut pg_sys::CustomScanState, run: &mut Run) {
    // SAFETY: node is our running State; its expression context carries the parameters.
    let values = unsafe { evaluate(&run.states, (*node).ss.ps.ps_ExprContext) };
    match route(&run.recipe, &values, &run.types) {
        Ok(rows) => {
            run.used = rows.summary.clone();
            run.mode = Mode::Routed { rows, next: 0 };
        }
        Err(why) => {
            run.used = format!("native: {why}");
            run.mode = Mode::Native;
        }
    }
}

#[pgrx::pg_guard]
unsafe extern "C-unwind" fn exec(
    node: *mut pg_sys::CustomScanState,
) -> *mut pg_sys::TupleTableSlot {
    // SAFETY: node is our State, begun by `begin`.
    unsafe {
        let run = &mut *(*(node as *mut State)).run;
        if matches!(run.mode, Mode::Start) {
            start(node, run);
        }
        let Mode::Routed { rows, next } = &mut run.mode else {
            return pg_sys::ExecProcNode(run.child);
        };
        let slot = (*node).ss.ps.ps_ResultTupleSlot;
        pg_sys::ExecClearTuple(slot);
        if *next >= rows.rows.len() {
            return slot;
        }
        let econtext = (*node).ss.ps.ps_ExprContext;
        pg_sys::MemoryContextReset((*econtext).ecxt_per_tuple_memory);
        let (values, nulls) = rows.deform(*next);
        *next += 1;
        for (j, out) in run.recipe.outputs.iter().enumerate() {
            let (v, n) = match out {
                Output::Column(c) => (values[*c], nulls[*c]),
                Output::Junk => (pg_sys::Datum::from(0), true),
                Output::Bucket => match run.bucket {
                    Some((state, bslot, attno)) if !nulls[0] => {
                        pg_sys::ExecClearTuple(bslot);
                        for k in 0..attno {
                            *(*bslot).tts_isnull.add(k) = true;
                        }
                        *(*bslot).tts_values.add(attno - 1) = values[0];
                        *(*bslot).tts_isnull.add(attno - 1) = false;
                        pg_sys::ExecStoreVirtualTuple(bslot);
                        (*econtext).ecxt_scantuple = bslot;
                        let mut null = false;
                        let d = pg_sys::ExecEvalExprSwitchContext(state, econtext, &mut null);
                        (d, null)
                    }
                    _ => (pg_sys::Datum::from(0), true),
                },
            };
            *(*slot).tts_values.add(j) = v;
            *(*slot).tts_isnull.add(j) = n;
        }
        pg_sys::ExecStoreVirtualTuple(slot)
    }
}

#[pgrx::pg_guard]
unsafe extern "C-unwind" fn end(node: *mut pg_sys::CustomScanState) {
    // SAFETY: node is our State; its child was initialized by `begin`.
    unsafe {
        let run = &mut *(*(node as *mut State)).run;
        pg_sys::ExecEndNode(run.child);
        if let Some((_, slot, _)) = run.bucket {
            pg_sys::ExecDropSingleTupleTableSlot(slot);
        }
    }
}

#[pgrx::pg_guard]
unsafe extern "C-unwind" fn rescan(node: *mut pg_sys::CustomScanState) {
    // SAFETY: node is our State; the child is rescanned as the executor would.
    unsafe {
        let run = &mut *(*(node as *mut State)).run;
        run.mode = Mode::Start;
        pg_sys::ExecReScan(run.child);
    }
}

#[pgrx::pg_guard]
unsafe extern "C-unwind" fn explain(
    node: *mut pg_sys::CustomScanState,
    _ancestors: *mut pg_sys::List,
    es: *mut pg_sys::ExplainState,
) {
    // SAFETY: node is our State; es is the running EXPLAIN's state.
    unsafe {
        let run = &*(*(node as *mut State)).run;
        let prop = |label: &std::ffi::CStr, value: &str| {
            let v = CString::new(value.replace('\0', "")).unwrap_or_default();
            pg_sys::ExplainPropertyText(label.as_ptr(), v.as_ptr(), es);
        };
        prop(c"Source", &run.recipe.source);
        prop(
            c"Budget",
            &routed_core::time::format_interval(crate::gucs::default_staleness_micros()),
        );
        if (*es).analyze {
            prop(c"Answered", &run.used);
        } else {
            let values = evaluate(&run.states, (*node).ss.ps.ps_ExprContext);
            prop(c"Route", &super::route::candidate(&run.recipe, &values));
        }
    }
}
