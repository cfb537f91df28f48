-- routed.recommend_rollups(): a workload of 29 documents answered from the base table, the
-- rollups it suggests created with \gexec, and then the same documents again: at least 90% read
-- a rollup, and every exact one equals the base table (routed.enabled off).
SET client_min_messages = warning;
SET TimeZone = 'UTC';
SELECT routed.cache_reset() >= 0 AS reset;
SELECT routed.stats_reset();

CREATE TABLE recm (ts timestamptz NOT NULL, status text, category text, region text, n int, ms float8);
INSERT INTO recm SELECT now() - i * interval '9 seconds', (ARRAY['OK','ERROR','TIMEOUT','OK'])[i % 4 + 1],
       'cat' || (i % 4), (ARRAY['eu','us'])[i % 2 + 1], i % 13, (i % 97) / 3.0
  FROM generate_series(0, 99999) i;
CREATE INDEX ON recm (ts);
ANALYZE recm;
SELECT routed.track('recm', 'ts');

-- 24 exact documents (every combination of dimensions, three granularities, two windows) and
-- four with percentiles, which may read sketches
CREATE TABLE recm_docs AS
SELECT row_number() OVER () AS id, jsonb_strip_nulls(jsonb_build_object(
         'source', 'recm',
         'time', jsonb_build_object('from', f, 'granularity', g),
         'dimensions', d,
         'measures', jsonb_build_array(jsonb_build_object('name', 'runs', 'agg', 'count'),
                                       jsonb_build_object('name', 'total', 'agg', 'sum', 'column', 'n'),
                                       jsonb_build_object('name', 'worst', 'agg', 'max', 'column', 'n')),
         'where', CASE WHEN f = 'now-3d' THEN jsonb_build_array(jsonb_build_object('column', 'region', 'op', '=', 'value', 'eu')) END)) AS doc,
       true AS exact
  FROM (VALUES ('[]'::jsonb), ('["status"]'), ('["category"]'), ('["status", "category"]')) AS dims(d),
       (VALUES ('1 hour'), ('1 day'), (NULL)) AS grans(g),
       (VALUES ('now-3d'), ('now-9d')) AS froms(f);
INSERT INTO recm_docs
SELECT 24 + row_number() OVER (), jsonb_build_object('source', 'recm', 'time', jsonb_build_object('from', 'now-5d', 'granularity', '6 hours'),
         'dimensions', d, 'measures', jsonb_build_array(jsonb_build_object('name', 'p95', 'agg', 'percentile', 'column', 'ms', 'q', 0.95))), false
  FROM (VALUES ('[]'::jsonb), ('["status"]'), ('["category"]'), ('["region"]')) AS dims(d);

-- and one long document (its canonical text is over 1 KiB: query_stats must keep it whole)
INSERT INTO recm_docs
SELECT 29, jsonb_build_object('source', 'recm', 'time', jsonb_build_object('from', 'now-4d', 'granularity', '1 hour'),
         'measures', jsonb_agg(jsonb_build_object('name', a || '_' || s || '_' || r, 'agg', a, 'column', 'n',
                     'where', jsonb_build_array(jsonb_build_object('column', 'status', 'op', '=', 'value', s),
                                                jsonb_build_object('column', 'region', 'op', '=', 'value', r))))), true
  FROM unnest(ARRAY['OK', 'ERROR', 'TIMEOUT']) s, unnest(ARRAY['eu', 'us']) r, unnest(ARRAY['count', 'max']) a;
SELECT length(doc::text) > 1024 AS long_document FROM recm_docs WHERE id = 29;

CREATE FUNCTION recm_run(OUT from_rollups int, OUT exact_equal int, OUT exact_docs int) LANGUAGE plpgsql AS $$
DECLARE d record; routed jsonb; base jsonb;
BEGIN
    from_rollups := 0; exact_equal := 0; exact_docs := 0;
    FOR d IN SELECT * FROM recm_docs ORDER BY id LOOP
        routed := routed_query(d.doc, '0');
        from_rollups := from_rollups + (routed->'meta'->>'source' <> 'base')::int;
        IF d.exact THEN
            PERFORM set_config('routed.enabled', 'off', true);
            base := routed_query(d.doc, '0');
            PERFORM set_config('routed.enabled', 'on', true);
            exact_docs := exact_docs + 1;
            exact_equal := exact_equal + (routed->'rows' = base->'rows')::int;
        END IF;
    END LOOP;
END $$;

-- the workload, from the base table (no rollup yet), twice
SELECT * FROM recm_run();
SELECT * FROM recm_run();
SELECT count(*) AS observed, sum(from_base) AS base_calls FROM routed.query_stats WHERE document->>'source' = 'recm';

-- a document whose column is gone since is left out (its planning fails inside a subtransaction)
CREATE TABLE recm_gone (ts timestamptz NOT NULL, k text);
SELECT routed_query('{"source":"recm_gone","time":{"column":"ts","from":"now-1d"},"dimensions":["k"],"measures":[{"name":"n","agg":"count"}]}')->'rows' AS gone_rows;
ALTER TABLE recm_gone DROP COLUMN k;

-- few suggestions serving many documents, never one per document
SELECT rollup, cardinality(fingerprints) AS documents, calls, base_ms > 0 AS took_time,
       estimated_rows BETWEEN 1 AND 20000 AS small, estimated_bytes > 0 AS sized, speedup >= 5 AS faster
  FROM routed.recommend_rollups() ORDER BY rollup;
SELECT statement FROM routed.recommend_rollups() ORDER BY rollup;
-- routed_explain of a document answered from the base table names the rollup that would answer it
SELECT routed_explain((SELECT doc FROM recm_docs WHERE id = 3))->'recommended_rollup'->>'rollup' AS recommended;

SELECT statement FROM routed.recommend_rollups() \gexec
SELECT name, granularity, dimensions FROM routed.rollups WHERE name LIKE 'recm%' ORDER BY name;
SELECT routed.cache_reset() >= 0 AS reset;
-- the same documents now read the rollups, exactly
SELECT from_rollups >= 27 AS at_least_90_percent, from_rollups, exact_equal = exact_docs AS exact, exact_docs FROM recm_run();
SELECT routed_explain((SELECT doc FROM recm_docs WHERE id = 3))->'recommended_rollup' AS recommended_after;
SELECT count(*) AS suggestions_left FROM routed.recommend_rollups() r WHERE r.rollup LIKE 'recm%';
