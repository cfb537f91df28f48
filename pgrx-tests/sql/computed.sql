-- Document version 2 after aggregation: computed measures (expr), shares and having, from the
-- base table and from a rollup, against the same question written in SQL by hand (EXCEPT both
-- ways: "same" means the rows are equal, values and types).
SET client_min_messages = warning;
SET TimeZone = 'UTC';

CREATE TABLE runs (ts timestamptz NOT NULL, category text, status text, ms float8, failed int);
INSERT INTO runs
SELECT timestamptz '2026-11-01' + i * interval '7 min', (ARRAY['auth','net','disk'])[i % 3 + 1],
       (ARRAY['OK','ERROR','OK','TIMEOUT','OK'])[i % 5 + 1], (i % 89) / 4.0, CASE WHEN i % 5 = 1 THEN i % 4 END
FROM generate_series(0, 5999) i;
-- a category whose every run failed and one with no rows in the window (division by zero)
INSERT INTO runs VALUES ('2026-11-10', 'rare', 'ERROR', 1, 1), ('2026-11-20', 'none', 'OK', 2, 0);
SELECT routed.track('runs', 'ts');

CREATE FUNCTION same_rows(doc jsonb, expected text) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE a jsonb; e jsonb; answer jsonb;
BEGIN
    answer := routed_query(doc);
    a := answer->'rows';
    EXECUTE 'SELECT coalesce(jsonb_agg(jsonb_build_array(' ||
            (SELECT string_agg('t.' || quote_ident(c->>'name'), ', ') FROM jsonb_array_elements(answer->'columns') c) ||
            ') ORDER BY t.ord), ''[]'') FROM (SELECT *, row_number() OVER () AS ord FROM (' || expected || ') q) t' INTO e;
    RETURN (answer->'meta'->>'source') || ' '
        || CASE WHEN a = e THEN 'same' ELSE 'DIFFERENT ' || a::text || ' vs ' || e::text END;
END $$;

-- the ADR's errorRate and Q6's share of the category, with HAVING and the order on a share
\set q6 '{"source":"runs","time":{"from":"2026-11-02T00:30:00Z","to":"2026-11-25T10:00:00Z"},"dimensions":["category","status"],"measures":[{"name":"runs","agg":"count"},{"name":"pct","expr":"100 * share(runs, category)"},{"name":"failed","agg":"sum","column":"failed"},{"name":"per_run","expr":"failed / runs"},{"name":"avg_ms","agg":"avg","column":"ms"},{"name":"ms_total","expr":"avg_ms * runs"}],"having":[{"column":"runs","op":">=","value":2}],"order":[{"by":"category"},{"by":"pct","dir":"desc"}]}'
SELECT same_rows(:'q6', $$
  SELECT category, status, count(*) AS runs,
         100 * (count(*)::numeric / NULLIF(sum(count(*)::numeric) OVER (PARTITION BY category), 0)) AS pct,
         sum(failed) AS failed, sum(failed)::numeric / NULLIF(count(*)::numeric, 0) AS per_run,
         avg(ms) AS avg_ms, avg(ms) * count(*)::float8 AS ms_total
  FROM runs WHERE ts >= '2026-11-02T00:30:00Z' AND ts < '2026-11-25T10:00:00Z'
  GROUP BY 1, 2 HAVING count(*) >= 2 ORDER BY 1, 4 DESC, 2 $$) AS q6_base;
-- columns and their types: numeric unless an operand is float8
SELECT c->>'name' AS name, c->>'type' AS type FROM jsonb_array_elements(routed_query(:'q6')->'columns') c;

-- division by zero is NULL; a condition on a share is read after the window (of the rows the
-- other conditions kept)
\set rate '{"source":"runs","time":{"from":"2026-11-09T00:00:00Z","to":"2026-11-21T00:00:00Z"},"dimensions":["category"],"measures":[{"name":"errors","agg":"count","where":[{"column":"status","op":"=","value":"ERROR"}]},{"name":"oks","agg":"count","where":[{"column":"status","op":"=","value":"OK"}]},{"name":"error_per_ok","expr":"errors / oks"},{"name":"share","expr":"share(errors)"}],"having":[{"column":"errors","op":">","value":0},{"column":"share","op":">","value":0.1}]}'
SELECT same_rows(:'rate', $$
  SELECT * FROM (
    SELECT category, errors, oks, errors::numeric / NULLIF(oks::numeric, 0) AS error_per_ok,
           errors::numeric / NULLIF(sum(errors::numeric) OVER (), 0) AS share
    FROM (SELECT category, count(*) FILTER (WHERE status = 'ERROR') AS errors,
                 count(*) FILTER (WHERE status = 'OK') AS oks
          FROM runs WHERE ts >= '2026-11-09' AND ts < '2026-11-21' GROUP BY 1
          HAVING count(*) FILTER (WHERE status = 'ERROR') > 0) g) w
  WHERE share > 0.1 ORDER BY 1 $$) AS rate_base;
SELECT r->>0 AS category, r->>1 AS errors, r->>2 AS oks, r->>3 AS error_per_ok
  FROM jsonb_array_elements(routed_query('{"source":"runs","time":{"from":"2026-11-09T00:00:00Z","to":"2026-11-21T00:00:00Z"},"dimensions":["category"],"measures":[{"name":"errors","agg":"count","where":[{"column":"status","op":"=","value":"ERROR"}]},{"name":"oks","agg":"count","where":[{"column":"status","op":"=","value":"OK"}]},{"name":"error_per_ok","expr":"errors / oks"}],"where":[{"column":"category","op":"in","value":["rare","none"]}]}')->'rows') r;

-- the same documents from a rollup (its states merge first, the layer runs over the merged rows)
CALL routed.create_rollup('runs_hourly', 'runs', '1 hour', ARRAY['category', 'status'],
  '[{"agg":"count"},{"agg":"sum","column":"failed"},{"agg":"avg","column":"ms"}]');
SELECT routed.cache_reset() >= 0 AS reset;
SELECT same_rows(:'q6', $$
  SELECT category, status, count(*) AS runs,
         100 * (count(*)::numeric / NULLIF(sum(count(*)::numeric) OVER (PARTITION BY category), 0)) AS pct,
         sum(failed) AS failed, sum(failed)::numeric / NULLIF(count(*)::numeric, 0) AS per_run,
         avg(ms) AS avg_ms, avg(ms) * count(*)::float8 AS ms_total
  FROM runs WHERE ts >= '2026-11-02T00:30:00Z' AND ts < '2026-11-25T10:00:00Z'
  GROUP BY 1, 2 HAVING count(*) >= 2 ORDER BY 1, 4 DESC, 2 $$) AS q6_rollup;
SELECT same_rows(:'rate', $$
  SELECT * FROM (
    SELECT category, errors, oks, errors::numeric / NULLIF(oks::numeric, 0) AS error_per_ok,
           errors::numeric / NULLIF(sum(errors::numeric) OVER (), 0) AS share
    FROM (SELECT category, count(*) FILTER (WHERE status = 'ERROR') AS errors,
                 count(*) FILTER (WHERE status = 'OK') AS oks
          FROM runs WHERE ts >= '2026-11-09' AND ts < '2026-11-21' GROUP BY 1
          HAVING count(*) FILTER (WHERE status = 'ERROR') > 0) g) w
  WHERE share > 0.1 ORDER BY 1 $$) AS rate_rollup;

-- typed rows, and a limit after the order on a computed measure
SELECT * FROM routed_rows('{"source":"runs","time":{"from":"2026-11-02T00:00:00Z","to":"2026-11-03T00:00:00Z","granularity":"6 hours"},"measures":[{"name":"runs","agg":"count"},{"name":"failed","agg":"sum","column":"failed"},{"name":"pct_failed","expr":"100 * failed / runs"}],"order":[{"by":"pct_failed","dir":"desc"}],"limit":2}')
  AS t(bucket timestamptz, runs int8, failed int8, pct_failed numeric);

-- the cache serves a computed answer and keeps it exact
SELECT routed_query(:'q6')->'meta'->>'cache' AS first, routed_query(:'q6')->'meta'->>'cache' AS second;
INSERT INTO runs VALUES ('2026-11-12 12:00', 'net', 'ERROR', 3, 2);
SELECT same_rows(:'q6', $$
  SELECT category, status, count(*) AS runs,
         100 * (count(*)::numeric / NULLIF(sum(count(*)::numeric) OVER (PARTITION BY category), 0)) AS pct,
         sum(failed) AS failed, sum(failed)::numeric / NULLIF(count(*)::numeric, 0) AS per_run,
         avg(ms) AS avg_ms, avg(ms) * count(*)::float8 AS ms_total
  FROM runs WHERE ts >= '2026-11-02T00:30:00Z' AND ts < '2026-11-25T10:00:00Z'
  GROUP BY 1, 2 HAVING count(*) >= 2 ORDER BY 1, 4 DESC, 2 $$) AS after_insert;

-- bad expressions and conditions: 22023 (or 42804 for a non-numeric operand) with the JSON path
SELECT n, try_query(doc) FROM (VALUES
 (1, '{"source":"runs","measures":[{"name":"n","agg":"count"},{"name":"x","expr":"n * / 2"}]}'),
 (2, '{"source":"runs","measures":[{"name":"n","agg":"count"},{"name":"x","expr":"runs / n"}]}'),
 (3, '{"source":"runs","measures":[{"name":"n","agg":"count"},{"name":"a","expr":"b + n"},{"name":"b","expr":"a * 2"}]}'),
 (4, '{"source":"runs","measures":[{"name":"t","agg":"max","column":"ts"},{"name":"x","expr":"t + 1"}]}'),
 (5, '{"source":"runs","dimensions":["category"],"measures":[{"name":"n","agg":"count"},{"name":"x","expr":"share(n, status)"}]}'),
 (6, '{"source":"runs","measures":[{"name":"n","agg":"count"}],"having":[{"column":"category","op":"=","value":"net"}]}'),
 (7, '{"source":"runs","measures":[{"name":"n","agg":"count"}],"having":[{"column":"n","op":">","value":"many"}]}'),
 (8, '{"source":"runs","measures":[{"name":"x","expr":"1 + 2"}]}'),
 (9, '{"source":"runs","measures":[{"name":"n","agg":"count"},{"name":"x","expr":"n + 1e999999"}]}'),
 (10, '{"source":"runs","measures":[{"name":"n","agg":"count"},{"name":"x","expr":"(((((((((((((((((((((((((((((((((n)))))))))))))))))))))))))))))))))"}]}')
) AS t(n, doc) ORDER BY n;
