//! Canonical form of a parsed document and its fingerprint. Two documents that mean the same
//! query (key order, whitespace, `now-1h` vs `now-60min`, defaults written or left out, the
//! order of filters and of an `in` list) share one canonical form; any difference in meaning
//! changes it. `freshness` is left out: the budget decides where an answer may come from, not
//! what it is.
//!
//! The canonical text is compact JSON with keys in sorted order, written directly (this runs on
//! every call, so it avoids building a `serde_json::Value`).

use crate::query::{Dir, Filter, FilterValue, Query};
use serde_json::Value;
use xxhash_rust::xxh3::xxh3_64;

pub fn canonical_text(q: &Query) -> String {
    let mut out = String::with_capacity(512);
    out.push('{');
    // version 2's keys appear only when used, so a version-1 document keeps its fingerprint
    if !q.computed.is_empty() {
        out.push_str("\"computed\":[");
        for (i, c) in q.computed.iter().enumerate() {
            sep(&mut out, i);
            out.push_str("{\"at\":");
            out.push_str(&c.at.to_string());
            out.push_str(",\"expr\":");
            string(&mut out, &c.expr.canonical());
            out.push_str(",\"name\":");
            string(&mut out, &c.name);
            out.push('}');
        }
        out.push_str("],");
    }
    out.push_str("\"dimensions\":[");
    for (i, d) in q.dimensions.iter().enumerate() {
        sep(&mut out, i);
        string(&mut out, d);
    }
    out.push_str("],\"exact\":");
    out.push_str(if q.exact { "true" } else { "false" });
    if !q.having.is_empty() {
        out.push_str(",\"having\":");
        filters(&mut out, &q.having);
    }
    if !q.joins.is_empty() {
        out.push_str(",\"join\":[");
        for (i, j) in q.joins.iter().enumerate() {
            sep(&mut out, i);
            out.push_str(if j.left {
                "{\"left\":true,\"on\":{"
            } else {
                "{\"left\":false,\"on\":{"
            });
            for (k, (a, b)) in j.on.iter().enumerate() {
                sep(&mut out, k);
                string(&mut out, a);
                out.push(':');
                string(&mut out, b);
            }
            out.push_str("},\"table\":");
            string(&mut out, j.table.trim());
            out.push('}');
        }
        out.push(']');
    }
    if let Some(l) = q.limit {
        out.push_str(",\"limit\":");
        out.push_str(&l.to_string());
    }
    out.push_str(",\"measures\":[");
    for (i, m) in q.measures.iter().enumerate() {
        sep(&mut out, i);
        out.push_str("{\"agg\":");
        string(&mut out, m.agg.name());
        if let Some(c) = &m.column {
            out.push_str(",\"column\":");
            string(&mut out, c);
        }
        out.push_str(",\"name\":");
        string(&mut out, &m.name);
        if let Some(q) = m.q {
            out.push_str(",\"q\":");
            out.push_str(&Value::from(q).to_string());
        }
        out.push_str(",\"where\":");
        filters(&mut out, &m.filters);
        out.push('}');
    }
    out.push_str("],\"order\":[");
    for (i, o) in q.order.iter().enumerate() {
        sep(&mut out, i);
        out.push_str("{\"by\":");
        string(&mut out, &o.by);
        out.push_str(if o.dir == Dir::Asc {
            ",\"dir\":\"asc\"}"
        } else {
            ",\"dir\":\"desc\"}"
        });
    }
    out.push_str("],\"source\":");
    string(&mut out, q.source.trim());
    if let Some(t) = &q.time {
        out.push_str(",\"time\":{");
        let mut n = 0;
        let mut field = |out: &mut String, key: &str, value: &str| {
            sep(out, n);
            n += 1;
            string(out, key);
            out.push(':');
            string(out, value);
        };
        if let Some(c) = &t.column {
            field(&mut out, "column", c);
        }
        if let Some(f) = &t.from {
            field(&mut out, "from", &f.canonical());
        }
        if let Some(g) = &t.granularity {
            field(&mut out, "granularity", &g.canonical());
        }
        field(&mut out, "to", &t.to.canonical());
        out.push('}');
    }
    out.push_str(",\"version\":1,\"where\":");
    filters(&mut out, &q.filters);
    out.push('}');
    out
}

/// Filters are a conjunction, so their order does not matter: sorted and deduplicated by text.
fn filters(out: &mut String, filters: &[Filter]) {
    let mut items: Vec<String> = filters
        .iter()
        .map(|f| {
            let mut s = String::from("{\"column\":");
            string(&mut s, &f.column);
            s.push_str(",\"op\":");
            string(&mut s, f.op.name());
            s.push_str(",\"value\":");
            match &f.value {
                FilterValue::None => s.push_str("null"),
                FilterValue::One(v) => string(&mut s, v),
                FilterValue::List(vs) => {
                    let mut vs: Vec<&String> = vs.iter().collect();
                    vs.sort();
                    vs.dedup();
                    s.push('[');
                    for (i, v) in vs.iter().enumerate() {
                        sep(&mut s, i);
                        string(&mut s, v);
                    }
                    s.push(']');
                }
            }
            s.push('}');
            s
        })
        .collect();
    items.sort();
    items.dedup();
    out.push('[');
    out.push_str(&items.join(","));
    out.push(']');
}

fn sep(out: &mut String, i: usize) {
    if i > 0 {
        out.push(',');
    }
}

/// A JSON string literal, escaped the way serde_json escapes it.
fn string(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{08}' => out.push_str("\\b"),
            '\u{0c}' => out.push_str("\\f"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
}

/// The canonical form as a JSON value (for `routed_explain`).
pub fn canonical(q: &Query) -> Value {
    serde_json::from_str(&canonical_text(q)).expect("canonical text is valid JSON")
}

/// xxh3-64 of the canonical text, as 16 lowercase hex digits.
pub fn fingerprint(q: &Query) -> String {
    fingerprint_of(&canonical_text(q))
}

/// The fingerprint of a canonical text.
pub fn fingerprint_of(canonical: &str) -> String {
    format!("{:016x}", xxh3_64(canonical.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn canonical_text_is_sorted_compact_json() {
        let q = crate::parse::parse_text(
            r#"{"where": [{"column": "b\"\n", "op": "in", "value": ["y", "x", "y"]}], "source": " m ",
                "time": {"granularity": "1 day", "column": "ts", "from": "now-2h"},
                "measures": [{"name": "p", "agg": "percentile", "column": "v", "q": 0.5}]}"#,
        )
        .unwrap();
        let text = canonical_text(&q);
        // serde_json's default map is sorted by key: re-serializing must not change the text.
        assert_eq!(canonical(&q).to_string(), text);
        assert!(text.contains(r#""value":["x","y"]"#), "{text}");
        assert!(text.contains(r#""from":"now-7200s""#), "{text}");
    }
}
