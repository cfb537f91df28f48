// Normalization and fingerprints: equal meaning, equal fingerprint; any change of meaning, a
// different one. Property tests generate documents and rewrite them without changing meaning.

use proptest::prelude::*;
use routed_core::normalize::{canonical_text, fingerprint};
use routed_core::parse::{parse, parse_text};
use serde_json::{json, Map, Value};

fn arb_document() -> impl Strategy<Value = Value> {
    let measure = (0usize..5, prop::bool::ANY, 0u32..=100).prop_map(|(agg, filtered, q)| {
        let aggs = ["count", "sum", "avg", "percentile", "count_distinct"];
        let mut m = json!({"agg": aggs[agg]});
        if aggs[agg] != "count" {
            m["column"] = json!("latency");
        }
        if aggs[agg] == "percentile" {
            m["q"] = json!(f64::from(q) / 100.0);
        }
        if filtered {
            m["where"] = json!([{"column": "status", "op": "=", "value": "ERROR"}]);
        }
        m
    });
    (
        prop::collection::vec(measure, 1..4),
        prop::option::of(0usize..4),
        prop::option::of(1u64..500),
        prop::collection::vec("[a-z]{1,3}", 0..4),
        prop::bool::ANY,
    )
        .prop_map(|(measures, time, limit, values, exact)| {
            let mut doc = json!({"source": "metrics", "exact": exact});
            let measures: Vec<Value> = measures
                .into_iter()
                .enumerate()
                .map(|(i, mut m)| {
                    m["name"] = json!(format!("m{i}"));
                    m
                })
                .collect();
            doc["measures"] = json!(measures);
            if let Some(t) = time {
                let from = ["now-24h", "now-7d", "yesterday", "2026-11-01T00:00:00Z"][t];
                doc["time"] = json!({"column": "ts", "from": from, "granularity": "1 hour"});
            }
            if let Some(l) = limit {
                doc["limit"] = json!(l);
            }
            if !values.is_empty() {
                doc["where"] = json!([{"column": "region", "op": "in", "value": values},
                                      {"column": "n", "op": ">", "value": 3}]);
            }
            doc
        })
}

/// Same meaning, different text: keys reversed, spacing changed, `in` list and filters reordered.
fn rewrite(v: &Value) -> Value {
    match v {
        Value::Object(m) => {
            let mut out = Map::new();
            for (k, val) in m.iter().rev() {
                let val = if k == "value" || k == "where" {
                    match val {
                        Value::Array(items) => {
                            Value::Array(items.iter().rev().map(rewrite).collect())
                        }
                        other => rewrite(other),
                    }
                } else {
                    rewrite(val)
                };
                out.insert(k.clone(), val);
            }
            Value::Object(out)
        }
        Value::Array(items) => Value::Array(items.iter().map(rewrite).collect()),
        other => other.clone(),
    }
}

proptest! {
    #[test]
    fn fingerprint_ignores_layout_and_order(doc in arb_document()) {
        let a = parse(&doc).unwrap();
        let pretty = serde_json::to_string_pretty(&rewrite(&doc)).unwrap();
        let b = parse_text(&pretty).unwrap();
        prop_assert_eq!(fingerprint(&a), fingerprint(&b));
    }

    #[test]
    fn canonical_form_round_trips(doc in arb_document()) {
        let q = parse(&doc).unwrap();
        let again = parse_text(&canonical_text(&q)).unwrap();
        prop_assert_eq!(canonical_text(&again), canonical_text(&q));
        prop_assert_eq!(fingerprint(&again), fingerprint(&q));
    }

    #[test]
    fn fingerprint_changes_with_any_value(doc in arb_document(), bump in 1u64..1000) {
        let a = parse(&doc).unwrap();
        let mut changed = doc.clone();
        changed["limit"] = json!(doc.get("limit").and_then(Value::as_u64).unwrap_or(0) + bump);
        let b = parse(&changed).unwrap();
        prop_assert_ne!(fingerprint(&a), fingerprint(&b));
        let mut renamed = doc.clone();
        renamed["measures"][0]["name"] = json!("other");
        prop_assert_ne!(fingerprint(&a), fingerprint(&parse(&renamed).unwrap()));
    }
}

#[test]
fn equivalent_relative_bounds_share_a_fingerprint() {
    let a = parse_text(
        r#"{"source": "m", "time": {"column": "ts", "from": "now-1h"}, "measures": [{"name": "n", "agg": "count"}]}"#,
    );
    let b = parse_text(
        r#"{"source": "m", "time": {"column": "ts", "from": "now-60min", "to": "now"}, "measures": [{"name": "n", "agg": "count"}]}"#,
    );
    let c = parse_text(
        r#"{"source": "m", "time": {"column": "ts", "from": "now-1d"}, "measures": [{"name": "n", "agg": "count"}]}"#,
    );
    let d = parse_text(
        r#"{"source": "m", "time": {"column": "ts", "from": "now-24h"}, "measures": [{"name": "n", "agg": "count"}]}"#,
    );
    assert_eq!(fingerprint(&a.unwrap()), fingerprint(&b.unwrap()));
    // A calendar day is not always 24 hours (daylight saving), so these differ.
    assert_ne!(fingerprint(&c.unwrap()), fingerprint(&d.unwrap()));
}

#[test]
fn freshness_is_not_part_of_the_fingerprint() {
    let a = parse_text(
        r#"{"source": "m", "measures": [{"name": "n", "agg": "count"}], "freshness": "dashboard"}"#,
    );
    let b = parse_text(r#"{"source": "m", "measures": [{"name": "n", "agg": "count"}]}"#);
    assert_eq!(fingerprint(&a.unwrap()), fingerprint(&b.unwrap()));
}
