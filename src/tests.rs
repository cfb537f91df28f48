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
        assert_eq!(a["meta"]["cache"], "disabled");
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
}
