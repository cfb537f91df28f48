//! The "Routed Aggregate" plan node: a CustomScan on top of PostgreSQL's own plan, which it
//! keeps as its child. When it first runs it evaluates the recipe's values (parameters
//! included), builds the document and asks the router (cache, rollups, base) for typed rows;
//! every doubt (a value it cannot route, another type than the native plan's, a transaction that
//! wrote, SERIALIZABLE) runs the child instead, whose rows are PostgreSQL's answer by definition.

use super::eval::evaluate;
use super::nodes::list;
use super::route::{route, Routed};
use crate::answer::typed::TypedRows;
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
    /// The native plan's output types, in order, and its tuple descriptor.
    types: Vec<pg_sys::Oid>,
    desc: pg_sys::TupleDesc,
    /// A digest of the recipe and the bucket expression: the cache keeps this shape's rows.
    shape: String,
    /// Whether the recipe's values read the query's parameters.
    params: bool,
    /// The slot routed rows are returned in, and the row in it.
    slot: *mut pg_sys::TupleTableSlot,
    current: pg_sys::HeapTupleData,
    child: *mut pg_sys::PlanState,
    mode: Mode,
    /// What EXPLAIN ANALYZE reports.
    used: String,
}

impl Run {
    /// The router's rows as the query's own tuples (the body the cache keeps), or None when
    /// their types are not the native plan's.
    ///
    /// # Safety
    /// `econtext` is the node's expression context.
    unsafe fn shape_rows(
        &self,
        econtext: *mut pg_sys::ExprContext,
        rows: &TypedRows,
    ) -> Option<Vec<u8>> {
        let fits = self
            .recipe
            .outputs
            .iter()
            .zip(&self.types)
            .all(|(o, ty)| match o {
                Output::Column(c) => rows.types.get(*c) == Some(ty),
                Output::Bucket => rows.types.first() == Some(&pg_sys::TIMESTAMPTZOID),
                Output::Junk => true,
            });
        let grouped = self.recipe.bucket.is_some() || !self.recipe.dimensions.is_empty();
        if !fits || (!grouped && rows.len() != 1) {
            return None;
        }
        let router_desc = rows.descriptor();
        let n = rows.types.len();
        let mut tuples: Vec<Vec<u8>> = Vec::with_capacity(rows.len());
        let mut out_values = vec![pg_sys::Datum::from(0); self.types.len()];
        let mut out_nulls = vec![true; self.types.len()];
        // SAFETY: each router tuple is deformed with its own types; the bucket expression reads
        // its one column from our virtual slot; heap_form_tuple copies every value into a tuple
        // in the per-tuple memory, whose bytes are copied out before it is reset.
        unsafe {
            for i in 0..rows.len() {
                pg_sys::MemoryContextReset((*econtext).ecxt_per_tuple_memory);
                let mut values = vec![pg_sys::Datum::from(0); n];
                let mut nulls = vec![true; n];
                let mut t = rows.tuple(i);
                pg_sys::heap_deform_tuple(
                    &mut t,
                    router_desc,
                    values.as_mut_ptr(),
                    nulls.as_mut_ptr(),
                );
                for (j, out) in self.recipe.outputs.iter().enumerate() {
                    (out_values[j], out_nulls[j]) = match out {
                        Output::Column(c) => (values[*c], nulls[*c]),
                        Output::Junk => (pg_sys::Datum::from(0), true),
                        Output::Bucket => match self.bucket {
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
                                let d =
                                    pg_sys::ExecEvalExprSwitchContext(state, econtext, &mut null);
                                (d, null)
                            }
                            _ => (pg_sys::Datum::from(0), true),
                        },
                    };
                }
                let old = pg_sys::MemoryContextSwitchTo((*econtext).ecxt_per_tuple_memory);
                let tuple = pg_sys::heap_form_tuple(
                    self.desc,
                    out_values.as_mut_ptr(),
                    out_nulls.as_mut_ptr(),
                );
                pg_sys::MemoryContextSwitchTo(old);
                tuples.push(
                    std::slice::from_raw_parts(
                        (*tuple).t_data as *const u8,
                        (*tuple).t_len as usize,
                    )
                    .to_vec(),
                );
            }
            pg_sys::MemoryContextReset((*econtext).ecxt_per_tuple_memory);
        }
        let types: Vec<u32> = self.types.iter().map(|t| t.to_u32()).collect();
        Some(routed_core::cache::rows::encode(
            &types,
            tuples.iter().map(Vec::as_slice),
        ))
    }
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
    // built, whose custom_private holds [recipe, exprs, bucket expr list, time attno, shape,
    // whether the values read parameters].
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
        let shape = std::ffi::CStr::from_ptr((*(private[4] as *mut pg_sys::String)).sval)
            .to_string_lossy()
            .into_owned();
        let params = (*(private[5] as *mut pg_sys::Integer)).ival != 0;
        let desc = (*(*node).ss.ps.ps_ResultTupleSlot).tts_tupleDescriptor;
        let slot = pg_sys::ExecInitExtraTupleSlot(estate, desc, &pg_sys::TTSOpsHeapTuple);
        let run = Run {
            recipe,
            states,
            bucket,
            types,
            desc,
            shape,
            params,
            slot,
            current: pg_sys::HeapTupleData::default(),
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
    // SAFETY: as above: the node's context, for shaping computed rows
    let shaper = |rows: &TypedRows| unsafe { run.shape_rows((*node).ss.ps.ps_ExprContext, rows) };
    match route(&run.recipe, &values, &run.types, &run.shape, &shaper) {
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
        if *next >= rows.rows.len() {
            return pg_sys::ExecClearTuple(run.slot);
        }
        // a finished tuple of the query's columns, pointing into the answer's body
        run.current = rows.rows.tuple(*next);
        *next += 1;
        pg_sys::ExecStoreHeapTuple(&mut run.current, run.slot, false)
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
        } else if run.params && (*(*node).ss.ps.state).es_param_list_info.is_null() {
            prop(
                c"Route",
                "decided at execution, with the parameters' values",
            );
        } else {
            let values = evaluate(&run.states, (*node).ss.ps.ps_ExprContext);
            prop(c"Route", &super::route::candidate(&run.recipe, &values));
        }
    }
}
