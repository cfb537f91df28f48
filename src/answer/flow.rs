//! routed_query's flow: parse (or recognize a repeated document), try the cache, else plan and
//! run, then store what may be stored. Every answer's `meta` says where it came from and how
//! stale it is. The answer is built as jsonb from the body's jsonb bytes, so a hit parses nothing.

use super::exec;
use super::jsonb_build::{answer_datum, Item};
pub use super::known::DocRef;
use super::known::{parse_doc, Known};
use super::pipeline::{check_staleness, plan_parsed, with_budget, Prepared};
use crate::cache::query_stats;
use crate::cache::{self, Found, Outcome};
use crate::pg::jsonb::jsonb_bytes;
use crate::pg::jsonb::JsonbDoc;
use pgrx::pg_sys;
use routed_core::budget::resolve_budget;
use routed_core::cache::entry::{StoredAnswer, StoredAnswerRef};
use routed_core::time::{format_interval, format_rfc3339_utc};
use serde_json::{json, Value};
use std::cell::RefCell;
use std::rc::Rc;
use std::time::Instant;

/// Whether this call must not use the cache because its transaction wrote: the worker
/// revalidating (`recompute`) writes nothing, so only changes to tracked sources count for it.
fn wrote(recompute: bool) -> bool {
    let changes = crate::changes::publish::pending();
    changes || (!recompute && crate::pg::fast::has_written())
}

/// The transaction's `now()`, the instant relative ranges are evaluated at.
pub fn as_of_unix_micros() -> i64 {
    crate::pg::time::unix_us(crate::pg::fast::transaction_start_timestamp())
}

pub fn columns_json(p: &Prepared) -> String {
    Value::Array(
        p.bound
            .answer_columns()
            .iter()
            .map(|c| json!({"name": c.name, "type": c.type_name}))
            .collect(),
    )
    .to_string()
}

/// How typed rows are asked for.
pub struct RowsForm<'a> {
    /// What the entry key's document starts with: `ROWS_PREFIX` for the router's own rows;
    /// plain SQL adds its output shape (its entries hold the query's own columns).
    pub prefix: &'a str,
    /// Whether a cached body may be served to this caller.
    pub accept: &'a dyn Fn(&StoredAnswerRef) -> bool,
    /// Sees the plan before anything runs (and may raise).
    pub check: &'a dyn Fn(&Prepared),
    /// Turns the router's rows into the body to keep (None: it cannot; nothing is stored and
    /// the answer's body is empty).
    pub reshape: Option<&'a dyn Fn(&[u8]) -> Option<Vec<u8>>>,
}

/// Which form an answer takes: jsonb for `routed_query`, typed rows for `routed_rows` and plain
/// SQL. Each form has its own cache entries.
pub enum Form<'a> {
    Json,
    Rows(RowsForm<'a>),
}

/// What a rows entry's key starts with, so revalidation knows its form.
pub const ROWS_PREFIX: &str = "rows:";
/// What the key of plain SQL's entries starts with (then its shape).
pub const PLAIN_PREFIX: &str = "plain:";

/// An answer with the facts its `meta` reports, its body read in place.
pub struct Answered<'a> {
    pub answer: StoredAnswerRef<'a>,
    pub as_of_us: i64,
    pub staleness_us: i64,
    pub budget_us: i64,
    pub outcome: Outcome,
    pub elapsed_ms: f64,
}

/// Answers a document as jsonb. `recompute` (the worker revalidating an entry) skips the cached
/// answer and stores a fresh one.
pub fn answer(doc: &JsonbDoc, staleness_micros: Option<i64>, recompute: bool) -> pg_sys::Datum {
    let known = parse_doc(DocRef::Jsonb(doc));
    answer_as(&known, staleness_micros, recompute, &Form::Json, |a| {
        render(
            a.answer,
            a.as_of_us,
            a.staleness_us,
            a.budget_us,
            a.outcome,
            a.elapsed_ms,
        )
    })
}

/// Answers a document as typed rows (a `cache::rows` body), in `form`.
pub fn answer_rows<R>(
    doc: DocRef,
    staleness_micros: Option<i64>,
    recompute: bool,
    form: RowsForm,
    finish: impl FnOnce(Answered) -> R,
) -> R {
    let known = parse_doc(doc);
    answer_as(
        &known,
        staleness_micros,
        recompute,
        &Form::Rows(form),
        finish,
    )
}

/// The body of an answer in `form`, computed from its plan (again from a fresh plan when a
/// partition was attached while it waited for a lock).
fn compute(form: &Form, planned: &dyn Fn() -> Prepared) -> (Prepared, Vec<u8>) {
    let body = |p: &Prepared| match form {
        Form::Json => jsonb_bytes(&format!(
            "{{\"columns\":{},\"rows\":{}}}",
            columns_json(p),
            exec::rows_json(&p.generated)
        )),
        Form::Rows(r) => {
            let rows = super::typed::rows_body(&p.generated);
            match r.reshape {
                Some(reshape) => reshape(&rows).unwrap_or_default(),
                None => rows,
            }
        }
    };
    let p = planned();
    if let Form::Rows(r) = form {
        (r.check)(&p);
    }
    let b = body(&p);
    if p.facts_outdated() {
        let p = planned();
        let b = body(&p);
        return (p, b);
    }
    (p, b)
}

thread_local! {
    /// Answers being computed in this backend (their reads are planned by PostgreSQL alone).
    static ANSWERING: std::cell::Cell<u32> = const { std::cell::Cell::new(0) };
}

/// Whether an answer is being computed: the plain SQL hook leaves the router's own reads alone.
pub fn answering() -> bool {
    ANSWERING.get() > 0
}

/// Counts an answer being computed while it lives (dropped on the way out of an ERROR too).
struct Answering;

impl Answering {
    fn start() -> Answering {
        ANSWERING.set(ANSWERING.get() + 1);
        Answering
    }
}

impl Drop for Answering {
    fn drop(&mut self) {
        ANSWERING.set(ANSWERING.get() - 1);
    }
}

fn answer_as<R>(
    known: &Known,
    staleness_micros: Option<i64>,
    recompute: bool,
    form: &Form,
    finish: impl FnOnce(Answered) -> R,
) -> R {
    let _answering = Answering::start();
    answer_in(known, staleness_micros, recompute, form, finish)
}

fn answer_in<R>(
    known: &Known,
    staleness_micros: Option<i64>,
    recompute: bool,
    form: &Form,
    finish: impl FnOnce(Answered) -> R,
) -> R {
    let started = Instant::now();
    check_staleness(staleness_micros);
    let (budget, _) = resolve_budget(
        staleness_micros,
        known.query.freshness,
        crate::gucs::default_staleness_micros(),
    );
    let relative = known.query.time.as_ref().is_some_and(|t| t.is_relative());
    let mut buf = Vec::new();
    let (mut outcome, fill) = match cache::unusable(wrote(recompute)) {
        Some((o, _)) => {
            if o == Outcome::Bypass {
                cache::count_bypass();
            }
            (o, None)
        }
        None => {
            cache::register_exit_callback();
            // a relative window's entry is never exact: at budget 0 nobody may use it, so do not
            // wait for another backend computing it
            let may_wait = !(relative && budget == 0);
            let key = match form {
                Form::Json => cache::remembered_key(&known.canonical, &known.key),
                Form::Rows(r) => known.rows_key(r.prefix),
            };
            let accept = |a: &StoredAnswerRef| match form {
                Form::Json => true,
                Form::Rows(r) => (r.accept)(a),
            };
            match cache::lookup(&key, budget, recompute, may_wait, &mut buf) {
                Found::Served(s, o) if accept(&s.answer) => {
                    let elapsed = elapsed_ms(started);
                    record(known, s.answer.source, o, elapsed, s.staleness_us);
                    return finish(Answered {
                        answer: s.answer,
                        as_of_us: s.meta.as_of_us,
                        staleness_us: s.staleness_us,
                        budget_us: budget,
                        outcome: o,
                        elapsed_ms: elapsed,
                    });
                }
                Found::Served(..) => (Outcome::Miss, None),
                Found::Compute(fill) => (Outcome::Miss, fill),
            }
        }
    };
    let planned = || {
        plan_parsed(with_budget(
            known.query.clone(),
            known.canonical.clone(),
            known.fingerprint.clone(),
            staleness_micros,
        ))
    };
    let (mut p, body) = compute(form, &planned);
    let as_of = as_of_unix_micros();
    let stored = StoredAnswer {
        body,
        source: p.plan.source.to_string(),
        rollup: (!p.rollups.is_empty()).then(|| p.rollups.join("+")),
        approximate: p.plan.approximate,
        fingerprint: p.fingerprint.clone(),
    };
    // a body plain SQL could not shape is not kept
    if let Some(fill) = fill.filter(|_| !stored.body.is_empty()) {
        match super::entry::entry_meta(&mut p, as_of, started) {
            Ok(meta) => {
                fill.store(&stored, meta);
            }
            Err(_) => {
                // security or size rules this answer out of the cache
                outcome = Outcome::Bypass;
                cache::count_bypass();
            }
        }
    }
    let staleness = p.plan.staleness_micros;
    let elapsed = elapsed_ms(started);
    record(known, p.plan.source, outcome, elapsed, staleness);
    finish(Answered {
        answer: stored.as_ref(),
        as_of_us: as_of,
        staleness_us: staleness,
        budget_us: budget,
        outcome,
        elapsed_ms: elapsed,
    })
}

fn elapsed_ms(started: Instant) -> f64 {
    (started.elapsed().as_secs_f64() * 1000.0 * 1000.0).round() / 1000.0
}

fn record(known: &Known, source: &str, o: Outcome, elapsed_ms: f64, staleness: i64) {
    query_stats::record(
        known.stats_key,
        &known.canonical,
        source,
        o,
        elapsed_ms,
        staleness,
    );
}

thread_local! {
    /// The last value formatted for each meta field: a dashboard's hits repeat them.
    static LAST_AS_OF: RefCell<(i64, Rc<str>)> = RefCell::new((i64::MIN, Rc::from("")));
    static LAST_STALENESS: RefCell<(i64, Rc<str>)> = RefCell::new((i64::MIN, Rc::from("")));
    static LAST_BUDGET: RefCell<(i64, Rc<str>)> = RefCell::new((i64::MIN, Rc::from("")));
}

fn remembered(
    last: &'static std::thread::LocalKey<RefCell<(i64, Rc<str>)>>,
    value: i64,
    format: fn(i64) -> String,
) -> Rc<str> {
    last.with_borrow_mut(|(v, text)| {
        if *v != value {
            *v = value;
            *text = Rc::from(format(value));
        }
        text.clone()
    })
}

fn render(
    a: StoredAnswerRef,
    as_of_us: i64,
    staleness_us: i64,
    budget_us: i64,
    outcome: Outcome,
    elapsed_ms: f64,
) -> pg_sys::Datum {
    let as_of = remembered(&LAST_AS_OF, as_of_us, format_rfc3339_utc);
    let staleness = remembered(&LAST_STALENESS, staleness_us, format_interval);
    let budget = remembered(&LAST_BUDGET, budget_us, format_interval);
    let mut meta = [
        ("source", Item::Str(a.source)),
        ("rollup", a.rollup.map_or(Item::Null, Item::Str)),
        ("as_of", Item::Str(&as_of)),
        ("staleness", Item::Str(&staleness)),
        ("budget", Item::Str(&budget)),
        ("approximate", Item::Bool(a.approximate)),
        ("cache", Item::Str(outcome.name())),
        ("elapsed_ms", Item::Number(elapsed_ms)),
        ("fingerprint", Item::Str(a.fingerprint)),
    ];
    answer_datum(a.body, &mut meta)
}
