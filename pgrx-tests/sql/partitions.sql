-- Partitioned sources (issue #17): pg_partman-style daily partitions and a default one. Writes
-- through the parent and straight into partitions (INSERT, COPY, UPDATE moving rows between
-- partitions, DELETE, MERGE, TRUNCATE of one partition), partitions created, attached, detached
-- and dropped later: after each, answers at budget 0 from the rollup (and the cache) equal the
-- base table's. Uses same_as_base() and pending from rollups.sql.
SET client_min_messages = warning;
SET TimeZone = 'UTC';
SET routed.cache = off;  -- routing first; the cache at the end

CREATE TABLE pm (ts timestamptz NOT NULL, shop text, qty int) PARTITION BY RANGE (ts);
CREATE INDEX ON pm (ts);
CREATE TABLE pm_p20261101 PARTITION OF pm FOR VALUES FROM ('2026-11-01') TO ('2026-11-02');
CREATE TABLE pm_p20261102 PARTITION OF pm FOR VALUES FROM ('2026-11-02') TO ('2026-11-03');
CREATE TABLE pm_p20261103 PARTITION OF pm FOR VALUES FROM ('2026-11-03') TO ('2026-11-04');
CREATE TABLE pm_default PARTITION OF pm DEFAULT;
INSERT INTO pm SELECT timestamptz '2026-11-01' + i * interval '1 minute', (ARRAY['north', 'south'])[1 + i % 2], i % 7
  FROM generate_series(0, 5000) i;   -- three days and the default partition beyond
ANALYZE pm;   -- the router weighs a rollup by its rows per source row: the partitions' statistics

CALL routed.create_rollup('pm_hourly', 'pm', '1 hour', '{shop}', '[{"agg": "count"}, {"agg": "sum", "column": "qty"}]');
-- every table of the tree carries the capture triggers
SELECT c.relname, count(g.tgname) AS triggers FROM pg_class c LEFT JOIN pg_trigger g ON g.tgrelid = c.oid AND g.tgname LIKE 'routed_capture_%'
 WHERE c.relname LIKE 'pm%' AND c.relkind IN ('r', 'p') GROUP BY 1 ORDER BY 1;
SELECT source, time_column, rollups FROM routed.sources WHERE source = 'pm'::regclass;

\set q '{"source": "pm", "time": {"from": "2026-11-01T00:30:00Z", "to": "2026-11-11T12:10:00Z", "granularity": "1 day"}, "dimensions": ["shop"], "measures": [{"name": "n", "agg": "count"}, {"name": "q", "agg": "sum", "column": "qty"}], "order": [{"by": "bucket"}, {"by": "shop"}]}'
SELECT same_as_base(:'q') AS backfilled;

-- late rows through the parent (deltas), and straight into a partition and into the default
INSERT INTO pm VALUES ('2026-11-01 05:05', 'north', 100), ('2026-11-03 07:00', 'south', 50);
INSERT INTO pm_p20261102 VALUES ('2026-11-02 10:10', 'north', 1000);
INSERT INTO pm_default VALUES ('2026-11-05 01:00', 'south', 7);
SELECT same_as_base(:'q') AS inserted;
COPY pm FROM STDIN WITH (FORMAT csv);
2026-11-01 09:00:00+00,south,3
2026-11-03 09:00:00+00,north,4
\.
COPY pm_p20261103 FROM STDIN WITH (FORMAT csv);
2026-11-03 11:00:00+00,south,5
\.
SELECT same_as_base(:'q') AS copied;
-- an UPDATE through the parent that moves rows between partitions, one aimed at a partition
UPDATE pm SET ts = ts + interval '1 day' WHERE ts >= '2026-11-01 10:00' AND ts < '2026-11-01 11:00';
UPDATE pm_p20261103 SET qty = qty + 1 WHERE ts < '2026-11-03 02:00';
SELECT same_as_base(:'q') AS updated;
SELECT name, lo, hi FROM pending WHERE name = 'pm_hourly';
DELETE FROM pm_p20261102 WHERE shop = 'south' AND ts < '2026-11-02 06:00';
DELETE FROM pm WHERE qty = 6 AND ts < '2026-11-01 01:00';
SELECT same_as_base(:'q') AS deleted;
MERGE INTO pm USING (VALUES (timestamptz '2026-11-02 10:10', 'north', 1), (timestamptz '2026-11-02 23:59', 'north', 2)) s(ts, shop, qty)
   ON pm.ts = s.ts AND pm.shop = s.shop
 WHEN MATCHED THEN UPDATE SET qty = pm.qty + s.qty
 WHEN NOT MATCHED THEN INSERT VALUES (s.ts, s.shop, s.qty);
SELECT same_as_base(:'q') AS merged;
TRUNCATE pm_p20261101;
SELECT same_as_base(:'q') AS truncated_one_partition;
SELECT name, lo, hi FROM pending WHERE name = 'pm_hourly' AND lo = '-infinity';
CALL routed.refresh_rollup('pm_hourly');
SELECT count(*) AS pending_after_refresh FROM pending WHERE name = 'pm_hourly';
SELECT same_as_base(:'q') AS refreshed;

-- a partition created later gets the triggers; one attached with rows brings them as a change
CREATE TABLE pm_p20261110 PARTITION OF pm FOR VALUES FROM ('2026-11-10') TO ('2026-11-11');
INSERT INTO pm_p20261110 VALUES ('2026-11-10 03:00', 'north', 9);
CREATE TABLE pm_p20261106 (LIKE pm);
INSERT INTO pm_p20261106 SELECT timestamptz '2026-11-06' + i * interval '1 hour', 'south', 1 FROM generate_series(0, 23) i;
ALTER TABLE pm ATTACH PARTITION pm_p20261106 FOR VALUES FROM ('2026-11-06') TO ('2026-11-07');
SELECT c.relname, count(g.tgname) AS triggers FROM pg_class c LEFT JOIN pg_trigger g ON g.tgrelid = c.oid AND g.tgname LIKE 'routed_capture_%'
 WHERE c.relname IN ('pm_p20261110', 'pm_p20261106') GROUP BY 1 ORDER BY 1;
SELECT same_as_base(:'q') AS attached;
SELECT name, lo, hi FROM pending WHERE name = 'pm_hourly' ORDER BY lo;
-- a detached partition takes its rows and its triggers with it
ALTER TABLE pm DETACH PARTITION pm_p20261102;
SELECT count(*) AS triggers_left FROM pg_trigger WHERE tgrelid = 'pm_p20261102'::regclass AND tgname LIKE 'routed_capture_%';
INSERT INTO pm_p20261102 VALUES ('2026-11-02 12:00', 'north', 1);   -- no longer part of pm
SELECT same_as_base(:'q') AS detached;
DROP TABLE pm_p20261102;
-- a partition dropped outright: every bucket of pm counts as changed
DROP TABLE pm_p20261103;
SELECT name, lo, hi FROM pending WHERE name = 'pm_hourly' AND lo = '-infinity';
SELECT same_as_base(:'q') AS dropped;
CALL routed.refresh_rollup('pm_hourly');
SELECT same_as_base(:'q') AS refreshed_again;

-- late single-row inserts keep their delta plans per partition: partitions whose columns lie in
-- another order (one attached from a table built apart, with a dropped column) and a column
-- whose type changed get their own plans, and every delta is right
CREATE TABLE pm_p20261107 (gone int, qty int, shop text, ts timestamptz NOT NULL);
ALTER TABLE pm_p20261107 DROP COLUMN gone;
ALTER TABLE pm ATTACH PARTITION pm_p20261107 FOR VALUES FROM ('2026-11-07') TO ('2026-11-08');
CALL routed.refresh_rollup('pm_hourly');
INSERT INTO pm_p20261107 VALUES (11, 'north', '2026-11-07 01:00');
INSERT INTO pm_p20261110 VALUES ('2026-11-10 01:00', 'south', 22);
INSERT INTO pm_p20261107 (ts, shop, qty) VALUES ('2026-11-07 02:00', 'south', 33);
INSERT INTO pm VALUES ('2026-11-07 03:00', 'north', 44), ('2026-11-10 03:30', 'north', 55);
SELECT same_as_base(:'q') AS other_layouts;
ALTER TABLE pm ALTER COLUMN qty TYPE bigint;
INSERT INTO pm_p20261107 VALUES (5000000000, 'north', '2026-11-07 04:00');
INSERT INTO pm_p20261110 VALUES ('2026-11-10 04:00', 'south', 6000000000);
SELECT same_as_base(:'q') AS after_type_change;

-- a foreign partition cannot be captured: attaching one to a tracked source is refused
-- (0A000), and so is tracking a tree that has one; nothing is left half done
CREATE FOREIGN DATA WRAPPER routed_test_fdw;
CREATE SERVER routed_test_server FOREIGN DATA WRAPPER routed_test_fdw;
CREATE FOREIGN TABLE pm_remote (ts timestamptz NOT NULL, shop text, qty bigint) SERVER routed_test_server;
SELECT try_sql($$ALTER TABLE pm ATTACH PARTITION pm_remote FOR VALUES FROM ('2026-11-20') TO ('2026-11-21')$$) AS attach_foreign;
SELECT count(*) AS foreign_partitions FROM pg_inherits WHERE inhrelid = 'pm_remote'::regclass;
CREATE TABLE pf (ts timestamptz NOT NULL, v int) PARTITION BY RANGE (ts);
CREATE TABLE pf_local PARTITION OF pf FOR VALUES FROM ('2026-11-01') TO ('2026-11-02');
CREATE FOREIGN TABLE pf_remote PARTITION OF pf FOR VALUES FROM ('2026-11-02') TO ('2026-11-03') SERVER routed_test_server;
SELECT try_sql($$SELECT routed.track('pf', 'ts')$$) AS track_with_foreign;
SELECT count(*) AS tracked, (SELECT count(*) FROM pg_trigger WHERE tgrelid = 'pf_local'::regclass AND tgname LIKE 'routed_capture_%') AS triggers
  FROM routed.tracked WHERE source = 'pf'::regclass;
DROP TABLE pf;
DROP FOREIGN TABLE pm_remote;
DROP SERVER routed_test_server;
DROP FOREIGN DATA WRAPPER routed_test_fdw;

-- the cache: an entry over the parent is invalidated by a write straight into a partition
SET routed.cache = on;
\set c '{"source": "pm", "time": {"from": "2026-11-01T00:00:00Z", "to": "2026-11-12T00:00:00Z"}, "measures": [{"name": "n", "agg": "count"}]}'
SELECT routed_query(:'c', '0')->'meta'->>'cache' AS first, routed_query(:'c', '0')->'meta'->>'cache' AS second;
INSERT INTO pm_p20261110 VALUES ('2026-11-10 04:00', 'south', 1);
SELECT routed_query(:'c', '0')->'meta'->>'cache' AS after_partition_write,
       routed_query(:'c', '0')->'rows' AS routed, (SELECT count(*) FROM pm WHERE ts < '2026-11-12') AS base;
SET routed.cache = off;

-- dropping the last rollup untracks the source: the triggers come off every table of the tree
SELECT routed.drop_rollup('pm_hourly');
SELECT count(*) AS triggers_left FROM pg_trigger g JOIN pg_class c ON c.oid = g.tgrelid
 WHERE c.relname LIKE 'pm%' AND g.tgname LIKE 'routed_capture_%';
DROP TABLE pm;
