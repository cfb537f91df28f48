-- routed_rows: typed rows for dashboards; routed_explain: the decision without running it.
SET client_min_messages = warning;
SET TimeZone = 'UTC';
SELECT * FROM routed_rows('{"source": "orders",
  "time": {"column": "placed_at", "from": "2026-11-02T00:00:00Z", "to": "2026-11-02T12:00:00Z", "granularity": "3 hours"},
  "dimensions": ["shop"],
  "measures": [{"name": "n", "agg": "count"}, {"name": "avg_latency", "agg": "avg", "column": "latency"}],
  "where": [{"column": "shop", "op": "is not null"}]}') AS t(bucket timestamptz, shop text, n bigint, avg_latency float8);
-- Names may differ; types must match, in order.
SELECT * FROM routed_rows('{"source": "orders", "measures": [{"name": "total", "agg": "sum", "column": "qty"}]}') AS t(anything bigint);
SELECT * FROM routed_rows('{"source": "orders", "measures": [{"name": "total", "agg": "sum", "column": "qty"}]}') AS t(total integer);
SELECT * FROM routed_rows('{"source": "orders", "dimensions": ["shop"], "measures": [{"name": "n", "agg": "count"}]}') AS t(n bigint);
SELECT routed_rows('{"source": "orders", "measures": [{"name": "n", "agg": "count"}]}');
SELECT * FROM routed_rows('{"source": "orders", "measures": [{"name": "n", "agg": "pct"}]}') AS t(n bigint);
-- Usable like any table function: joined, filtered, aggregated.
SELECT sum(n) AS all_orders FROM routed_rows('{"source": "orders", "dimensions": ["status"], "measures": [{"name": "n", "agg": "count"}]}') AS t(status text, n bigint);
-- Explain lists the candidates, the plan's time segments, the SQL and its parameters.
\pset format unaligned
SELECT jsonb_pretty(e - 'sql') AS explain, e->>'sql' AS sql FROM routed_explain('{"source": "orders",
  "time": {"column": "placed_at", "from": "now-24h", "granularity": "1 hour"},
  "dimensions": ["status"],
  "measures": [{"name": "p95", "agg": "percentile", "column": "latency", "q": 0.95},
               {"name": "paid", "agg": "count", "where": [{"column": "status", "op": "=", "value": "PAID"}]}],
  "where": [{"column": "shop", "op": "not in", "value": ["east", "west"]}],
  "order": [{"by": "p95", "dir": "desc"}], "limit": 10, "freshness": "dashboard"}') AS e;
\pset format aligned
