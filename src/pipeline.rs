//! From the SQL arguments to a decided, generated query: parse, fingerprint, resolve the
//! budget, load the catalog, bind, route and generate. Shared by routed_query, routed_rows
//! and routed_explain so the three always agree.

use crate::catalog::load_relation;
use crate::error::OrRaise;
use crate::freshness;
use crate::gucs;
use routed_core::budget::{resolve_budget, BudgetOrigin};
use routed_core::codegen::{generate, Generated};
use routed_core::names::parse_qualified_name;
use routed_core::normalize::fingerprint;
use routed_core::query::{parse_text, Query};
use routed_core::resolve::{bind, Bound};
use routed_core::route::{plan, Plan};
use routed_core::Error;

pub struct Prepared {
    pub query: Query,
    pub fingerprint: String,
    pub budget_origin: BudgetOrigin,
    pub bound: Bound,
    pub plan: Plan,
    /// The rollup the plan reads, if any.
    pub rollup: Option<String>,
    pub generated: Generated,
}

/// `staleness_micros` is the `staleness` argument (None when NULL).
pub fn prepare(document: &str, staleness_micros: Option<i64>) -> Prepared {
    if let Some(s) = staleness_micros.filter(|s| *s < 0) {
        crate::error::raise(Error::invalid(
            "staleness",
            format!(
                "must not be negative, got {}",
                routed_core::time::format_interval(s)
            ),
        ));
    }
    let query = parse_text(document).or_raise();
    let fingerprint = fingerprint(&query);
    let (budget, budget_origin) = resolve_budget(
        staleness_micros,
        query.freshness,
        gucs::default_staleness_micros(),
    );
    let name = parse_qualified_name("source", &query.source).or_raise();
    let relation = load_relation(&name);
    let bound = bind(&query, &relation).or_raise();
    // rollups matter only for time ranges on tracked sources (every rollup's source is
    // tracked), so untracked sources pay no catalog read; routed.enabled = off reads the base
    // table only
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
    let rollup = plan.rollup.as_ref().map(|r| &facts[r.index].def);
    let generated = generate(&bound, &plan, rollup);
    Prepared {
        query,
        fingerprint,
        budget_origin,
        bound,
        rollup: rollup.map(|r| r.name.clone()),
        plan,
        generated,
    }
}
