-- Every invalid document is an ERROR with a SQLSTATE, the JSON path and what is allowed.
-- try_query (setup.sql) shows "SQLSTATE message (hint: ...)" per document.
SET client_min_messages = warning;
SELECT n, try_query(doc) FROM (VALUES
 (1,  '[1, 2]'),
 (2,  '"orders"'),
 (3,  '{"measures": [{"name": "n", "agg": "count"}]}'),
 (4,  '{"source": 42, "measures": [{"name": "n", "agg": "count"}]}'),
 (5,  '{"source": "orders", "measures": [{"name": "n", "agg": "count"}], "colour": "red"}'),
 (6,  '{"source": "orders", "measures": [{"name": "n", "agg": "count", "distinct": true}]}'),
 (7,  '{"source": "orders", "measures": []}'),
 (8,  '{"source": "orders"}'),
 (9,  '{"source": "orders", "measures": [{"name": "n", "agg": "p95"}]}'),
 (10, '{"source": "orders", "measures": [{"name": "s", "agg": "sum"}]}'),
 (11, '{"source": "orders", "measures": [{"name": "p", "agg": "percentile", "column": "latency", "q": 1.5}]}'),
 (12, '{"source": "orders", "measures": [{"name": "p", "agg": "percentile", "column": "latency"}]}'),
 (13, '{"source": "orders", "measures": [{"name": "s", "agg": "sum", "column": "qty", "q": 0.5}]}'),
 (14, '{"source": "orders", "measures": [{"name": "n", "agg": "count"}], "where": [{"column": "shop", "op": "like", "value": "n%"}]}'),
 (15, '{"source": "orders", "measures": [{"name": "n", "agg": "count"}], "where": [{"column": "shop", "op": "in", "value": []}]}'),
 (16, '{"source": "orders", "measures": [{"name": "n", "agg": "count"}], "where": [{"column": "shop", "op": "in", "value": "north"}]}'),
 (17, '{"source": "orders", "measures": [{"name": "n", "agg": "count"}], "where": [{"column": "shop", "op": "=", "value": null}]}'),
 (18, '{"source": "orders", "measures": [{"name": "n", "agg": "count"}], "where": [{"column": "shop", "op": "is null", "value": "x"}]}'),
 (19, '{"source": "orders", "measures": [{"name": "n", "agg": "count"}], "where": [{"column": "shop", "op": "=", "value": {"a": 1}}]}'),
 (20, '{"source": "orders", "measures": [{"name": "n", "agg": "count"}], "limit": 0}'),
 (21, '{"source": "orders", "measures": [{"name": "n", "agg": "count"}], "limit": 1000000000000}'),
 (22, '{"source": "orders", "measures": [{"name": "n", "agg": "count"}], "limit": "10"}'),
 (23, '{"source": "orders", "measures": [{"name": "n", "agg": "count"}], "limit": 2.5}'),
 (24, '{"source": "orders", "time": {"column": "placed_at", "from": "last week"}, "measures": [{"name": "n", "agg": "count"}]}'),
 (25, '{"source": "orders", "time": {"column": "placed_at", "granularity": "3 months"}, "measures": [{"name": "n", "agg": "count"}]}'),
 (26, '{"source": "orders", "time": {"column": "placed_at", "granularity": "1 fortnight"}, "measures": [{"name": "n", "agg": "count"}]}'),
 (27, '{"source": "orders", "time": {"column": "placed_at", "from": "2026-11-05T00:00:00Z", "to": "2026-11-01T00:00:00Z"}, "measures": [{"name": "n", "agg": "count"}]}'),
 (28, '{"source": "orders", "time": {"from": "now-1h"}, "measures": [{"name": "n", "agg": "count"}]}'),
 (29, '{"source": "orders", "time": {"column": "shop", "from": "now-1h"}, "measures": [{"name": "n", "agg": "count"}]}'),
 (30, '{"source": "orders", "measures": [{"name": "s", "agg": "sum", "column": "shop"}]}'),
 (31, '{"source": "orders", "dimensions": ["status\"; DROP TABLE orders; --"], "measures": [{"name": "n", "agg": "count"}]}'),
 (32, '{"source": "orders", "dimensions": ["statüs"], "measures": [{"name": "n", "agg": "count"}]}'),
 (33, '{"source": "orders; DROP TABLE orders", "measures": [{"name": "n", "agg": "count"}]}'),
 (34, '{"source": "\"orders\"\"; DROP TABLE orders; --\"", "measures": [{"name": "n", "agg": "count"}]}'),
 (35, '{"source": "orders", "measures": [{"name": "n", "agg": "count"}], "freshness": "hourly"}'),
 (36, '{"source": "orders", "measures": [{"name": "n", "agg": "count"}], "order": [{"by": "total"}]}'),
 (37, '{"source": "orders", "dimensions": ["shop"], "measures": [{"name": "shop", "agg": "count"}]}'),
 (38, '{"source": "orders", "dimensions": "shop", "measures": [{"name": "n", "agg": "count"}]}'),
 (39, '{"source": "orders", "dimensions": [7], "measures": [{"name": "n", "agg": "count"}]}'),
 (40, '{"source": "orders", "measures": [{"name": "n", "agg": "count"}], "exact": "yes"}'),
 (41, '{"source": "orders", "measures": [{"name": "n", "agg": "count"}], "where": [{"column": "qty", "op": "=", "value": "abc"}]}'),
 (42, '{"source": "orders", "measures": [{"name": "n", "agg": "count"}], "where": [{"column": "placed_at", "op": ">", "value": "yesterday-ish"}]}'),
 (43, '{"source": "orders", "measures": [{"name": "n", "agg": "count"}], "version": 3}'),
 (44, '{"source": "orders", "measures": [{"name": "' || repeat('n', 64) || '", "agg": "count"}]}'),
 (45, '{"source": "order_ids", "measures": [{"name": "n", "agg": "count"}]}'),
 (46, '{"source": "orders", "measures": [{"name": "n", "agg": "count"}], "where": [{"column": "meta", "op": "=", "value": "{}"}]}'),
 (47, '{"source": "orders", "measures": [{"name": "n", "agg": "count"}], "order": [{"by": "n", "dir": "up"}]}'),
 (48, '{"source": "orders", "time": {"column": "placed_at", "from": "now-5y"}, "measures": [{"name": "n", "agg": "count"}]}'),
 (49, '{"source": "no_such_schema.orders", "measures": [{"name": "n", "agg": "count"}]}'),
 (50, '{"source": "orders", "measures": [{"name": "m", "agg": "min", "column": "meta"}]}')
) AS t(n, doc) ORDER BY n;
-- Deeply nested, several MB, and huge lists.
SELECT try_query(repeat('{"a":', 1000) || '1' || repeat('}', 1000)) AS deep;
SELECT try_query('{"source": "orders", "measures": [{"name": "n", "agg": "count"}], "pad": "' || repeat('x', 3000000) || '"}') AS several_mb;
SELECT try_query('{"source": "orders", "measures": [{"name": "n", "agg": "count"}], "where": [{"column": "qty", "op": "in", "value": ['
                 || (SELECT string_agg(g::text, ',') FROM generate_series(1, 20000) g) || ']}]}') AS huge_in_list;
SELECT try_query('{"source": "orders", "measures": [' ||
                 (SELECT string_agg(format('{"name": "m%s", "agg": "count"}', g), ',') FROM generate_series(1, 65) g) || ']}') AS too_many_measures;
-- Bad budgets and NULLs.
SELECT try_query('{"source": "orders", "measures": [{"name": "n", "agg": "count"}]}', '-5 minutes') AS negative_budget;
SELECT try_query(NULL) AS null_document;
-- Injection attempts in values are only ever parameters: they match nothing and harm nothing.
SELECT routed_query('{"source": "orders", "measures": [{"name": "n", "agg": "count"}],
                      "where": [{"column": "shop", "op": "=", "value": "north'' OR ''1''=''1"}]}')->'rows' AS injected_value;
SELECT routed_query('{"source": "orders", "measures": [{"name": "n", "agg": "count"}],
                      "where": [{"column": "shop", "op": "in", "value": ["x); DROP TABLE orders; --", "south"]}]}')->'rows' AS injected_list;
SELECT routed_query('{"source": "orders", "dimensions": ["Odd \"Name\";"], "measures": [{"name": "n", "agg": "count"}]}')->'rows' AS quoted_identifier;
SELECT count(*) AS orders_still_there FROM orders;
-- A caller without SELECT gets 42501; column privileges are honoured.
SET ROLE routed_reader;
SELECT try_query('{"source": "orders", "dimensions": ["status"], "measures": [{"name": "n", "agg": "count"}]}') AS no_column_privilege;
SELECT try_query('{"source": "orders", "dimensions": ["shop"], "measures": [{"name": "n", "agg": "count"}]}') AS granted_columns;
RESET ROLE;
REVOKE ALL ON orders FROM routed_reader;
SET ROLE routed_reader;
SELECT try_query('{"source": "orders", "measures": [{"name": "n", "agg": "count"}]}') AS no_privilege;
RESET ROLE;
GRANT SELECT (placed_at, shop) ON orders TO routed_reader;
