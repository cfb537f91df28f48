-- Plain SQL (routed.transparent): the shapes the tools send get a "Routed Aggregate" node over
-- PostgreSQL's own plan and return its rows; everything else plans exactly as without the
-- extension. (Equality over 1,000+ generated queries under writes: pgrx-tests/plain_sql.py.)
SET client_min_messages = warning;
SET TimeZone = 'UTC';
CREATE TABLE pm (ts timestamptz NOT NULL, status text, rule_id int, ms float8, n int);
INSERT INTO pm SELECT timestamptz '2026-10-01' + i * interval '97 seconds', (ARRAY['OK','ERROR','WARN'])[1 + i % 3],
       i % 7, (i % 991) * 0.25, i % 10 FROM generate_series(0, 29999) i;
CREATE INDEX ON pm (ts);
SELECT routed.track('pm', 'ts');
CALL routed.create_rollup('pm_hourly', 'pm', '1 hour', ARRAY['status', 'rule_id'],
  '[{"agg":"count"},{"agg":"sum","column":"n"},{"agg":"count","column":"n"},{"agg":"min","column":"ms"},{"agg":"max","column":"ms"}]');
CREATE TABLE untracked (ts timestamptz, status text);
ANALYZE pm;

-- whether EXPLAIN prints the same plan with routed.transparent on and off
CREATE FUNCTION plan_same(q text) RETURNS boolean LANGUAGE plpgsql AS $$
DECLARE on_plan text := ''; off_plan text := ''; line text;
BEGIN
    PERFORM set_config('routed.transparent', 'on', true);
    FOR line IN EXECUTE 'EXPLAIN (COSTS OFF) ' || q LOOP on_plan := on_plan || line || E'\n'; END LOOP;
    PERFORM set_config('routed.transparent', 'off', true);
    FOR line IN EXECUTE 'EXPLAIN (COSTS OFF) ' || q LOOP off_plan := off_plan || line || E'\n'; END LOOP;
    RETURN on_plan = off_plan;
END $$;
-- what a routed execution answered from (EXPLAIN ANALYZE's "Answered"), or the native reason
CREATE FUNCTION answered(q text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE line text;
BEGIN
    FOR line IN EXECUTE 'EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF, SUMMARY OFF) ' || q LOOP
        IF line LIKE '%Answered:%' THEN RETURN trim(split_part(line, 'Answered:', 2)); END IF;
    END LOOP;
    RETURN 'no node';
END $$;

SET routed.transparent = on;
-- Grafana: $__timeGroupAlias(ts, '1h') and $__timeFilter(ts)
EXPLAIN (COSTS OFF) SELECT floor(extract(epoch from ts)/3600)*3600 AS "time", status, count(*) AS runs
  FROM pm WHERE ts BETWEEN '2026-10-10T00:00:00Z' AND '2026-10-10T05:00:00Z' GROUP BY 1, 2 ORDER BY 1, 2;
SELECT floor(extract(epoch from ts)/3600)*3600 AS "time", status, count(*) AS runs
  FROM pm WHERE ts BETWEEN '2026-10-10T00:00:00Z' AND '2026-10-10T05:00:00Z' GROUP BY 1, 2 ORDER BY 1, 2 LIMIT 6;
SELECT routed.last_meta()->>'source' AS source, routed.last_meta()->>'cache' AS cache;
SET routed.transparent = off;
SELECT floor(extract(epoch from ts)/3600)*3600 AS "time", status, count(*) AS runs
  FROM pm WHERE ts BETWEEN '2026-10-10T00:00:00Z' AND '2026-10-10T05:00:00Z' GROUP BY 1, 2 ORDER BY 1, 2 LIMIT 6;
SET routed.transparent = on;
-- Superset: DATE_TRUNC, TO_TIMESTAMP bounds, half-open, row limit; read from the rollup
SELECT answered($q$SELECT DATE_TRUNC('hour', ts) AS ts, status AS status, COUNT(*) AS count, max(ms) AS max_ms
  FROM public.pm WHERE ts >= TO_TIMESTAMP('2026-10-10 00:00:00.000000', 'YYYY-MM-DD HH24:MI:SS.US')
   AND ts < TO_TIMESTAMP('2026-10-11 00:00:00.000000', 'YYYY-MM-DD HH24:MI:SS.US')
 GROUP BY DATE_TRUNC('hour', ts), status LIMIT 10000$q$) AS superset;
-- the second time from the cache (typed rows)
SELECT answered($q$SELECT DATE_TRUNC('hour', ts) AS ts, status AS status, COUNT(*) AS count, max(ms) AS max_ms
  FROM public.pm WHERE ts >= TO_TIMESTAMP('2026-10-10 00:00:00.000000', 'YYYY-MM-DD HH24:MI:SS.US')
   AND ts < TO_TIMESTAMP('2026-10-11 00:00:00.000000', 'YYYY-MM-DD HH24:MI:SS.US')
 GROUP BY DATE_TRUNC('hour', ts), status LIMIT 10000$q$) AS superset_again;
-- plain SQL: date_bin, ::date, relative bounds, IN / IS NOT NULL filters, FILTER, avg
SELECT answered($q$SELECT date_bin('30 minutes', ts, TIMESTAMPTZ '2000-01-01 00:00:00+00') AS b, sum(n)
  FROM pm WHERE ts >= '2026-10-05' AND ts < '2026-10-06' AND status IN ('OK', 'WARN') GROUP BY 1$q$) AS date_bin;
SELECT answered($q$SELECT ts::date AS day, rule_id, avg(n), count(*) FILTER (WHERE status = 'ERROR') AS errors
  FROM pm WHERE ts > now() - interval '400 days' AND ts <= now() AND rule_id IS NOT NULL GROUP BY 1, 2 ORDER BY 1, 2$q$) AS cast_date;
-- an ungrouped aggregate over no rows is one row, as PostgreSQL's
SELECT count(*), sum(n), max(ms) FROM pm WHERE ts >= '2030-01-01' AND ts < '2030-01-02';
SELECT routed.last_meta()->>'source' AS source;
-- exact by default: percentile_cont and count(DISTINCT) read base rows
SELECT answered($q$SELECT status, percentile_cont(0.5) WITHIN GROUP (ORDER BY ms), count(DISTINCT rule_id)
  FROM pm WHERE ts >= '2026-10-05' AND ts < '2026-10-06' GROUP BY status$q$) AS exact_percentile;
-- routed.approximate = on: percentile_cont and count(DISTINCT) may come from a rollup's sketches,
-- within their error of the native plan's values (meta.approximate says so)
CALL routed.create_rollup('pm_sketch', 'pm', '1 hour', ARRAY['status'],
  '[{"agg":"percentile","column":"ms"},{"agg":"count_distinct","column":"rule_id"}]');
CREATE FUNCTION approx_close(q text, tolerance float8) RETURNS text LANGUAGE plpgsql AS $$
DECLARE a float8; b float8; approx text; before int := coalesce((routed.last_meta()->>'answers')::int, 0);
BEGIN
    EXECUTE q INTO a;
    approx := CASE WHEN (routed.last_meta()->>'answers')::int > before THEN routed.last_meta()->>'approximate' ELSE 'not routed' END;
    PERFORM set_config('routed.transparent', 'off', true);
    EXECUTE q INTO b;
    PERFORM set_config('routed.transparent', 'on', true);
    RETURN 'approximate ' || approx || ', ' || CASE WHEN abs(a - b) <= tolerance * abs(b) THEN 'within' ELSE 'OUTSIDE' END
        || ' ' || tolerance || ' of the native value';
END $$;
SET routed.approximate = on;
SELECT answered($q$SELECT percentile_cont(0.95) WITHIN GROUP (ORDER BY ms) FROM pm WHERE ts >= '2026-10-05' AND ts < '2026-10-12'$q$) AS sketch_percentile;
SELECT approx_close($q$SELECT percentile_cont(0.95) WITHIN GROUP (ORDER BY ms) FROM pm WHERE ts >= '2026-10-05' AND ts < '2026-10-12'$q$, 0.02) AS p95;
SELECT approx_close($q$SELECT count(DISTINCT rule_id) FROM pm WHERE ts >= '2026-10-05' AND ts < '2026-10-12' AND status = 'OK'$q$, 0.05) AS distinct_rules;
RESET routed.approximate;
SELECT answered($q$SELECT percentile_cont(0.95) WITHIN GROUP (ORDER BY ms) FROM pm WHERE ts >= '2026-10-05' AND ts < '2026-10-12'$q$) AS exact_again;
SELECT routed.drop_rollup('pm_sketch');
DROP FUNCTION approx_close(text, float8);
-- prepared, with parameters, into the generic plan
SET plan_cache_mode = force_generic_plan;
PREPARE pp(timestamptz, timestamptz, text) AS
  SELECT date_trunc('day', ts) AS day, count(*) FROM pm WHERE ts >= $1 AND ts < $2 AND status = $3 GROUP BY 1 ORDER BY 1;
EXPLAIN (COSTS OFF) EXECUTE pp('2026-10-03', '2026-10-05 12:00', 'OK');
EXECUTE pp('2026-10-03', '2026-10-05 12:00', 'OK');
SELECT routed.last_meta()->>'source' AS source;
DEALLOCATE pp;
RESET plan_cache_mode;
-- decided at execution: sub-day buckets need a session TimeZone of whole hours
SET TimeZone = 'Asia/Kolkata';
SELECT answered($q$SELECT date_trunc('hour', ts), count(*) FROM pm WHERE ts >= '2026-10-10' AND ts < '2026-10-11' GROUP BY 1$q$) AS kolkata_hours;
SELECT answered($q$SELECT date_trunc('day', ts), count(*) FROM pm WHERE ts >= '2026-10-10' AND ts < '2026-10-12' GROUP BY 1$q$) AS kolkata_days;
-- date_trunc with a named zone: computed in that zone, whatever the session's (here
-- Kolkata, whose days start at :30); its rows are PostgreSQL's (the same query with routed.transparent off below)
SET TimeZone = 'Asia/Kolkata';
SELECT answered($q$SELECT date_trunc('day', ts, 'America/New_York') AS day, status, count(*), sum(n) FROM pm
  WHERE ts >= '2026-10-10' AND ts < '2026-10-13' GROUP BY 1, 2 ORDER BY 1, 2$q$) AS named_zone_days;
SELECT date_trunc('day', ts, 'America/New_York') AS day, status, count(*), sum(n) FROM pm
  WHERE ts >= '2026-10-10' AND ts < '2026-10-13' GROUP BY 1, 2 ORDER BY 1, 2;
SET routed.transparent = off;
SELECT date_trunc('day', ts, 'America/New_York') AS day, status, count(*), sum(n) FROM pm
  WHERE ts >= '2026-10-10' AND ts < '2026-10-13' GROUP BY 1, 2 ORDER BY 1, 2;
SET routed.transparent = on;
-- hours of a named half-hour zone: decided at execution, as for the session's, the native plan
-- answers; UTC hours asked from Kolkata come from the rollup
SELECT answered($q$SELECT date_trunc('hour', ts, 'Asia/Kolkata'), count(*) FROM pm WHERE ts >= '2026-10-10' AND ts < '2026-10-11' GROUP BY 1$q$) AS named_zone_hours;
SELECT answered($q$SELECT date_trunc('hour', ts, 'UTC'), count(*) FROM pm WHERE ts >= '2026-10-10' AND ts < '2026-10-11' GROUP BY 1$q$) AS utc_hours;
SET TimeZone = 'UTC';
-- a transaction that has written reads its own rows: the native plan answers
BEGIN;
INSERT INTO pm VALUES ('2026-10-10 01:00', 'OK', 1, 1, 1);
SELECT answered($q$SELECT count(*) FROM pm WHERE ts >= '2026-10-10' AND ts < '2026-10-11'$q$) AS after_write;
ROLLBACK;
BEGIN ISOLATION LEVEL SERIALIZABLE;
SELECT answered($q$SELECT count(*) FROM pm WHERE ts >= '2026-10-10' AND ts < '2026-10-11'$q$) AS serializable;
COMMIT;
SET routed.transparent = off;
SELECT answered($q$SELECT count(*) FROM pm WHERE ts >= '2026-10-10' AND ts < '2026-10-11'$q$) AS transparent_off;

-- refused: each plans exactly as without the extension
SELECT q AS refused, plan_same(q) AS plan_is_postgresqls
  FROM unnest(ARRAY[
    $$SELECT p.status, count(*) FROM pm p JOIN pm q ON q.ts = p.ts WHERE p.ts >= '2026-10-10' AND p.ts < '2026-10-11' GROUP BY 1$$,
    $$SELECT status, count(*) FROM pm WHERE ts >= '2026-10-10' AND ts < '2026-10-11' GROUP BY 1 HAVING count(*) > 1$$,
    $$SELECT count(*) FROM pm WHERE ts >= '2026-10-10' AND ts < '2026-10-11' AND (status = 'OK' OR n = 1)$$,
    $$SELECT status, count(*), rank() OVER (ORDER BY count(*)) FROM pm WHERE ts >= '2026-10-10' AND ts < '2026-10-11' GROUP BY 1$$,
    $$SELECT status, rule_id, count(*) FROM pm WHERE ts >= '2026-10-10' AND ts < '2026-10-11' GROUP BY GROUPING SETS ((status), (rule_id))$$,
    $$SELECT count(*) FROM pm WHERE ts >= '2026-10-10' AND ts < now() - random() * interval '1 day'$$,
    $$SELECT count(*) FROM pm WHERE ts >= '2026-10-10'$$,
    $$SELECT count(*) FROM untracked WHERE ts >= '2026-10-10' AND ts < '2026-10-11'$$,
    $$SELECT count(*) FROM pm WHERE ts >= '2026-10-10' AND ts < (SELECT max(ts) FROM untracked)$$,
    $$SELECT DISTINCT status, count(*) FROM pm WHERE ts >= '2026-10-10' AND ts < '2026-10-11' GROUP BY 1$$,
    $$SELECT status, count(*) FROM pm WHERE ts >= '2026-10-10' AND ts < '2026-10-11' GROUP BY 1 ORDER BY 1 OFFSET 1$$,
    $$SELECT status, count(*) FROM pm WHERE ts >= '2026-10-10' AND ts < '2026-10-11' GROUP BY 1 ORDER BY 1 NULLS FIRST$$,
    $$SELECT ts, count(*) FROM pm WHERE ts >= '2026-10-10' AND ts < '2026-10-11' GROUP BY 1$$,
    $$SELECT sum(n * 2) FROM pm WHERE ts >= '2026-10-10' AND ts < '2026-10-11'$$,
    $$SELECT count(*) + 1 FROM pm WHERE ts >= '2026-10-10' AND ts < '2026-10-11'$$,
    $$SELECT count(*) FROM ONLY pm WHERE ts >= '2026-10-10' AND ts < '2026-10-11'$$,
    $$WITH w AS (SELECT * FROM pm) SELECT count(*) FROM w WHERE ts >= '2026-10-10' AND ts < '2026-10-11'$$,
    $$SELECT count(*) FROM pm WHERE ts >= '2026-10-10' AND ts < '2026-10-11' UNION ALL SELECT 1$$,
    $$SELECT string_agg(status, ',') FROM pm WHERE ts >= '2026-10-10' AND ts < '2026-10-11'$$,
    $$SELECT count(*) FROM pm WHERE ts >= '2026-10-10' AND ts < '2026-10-11' AND lower(status) = 'ok'$$,
    $$SELECT date_trunc('hour', ts, 'CET'), count(*) FROM pm WHERE ts >= '2026-10-10' AND ts < '2026-10-11' GROUP BY 1$$,
    $$SELECT date_trunc('hour', ts, 'Mars/Olympus'), count(*) FROM pm WHERE ts >= '2026-10-10' AND ts < '2026-10-11' GROUP BY 1$$,
    $$SELECT status FROM pm WHERE ts >= '2026-10-10' AND ts < '2026-10-11' LIMIT 1$$
  ]) AS q;
-- row security: a policy applies to a role without BYPASSRLS
CREATE ROLE plain_reader;
GRANT SELECT ON pm TO plain_reader;
ALTER TABLE pm ENABLE ROW LEVEL SECURITY;
CREATE POLICY only_ok ON pm FOR SELECT TO plain_reader USING (status = 'OK');
SET ROLE plain_reader;
SELECT plan_same($$SELECT count(*) FROM pm WHERE ts >= '2026-10-10' AND ts < '2026-10-11'$$) AS row_security_plan_is_postgresqls;
SET routed.transparent = on;
SELECT count(*) AS only_ok_rows FROM pm WHERE ts >= '2026-10-10' AND ts < '2026-10-11';
SET routed.transparent = off;
RESET ROLE;
ALTER TABLE pm DISABLE ROW LEVEL SECURITY;
DROP POLICY only_ok ON pm;
REVOKE SELECT ON pm FROM plain_reader;
DROP ROLE plain_reader;
DROP FUNCTION plan_same(text), answered(text);
DROP TABLE untracked;
