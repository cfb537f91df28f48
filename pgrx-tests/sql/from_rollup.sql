-- Rollups built from rollups (create_rollup's from_rollup): a daily rollup backfilled and
-- refreshed from an hourly one's states. Its rows must equal those of the same daily rollup
-- built from the source, after inserts, updates and deletes, whether the hourly rollup was
-- refreshed first (the daily reads its states) or not (the daily reads the source where the
-- hourly one is stale); and the backfill reads the hourly rollup, not the source's rows.
SET client_min_messages = warning;
SET TimeZone = 'UTC';
SET routed.cache = off;

CREATE OR REPLACE FUNCTION hier_try(sql text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE state text; msg text; hint text;
BEGIN
    EXECUTE sql;
    RETURN 'ok';
EXCEPTION WHEN OTHERS THEN
    GET STACKED DIAGNOSTICS state = RETURNED_SQLSTATE, msg = MESSAGE_TEXT, hint = PG_EXCEPTION_HINT;
    RETURN state || ' ' || msg || CASE WHEN hint <> '' THEN ' (hint: ' || hint || ')' ELSE '' END;
END $$;

CREATE TABLE hier (ts timestamptz NOT NULL, region text, status text, n int, amount numeric(10,2), ms float8);
CREATE INDEX ON hier (ts);
INSERT INTO hier
SELECT timestamptz '2026-11-01 00:00:00+00' + i * interval '37 seconds',
       (ARRAY['eu', 'us', NULL])[1 + i % 3], (ARRAY['OK', 'ERROR', 'OK', 'TIMEOUT'])[1 + i % 4],
       CASE WHEN i % 17 = 0 THEN NULL ELSE i % 23 END, round((i * 1.37)::numeric % 300, 2), (i % 211) * 1.5
  FROM generate_series(0, 9999) i;
ANALYZE hier;
CREATE TABLE hier_other (ts timestamptz NOT NULL, status text);
SELECT routed.track('hier_other', 'ts');
CALL routed.create_rollup('hier_other_1h', 'hier_other', '1 hour', '{status}', '[]');

CALL routed.create_rollup('hier_1h', 'hier', '1 hour', '{region,status}',
  '[{"agg": "sum", "column": "n"}, {"agg": "max", "column": "n"}, {"agg": "avg", "column": "amount"},
    {"agg": "sum", "column": "amount"}, {"agg": "percentile", "column": "ms"}]', refresh_interval => '1 day');

-- what the finer rollup must keep; a refused definition leaves nothing behind
SELECT hier_try($$CALL routed.create_rollup('hier_bad', 'hier', '1 day', '{status}', '[]', from_rollup => 'nope')$$);
SELECT hier_try($$CALL routed.create_rollup('hier_bad', 'hier', '90 minutes', '{status}', '[]', from_rollup => 'hier_1h')$$);
SELECT hier_try($$CALL routed.create_rollup('hier_bad', 'hier', '1 day', '{n}', '[]', from_rollup => 'hier_1h')$$);
SELECT hier_try($$CALL routed.create_rollup('hier_bad', 'hier', '1 day', '{status}', '[{"agg": "min", "column": "n"}]', from_rollup => 'hier_1h')$$);
SELECT hier_try($$CALL routed.create_rollup('hier_bad', 'hier', '1 day', '{status}', '[]', from_rollup => 'hier_other_1h')$$);
SELECT hier_try($$CALL routed.create_rollup('hier_bad', 'hier', '1 hour', '{status}', '[]', from_rollup => 'hier_bad')$$);
SELECT count(*) AS half_created FROM routed.rollup_catalog WHERE name = 'hier_bad';

-- the backfill from the hourly rollup reads (almost) no source rows; the same rollup from the source reads all
CREATE FUNCTION hier_source_reads() RETURNS bigint LANGUAGE sql AS $$
    SELECT coalesce(seq_tup_read, 0) + coalesce(idx_tup_fetch, 0) FROM pg_stat_user_tables WHERE relid = 'hier'::regclass $$;
SELECT pg_stat_force_next_flush();
SELECT hier_source_reads() AS before \gset
CALL routed.create_rollup('hier_1d', 'hier', '1 day', '{status}',
  '[{"agg": "sum", "column": "n"}, {"agg": "avg", "column": "amount"}, {"agg": "percentile", "column": "ms"}]',
  refresh_interval => '1 day', from_rollup => 'hier_1h');
SELECT pg_stat_force_next_flush();
SELECT hier_source_reads() - :before AS source_rows_read_from_hourly \gset
SELECT hier_source_reads() AS before \gset
CALL routed.create_rollup('hier_1d_src', 'hier', '1 day', '{status}',
  '[{"agg": "sum", "column": "n"}, {"agg": "avg", "column": "amount"}, {"agg": "percentile", "column": "ms"}]',
  refresh_interval => '1 day');
SELECT pg_stat_force_next_flush();
SELECT :source_rows_read_from_hourly < 100 AS from_hourly_reads_few, hier_source_reads() - :before >= 10000 AS from_source_reads_all;
SELECT name, granularity, dimensions, from_rollup FROM routed.rollups WHERE name LIKE 'hier%' ORDER BY name;

-- the two daily rollups, row by row: every state, and percentiles read from the sketches
CREATE FUNCTION hier_diff() RETURNS TABLE (rows_from_hourly bigint, rows_from_source bigint, differing bigint)
LANGUAGE sql AS $$
    WITH a AS (SELECT bucket, status, "count(*)" AS c, "sum(n)" AS s, "avg_sum(amount)" AS av, "count(amount)" AS ca,
                      routed.quantile("quantile(ms)", 0.5) AS p50, routed.quantile("quantile(ms)", 0.99) AS p99
                 FROM (SELECT * FROM routed.hier_1d UNION ALL SELECT * FROM routed."hier_1d$delta") r),
         b AS (SELECT bucket, status, "count(*)" AS c, "sum(n)" AS s, "avg_sum(amount)" AS av, "count(amount)" AS ca,
                      routed.quantile("quantile(ms)", 0.5) AS p50, routed.quantile("quantile(ms)", 0.99) AS p99
                 FROM (SELECT * FROM routed.hier_1d_src UNION ALL SELECT * FROM routed."hier_1d_src$delta") r),
         ga AS (SELECT bucket, status, sum(c) c, sum(s) s, sum(av) av, sum(ca) ca, min(p50) p50, min(p99) p99, count(*) k FROM a GROUP BY 1, 2),
         gb AS (SELECT bucket, status, sum(c) c, sum(s) s, sum(av) av, sum(ca) ca, min(p50) p50, min(p99) p99, count(*) k FROM b GROUP BY 1, 2)
    SELECT (SELECT count(*) FROM a), (SELECT count(*) FROM b),
           (SELECT count(*) FROM ((SELECT * FROM ga EXCEPT SELECT * FROM gb) UNION ALL (SELECT * FROM gb EXCEPT SELECT * FROM ga)) d)
$$;
SELECT * FROM hier_diff();

-- answers from the daily rollup equal the base table's
CREATE FUNCTION hier_same(doc jsonb) RETURNS text LANGUAGE plpgsql AS $$
DECLARE routed jsonb; base jsonb;
BEGIN
    routed := routed_query(doc, '0');
    PERFORM set_config('routed.enabled', 'off', true);
    base := routed_query(doc, '0');
    PERFORM set_config('routed.enabled', 'on', true);
    RETURN (routed->'meta'->>'source') || ' ' || coalesce(routed->'meta'->>'rollup', '-') || ' '
        || CASE WHEN routed->'rows' = base->'rows' THEN 'same' ELSE 'DIFFERENT' END;
END $$;
CREATE VIEW hier_doc AS SELECT '{"source": "hier", "time": {"column": "ts", "from": "2026-11-01T00:00:00Z", "to": "2026-11-05T00:00:00Z", "granularity": "1 day"},
  "dimensions": ["status"], "measures": [{"name": "runs", "agg": "count"}, {"name": "total", "agg": "sum", "column": "n"},
  {"name": "mean", "agg": "avg", "column": "amount"}]}'::jsonb AS doc;
CREATE FUNCTION hier_pending(rollup text) RETURNS bigint LANGUAGE sql AS $$
    SELECT count(*) FROM routed.invalidations i JOIN routed.rollup_catalog c ON c.id = i.rollup_id WHERE c.name = rollup $$;

-- writes below the watermarks: inserted rows (deltas), updates and scattered deletes (logged)
CREATE FUNCTION hier_write(seed int) RETURNS void LANGUAGE sql AS $$
    INSERT INTO hier SELECT timestamptz '2026-11-01 00:00:00+00' + (i * 7919 + seed) % 345600 * interval '1 second',
           (ARRAY['eu', 'us'])[1 + i % 2], (ARRAY['OK', 'ERROR', 'NEW'])[1 + i % 3], i % 5, i, i % 50
      FROM generate_series(1, 40) i;
    UPDATE hier SET n = coalesce(n, 0) + 1, amount = amount + 0.5 WHERE ts IN (SELECT ts FROM hier ORDER BY ts OFFSET seed * 13 LIMIT 5);
    DELETE FROM hier WHERE ts IN (SELECT ts FROM hier WHERE extract(minute FROM ts)::int = seed % 60 ORDER BY ts LIMIT 30);
$$;

-- the hourly rollup left stale: the daily one reads the source where it is (its own steps only)
SELECT hier_write(1);
SELECT hier_pending('hier_1h') > 0 AS hourly_stale;
DO $$ DECLARE t timestamptz; BEGIN
    t := routed._refresh_begin('hier_1d', NULL); COMMIT;
    WHILE routed._refresh_step('hier_1d', NULL, NULL, t) LOOP COMMIT; END LOOP;
END $$;
CALL routed.refresh_rollup('hier_1d_src');
SELECT hier_pending('hier_1h') > 0 AS hourly_still_stale, hier_pending('hier_1d') AS daily_pending;
SELECT * FROM hier_diff();

-- refresh_rollup refreshes the hourly rollup first, and the daily one then reads its states
SELECT hier_write(2);
CALL routed.refresh_rollup('hier_1d');
CALL routed.refresh_rollup('hier_1d_src');
SELECT hier_pending('hier_1h') AS hourly_pending, hier_pending('hier_1d') AS daily_pending;
SELECT * FROM hier_diff();
-- and a change inside the refresh's window: rows committed between the two refreshes
SELECT hier_write(3);
CALL routed.refresh_rollup('hier_1h');
SELECT hier_write(4);
DO $$ DECLARE t timestamptz; BEGIN
    t := routed._refresh_begin('hier_1d', NULL); COMMIT;
    WHILE routed._refresh_step('hier_1d', NULL, NULL, t) LOOP COMMIT; END LOOP;
END $$;
CALL routed.refresh_rollup('hier_1d_src');
SELECT * FROM hier_diff();

-- the finer rollup cannot be dropped under the coarser one; its table dropped, the coarser one
-- goes on from the source
SELECT hier_try($$SELECT routed.drop_rollup('hier_1h')$$);
DROP TABLE routed.hier_1h;
SELECT name, from_rollup FROM routed.rollups WHERE name LIKE 'hier%' ORDER BY name;
SELECT hier_write(5);
CALL routed.refresh_rollup('hier_1d');
CALL routed.refresh_rollup('hier_1d_src');
SELECT * FROM hier_diff();

-- the router answers from it exactly
SELECT routed.drop_rollup('hier_1d_src');
SELECT hier_same(doc) FROM hier_doc;
SELECT hier_write(6);
SELECT hier_same(doc) FROM hier_doc;

SELECT routed.drop_rollup('hier_1d');
SELECT routed.drop_rollup('hier_other_1h');
DROP VIEW hier_doc;
DROP TABLE hier, hier_other;
DROP FUNCTION hier_try, hier_source_reads, hier_diff, hier_same, hier_pending, hier_write;
