//! Freshness budgets: the named levels and SPEC's precedence
//! (argument, else document level, else `routed.default_staleness`, else 0).

use crate::time::{MICROS_PER_SECOND, SECONDS_PER_DAY};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Freshness {
    RealTime,
    NearRealTime,
    Dashboard,
    Analytical,
    Archival,
}

pub const FRESHNESS_NAMES: &str = "real-time, near-real-time, dashboard, analytical, archival";

impl Freshness {
    pub fn parse(name: &str) -> Option<Freshness> {
        Some(match name {
            "real-time" => Freshness::RealTime,
            "near-real-time" => Freshness::NearRealTime,
            "dashboard" => Freshness::Dashboard,
            "analytical" => Freshness::Analytical,
            "archival" => Freshness::Archival,
            _ => return None,
        })
    }

    pub fn name(self) -> &'static str {
        match self {
            Freshness::RealTime => "real-time",
            Freshness::NearRealTime => "near-real-time",
            Freshness::Dashboard => "dashboard",
            Freshness::Analytical => "analytical",
            Freshness::Archival => "archival",
        }
    }

    pub fn budget_micros(self) -> i64 {
        let seconds = match self {
            Freshness::RealTime => 0,
            Freshness::NearRealTime => 30,
            Freshness::Dashboard => 300,
            Freshness::Analytical => SECONDS_PER_DAY,
            Freshness::Archival => 7 * SECONDS_PER_DAY,
        };
        seconds * MICROS_PER_SECOND
    }
}

/// Where the budget in force came from, reported in `routed_explain`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BudgetOrigin {
    Argument,
    Document,
    Setting,
}

impl BudgetOrigin {
    pub fn name(self) -> &'static str {
        match self {
            BudgetOrigin::Argument => "argument",
            BudgetOrigin::Document => "document",
            BudgetOrigin::Setting => "routed.default_staleness",
        }
    }
}

/// Picks the budget in microseconds. `argument` is the `staleness` parameter (NULL = None),
/// `setting_micros` the value of `routed.default_staleness` (0 when unset).
pub fn resolve_budget(
    argument: Option<i64>,
    document: Option<Freshness>,
    setting_micros: i64,
) -> (i64, BudgetOrigin) {
    match (argument, document) {
        (Some(b), _) => (b, BudgetOrigin::Argument),
        (None, Some(level)) => (level.budget_micros(), BudgetOrigin::Document),
        (None, None) => (setting_micros, BudgetOrigin::Setting),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn precedence_argument_then_document_then_setting() {
        let d = Some(Freshness::Dashboard);
        assert_eq!(resolve_budget(Some(0), d, 99), (0, BudgetOrigin::Argument));
        assert_eq!(
            resolve_budget(None, d, 99),
            (300_000_000, BudgetOrigin::Document)
        );
        assert_eq!(resolve_budget(None, None, 99), (99, BudgetOrigin::Setting));
    }

    #[test]
    fn levels_round_trip_by_name() {
        for name in FRESHNESS_NAMES.split(", ") {
            assert_eq!(Freshness::parse(name).unwrap().name(), name);
        }
        assert_eq!(
            Freshness::parse("archival").unwrap().budget_micros(),
            7 * 86_400_000_000
        );
        assert_eq!(Freshness::parse("Dashboard"), None);
    }
}
