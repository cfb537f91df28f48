//! Which rollups to build, from the documents the base table answered (`routed.query_stats`):
//! few rollups that serve many documents. Documents of one source and time column share a
//! rollup (the union of the source columns they group and filter on, the union of the states
//! their measures need, a width that tiles every granularity they ask) as long as it still
//! compresses the source; a document that would make it too wide starts another.

mod estimate;

use crate::query::{Agg, Query};
use crate::time::Granularity;
pub use estimate::SourceFacts;
use serde_json::{json, Value};

/// A rollup that keeps fewer than this share of its source's rows is worth suggesting.
const MAX_ROW_SHARE: f64 = 0.2;
/// Width used for documents whose granularity does not constrain it (totals, calendar buckets:
/// hours tile days, weeks and months in every whole-hour TimeZone).
const DEFAULT_WIDTH_SECS: i64 = 3600;

/// A document the base table answered, resolved by the extension.
#[derive(Debug, Clone)]
pub struct Observed {
    pub fingerprint: String,
    pub query: Query,
    /// Schema-qualified source, quoted (the grouping key, and what `create_rollup` is given).
    pub source: String,
    pub time_column: String,
    pub calls: i64,
    /// Milliseconds it spent on the base table.
    pub base_ms: f64,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Suggestion {
    pub name: String,
    pub source: String,
    pub width_secs: i64,
    pub dimensions: Vec<String>,
    pub measures: Vec<Value>,
    pub fingerprints: Vec<String>,
    pub calls: i64,
    pub base_ms: f64,
    pub est_rows: f64,
    pub est_bytes: f64,
    /// Source rows per rollup row: how much less a whole-bucket answer reads.
    pub speedup: f64,
}

impl Suggestion {
    /// The `CALL routed.create_rollup(...)` that builds it.
    pub fn statement(&self) -> String {
        let dims: Vec<String> = self.dimensions.iter().map(|d| literal(d)).collect();
        format!(
            "CALL routed.create_rollup({}, {}, '{} seconds', ARRAY[{}]::text[], {})",
            literal(&self.name),
            literal(&self.source),
            self.width_secs,
            dims.join(", "),
            literal(&Value::Array(self.measures.clone()).to_string())
        )
    }
}

fn literal(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

/// What a document needs from a rollup, or None when no rollup can answer it.
struct Need {
    columns: Vec<String>,
    states: Vec<Value>,
    width: Option<i64>,
}

fn need(q: &Query) -> Option<Need> {
    let t = q.time.as_ref()?;
    let sketched = q
        .measures
        .iter()
        .any(|m| matches!(m.agg, Agg::Percentile | Agg::CountDistinct));
    if q.exact && sketched {
        return None; // exact percentiles and distinct counts come from the base table only
    }
    let joined = |c: &str| {
        q.joins.iter().any(|j| {
            c.strip_prefix(j.table.as_str())
                .is_some_and(|r| r.starts_with('.'))
        })
    };
    let mut columns: Vec<String> = Vec::new();
    let mut add = |c: &str| {
        if !joined(c) && !columns.iter().any(|x| x == c) {
            columns.push(c.to_string());
        }
    };
    q.dimensions.iter().for_each(|d| add(d));
    q.filters.iter().for_each(|f| add(&f.column));
    for m in &q.measures {
        m.filters.iter().for_each(|f| add(&f.column));
    }
    for j in &q.joins {
        j.on.iter().for_each(|(s, _)| add(s));
    }
    let mut states = Vec::new();
    for m in &q.measures {
        // avg is one entry too: the rollup keeps its sum and count
        let mut s = json!({ "agg": m.agg.name() });
        if let Some(c) = &m.column {
            s["column"] = json!(c);
        }
        if !states.contains(&s) {
            states.push(s);
        }
    }
    let width = match t.granularity {
        Some(Granularity::Fixed(g)) => Some(g),
        Some(_) => Some(DEFAULT_WIDTH_SECS),
        None => None,
    };
    Some(Need {
        columns,
        states,
        width,
    })
}

/// The rollup's columns, those more of its documents use first, then by name: the order must
/// not depend on which document was measured slower (timings vary between runs).
fn stable_order(columns: Vec<String>, members: &[usize], observed: &[Observed]) -> Vec<String> {
    let needs: Vec<Need> = members
        .iter()
        .filter_map(|&i| need(&observed[i].query))
        .collect();
    let uses = |c: &String| needs.iter().filter(|n| n.columns.contains(c)).count();
    let mut keyed: Vec<(usize, String)> = columns.into_iter().map(|c| (uses(&c), c)).collect();
    keyed.sort_by(|a, b| b.0.cmp(&a.0).then_with(|| a.1.cmp(&b.1)));
    keyed.into_iter().map(|(_, c)| c).collect()
}

fn gcd(a: i64, b: i64) -> i64 {
    if b == 0 {
        a
    } else {
        gcd(b, a % b)
    }
}

/// One rollup being put together.
struct Cluster {
    source: String,
    time_column: String,
    columns: Vec<String>,
    states: Vec<Value>,
    width: Option<i64>,
    members: Vec<usize>,
}

impl Cluster {
    fn width(&self) -> i64 {
        self.width.unwrap_or(DEFAULT_WIDTH_SECS)
    }

    fn with(&self, n: &Need) -> (Vec<String>, Option<i64>) {
        let mut cols = self.columns.clone();
        for c in &n.columns {
            if !cols.contains(c) {
                cols.push(c.clone());
            }
        }
        let width = match (self.width, n.width) {
            (Some(a), Some(b)) => Some(gcd(a, b)),
            (a, b) => a.or(b),
        };
        (cols, width)
    }
}

/// Suggestions, most base-table time saved first. `facts` gives a source's statistics (None:
/// its documents are skipped); `taken` says whether a rollup name is in use.
pub fn recommend(
    observed: &[Observed],
    facts: &dyn Fn(&str, &str) -> Option<SourceFacts>,
    taken: &dyn Fn(&str) -> bool,
) -> Vec<Suggestion> {
    let mut order: Vec<usize> = (0..observed.len()).collect();
    order.sort_by(|&a, &b| observed[b].base_ms.total_cmp(&observed[a].base_ms));
    let mut clusters: Vec<Cluster> = Vec::new();
    let mut known: Vec<(String, String, Option<SourceFacts>)> = Vec::new();
    for i in order {
        let o = &observed[i];
        let Some(n) = need(&o.query) else { continue };
        let f = match known
            .iter()
            .find(|(s, t, _)| *s == o.source && *t == o.time_column)
        {
            Some((_, _, f)) => f.clone(),
            None => {
                let f = facts(&o.source, &o.time_column);
                known.push((o.source.clone(), o.time_column.clone(), f.clone()));
                f
            }
        };
        let Some(f) = f else { continue };
        let fits = |cols: &[String], width: Option<i64>| {
            f.rows_for(cols, width.unwrap_or(DEFAULT_WIDTH_SECS)) <= MAX_ROW_SHARE * f.rows
        };
        let joined = clusters.iter_mut().find(|c| {
            c.source == o.source && c.time_column == o.time_column && {
                let (cols, width) = c.with(&n);
                fits(&cols, width)
            }
        });
        match joined {
            Some(c) => {
                let (cols, width) = c.with(&n);
                c.columns = cols;
                c.width = width;
                for s in n.states {
                    if !c.states.contains(&s) {
                        c.states.push(s);
                    }
                }
                c.members.push(i);
            }
            None if fits(&n.columns, n.width) => clusters.push(Cluster {
                source: o.source.clone(),
                time_column: o.time_column.clone(),
                columns: n.columns,
                states: n.states,
                width: n.width,
                members: vec![i],
            }),
            None => {}
        }
    }
    let mut names: Vec<String> = Vec::new();
    let mut out: Vec<Suggestion> = clusters
        .into_iter()
        .map(|c| {
            let f = known
                .iter()
                .find(|(s, t, _)| *s == c.source && *t == c.time_column)
                .and_then(|(_, _, f)| f.clone())
                .expect("clusters come from sources with facts");
            let width = c.width();
            let est_rows = f.rows_for(&c.columns, width);
            let name = free_name(&f.table_name, width, taken, &names);
            names.push(name.clone());
            let mut states = c.states;
            states.sort_by_key(|s| s.to_string());
            let dimensions = stable_order(c.columns, &c.members, observed);
            Suggestion {
                name,
                source: c.source,
                width_secs: width,
                est_bytes: est_rows * estimate::row_bytes(dimensions.len(), &states),
                dimensions,
                measures: states,
                fingerprints: c
                    .members
                    .iter()
                    .map(|&i| observed[i].fingerprint.clone())
                    .collect(),
                calls: c.members.iter().map(|&i| observed[i].calls).sum(),
                base_ms: c.members.iter().map(|&i| observed[i].base_ms).sum(),
                speedup: f.rows / est_rows.max(1.0),
                est_rows,
            }
        })
        .collect();
    out.sort_by(|a, b| b.base_ms.total_cmp(&a.base_ms));
    out
}

/// `{table}_{width}` (`metrics_1h`), numbered when the name is taken.
fn free_name(table: &str, width: i64, taken: &dyn Fn(&str) -> bool, used: &[String]) -> String {
    let w = match width {
        w if w % 86_400 == 0 => format!("{}d", w / 86_400),
        w if w % 3_600 == 0 => format!("{}h", w / 3_600),
        w if w % 60 == 0 => format!("{}min", w / 60),
        w => format!("{w}s"),
    };
    let stem: String = format!("{table}_{w}").chars().take(50).collect();
    let mut name = stem.clone();
    let mut k = 2;
    while taken(&name) || used.contains(&name) {
        name = format!("{stem}_{k}");
        k += 1;
    }
    name
}

#[cfg(test)]
mod tests;
