-- Rollups over timestamp and date columns (issue #17): their buckets are wall-clock times, kept
-- as if read in UTC. An answer from them equals the plain SQL's in every session TimeZone: UTC,
-- a half-hour zone (hourly answers there come from the base table: the rollup's wall-clock
-- hours straddle the zone's), a zone with daylight saving time (windows within a day of a
-- change come from the base table), after late inserts, corrections and refreshes made in
-- other zones. same_rows is computed.sql's: the answer against the plain SQL, row by row.
SET client_min_messages = warning;
SET TimeZone = 'UTC';
SET routed.cache = off;  -- routing, not the cache
CREATE TABLE wallr (ts timestamp NOT NULL, k text NOT NULL, v int NOT NULL);
CREATE TABLE dayr (d date NOT NULL, k text NOT NULL, v int NOT NULL);
INSERT INTO wallr SELECT timestamp '2026-10-20 00:00' + i * interval '7 minutes', (ARRAY['a', 'b', 'c'])[1 + i % 3], i % 97
  FROM generate_series(0, 7000) AS i;
INSERT INTO dayr SELECT date '2026-10-01' + i % 60, (ARRAY['a', 'b'])[1 + i % 2], i % 13 FROM generate_series(0, 1199) AS i;
SELECT routed.track('wallr', 'ts') AS wallr, routed.track('dayr', 'd') AS dayr;
CALL routed.create_rollup('wallr_1h', 'wallr', '1 hour', '{k}', '[{"agg": "sum", "column": "v"}, {"agg": "max", "column": "v"}]');
CALL routed.create_rollup('dayr_1d', 'dayr', '1 day', '{k}', '[{"agg": "sum", "column": "v"}]');
-- wall-clock buckets, as if read in UTC: the first hour of data is 2026-10-20 00:00
SELECT min(bucket) AT TIME ZONE 'UTC' AS first_bucket, sum("count(*)") AS rows FROM routed.wallr_1h;
SELECT min(bucket) AT TIME ZONE 'UTC' AS first_day, sum("count(*)") AS rows FROM routed.dayr_1d;

CREATE FUNCTION wall_doc(f text, t text, g text) RETURNS jsonb LANGUAGE sql AS $$
    SELECT jsonb_build_object('source', 'wallr', 'time', jsonb_strip_nulls(jsonb_build_object('from', f, 'to', t, 'granularity', g)),
        'dimensions', '["k"]'::jsonb,
        'measures', '[{"name": "n", "agg": "count"}, {"name": "s", "agg": "sum", "column": "v"}, {"name": "m", "agg": "max", "column": "v"}]'::jsonb) $$;
-- the plain SQL of wall_doc: PostgreSQL reads the timestamp column in the session TimeZone
CREATE FUNCTION wall_sql(f text, t text, g text) RETURNS text LANGUAGE sql AS $$
    SELECT format('SELECT %s k, count(*) AS n, sum(v) AS s, max(v) AS m FROM wallr WHERE ts >= %L::timestamptz AND ts < %L::timestamptz GROUP BY %s ORDER BY %s',
        CASE WHEN g IS NULL THEN '' WHEN g = '1 day' THEN 'date_trunc(''day'', ts::timestamptz) AS bucket,'
             ELSE format('date_bin(%L, ts::timestamptz, ''1970-01-01 00:00:00+00'') AS bucket,', g) END,
        f, t, CASE WHEN g IS NULL THEN 'k' ELSE 'bucket, k' END, CASE WHEN g IS NULL THEN 'k' ELSE 'bucket, k' END) $$;
CREATE FUNCTION wall_check(f text, t text, g text DEFAULT NULL) RETURNS text LANGUAGE sql AS $$
    SELECT same_rows(wall_doc(f, t, g), wall_sql(f, t, g)) $$;
CREATE FUNCTION day_check(f text, t text) RETURNS text LANGUAGE sql AS $$
    SELECT same_rows(jsonb_build_object('source', 'dayr', 'time', jsonb_build_object('from', f, 'to', t, 'granularity', '1 day'),
        'dimensions', '["k"]'::jsonb, 'measures', '[{"name": "n", "agg": "count"}, {"name": "s", "agg": "sum", "column": "v"}]'::jsonb),
        format('SELECT date_trunc(''day'', d::timestamptz) AS bucket, k, count(*) AS n, sum(v) AS s FROM dayr
                 WHERE d >= %L::timestamptz AND d < %L::timestamptz GROUP BY 1, 2 ORDER BY 1, 2', f, t)) $$;
-- why the rollup of a document cannot answer it, if it cannot
CREATE FUNCTION wall_why(f text, t text, g text) RETURNS text LANGUAGE sql AS $$
    SELECT c->>'reason' FROM jsonb_array_elements(routed_explain(wall_doc(f, t, g))->'candidates') AS c
     WHERE c->>'source' = 'rollup' AND NOT (c->>'can_answer')::boolean $$;

-- UTC: the wall clock is the instant
SELECT wall_check('2026-11-02T00:20:00Z', '2026-11-09T13:00:00Z', '1 day') AS utc_days,
       wall_check('2026-11-02T00:20:00Z', '2026-11-04T13:00:00Z', '1 hour') AS utc_hours,
       wall_check('2026-11-02T00:20:00Z', '2026-11-09T13:00:00Z') AS utc_totals,
       day_check('2026-10-05T00:00:00Z', '2026-11-20T00:00:00Z') AS utc_dates;
-- +05:30: days start at 18:30Z, midnight on the wall clock; hours are off the rollup's grid
SET TimeZone = 'Asia/Kolkata';
SELECT wall_check('2026-11-02T00:20:00Z', '2026-11-09T13:00:00Z', '1 day') AS kolkata_days,
       wall_check('2026-11-02T00:20:00Z', '2026-11-04T13:00:00Z', '1 hour') AS kolkata_hours,
       wall_check('2026-11-02T00:20:00Z', '2026-11-09T13:00:00Z') AS kolkata_totals,
       day_check('2026-10-05T00:00:00+05:30', '2026-11-20T00:00:00+05:30') AS kolkata_dates;
SELECT wall_why('2026-11-02T00:20:00Z', '2026-11-04T13:00:00Z', '1 hour') AS kolkata_hours_why;
-- New York: daylight saving time ends 2026-11-01 06:00Z; a window a day clear of it is read
-- from the rollup, one near it from the base table
SET TimeZone = 'America/New_York';
SELECT wall_check('2026-11-03T00:20:00Z', '2026-11-09T13:00:00Z', '1 day') AS new_york_days,
       wall_check('2026-11-03T00:20:00Z', '2026-11-05T13:00:00Z', '1 hour') AS new_york_hours,
       wall_check('2026-10-28T00:20:00Z', '2026-11-05T13:00:00Z', '1 day') AS new_york_across_the_change,
       day_check('2026-11-03T00:00:00-05:00', '2026-11-20T00:00:00-05:00') AS new_york_dates;
SELECT wall_why('2026-10-28T00:20:00Z', '2026-11-05T13:00:00Z', '1 day') AS across_the_change_why;

-- writes from New York: a late insert (a delta), an UPDATE and a DELETE (bucket-precise
-- invalidations of wall-clock hours), all exact at once
INSERT INTO wallr VALUES ('2026-11-05 10:15', 'a', 1000), ('2026-11-06 23:59', 'b', 2000);
UPDATE wallr SET v = v + 500 WHERE ts = '2026-11-07 10:03';
DELETE FROM wallr WHERE ts = '2026-11-08 03:05';
INSERT INTO dayr VALUES ('2026-11-10', 'a', 700);
DELETE FROM dayr WHERE d = '2026-11-12' AND k = 'a';
SET TimeZone = 'UTC';
SELECT c.name, i.lo AT TIME ZONE 'UTC' AS lo, i.hi AT TIME ZONE 'UTC' AS hi
  FROM routed.invalidations i JOIN routed.rollup_catalog c ON c.id = i.rollup_id
 WHERE c.name IN ('wallr_1h', 'dayr_1d') ORDER BY 1, 2;
SELECT wall_check('2026-11-02T00:20:00Z', '2026-11-09T13:00:00Z', '1 day') AS utc_days,
       wall_check('2026-11-05T00:20:00Z', '2026-11-08T13:00:00Z', '1 hour') AS utc_hours,
       day_check('2026-10-05T00:00:00Z', '2026-11-20T00:00:00Z') AS utc_dates;
SET TimeZone = 'Asia/Kolkata';
SELECT wall_check('2026-11-02T00:20:00Z', '2026-11-09T13:00:00Z', '1 day') AS kolkata_days,
       day_check('2026-10-05T00:00:00+05:30', '2026-11-20T00:00:00+05:30') AS kolkata_dates;
-- refreshed from Kolkata: the rollups take the writes, answers stay the plain SQL's
CALL routed.refresh_rollup('wallr_1h');
CALL routed.refresh_rollup('dayr_1d');
SELECT count(*) AS pending FROM routed.invalidations i JOIN routed.rollup_catalog c ON c.id = i.rollup_id
 WHERE c.name IN ('wallr_1h', 'dayr_1d');
SELECT wall_check('2026-11-02T00:20:00Z', '2026-11-09T13:00:00Z', '1 day') AS kolkata_days,
       wall_check('2026-11-02T00:20:00Z', '2026-11-09T13:00:00Z') AS kolkata_totals,
       day_check('2026-10-05T00:00:00+05:30', '2026-11-20T00:00:00+05:30') AS kolkata_dates;
SET TimeZone = 'UTC';
SELECT wall_check('2026-11-05T00:20:00Z', '2026-11-08T13:00:00Z', '1 hour') AS utc_hours;
-- the rollup's rows equal the ones a fresh build reads from the source
SELECT count(*) AS differing FROM (
    (SELECT bucket, k, "count(*)", "sum(v)", "max(v)" FROM routed.wallr_1h
     EXCEPT SELECT date_bin('1 hour', ts, '1970-01-01') AT TIME ZONE 'UTC', k, count(*), sum(v), max(v) FROM wallr GROUP BY 1, 2)
    UNION ALL
    (SELECT date_bin('1 hour', ts, '1970-01-01') AT TIME ZONE 'UTC', k, count(*), sum(v), max(v) FROM wallr GROUP BY 1, 2
     EXCEPT SELECT bucket, k, "count(*)", "sum(v)", "max(v)" FROM routed.wallr_1h)) AS d;

SELECT routed.drop_rollup('wallr_1h');
SELECT routed.drop_rollup('dayr_1d');
SELECT routed.untrack('wallr'), routed.untrack('dayr');
DROP FUNCTION wall_check(text, text, text), day_check(text, text), wall_why(text, text, text), wall_sql(text, text, text), wall_doc(text, text, text);
DROP TABLE wallr, dayr;
RESET routed.cache;
