-- DDL invalidates the cached answers it may change, and nothing else (issue #14). k(doc) prints
-- meta.cache and whether the answer is exact: after a statement, 'hit exact' means it left the
-- entry alone; 'miss' (at budget 0) or 'hit stale' (within a budget, served with its staleness)
-- that it invalidated it. Every answer within budget 0 is also compared with the base table.
SET client_min_messages = warning;
SET TimeZone = 'UTC';
SELECT routed.cache_reset() >= 0 AS reset;

CREATE TABLE dev (ts timestamptz NOT NULL, shop text, amount int);
INSERT INTO dev SELECT timestamptz '2026-10-01' + i * interval '10 min', 'shop' || (i % 3), i % 100
  FROM generate_series(0, 2999) i;
SELECT routed.track('dev', 'ts');
CREATE TABLE dunrelated (x int);
CREATE TABLE dbase (ts timestamptz NOT NULL, v int);
INSERT INTO dbase SELECT timestamptz '2026-10-01' + i * interval '1 hour', i FROM generate_series(0, 99) i;
CREATE VIEW dview AS SELECT ts, v FROM dbase;

CREATE FUNCTION k(doc jsonb, staleness interval DEFAULT '0') RETURNS text
LANGUAGE plpgsql AS $$
DECLARE routed jsonb; base jsonb;
BEGIN
    routed := routed_query(doc, staleness);
    PERFORM set_config('routed.enabled', 'off', true);
    base := routed_query(doc, staleness);
    PERFORM set_config('routed.enabled', 'on', true);
    RETURN (routed->'meta'->>'cache')
        || CASE WHEN (routed->'meta'->>'staleness')::interval = '0' THEN ' exact' ELSE ' stale' END
        || CASE WHEN routed->'rows' = base->'rows' THEN '' ELSE ' DIFFERENT' END;
END $$;

\set d '{"source":"dev","time":{"column":"ts","from":"2026-10-05T00:00:00Z","to":"2026-10-07T00:00:00Z"},"dimensions":["shop"],"measures":[{"agg":"count","name":"n"}]}'
\set v '{"source":"dview","time":{"column":"ts","from":"2026-10-01T00:00:00Z","to":"2026-10-03T00:00:00Z"},"measures":[{"agg":"sum","column":"v","name":"s"}]}'
SELECT k(:'d') AS first, k(:'d') AS second;
SELECT k(:'v', '1 hour') AS view_first, k(:'v', '1 hour') AS view_second;

-- none of these changes an answer: the entries stay
GRANT SELECT ON dev TO PUBLIC;
SELECT k(:'d') AS after_grant;
REVOKE SELECT ON dev FROM PUBLIC;
SELECT k(:'d') AS after_revoke;
COMMENT ON TABLE dev IS 'events';
SELECT k(:'d') AS after_comment;
VACUUM dev;
ANALYZE dev;
SELECT k(:'d') AS after_vacuum_analyze;
CREATE INDEX ON dev (shop);
SELECT k(:'d') AS after_create_index;
CREATE TABLE dother (y int);
ALTER TABLE dunrelated ADD COLUMN z int;
DROP TABLE dother;
SELECT k(:'d') AS after_unrelated_ddl;
CREATE FUNCTION dfun() RETURNS int LANGUAGE sql AS 'SELECT 1';
SELECT k(:'d') AS after_create_function;
SELECT k(:'v', '1 hour') AS view_after_unrelated_ddl;

-- these may: each invalidates the entries that depend on what it changed (an untracked view's
-- answer is served within its budget either way: these lines check that it stays right)
ALTER TABLE dev ADD COLUMN note text;
SELECT k(:'d') AS after_alter_source, k(:'v', '1 hour') AS view_after_alter_other;
ALTER TABLE dbase ADD COLUMN w int;
SELECT k(:'v', '1 hour') AS view_after_alter_its_base, k(:'d') AS source_after_alter_other;
CREATE OR REPLACE VIEW dview AS SELECT ts, v, w FROM dbase;
SELECT k(:'v', '1 hour') AS view_after_replace;
-- a new relation of the same name ahead on the search_path: the document now means it
CREATE SCHEMA dshadow;
SET search_path = dshadow, public;
SELECT k(:'d') AS before_shadow;
CREATE TABLE dshadow.dev (ts timestamptz NOT NULL, shop text, amount int);
SELECT k(:'d') AS after_shadow;
SELECT routed_query(:'d')->'rows' AS shadow_rows;
DROP TABLE dshadow.dev;
RESET search_path;
SELECT k(:'d'), k(:'d') AS again;
CREATE TYPE dmood AS ENUM ('ok');
SELECT k(:'d') AS after_create_type;
DROP TYPE dmood;
SELECT k(:'d') AS after_drop_type;
SELECT k(:'d') AS before_drop, k(:'v', '1 hour') AS view_before_drop;
DROP VIEW dview;
SELECT k(:'d') AS source_after_drop_view;
SELECT routed.untrack('dev');
DROP TABLE dev, dunrelated, dbase;
DROP FUNCTION k(jsonb, interval), dfun();
DROP SCHEMA dshadow;
