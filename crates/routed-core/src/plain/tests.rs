use super::*;
use crate::parse::parse_text;

const H: i64 = 3_600_000_000;

fn grafana() -> Recipe {
    Recipe {
        source: "public.metrics".into(),
        time_column: "ts".into(),
        lower: vec![Bound {
            expr: 0,
            inclusive: true,
        }],
        upper: vec![Bound {
            expr: 1,
            inclusive: true,
        }],
        bucket: Some(BucketKind::Epoch(300)),
        dimensions: vec!["status".into()],
        measures: vec![
            Measure {
                agg: "count".into(),
                column: None,
                q: None,
                filters: vec![],
            },
            Measure {
                agg: "percentile".into(),
                column: Some("ms".into()),
                q: Some(0.95),
                filters: vec![Filter {
                    column: "status".into(),
                    op: "in".into(),
                    value: FilterValue::List(3),
                }],
            },
        ],
        filters: vec![Filter {
            column: "kind".into(),
            op: "=".into(),
            value: FilterValue::Scalar(2),
        }],
        order: vec![("bucket".into(), false), ("m0".into(), true)],
        limit: Some(4),
        outputs: vec![
            Output::Bucket,
            Output::Column(1),
            Output::Column(2),
            Output::Junk,
        ],
        exact: true,
    }
}

fn values() -> Vec<Evaluated> {
    vec![
        Evaluated::Time(1_764_000_000_000_000),
        Evaluated::Time(1_764_000_000_000_000 + 24 * H),
        Evaluated::Text("RULE".into()),
        Evaluated::List(vec![Some("OK".into()), None, Some("ERR".into())]),
        Evaluated::Int(100),
    ]
}

#[test]
fn the_document_parses_and_means_the_query() {
    let doc = document(&grafana(), &values(), Some(0)).expect("routes");
    let q = parse_text(&doc).expect("a valid document");
    let v: Value = serde_json::from_str(&doc).unwrap();
    // BETWEEN's inclusive upper bound: one microsecond past it, exclusive
    assert_eq!(v["time"]["from"], "2025-11-24T16:00:00+00:00");
    assert_eq!(v["time"]["to"], "2025-11-25T16:00:00.000001+00:00");
    assert_eq!(v["time"]["granularity"], "300 seconds");
    assert_eq!(
        v["measures"][1]["where"][0]["value"],
        json!(["OK", "ERR"]),
        "NULL in IN never matches"
    );
    assert_eq!(v["where"][0]["value"], "RULE");
    assert_eq!(v["limit"], 100);
    assert_eq!(v["exact"], true);
    assert_eq!(q.measures.len(), 2);
}

#[test]
fn bounds_combine_to_the_narrowest_window() {
    let mut r = grafana();
    r.lower.push(Bound {
        expr: 1,
        inclusive: false,
    });
    r.upper = vec![Bound {
        expr: 1,
        inclusive: false,
    }];
    assert_eq!(
        document(&r, &values(), Some(0)),
        Err("an empty or unbounded window")
    );
    r.lower = vec![Bound {
        expr: 0,
        inclusive: false,
    }];
    let v: Value = serde_json::from_str(&document(&r, &values(), Some(0)).unwrap()).unwrap();
    assert_eq!(v["time"]["from"], "2025-11-24T16:00:00.000001+00:00");
    assert_eq!(v["time"]["to"], "2025-11-25T16:00:00+00:00");
    r.upper.clear();
    assert_eq!(document(&r, &values(), Some(0)), Err("no upper time bound"));
}

#[test]
fn what_cannot_be_routed_is_declined() {
    let mut vals = values();
    vals[2] = Evaluated::Null;
    assert!(document(&grafana(), &vals, Some(0)).is_err(), "= NULL");
    let mut vals = values();
    vals[4] = Evaluated::Int(0);
    assert!(document(&grafana(), &vals, Some(0)).is_err(), "LIMIT 0");
    let mut vals = values();
    vals[1] = Evaluated::Time(i64::MAX);
    assert!(document(&grafana(), &vals, Some(0)).is_err(), "infinity");
    let mut r = grafana();
    r.measures[1].filters[0].op = "not in".into();
    assert!(
        document(&r, &values(), Some(0)).is_err(),
        "NOT IN with NULL"
    );
}

#[test]
fn sub_day_truncation_needs_a_fixed_offset_of_whole_units() {
    let mut r = grafana();
    r.bucket = Some(BucketKind::Trunc("hour".into()));
    assert!(document(&r, &values(), Some(0)).is_ok());
    assert!(document(&r, &values(), Some(-5 * 3600)).is_ok());
    assert!(
        document(&r, &values(), Some(19_800)).is_err(),
        "Asia/Kolkata"
    );
    assert!(document(&r, &values(), None).is_err(), "a zone with DST");
    r.bucket = Some(BucketKind::Trunc("day".into()));
    let v: Value = serde_json::from_str(&document(&r, &values(), None).unwrap()).unwrap();
    assert_eq!(
        v["time"]["granularity"], "1 day",
        "calendar days in the session TimeZone"
    );
}

#[test]
fn date_bin_routes_only_epoch_aligned_whole_seconds() {
    let mut r = grafana();
    r.bucket = Some(BucketKind::Bin {
        stride: 5,
        origin: 6,
    });
    let mut vals = values();
    vals.push(Evaluated::Interval {
        months: 0,
        days: 0,
        micros: 900_000_000,
    });
    vals.push(Evaluated::Time(946_684_800_000_000)); // 2000-01-01
    let v: Value = serde_json::from_str(&document(&r, &vals, None).unwrap()).unwrap();
    assert_eq!(v["time"]["granularity"], "900 seconds");
    vals[6] = Evaluated::Time(946_684_800_000_000 + 1);
    assert!(document(&r, &vals, None).is_err());
    vals[6] = Evaluated::Time(0);
    vals[5] = Evaluated::Interval {
        months: 1,
        days: 0,
        micros: 0,
    };
    assert!(document(&r, &vals, None).is_err());
}

#[test]
fn recipes_survive_their_json() {
    let mut r = grafana();
    assert_eq!(Recipe::from_json(&r.to_json()), Some(r.clone()));
    for b in [
        None,
        Some(BucketKind::Trunc("week".into())),
        Some(BucketKind::TruncIn {
            unit: "day".into(),
            zone: "Asia/Kolkata".into(),
        }),
        Some(BucketKind::Bin {
            stride: 1,
            origin: 2,
        }),
        Some(BucketKind::Date),
    ] {
        r.bucket = b;
        r.limit = None;
        assert_eq!(Recipe::from_json(&r.to_json()), Some(r.clone()));
    }
}
