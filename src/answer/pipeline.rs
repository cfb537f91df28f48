//! From the SQL arguments to a decided, generated query: parse, fingerprint, resolve the
//! budget, load the catalog, bind, route and generate. Shared by routed_query, routed_rows
//! and routed_explain so the three always agree.

use crate::catalog::{load_relation, load_relation_at};
use crate::error::OrRaise;
use crate::gucs;
use crate::rollups::freshness;
use pgrx::pg_sys;
use routed_core::budget::{resolve_budget, BudgetOrigin};
use routed_core::codegen::{generate, Generated};
use routed_core::names::parse_qualified_name;
use routed_core::normalize::{canonical_text, fingerprint_of};
use routed_core::parse::parse_text;
use routed_core::query::Query;
use routed_core::resolve::{bind_joined, Bound};
use routed_core::rollup::RollupDef;
use routed_core::route::{plan, Plan, Window};
use routed_core::Error;

/// A parsed document with its budget: all a cache lookup needs.
pub struct Parsed {
    pub query: Query,
    pub canonical: String,
    pub fingerprint: String,
    pub budget: i64,
    pub budget_origin: BudgetOrigin,
}

pub struct Prepared {
    pub query: Query,
    pub fingerprint: String,
    pub budget_origin: BudgetOrigin,
    /// The source relation, and whether it is tracked with the document's time column (its
    /// changes are published, so its cached answers can stay exact).
    pub source_oid: u32,
    pub tracked_range: bool,
    /// The document's window evaluated now, when it was needed.
    pub window: Option<Window>,
    pub bound: Bound,
    pub plan: Plan,
    /// The rollups the plan reads, cheapest first (`meta.rollup` joins them with `+`).
    pub rollups: Vec<String>,
    pub generated: Generated,
    /// Set when the plan reads rollups: see `facts_outdated`.
    facts_mark: Option<u64>,
}

impl Prepared {
    /// Whether the source's relcache entry was invalidated after its rollup facts were read (a
    /// partition attached or detached while the answer waited for a lock): plan it again, and
    /// the facts will say the tree changed.
    pub fn facts_outdated(&self) -> bool {
        self.facts_mark.is_some_and(freshness::changed_since)
    }
}

/// `staleness_micros` is the `staleness` argument (None when NULL).
pub fn parse(document: &str, staleness_micros: Option<i64>) -> Parsed {
    check_staleness(staleness_micros);
    let query = parse_text(document).or_raise();
    let canonical = canonical_text(&query);
    let fingerprint = fingerprint_of(&canonical);
    with_budget(query, canonical, fingerprint, staleness_micros)
}

pub fn check_staleness(staleness_micros: Option<i64>) {
    if let Some(s) = staleness_micros.filter(|s| *s < 0) {
        crate::error::raise(Error::invalid(
            "staleness",
            format!(
                "must not be negative, got {}",
                routed_core::time::format_interval(s)
            ),
        ));
    }
}

/// Resolves the budget of an already parsed document.
pub fn with_budget(
    query: Query,
    canonical: String,
    fingerprint: String,
    staleness_micros: Option<i64>,
) -> Parsed {
    let (budget, budget_origin) = resolve_budget(
        staleness_micros,
        query.freshness,
        gucs::default_staleness_micros(),
    );
    Parsed {
        query,
        canonical,
        fingerprint,
        budget,
        budget_origin,
    }
}

pub fn plan_parsed(parsed: Parsed) -> Prepared {
    let Parsed {
        query,
        fingerprint,
        budget,
        budget_origin,
        ..
    } = parsed;
    let name = parse_qualified_name("source", &query.source).or_raise();
    let relation = load_relation(&name);
    let joined: Vec<_> = query
        .joins
        .iter()
        .enumerate()
        .map(|(i, j)| {
            let path = format!("join[{i}].table");
            load_relation_at(&parse_qualified_name(&path, &j.table).or_raise(), &path)
        })
        .collect();
    let bound = bind_joined(&query, &relation, &joined).or_raise();
    // rollups matter only for time ranges on tracked sources (every rollup's source is
    // tracked), so untracked sources pay no catalog read; routed.enabled = off reads the base
    // table only
    let mark = freshness::watch(pg_sys::Oid::from(relation.oid));
    let facts =
        if gucs::ENABLED.get() && bound.time.is_some() && relation.tracked_time_column.is_some() {
            freshness::rollups(relation.oid)
        } else {
            Vec::new()
        };
    let window = if facts.is_empty() {
        None
    } else {
        freshness::window(&bound)
    };
    let plan = plan(&bound, budget, &facts, window.as_ref());
    let rollups: Vec<&RollupDef> = plan.rollups.iter().map(|r| &facts[r.index].def).collect();
    let generated = generate(&bound, &plan, &rollups);
    let tracked_range = match (&bound.time, &relation.tracked_time_column) {
        (Some(t), Some(c)) => &t.column == c,
        (None, Some(_)) => true,
        _ => false,
    };
    Prepared {
        query,
        fingerprint,
        budget_origin,
        source_oid: relation.oid,
        tracked_range,
        window,
        bound,
        rollups: rollups.iter().map(|r| r.name.clone()).collect(),
        facts_mark: (!plan.rollups.is_empty()).then_some(mark),
        plan,
        generated,
    }
}
