-- Rollups: tracking, creation and backfill, the invalidation log under every kind of write,
-- incremental refresh, routing by time segments, budgets, privileges, and dropping.
-- same_as_base() runs a document twice, routed and with routed.enabled off (base table only),
-- and prints the routed answer's source and staleness and whether the rows are the same.
SET client_min_messages = warning;
SET TimeZone = 'UTC';
SET routed.cache = off;  -- these tests are about routing; the cache has its own (cache.sql)

CREATE FUNCTION try_sql(sql text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE state text; msg text; hint text;
BEGIN
    EXECUTE sql;
    RETURN 'ok';
EXCEPTION WHEN OTHERS THEN
    GET STACKED DIAGNOSTICS state = RETURNED_SQLSTATE, msg = MESSAGE_TEXT, hint = PG_EXCEPTION_HINT;
    RETURN state || ' ' || msg || CASE WHEN hint <> '' THEN ' (hint: ' || hint || ')' ELSE '' END;
END $$;

CREATE FUNCTION same_as_base(doc jsonb, staleness interval DEFAULT '0') RETURNS text
LANGUAGE plpgsql AS $$
DECLARE routed jsonb; base jsonb;
BEGIN
    routed := routed_query(doc, staleness);
    PERFORM set_config('routed.enabled', 'off', true);
    base := routed_query(doc, staleness);
    PERFORM set_config('routed.enabled', 'on', true);
    RETURN (routed->'meta'->>'source') || ' ' || coalesce(routed->'meta'->>'rollup', '-') || ' '
        || (routed->'meta'->>'staleness') || ' '
        || CASE WHEN routed->'rows' = base->'rows' THEN 'same' ELSE 'DIFFERENT' END;
END $$;

CREATE VIEW pending AS
SELECT c.name, i.lo, i.hi FROM routed.invalidations i JOIN routed.rollup_catalog c ON c.id = i.rollup_id
 ORDER BY 1, 2, 3;
-- inserted rows below the threshold, as states not yet merged into the rollup
CREATE FUNCTION deltas(rollup text) RETURNS TABLE (bucket timestamptz, rows bigint)
LANGUAGE plpgsql AS $$
BEGIN
    RETURN QUERY EXECUTE format('SELECT bucket, sum("count(*)")::bigint FROM routed.%I GROUP BY 1 ORDER BY 1',
                                rollup || '$delta');
END $$;

CREATE TABLE events (
    ts       timestamptz NOT NULL,
    shop     text,
    status   text,
    qty      integer,
    amount   numeric(10,2),
    latency  double precision,
    other_ts timestamptz
);
CREATE INDEX ON events (ts);
INSERT INTO events
SELECT timestamptz '2026-11-01 00:00:00+00' + i * interval '7 minutes',
       (ARRAY['north', 'south', NULL])[1 + i % 3],
       (ARRAY['PAID', 'OPEN', 'PAID', 'REFUNDED'])[1 + i % 4],
       i % 11,
       round((i * 3.17)::numeric % 250, 2),
       (i * 7) % 1000 / 10.0,
       NULL
  FROM generate_series(0, 2999) AS i;
CREATE VIEW events_view AS SELECT * FROM events;

-- bad definitions: SQLSTATE, message, hint
SELECT try_sql($$SELECT routed.track('events_view', 'ts')$$);
SELECT try_sql($$SELECT routed.track('events', 'nope')$$);
SELECT try_sql($$SELECT routed.track('events', 'qty')$$);
SELECT try_sql($$CALL routed.create_rollup('r', 'events', '1 hour', '{shop}', '[]')$$);
SELECT routed.track('events', 'ts');
SELECT try_sql($$SELECT routed.track('events', 'other_ts')$$);
SELECT try_sql($$CALL routed.create_rollup('r', 'events', '1 month', '{shop}', '[]')$$);
SELECT try_sql($$CALL routed.create_rollup('r', 'events', '1.5 seconds', '{shop}', '[]')$$);
SELECT try_sql($$CALL routed.create_rollup('r', 'events', '1 hour', '{nope}', '[]')$$);
SELECT try_sql($$CALL routed.create_rollup('r', 'events', '1 hour', '{shop,shop}', '[]')$$);
SELECT try_sql($$CALL routed.create_rollup('r', 'events', '1 hour', '{}', '{"agg": "count"}')$$);
SELECT try_sql($$CALL routed.create_rollup('r', 'events', '1 hour', '{}', '[{"agg": "p95"}]')$$);
SELECT try_sql($$CALL routed.create_rollup('r', 'events', '1 hour', '{}', '[{"agg": "sum"}]')$$);
SELECT try_sql($$CALL routed.create_rollup('r', 'events', '1 hour', '{}', '[{"agg": "sum", "column": "shop"}]')$$);
SELECT try_sql($$CALL routed.create_rollup('r', 'events', '1 hour', '{}', '[{"agg": "percentile", "column": "shop"}]')$$);
SELECT try_sql($$CALL routed.create_rollup('r', 'events', '1 hour', '{}', '[{"agg": "sum", "column": "qty", "q": 1}]')$$);
SELECT try_sql($$SELECT routed.drop_rollup('nope')$$);
SELECT try_sql($$CALL routed.refresh_rollup('nope')$$);
SELECT count(*) AS catalog_rows_after_errors FROM routed.rollup_catalog;

-- create and backfill (one NOTICE per day; client_min_messages hides them here)
CALL routed.create_rollup('events_hourly', 'events', '1 hour', '{shop,status}',
  '[{"agg": "count"}, {"agg": "sum", "column": "qty"}, {"agg": "avg", "column": "amount"},
    {"agg": "min", "column": "latency"}, {"agg": "max", "column": "latency"},
    {"agg": "percentile", "column": "latency"}, {"agg": "count_distinct", "column": "qty"}]');
SELECT name, source, granularity, dimensions, watermark BETWEEN now() - interval '1 minute' AND now() AS watermark_now,
       pending_ranges, rows, rows = (SELECT count(*) FROM routed.events_hourly) AS rows_exact,
       last_refresh IS NOT NULL AS refreshed
  FROM routed.rollups;
SELECT sum("count(*)") AS rows_in_buckets FROM routed.events_hourly;
\d routed.events_hourly
SELECT try_sql($$CALL routed.create_rollup('events_hourly', 'events', '1 hour', '{}', '[]')$$);
SELECT source, time_column, tracked_explicitly, rollups FROM routed.sources;

-- routing: exact buckets, partial edges, tails, what a rollup cannot answer
\set d1 '{"source": "events", "time": {"column": "ts", "from": "2026-11-02T00:00:00Z", "to": "2026-11-09T00:00:00Z", "granularity": "1 day"}, "dimensions": ["shop"], "measures": [{"name": "n", "agg": "count"}, {"name": "q", "agg": "sum", "column": "qty"}, {"name": "a", "agg": "avg", "column": "amount"}, {"name": "lo", "agg": "min", "column": "latency"}, {"name": "paid", "agg": "count", "where": [{"column": "status", "op": "=", "value": "PAID"}]}]}'
\set d2 '{"source": "events", "time": {"column": "ts", "from": "2026-11-02T00:30:00Z", "to": "2026-11-09T17:45:00Z", "granularity": "6 hours"}, "measures": [{"name": "n", "agg": "count"}, {"name": "hi", "agg": "max", "column": "latency"}], "where": [{"column": "status", "op": "in", "value": ["PAID", "OPEN"]}]}'
\set d3 '{"source": "events", "time": {"column": "ts", "granularity": "1 hour"}, "dimensions": ["status"], "measures": [{"name": "n", "agg": "count"}], "order": [{"by": "n", "dir": "desc"}], "limit": 5}'
SELECT same_as_base(:'d1') AS exact_days;
SELECT same_as_base(:'d2') AS partial_edges;
-- routed_rows reads the same plan as typed rows
SELECT count(*) AS typed_rows, sum(n) AS n, sum(q) AS q, min(lo) AS lo
  FROM routed_rows(:'d1') AS t(day timestamptz, shop text, n bigint, q bigint, a numeric, lo float8, paid bigint);
SELECT count(*) AS plain_rows, sum(n) AS n, sum(q) AS q, min(lo) AS lo
  FROM (SELECT date_trunc('day', ts), shop, count(*) AS n, sum(qty) AS q, min(latency) AS lo FROM events
         WHERE ts >= '2026-11-02T00:00:00Z' AND ts < '2026-11-09T00:00:00Z' GROUP BY 1, 2) AS p;
SELECT same_as_base(:'d3') AS open_range_with_tail;
SELECT same_as_base('{"source": "events", "time": {"column": "ts", "from": "2026-11-02T00:00:00Z", "to": "2026-11-04T00:00:00Z"}, "dimensions": ["qty"], "measures": [{"name": "n", "agg": "count"}]}') AS dimension_not_kept;
SELECT same_as_base('{"source": "events", "time": {"column": "ts", "from": "2026-11-02T00:00:00Z", "to": "2026-11-04T00:00:00Z", "granularity": "30 minutes"}, "measures": [{"name": "n", "agg": "count"}]}') AS finer_granularity;
SELECT same_as_base('{"source": "events", "time": {"column": "ts", "from": "2026-11-02T00:00:00Z", "to": "2026-11-04T00:00:00Z"}, "measures": [{"name": "d", "agg": "count_distinct", "column": "shop"}]}') AS no_sketch_for_column;
-- sketches: percentile within 1%, count_distinct within a few percent, meta.approximate says so;
-- "exact": true keeps them off
\set ds '{"source": "events", "time": {"column": "ts", "from": "2026-11-02T00:00:00Z", "to": "2026-11-09T00:00:00Z", "granularity": "1 day"}, "dimensions": ["shop"], "measures": [{"name": "p50", "agg": "percentile", "column": "latency", "q": 0.5}, {"name": "p95", "agg": "percentile", "column": "latency", "q": 0.95}, {"name": "qtys", "agg": "count_distinct", "column": "qty"}]}'
CREATE TEMP TABLE sketched AS SELECT routed_query(:'ds') AS r;
SET routed.enabled = off;
CREATE TEMP TABLE exact AS SELECT routed_query(:'ds') AS r;
SET routed.enabled = on;
SELECT s.r->'meta'->>'source' AS source, s.r->'meta'->>'approximate' AS approximate,
       bool_and(abs((x->>2)::float8 - (y->>2)::float8) <= 0.01 * abs((y->>2)::float8)) AS p50_within_1pct,
       bool_and(abs((x->>3)::float8 - (y->>3)::float8) <= 0.01 * abs((y->>3)::float8)) AS p95_within_1pct,
       bool_and((x->>4)::int = (y->>4)::int) AS distinct_exact_when_small,
       count(*) AS rows
  FROM sketched s, exact e,
       LATERAL jsonb_array_elements(s.r->'rows') WITH ORDINALITY AS a(x, i)
       JOIN LATERAL jsonb_array_elements(e.r->'rows') WITH ORDINALITY AS b(y, j) ON i = j
 GROUP BY 1, 2;
SELECT routed_query(jsonb_set(:'ds', '{exact}', 'true'))->'meta'->>'source' AS exact_true_source;
SELECT same_as_base('{"source": "events", "measures": [{"name": "n", "agg": "count"}]}') AS no_time_range;
SET TimeZone = 'America/New_York';
SELECT same_as_base('{"source": "events", "time": {"column": "ts", "from": "2026-11-01T00:00:00-04:00", "to": "2026-11-10T00:00:00-05:00", "granularity": "1 day"}, "measures": [{"name": "n", "agg": "count"}]}') AS new_york_days_across_dst;
SET TimeZone = 'Asia/Kolkata';
SELECT same_as_base('{"source": "events", "time": {"column": "ts", "from": "2026-11-02T00:00:00+05:30", "to": "2026-11-09T00:00:00+05:30", "granularity": "1 day"}, "measures": [{"name": "n", "agg": "count"}]}') AS kolkata_days_off_grid;
SET TimeZone = 'UTC';
SET routed.cache = off;  -- these tests are about routing; the cache has its own (cache.sql)
SELECT c->>'source' AS source, c->>'relation' AS relation, c->>'can_answer' AS can_answer, c->>'reason' AS reason
  FROM jsonb_array_elements(routed_explain(:'d2')->'candidates') AS c;
SELECT s->>'source' AS source, s->>'from' AS "from", s->>'to' AS "to"
  FROM jsonb_array_elements(routed_explain(:'d2')->'plan'->'segments') AS s;

-- the invalidation log: late data, aborts, savepoints, updates across buckets, deletes
INSERT INTO events (ts, shop, status, qty, amount, latency) VALUES ('2026-11-03 10:15+00', 'north', 'PAID', 5, 9.99, 1.5);
SELECT * FROM pending;
SELECT * FROM deltas('events_hourly');
SELECT same_as_base(:'d1') AS after_late_insert;
BEGIN;
INSERT INTO events (ts, shop, status, qty) VALUES ('2026-11-04 12:00+00', 'south', 'PAID', 1);
SELECT same_as_base(:'d1') AS own_uncommitted_write;
ROLLBACK;
SELECT * FROM deltas('events_hourly');
BEGIN;
INSERT INTO events (ts, shop, status, qty) VALUES ('2026-11-05 01:00+00', 'south', 'OPEN', 2);
SAVEPOINT s;
INSERT INTO events (ts, shop, status, qty) VALUES ('2026-11-06 01:00+00', 'south', 'OPEN', 3);
ROLLBACK TO SAVEPOINT s;
COMMIT;
SELECT * FROM deltas('events_hourly');
UPDATE events SET ts = ts + interval '6 days' WHERE ts = '2026-11-02 00:02+00';
DELETE FROM events WHERE ts >= '2026-11-07 10:00+00' AND ts < '2026-11-07 11:00+00';
INSERT INTO events (ts, shop) VALUES (now() + interval '1 hour', 'north');
SELECT * FROM pending;
SELECT * FROM deltas('events_hourly');
SELECT same_as_base(:'d1') AS after_update_and_delete;
SELECT same_as_base(:'d2') AS partial_edges_after_writes;

-- a budget allows invalidated buckets from the rollup, and says how stale they are
DELETE FROM events WHERE ts = '2026-11-04 00:06+00';
SELECT r->'meta'->>'source' AS source, (r->'meta'->>'staleness')::interval > '0' AS stale,
       (r->'meta'->>'staleness')::interval <= '1 hour' AS within_budget,
       r->'rows' <> (SELECT x->'rows' FROM routed_query(:'d1') AS x) AS differs_from_exact
  FROM routed_query(:'d1', '1 hour') AS r;

-- refresh consumes the log and rewrites only those buckets
CALL routed.refresh_rollup('events_hourly');
SELECT * FROM pending;
SELECT * FROM deltas('events_hourly');
SELECT pending_ranges, rows = (SELECT count(*) FROM routed.events_hourly) AS rows_exact FROM routed.rollups;
SELECT same_as_base(:'d1') AS after_refresh;
SELECT same_as_base(:'d2') AS partial_edges_after_refresh;
BEGIN;
CALL routed.refresh_rollup('events_hourly');
ROLLBACK;

-- TRUNCATE logs an unbounded range; answers stay exact before and after refresh
TRUNCATE events;
SELECT * FROM pending;
SELECT same_as_base(:'d1') AS after_truncate;
CALL routed.refresh_rollup('events_hourly');
SELECT rows FROM routed.rollups;
INSERT INTO events (ts, shop, status, qty, amount, latency)
SELECT timestamptz '2026-11-02 00:00:00+00' + i * interval '13 minutes', 'north', 'PAID', i % 5, i, i
  FROM generate_series(0, 999) AS i;
SELECT count(*) AS log_rows_after_reload FROM pending;
SELECT sum(rows) AS delta_rows_after_reload FROM deltas('events_hourly');
SELECT same_as_base(:'d1') AS after_reload;
CALL routed.refresh_rollup('events_hourly');
SELECT same_as_base(:'d1') AS after_reload_refresh;

-- corrections at bucket precision: a DELETE of rows in the 05:00 hour of four days logs those
-- four hours, not the days between; an UPDATE logs the hours of its old and new rows; answers
-- read only those hours from the base table
DELETE FROM events WHERE extract(hour FROM ts) = 5 AND extract(minute FROM ts) < 15 AND ts < '2026-11-06';
UPDATE events SET qty = qty + 1 WHERE ts IN ('2026-11-07 12:10+00', '2026-11-08 12:39+00');
UPDATE events SET ts = ts + interval '1 hour' WHERE ts = '2026-11-08 20:01+00';
SELECT * FROM pending;
SELECT same_as_base(:'d1') AS after_scattered_corrections;
SELECT s->>'source' AS source, s->>'from' AS "from", s->>'to' AS "to"
  FROM jsonb_array_elements(routed_explain(:'d1')->'plan'->'segments') AS s WHERE s->>'source' = 'base';
-- past routed.max_ranges_per_statement buckets a statement logs its span
SET routed.max_ranges_per_statement = 2;
DELETE FROM events WHERE extract(hour FROM ts) = 7 AND extract(minute FROM ts) < 15 AND ts < '2026-11-05';
RESET routed.max_ranges_per_statement;
SELECT * FROM pending WHERE extract(hour FROM lo) <> 5 AND extract(hour FROM lo) <> 12 AND extract(hour FROM lo) <> 20;
-- the background worker merges the log into runs of touched hours
UPDATE events SET qty = qty + 1 WHERE ts = '2026-11-07 12:10+00';
UPDATE events SET qty = qty + 1 WHERE ts = '2026-11-07 12:23+00';
SELECT count(*) AS log_rows_before_compaction FROM pending;
SELECT routed._compact_invalidations(0) AS log_rows_saved;
SELECT * FROM pending;
SELECT same_as_base(:'d1') AS after_compaction;
CALL routed.refresh_rollup('events_hourly');
SELECT count(*) AS log_rows_after_refresh FROM pending;
SELECT same_as_base(:'d1') AS after_corrections_refresh;

-- privileges: a role that may read the source but not the rollup gets the base table
DROP ROLE IF EXISTS routed_rollup_reader;
CREATE ROLE routed_rollup_reader;
GRANT SELECT ON events TO routed_rollup_reader;
SET ROLE routed_rollup_reader;
SELECT routed_query(:'d1')->'meta'->>'source' AS reader_source;
SELECT c->>'reason' AS reader_reason FROM jsonb_array_elements(routed_explain(:'d1')->'candidates') AS c
 WHERE c->>'source' = 'rollup';
RESET ROLE;
GRANT SELECT ON routed.events_hourly, routed."events_hourly$delta" TO routed_rollup_reader;
SET ROLE routed_rollup_reader;
SELECT routed_query(:'d1')->'meta'->>'source' AS reader_source_after_grant;
RESET ROLE;

-- a source with no rows, tracked implicitly (its one timestamptz column)
CREATE TABLE empty_source (at timestamptz, k text);
CALL routed.create_rollup('empty_hourly', 'empty_source', '1 hour', '{k}', '[]');
SELECT name, watermark BETWEEN now() - interval '1 minute' AND now() AS watermark_now, rows FROM routed.rollups ORDER BY name;
SELECT routed_query('{"source": "empty_source", "time": {"from": "2026-11-01T00:00:00Z", "to": "2026-11-02T00:00:00Z", "granularity": "1 hour"}, "measures": [{"name": "n", "agg": "count"}]}') - 'meta' AS empty_answer;

-- dropping: the implicit tracking goes with its last rollup, the explicit one stays
SELECT routed.drop_rollup('empty_hourly');
SELECT tgname FROM pg_trigger WHERE tgrelid = 'empty_source'::regclass;
SELECT try_sql($$SELECT routed.untrack('events')$$);
SELECT routed.drop_rollup('events_hourly');
SELECT to_regclass('routed.events_hourly') AS rollup_table, count(*) AS log_rows FROM routed.invalidations;
SELECT tgname FROM pg_trigger WHERE tgrelid = 'events'::regclass ORDER BY 1;
SELECT routed.untrack('events');
SELECT tgname FROM pg_trigger WHERE tgrelid = 'events'::regclass;
SELECT source, time_column, tracked_explicitly, rollups FROM routed.sources;
REVOKE ALL ON events FROM routed_rollup_reader;
DROP ROLE routed_rollup_reader;

-- dropping a tracked source drops its rollups; dropping a rollup table unregisters it
SELECT routed.track('events', 'ts');
CALL routed.create_rollup('events_daily', 'events', '1 day', '{}', '[{"agg": "count"}]');
CALL routed.create_rollup('empty_daily', 'empty_source', '1 day', '{}', '[]');
DROP TABLE routed.empty_daily;
DROP TABLE events CASCADE;
SELECT name FROM routed.rollup_catalog;
SELECT source FROM routed.tracked;
SELECT count(*) AS routed_tables FROM pg_tables WHERE schemaname = 'routed' AND tablename LIKE '%daily%';
