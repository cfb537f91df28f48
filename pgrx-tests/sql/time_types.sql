-- Tracked timestamp and date columns (issue #17): a write invalidates, at commit, the cached
-- answers it may change in any session TimeZone (a wall-clock time means a different instant in
-- each, so its change counts for every instant it may mean); answers at budget 0 equal the plain
-- SQL's (rollups over them: wall_clock.sql).
SET client_min_messages = warning;
SET TimeZone = 'UTC';
CREATE TABLE wall (ts timestamp NOT NULL, v int);
CREATE TABLE days (d date NOT NULL, v int);
CREATE TABLE texts (t text, v int);
INSERT INTO wall SELECT timestamp '2026-11-01 00:00' + i * interval '1 hour', i FROM generate_series(0, 239) AS i;
INSERT INTO days SELECT date '2026-11-01' + i, i FROM generate_series(0, 29) AS i;
SELECT routed.track('wall', 'ts') AS wall, routed.track('days', 'd') AS days;
SELECT routed.track('texts', 't');
SELECT source, time_column FROM routed.sources WHERE source::text IN ('wall', 'days', 'texts') ORDER BY 1;

-- the routed answer, where it came from, and the plain SQL of the same window
CREATE FUNCTION wall_sum(OUT cache text, OUT routed bigint, OUT plain bigint) LANGUAGE sql AS $$
    SELECT r->'meta'->>'cache', (r->'rows'->0->>0)::bigint,
           (SELECT sum(v) FROM wall WHERE ts >= '2026-11-02T00:00:00Z'::timestamptz AND ts < '2026-11-04T00:00:00Z'::timestamptz)
      FROM routed_query('{"source": "wall", "time": {"from": "2026-11-02T00:00:00Z", "to": "2026-11-04T00:00:00Z"},
                          "measures": [{"name": "s", "agg": "sum", "column": "v"}]}', '0') AS r $$;
CREATE FUNCTION days_sum(OUT cache text, OUT routed bigint, OUT plain bigint) LANGUAGE sql AS $$
    SELECT r->'meta'->>'cache', (r->'rows'->0->>0)::bigint,
           (SELECT sum(v) FROM days WHERE d >= '2026-11-02T00:00:00Z'::timestamptz AND d < '2026-11-04T00:00:00Z'::timestamptz)
      FROM routed_query('{"source": "days", "time": {"from": "2026-11-02T00:00:00Z", "to": "2026-11-04T00:00:00Z"},
                          "measures": [{"name": "s", "agg": "sum", "column": "v"}]}', '0') AS r $$;

-- tracked, so cached at budget 0: a miss, then a hit
SELECT * FROM wall_sum();
SELECT * FROM wall_sum();
-- another TimeZone reads other wall-clock hours: its own entry
SET TimeZone = 'Asia/Kolkata';
SELECT * FROM wall_sum();
SELECT * FROM wall_sum();
-- 03:00 on Nov 4 is outside the window read as UTC but inside it in Kolkata (21:30 UTC on Nov 3):
-- the Kolkata entry is no longer served
INSERT INTO wall VALUES ('2026-11-04 03:00', 100000);
SELECT * FROM wall_sum();
-- a write far from the window changes nothing: still a hit
INSERT INTO wall VALUES ('2026-11-20 00:00', 100000);
SELECT * FROM wall_sum();
SET TimeZone = 'UTC';
SELECT * FROM wall_sum();
-- UPDATE and DELETE too, in any zone; a rolled-back write leaves the entry
SET TimeZone = 'America/Los_Angeles';
SELECT * FROM wall_sum();
SELECT * FROM wall_sum();
UPDATE wall SET v = v + 1 WHERE ts = '2026-11-03 15:00';
SELECT * FROM wall_sum();
BEGIN;
DELETE FROM wall WHERE ts = '2026-11-03 14:00';
ROLLBACK;
SELECT * FROM wall_sum();
DELETE FROM wall WHERE ts = '2026-11-03 14:00';
SELECT * FROM wall_sum();

-- date: a day means the instants of that day in every zone
SET TimeZone = 'Pacific/Kiritimati';
SELECT * FROM days_sum();
SELECT * FROM days_sum();
UPDATE days SET v = v + 1000 WHERE d = '2026-11-04';
SELECT * FROM days_sum();
INSERT INTO days VALUES ('2026-11-20', 5);
SELECT * FROM days_sum();
SET TimeZone = 'UTC';

SELECT routed.untrack('wall'), routed.untrack('days');
DROP FUNCTION wall_sum(), days_sum();
DROP TABLE wall, days, texts;
