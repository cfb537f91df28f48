-- Answers from the base table, checked as exact text and against hand-written SQL.
SET client_min_messages = warning;
SET TimeZone = 'UTC';
-- Every aggregate, with a measure filter, over an absolute range.
SELECT jsonb_pretty(routed_query('{
  "source": "orders",
  "time": {"column": "placed_at", "from": "2026-11-02T00:00:00Z", "to": "2026-11-03T00:00:00+00:00"},
  "measures": [
    {"name": "n", "agg": "count"},
    {"name": "with_shop", "agg": "count", "column": "shop"},
    {"name": "qty", "agg": "sum", "column": "qty"},
    {"name": "amount", "agg": "sum", "column": "amount"},
    {"name": "min_amount", "agg": "min", "column": "amount"},
    {"name": "max_latency", "agg": "max", "column": "latency"},
    {"name": "avg_qty", "agg": "avg", "column": "qty"},
    {"name": "avg_latency", "agg": "avg", "column": "latency"},
    {"name": "customers", "agg": "count_distinct", "column": "customer"},
    {"name": "p90", "agg": "percentile", "column": "latency", "q": 0.9},
    {"name": "refunds", "agg": "count", "where": [{"column": "status", "op": "=", "value": "REFUNDED"}]}
  ]
}') - 'meta');
-- The same, written by hand.
SELECT count(*), count(shop), sum(qty), sum(amount), min(amount), max(latency), avg(qty), avg(latency),
       count(DISTINCT customer), percentile_cont(0.9) WITHIN GROUP (ORDER BY latency),
       count(*) FILTER (WHERE status = 'REFUNDED')
FROM orders WHERE placed_at >= '2026-11-02T00:00:00Z' AND placed_at < '2026-11-03T00:00:00Z';
-- Every where operator.
SELECT op, routed_query(format('{"source": "orders", "measures": [{"name": "n", "agg": "count"}],
                                 "where": [{"column": "qty", "op": "%s", "value": %s}]}', op, v)::jsonb)->'rows' AS rows
FROM (VALUES ('=', '3'), ('!=', '3'), ('<', '3'), ('<=', '3'), ('>', '3'), ('>=', '3'),
             ('in', '[1, 2, "3"]'), ('not in', '[1, 2, 3]')) AS t(op, v);
SELECT routed_query('{"source": "orders", "measures": [{"name": "n", "agg": "count"}], "where": [{"column": "shop", "op": "is null"}]}')->'rows' AS is_null,
       routed_query('{"source": "orders", "measures": [{"name": "n", "agg": "count"}], "where": [{"column": "shop", "op": "is not null"}]}')->'rows' AS is_not_null,
       (SELECT count(*) FILTER (WHERE shop IS NULL) || '/' || count(shop) FROM orders) AS by_hand;
-- Fixed-width buckets (aligned from the Unix epoch), dimensions, order and limit.
SELECT jsonb_pretty(routed_query('{
  "source": "orders",
  "time": {"column": "placed_at", "from": "2026-11-01T00:00:00Z", "to": "2026-11-05T00:00:00Z", "granularity": "2 days"},
  "dimensions": ["status"],
  "measures": [{"name": "n", "agg": "count"}, {"name": "amount", "agg": "sum", "column": "amount"}],
  "order": [{"by": "amount", "dir": "desc"}],
  "limit": 4
}')->'rows');
SELECT date_bin('2 days', placed_at, '1970-01-01'), status, count(*), sum(amount) FROM orders
WHERE placed_at >= '2026-11-01' AND placed_at < '2026-11-05' GROUP BY 1, 2 ORDER BY 4 DESC, 1, 2 LIMIT 4;
-- Calendar buckets follow the session TimeZone, like date_trunc.
SET TimeZone = 'America/New_York';
SELECT routed_query('{"source": "orders", "time": {"column": "placed_at", "from": "2026-11-01T00:00:00Z", "to": "2026-11-04T00:00:00Z", "granularity": "1 day"},
                      "measures": [{"name": "n", "agg": "count"}]}')->'rows' AS new_york_days;
SET TimeZone = 'Asia/Kolkata';
SELECT routed_query('{"source": "orders", "time": {"column": "placed_at", "from": "2026-11-01T00:00:00Z", "to": "2026-11-04T00:00:00Z", "granularity": "1 day"},
                      "measures": [{"name": "n", "agg": "count"}]}')->'rows' AS kolkata_days;
SET TimeZone = 'UTC';
SELECT routed_query('{"source": "orders", "time": {"column": "placed_at", "granularity": "1 week"}, "measures": [{"name": "n", "agg": "count"}]}')->'rows' AS iso_weeks,
       (SELECT jsonb_agg(jsonb_build_array(w, n) ORDER BY w) FROM (SELECT date_trunc('week', placed_at) w, count(*) n FROM orders GROUP BY 1) s) AS by_hand;
SELECT routed_query('{"source": "orders", "time": {"column": "placed_at", "granularity": "1 month"}, "measures": [{"name": "n", "agg": "count"}]}')->'rows' AS months;
-- date and timestamp time columns.
SELECT routed_query('{"source": "orders", "time": {"column": "day", "from": "2026-11-03T00:00:00Z", "to": "2026-11-05T00:00:00Z", "granularity": "1 day"}, "measures": [{"name": "n", "agg": "count"}]}')->'rows' AS date_column,
       routed_query('{"source": "orders", "time": {"column": "local_ts", "from": "2026-11-03T00:00:00Z", "to": "2026-11-05T00:00:00Z", "granularity": "12 hours"}, "measures": [{"name": "n", "agg": "count"}]}')->'rows' AS timestamp_column;
-- Relative ranges use the transaction's now(), so they agree with plain SQL in one transaction.
BEGIN;
SELECT (routed_query('{"source": "orders", "time": {"column": "placed_at", "from": "now-30d"}, "measures": [{"name": "n", "agg": "count"}]}')->'rows'->0->>0)::bigint
       = (SELECT count(*) FROM orders WHERE placed_at >= now() - interval '30 days' AND placed_at < now()) AS last_30_days,
       (routed_query('{"source": "orders", "time": {"column": "placed_at", "from": "now-36h", "to": "now-12h"}, "measures": [{"name": "n", "agg": "count"}]}')->'rows'->0->>0)::bigint
       = (SELECT count(*) FROM orders WHERE placed_at >= now() - interval '36 hours' AND placed_at < now() - interval '12 hours') AS hours_window,
       (routed_query('{"source": "orders", "time": {"column": "placed_at", "from": "yesterday", "to": "today"}, "measures": [{"name": "n", "agg": "count"}]}')->'rows'->0->>0)::bigint
       = (SELECT count(*) FROM orders WHERE placed_at >= date_trunc('day', now()) - interval '1 day' AND placed_at < date_trunc('day', now())) AS yesterday,
       routed_query('{"source": "orders", "time": {"column": "placed_at", "from": "now-90min"}, "measures": [{"name": "n", "agg": "count"}]}')->'meta'->>'as_of'
       = to_jsonb(now() AT TIME ZONE 'UTC')->>0 || '+00:00' AS as_of_is_now;
COMMIT;
-- No rows: a grand total still answers one row, grouped queries answer none.
SELECT routed_query('{"source": "orders", "time": {"column": "placed_at", "from": "2030-01-01T00:00:00Z", "to": "2030-01-02T00:00:00Z"},
                      "measures": [{"name": "n", "agg": "count"}, {"name": "s", "agg": "sum", "column": "qty"}]}')->'rows' AS empty_total,
       routed_query('{"source": "orders", "time": {"column": "placed_at", "from": "2030-01-01T00:00:00Z", "to": "2030-01-02T00:00:00Z"},
                      "dimensions": ["shop"], "measures": [{"name": "n", "agg": "count"}]}')->'rows' AS empty_groups;
-- Budget precedence: argument, then the document's freshness, then routed.default_staleness.
SELECT routed_query('{"source": "orders", "measures": [{"name": "n", "agg": "count"}]}')->'meta'->>'budget' AS default_budget;
SET routed.default_staleness = '5min';
SELECT routed_query('{"source": "orders", "measures": [{"name": "n", "agg": "count"}]}')->'meta'->>'budget' AS from_setting,
       routed_query('{"source": "orders", "measures": [{"name": "n", "agg": "count"}], "freshness": "archival"}')->'meta'->>'budget' AS from_document,
       routed_query('{"source": "orders", "measures": [{"name": "n", "agg": "count"}], "freshness": "archival"}', '30 seconds')->'meta'->>'budget' AS from_argument;
RESET routed.default_staleness;
SELECT (r->'meta') - 'as_of' - 'elapsed_ms' AS meta, r->'columns' AS columns
FROM routed_query('{"source": "orders", "dimensions": ["shop"], "measures": [{"name": "n", "agg": "count"}], "freshness": "near-real-time"}') AS r;
-- The fingerprint ignores key order and whitespace, not values.
SELECT a->'meta'->>'fingerprint' = b->'meta'->>'fingerprint' AS same_query,
       a->'meta'->>'fingerprint' <> c->'meta'->>'fingerprint' AS other_value
FROM routed_query('{"source": "orders", "measures": [{"name": "n", "agg": "count"}], "limit": 5}') a,
     routed_query('{ "limit" : 5 , "measures":[{"agg":"count","name":"n"}],"source":"orders"}') b,
     routed_query('{"source": "orders", "measures": [{"name": "n", "agg": "count"}], "limit": 6}') c;
