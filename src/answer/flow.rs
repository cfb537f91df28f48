//! routed_query's flow: parse (or recognize a repeated document), try the cache, else plan and
//! run, then store what may be stored. Every answer's `meta` says where it came from and how
//! stale it is. The answer is built as jsonb from the body's jsonb bytes, so a hit parses nothing.

use super::exec;
use super::jsonb_build::{answer_datum, Item};
use super::pipeline::{check_staleness, parse, plan_parsed, with_budget, Prepared};
use crate::cache::query_stats;
use crate::cache::{self, Found, Outcome};
use crate::pg::jsonb::jsonb_bytes;
use crate::pg::jsonb::JsonbDoc;
use crate::rollups::freshness;
use pgrx::pg_sys;
use routed_core::budget::resolve_budget;
use routed_core::cache::entry::{
    EntryMeta, StoredAnswer, StoredAnswerRef, MAX_RELS, RELATIVE, TRACKED,
};
use routed_core::cache::FastHash;
use routed_core::query::Query;
use routed_core::time::{format_interval, format_rfc3339_utc};
use serde_json::{json, Value};
use std::cell::RefCell;
use std::collections::HashMap;
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
            .outputs
            .iter()
            .map(|c| json!({"name": c.name, "type": c.type_name}))
            .collect(),
    )
    .to_string()
}

/// A document this backend parsed before, by its jsonb bytes.
struct Known {
    query: Query,
    canonical: String,
    fingerprint: String,
    /// The fingerprint as `routed.query_stats` indexes it.
    stats_key: u64,
    /// Its cache key under the current settings.
    key: cache::KeyMemo,
}

const KNOWN_MAX: usize = 256;

thread_local! {
    static KNOWN: RefCell<HashMap<Vec<u8>, Rc<Known>, FastHash>> =
        const { RefCell::new(HashMap::with_hasher(FastHash)) };
}

/// Parses the document, or takes what parsing it gave last time (dashboards repeat documents;
/// parsing depends on the text alone).
fn parse_doc(doc: &JsonbDoc) -> Rc<Known> {
    if let Some(k) = KNOWN.with_borrow(|m| m.get(&doc.0).cloned()) {
        return k;
    }
    let parsed = parse(&doc.text(), None);
    let known = Rc::new(Known {
        query: parsed.query,
        canonical: parsed.canonical,
        stats_key: query_stats::fingerprint_key(&parsed.fingerprint),
        fingerprint: parsed.fingerprint,
        key: Default::default(),
    });
    KNOWN.with_borrow_mut(|m| {
        if m.len() >= KNOWN_MAX {
            m.clear();
        }
        m.insert(doc.0.clone(), known.clone());
    });
    known
}

/// Answers a document. `recompute` (the worker revalidating an entry) skips the cached answer
/// and stores a fresh one.
pub fn answer(doc: &JsonbDoc, staleness_micros: Option<i64>, recompute: bool) -> pg_sys::Datum {
    let started = Instant::now();
    check_staleness(staleness_micros);
    let known = parse_doc(doc);
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
            let key = cache::remembered_key(&known.canonical, &known.key);
            match cache::lookup(&key, budget, recompute, may_wait, &mut buf) {
                Found::Served(s, o) => {
                    let elapsed = elapsed_ms(started);
                    record(&known, s.answer.source, o, elapsed, s.staleness_us);
                    return render(
                        s.answer,
                        s.meta.as_of_us,
                        s.staleness_us,
                        budget,
                        o,
                        elapsed,
                    );
                }
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
    let mut p = planned();
    let mut rows = exec::rows_json(&p.generated);
    if p.facts_outdated() {
        p = planned();
        rows = exec::rows_json(&p.generated);
    }
    let as_of = as_of_unix_micros();
    let stored = StoredAnswer {
        body: jsonb_bytes(&format!(
            "{{\"columns\":{},\"rows\":{rows}}}",
            columns_json(&p)
        )),
        source: p.plan.source.to_string(),
        rollup: (!p.rollups.is_empty()).then(|| p.rollups.join("+")),
        approximate: p.plan.approximate,
        fingerprint: p.fingerprint.clone(),
    };
    if let Some(fill) = fill {
        match entry_meta(&mut p, as_of, started) {
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
    record(&known, p.plan.source, outcome, elapsed, staleness);
    render(stored.as_ref(), as_of, staleness, budget, outcome, elapsed)
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

/// What the cache must know to serve this answer later, or why it must not keep it.
fn entry_meta(p: &mut Prepared, as_of_us: i64, started: Instant) -> Result<EntryMeta, String> {
    let source = pg_sys::Oid::from(p.source_oid);
    if let Some(why) = cache::unshareable(source) {
        return Err(why.into());
    }
    let mut rels = vec![source];
    for name in &p.rollups {
        for table in [name.clone(), format!("{name}$delta")] {
            rels.push(rollup_oid(&table).ok_or("rollup table not found")?);
        }
    }
    if rels.len() > MAX_RELS {
        return Err("reads too many relations".into());
    }
    for &rel in &rels {
        if !cache::table_privilege(rel) {
            return Err("read with column privileges only".into());
        }
        if cache::row_security_applies(rel) {
            return Err("row security applies".into());
        }
    }
    let relative = p.query.time.as_ref().is_some_and(|t| t.is_relative());
    let (from_us, to_us) = if !p.tracked_range || p.bound.time.is_none() {
        (i64::MIN, i64::MAX)
    } else {
        if p.window.is_none() {
            p.window = freshness::window(&p.bound);
        }
        match &p.window {
            Some(w) => (w.from_us.unwrap_or(i64::MIN), w.to_us),
            None => (i64::MIN, i64::MAX),
        }
    };
    let mut meta = EntryMeta {
        db: crate::pg::fast::database_id().to_u32(),
        source: p.source_oid,
        nrels: rels.len() as u32,
        flags: if relative { RELATIVE } else { 0 } | if p.tracked_range { TRACKED } else { 0 },
        role: crate::pg::fast::user_id().to_u32(),
        from_us,
        to_us,
        as_of_us,
        stale_since_us: if p.plan.staleness_micros > 0 {
            as_of_us - p.plan.staleness_micros
        } else {
            i64::MAX
        },
        pos: 0,
        cost_us: started.elapsed().as_micros() as u64,
        ..Default::default()
    };
    for (i, r) in rels.iter().enumerate() {
        meta.rels[i] = r.to_u32();
    }
    Ok(meta)
}

fn rollup_oid(table: &str) -> Option<pg_sys::Oid> {
    let name = std::ffi::CString::new(table).ok()?;
    // SAFETY: get_namespace_oid and get_relname_relid only read the syscache with NUL-terminated
    // names that live across the calls; missing_ok, so they return InvalidOid instead of raising.
    unsafe {
        let ns = pg_sys::get_namespace_oid(c"routed".as_ptr(), true);
        let oid = pg_sys::get_relname_relid(name.as_ptr(), ns);
        (oid != pg_sys::InvalidOid).then_some(oid)
    }
}
