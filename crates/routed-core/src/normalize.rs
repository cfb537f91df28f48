//! Canonical form of a parsed document and its fingerprint. Two documents that mean the same
//! query (key order, whitespace, `now-1h` vs `now-60min`, defaults written or left out, the
//! order of an `in` list) share one canonical form; any difference in meaning changes it.
//! `freshness` is left out: the budget decides where an answer may come from, not what it is.

use crate::query::{Dir, FilterValue, Filter, Query};
use serde_json::{json, Map, Value};
use xxhash_rust::xxh3::xxh3_64;

pub fn canonical(q: &Query) -> Value {
    let mut doc = Map::new();
    doc.insert("version".into(), json!(1));
    doc.insert("source".into(), json!(q.source.trim()));
    if let Some(t) = &q.time {
        let mut time = Map::new();
        if let Some(c) = &t.column {
            time.insert("column".into(), json!(c));
        }
        if let Some(f) = &t.from {
            time.insert("from".into(), json!(f.canonical()));
        }
        time.insert("to".into(), json!(t.to.canonical()));
        if let Some(g) = &t.granularity {
            time.insert("granularity".into(), json!(g.canonical()));
        }
        doc.insert("time".into(), Value::Object(time));
    }
    doc.insert("dimensions".into(), json!(q.dimensions));
    let measures: Vec<Value> = q
        .measures
        .iter()
        .map(|m| {
            let mut o = Map::new();
            o.insert("name".into(), json!(m.name));
            o.insert("agg".into(), json!(m.agg.name()));
            if let Some(c) = &m.column {
                o.insert("column".into(), json!(c));
            }
            if let Some(q) = m.q {
                o.insert("q".into(), json!(q));
            }
            o.insert("where".into(), canonical_filters(&m.filters));
            Value::Object(o)
        })
        .collect();
    doc.insert("measures".into(), Value::Array(measures));
    doc.insert("where".into(), canonical_filters(&q.filters));
    let order: Vec<Value> = q
        .order
        .iter()
        .map(|o| json!({"by": o.by, "dir": if o.dir == Dir::Asc { "asc" } else { "desc" }}))
        .collect();
    doc.insert("order".into(), Value::Array(order));
    if let Some(l) = q.limit {
        doc.insert("limit".into(), json!(l));
    }
    doc.insert("exact".into(), json!(q.exact));
    Value::Object(doc)
}

/// Filters are a conjunction, so their order does not matter: sort them by their text.
fn canonical_filters(filters: &[Filter]) -> Value {
    let mut items: Vec<Value> = filters
        .iter()
        .map(|f| {
            let value = match &f.value {
                FilterValue::None => Value::Null,
                FilterValue::One(v) => json!(v),
                FilterValue::List(vs) => {
                    let mut vs = vs.clone();
                    vs.sort();
                    vs.dedup();
                    json!(vs)
                }
            };
            json!({"column": f.column, "op": f.op.name(), "value": value})
        })
        .collect();
    items.sort_by_cached_key(|v| v.to_string());
    items.dedup();
    Value::Array(items)
}

/// Canonical text: serde_json's default map is ordered by key, so the text is stable.
pub fn canonical_text(q: &Query) -> String {
    canonical(q).to_string()
}

/// xxh3-64 of the canonical text, as 16 lowercase hex digits.
pub fn fingerprint(q: &Query) -> String {
    format!("{:016x}", xxh3_64(canonical_text(q).as_bytes()))
}
