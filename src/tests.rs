//! #[pg_test]s: the extension inside a real backend. Each runs in a transaction that is rolled
//! back; several-backend behaviour is tested from outside (scripts/test.sh).

#[pgrx::pg_schema]
mod tests {
    use pgrx::prelude::*;
    use serde_json::Value;

    fn fixture() {
        Spi::run(
            "CREATE TABLE t (ts timestamptz, shop text, qty int, price numeric);
             INSERT INTO t SELECT timestamptz '2026-01-01 00:00:00+00' + i * interval '50 minutes',
                                  (ARRAY['a', 'b', 'c'])[1 + i % 3], i % 10, (i % 7) * 1.25
             FROM generate_series(1, 200) i;",
        )
        .unwrap();
    }

    fn answer(doc: &str) -> Value {
        let text =
            Spi::get_one_with_args::<String>("SELECT routed_query($1::jsonb)::text", &[doc.into()])
                .unwrap()
                .unwrap();
        serde_json::from_str(&text).unwrap()
    }

    #[pg_test]
    fn grouped_answer_equals_plain_sql() {
        fixture();
        let a = answer(
            r#"{"source": "t", "time": {"column": "ts", "from": "2026-01-02T00:00:00Z", "to": "2026-01-05T00:00:00Z",
                "granularity": "1 day"}, "dimensions": ["shop"],
                "measures": [{"name": "n", "agg": "count"}, {"name": "q", "agg": "sum", "column": "qty"}]}"#,
        );
        let expected = Spi::get_one::<String>(
            "SELECT jsonb_agg(jsonb_build_array(d, shop, n, q) ORDER BY d, shop)::text FROM (
               SELECT date_trunc('day', ts) d, shop, count(*) n, sum(qty) q FROM t
               WHERE ts >= '2026-01-02T00:00:00Z' AND ts < '2026-01-05T00:00:00Z' GROUP BY 1, 2) s",
        )
        .unwrap()
        .unwrap();
        assert_eq!(a["rows"], serde_json::from_str::<Value>(&expected).unwrap());
        assert_eq!(a["rows"].as_array().unwrap().len(), 9);
        assert_eq!(a["meta"]["source"], "base");
        // the test's transaction wrote the fixture: it reads its own rows, never the cache
        assert_eq!(a["meta"]["cache"], "bypass");
    }

    #[pg_test]
    fn numeric_results_keep_every_digit() {
        fixture();
        let (ours, plain) = Spi::get_two::<String, String>(
            r#"SELECT routed_query('{"source": "t", "measures": [{"name": "avg", "agg": "avg", "column": "price"}]}')
                        -> 'rows' -> 0 ->> 0,
                      (SELECT avg(price)::text FROM t)"#,
        )
        .unwrap();
        assert_eq!(ours, plain);
        assert!(
            plain.unwrap().len() > 17,
            "avg keeps more digits than a float8 could"
        );
    }

    #[pg_test(
        error = "measures[0].agg: unknown aggregate \"p95\"; expected one of count, sum, min, max, avg, count_distinct, percentile"
    )]
    fn unknown_aggregate_is_an_error_with_its_path() {
        fixture();
        answer(r#"{"source": "t", "measures": [{"name": "p", "agg": "p95"}]}"#);
    }

    #[pg_test(error = "where[0].value: invalid input syntax for type integer: \"1; DROP TABLE t\"")]
    fn values_are_checked_against_the_column_type() {
        fixture();
        answer(
            r#"{"source": "t", "measures": [{"name": "n", "agg": "count"}],
                   "where": [{"column": "qty", "op": "=", "value": "1; DROP TABLE t"}]}"#,
        );
    }

    #[pg_test]
    fn routed_rows_returns_typed_rows() {
        fixture();
        let total = Spi::get_one::<i64>(
            r#"SELECT sum(n)::int8 FROM routed_rows('{"source": "t", "dimensions": ["shop"],
                 "measures": [{"name": "n", "agg": "count"}]}') AS r(shop text, n bigint)"#,
        )
        .unwrap();
        assert_eq!(total, Some(200));
    }

    #[pg_test]
    fn explain_shows_values_only_as_parameters() {
        fixture();
        let text = Spi::get_one::<String>(
            r#"SELECT routed_explain('{"source": "t", "measures": [{"name": "n", "agg": "count"}],
                 "where": [{"column": "shop", "op": "=", "value": "x'' OR 1=1 --"}]}')::text"#,
        )
        .unwrap()
        .unwrap();
        let e: Value = serde_json::from_str(&text).unwrap();
        let sql = e["sql"].as_str().unwrap();
        assert!(
            sql.contains("\"shop\" = CAST($1 AS \"pg_catalog\".\"text\")"),
            "{sql}"
        );
        assert!(!sql.contains("OR 1=1"), "{sql}");
        assert_eq!(e["params"][0]["value"], "x' OR 1=1 --");
        assert_eq!(e["candidates"][0]["can_answer"], true);
    }

    #[pg_test]
    fn budget_comes_from_the_setting_when_nothing_else_gives_one() {
        fixture();
        Spi::run("SET LOCAL routed.default_staleness = '2min'").unwrap();
        let a = answer(r#"{"source": "t", "measures": [{"name": "n", "agg": "count"}]}"#);
        assert_eq!(a["meta"]["budget"], "00:02:00");
        let a = answer(
            r#"{"source": "t", "measures": [{"name": "n", "agg": "count"}], "freshness": "real-time"}"#,
        );
        assert_eq!(a["meta"]["budget"], "00:00:00");
    }

    #[pg_test]
    fn search_path_decides_which_table_answers() {
        fixture();
        Spi::run("CREATE SCHEMA other; CREATE TABLE other.t (ts timestamptz, shop text, qty int, price numeric)").unwrap();
        Spi::run("SET LOCAL search_path = other, public").unwrap();
        let a = answer(r#"{"source": "t", "measures": [{"name": "n", "agg": "count"}]}"#);
        assert_eq!(a["rows"][0][0], 0);
        let a = answer(r#"{"source": "public.t", "measures": [{"name": "n", "agg": "count"}]}"#);
        assert_eq!(a["rows"][0][0], 200);
    }

    /// Builds and refreshes a rollup of `t` inside the test's transaction (the procedures
    /// commit, so the test drives their steps: begin, then steps until done).
    fn rollup_of_t() {
        Spi::run(
            "SELECT routed.track('t', 'ts');
             SELECT routed._create_rollup('t_hourly', 't'::regclass, '1 hour', '{shop}',
                    '[{\"agg\": \"count\"}, {\"agg\": \"sum\", \"column\": \"qty\"}, {\"agg\": \"avg\", \"column\": \"price\"}]',
                    '1 minute', '0');",
        )
        .unwrap();
        refresh();
    }

    fn refresh() {
        let target = Spi::get_one::<pgrx::datum::TimestampWithTimeZone>(
            "SELECT routed._refresh_begin('t_hourly', NULL)",
        )
        .unwrap()
        .unwrap();
        while Spi::get_one_with_args::<bool>(
            "SELECT routed._refresh_step('t_hourly', NULL, NULL, $1)",
            &[target.into()],
        )
        .unwrap()
        .unwrap()
        {}
    }

    /// The same document answered by the router and by the base table alone.
    fn routed_and_base(doc: &str) -> (Value, Value) {
        let routed = answer(doc);
        Spi::run("SET LOCAL routed.enabled = off").unwrap();
        let base = answer(doc);
        Spi::run("SET LOCAL routed.enabled = on").unwrap();
        (routed, base)
    }

    const DAILY_BY_SHOP: &str = r#"{"source": "t", "time": {"from": "2026-01-02T00:00:00Z", "to": "2026-01-06T00:00:00Z",
        "granularity": "1 day"}, "dimensions": ["shop"], "measures": [{"name": "n", "agg": "count"},
        {"name": "q", "agg": "sum", "column": "qty"}, {"name": "p", "agg": "avg", "column": "price"}]}"#;

    #[pg_test]
    fn rollup_answers_equal_the_base_table_after_every_kind_of_write() {
        fixture();
        rollup_of_t();
        let (routed, base) = routed_and_base(DAILY_BY_SHOP);
        assert_eq!(routed["meta"]["source"], "rollup");
        assert_eq!(routed["meta"]["rollup"], "t_hourly");
        assert_eq!(routed["rows"], base["rows"]);
        let writes = [
            (
                "late insert",
                "INSERT INTO t VALUES ('2026-01-03 10:10+00', 'a', 5, 1.5)",
            ),
            (
                "update across buckets",
                "UPDATE t SET ts = ts + interval '1 day' WHERE qty = 3",
            ),
            ("delete", "DELETE FROM t WHERE shop = 'b' AND qty < 4"),
        ];
        for (what, sql) in writes {
            Spi::run(sql).unwrap();
            let (routed, base) = routed_and_base(DAILY_BY_SHOP);
            assert_eq!(routed["rows"], base["rows"], "after {what}");
            assert_eq!(routed["meta"]["staleness"], "00:00:00", "after {what}");
        }
        refresh();
        let (routed, base) = routed_and_base(DAILY_BY_SHOP);
        assert_eq!(
            routed["meta"]["source"], "rollup",
            "refresh consumed the log"
        );
        assert_eq!(routed["rows"], base["rows"]);
        let pending = Spi::get_one::<i64>("SELECT count(*) FROM routed.invalidations").unwrap();
        assert_eq!(pending, Some(0));
    }

    #[pg_test]
    fn inserts_below_the_threshold_become_deltas_and_updates_log_ranges() {
        fixture();
        rollup_of_t();
        Spi::run("INSERT INTO t VALUES ('2026-01-03 10:10+00', 'a', 5, 1.5), ('2026-01-04 11:00+00', 'b', 1, 2)")
            .unwrap();
        let deltas =
            Spi::get_one::<i64>(r#"SELECT sum("count(*)")::int8 FROM routed."t_hourly$delta""#)
                .unwrap();
        assert_eq!(deltas, Some(2));
        Spi::run("INSERT INTO t VALUES (now() + interval '1 day', 'a', 1, 1)").unwrap();
        let deltas =
            Spi::get_one::<i64>(r#"SELECT sum("count(*)")::int8 FROM routed."t_hourly$delta""#)
                .unwrap();
        assert_eq!(deltas, Some(2), "rows above the threshold need nothing");
        Spi::run("UPDATE t SET ts = ts + interval '3 days' WHERE ts = (SELECT min(ts) FROM t)")
            .unwrap();
        let ranges = Spi::get_one::<i64>("SELECT count(*) FROM routed.invalidations").unwrap();
        assert_eq!(ranges, Some(2), "old and new rows far apart log two ranges");
    }

    /// The answer's jsonb, written directly in PostgreSQL's layout, equals the same JSON parsed
    /// by jsonb_in; a body of another shape goes through jsonb_concat and gets the same meta.
    #[pg_test]
    fn answers_written_as_jsonb_equal_parsed_json() {
        use crate::answer::jsonb_build::{answer_datum, Item};
        use crate::pg::jsonb::jsonb_bytes;
        let expected_meta = r#""meta": {"source": "rollup", "rollup": null, "approximate": false,
            "elapsed_ms": 1.250, "cache": "hit \"quoted\" é"}"#;
        for body in [
            r#"{"columns": [{"name": "n", "type": "numeric"}], "rows": [[1.5], [null], [-2e3], ["x"]]}"#,
            r#"{"columns": [], "rows": [], "extra": 1}"#,
            r#"{"columns": [], "rows": [], "meta": {"x": 1}}"#,
        ] {
            let mut meta = [
                ("source", Item::Str("rollup")),
                ("rollup", Item::Null),
                ("approximate", Item::Bool(false)),
                ("elapsed_ms", Item::Number(1.25)),
                ("cache", Item::Str("hit \"quoted\" é")),
            ];
            let built = answer_datum(&jsonb_bytes(body), &mut meta);
            let expected = format!("{}, {expected_meta}}}", body.strip_suffix('}').unwrap());
            let same = Spi::get_one_with_args::<bool>(
                "SELECT $1 = $2::jsonb AND $1::text = ($2::jsonb)::text",
                &[
                    // SAFETY: built is a jsonb datum in the current memory context.
                    unsafe { pgrx::datum::DatumWithOid::new(built, pg_sys::JSONBOID) },
                    expected.as_str().into(),
                ],
            )
            .unwrap();
            assert_eq!(same, Some(true), "{body}");
        }
    }

    fn varlena_bytes(d: pg_sys::Datum) -> Vec<u8> {
        // SAFETY: d is a varlena datum; it is read within its own size.
        unsafe {
            let p = d.cast_mut_ptr::<u8>();
            std::slice::from_raw_parts(p, pgrx::varsize_any(p as *const pg_sys::varlena)).to_vec()
        }
    }

    /// Objects written directly are byte for byte what jsonb_in makes of the same JSON: key
    /// order, JEntry offsets every 32 entries, padding, and numerics written without
    /// numeric_in.
    #[pg_test]
    fn written_objects_are_jsonb_in_byte_for_byte() {
        use crate::answer::jsonb_build::{object_datum, Item};
        use crate::pg::jsonb::jsonb_bytes;
        let numbers = [
            0.0,
            0.001,
            0.007,
            0.01,
            0.1,
            0.999,
            1.0,
            1.25,
            9.999,
            10.0,
            99.99,
            1234.5,
            10000.0,
            10000.001,
            12345.678,
            100000000.5,
            4.2e12,
        ];
        for x in numbers {
            let built = object_datum(&mut [("n", Item::Number(x))]);
            let text = format!("{{\"n\": {x:.3}}}");
            assert_eq!(varlena_bytes(built), jsonb_bytes(&text), "{text}");
        }
        let keys: Vec<String> = (0..20)
            .map(|i| format!("key{}", "k".repeat(i % 7) + &i.to_string()))
            .collect();
        let mut inner = [("b", Item::Bool(true)), ("a", Item::Null)];
        let mut pairs: Vec<(&str, Item)> = keys
            .iter()
            .enumerate()
            .map(|(i, k)| {
                let item = match i % 4 {
                    0 => Item::Str("text \u{e9}"),
                    1 => Item::Number(i as f64 / 8.0),
                    2 => Item::Bool(i % 3 == 0),
                    _ => Item::Null,
                };
                (k.as_str(), item)
            })
            .collect();
        pairs.push(("nested", Item::Object(&mut inner)));
        let mut text = String::from("{");
        for (i, k) in keys.iter().enumerate() {
            let v = match i % 4 {
                0 => "\"text \u{e9}\"".to_string(),
                1 => format!("{:.3}", i as f64 / 8.0),
                2 => (i % 3 == 0).to_string(),
                _ => "null".to_string(),
            };
            text += &format!("\"{k}\": {v}, ");
        }
        text += "\"nested\": {\"b\": true, \"a\": null}}";
        assert_eq!(varlena_bytes(object_datum(&mut pairs)), jsonb_bytes(&text));
    }
}
