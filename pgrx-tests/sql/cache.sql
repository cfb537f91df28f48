-- The result cache, one session at a time (several sessions: isolation/specs/cache_*.spec;
-- under load: stress.py). c(doc, budget) prints meta.cache, the staleness as zero or not, and
-- whether the rows equal plain SQL over the base table (routed.enabled off, cache disabled).
SET client_min_messages = warning;
SET TimeZone = 'UTC';
SELECT routed.cache_reset() >= 0 AS reset;
SELECT routed.stats_reset();

CREATE TABLE cev (ts timestamptz NOT NULL, shop text, amount int);
INSERT INTO cev SELECT timestamptz '2026-10-01' + i * interval '10 min', 'shop' || (i % 3), i % 100
  FROM generate_series(0, 9999) i;
SELECT routed.track('cev', 'ts');

CREATE FUNCTION c(doc jsonb, staleness interval DEFAULT '0') RETURNS text
LANGUAGE plpgsql AS $$
DECLARE routed jsonb; base jsonb;
BEGIN
    routed := routed_query(doc, staleness);
    PERFORM set_config('routed.enabled', 'off', true);
    base := routed_query(doc, staleness);
    PERFORM set_config('routed.enabled', 'on', true);
    RETURN (routed->'meta'->>'cache') || ' '
        || CASE WHEN (routed->'meta'->>'staleness')::interval = '0' THEN 'exact' ELSE 'stale' END || ' '
        || CASE WHEN routed->'rows' = base->'rows' THEN 'same' ELSE 'DIFFERENT' END;
END $$;

-- a closed window: miss, then hits
\set closed '{"source":"cev","time":{"from":"2026-10-10T00:00:00Z","to":"2026-10-12T00:00:00Z","granularity":"1 day"},"dimensions":["shop"],"measures":[{"agg":"count","name":"n"},{"agg":"sum","column":"amount","name":"total"}]}'
SELECT c(:'closed');
SELECT c(:'closed');
-- key order and whitespace do not matter: same entry
SELECT routed_query('{"measures":[{"agg":"count","name":"n"},{"agg":"sum","column":"amount","name":"total"}], "dimensions":["shop"], "time":{"granularity":"1 day","to":"2026-10-12T00:00:00Z","from":"2026-10-10T00:00:00Z"},"source":"cev"}')->'meta'->>'cache' AS reordered;
-- settings that change what the document's values mean are part of the key: "02/10/2026" is
-- February 10 under DateStyle MDY, October 2 under DMY
\set dated '{"source":"cev","measures":[{"agg":"count","name":"n"}],"where":[{"column":"ts","op":">=","value":"02/10/2026"}]}'
SET DateStyle = 'ISO, MDY';
SELECT c(:'dated') AS mdy, routed_query(:'dated')->'rows' AS mdy_rows;
SET DateStyle = 'ISO, DMY';
SELECT c(:'dated') AS dmy, routed_query(:'dated')->'rows' AS dmy_rows;
RESET DateStyle;
-- rows committed outside its range leave it exact
INSERT INTO cev VALUES ('2026-11-01', 'shop1', 5), ('2026-10-12', 'shop1', 5);
SELECT c(:'closed');
-- a row inside its range: the next exact caller recomputes
INSERT INTO cev VALUES ('2026-10-11 12:00', 'shop1', 1000);
SELECT c(:'closed');
SELECT c(:'closed');
-- within a budget a changed entry is served, with its staleness
UPDATE cev SET amount = amount + 1 WHERE ts = '2026-10-11 12:00';
-- (served stale within its budget, so it differs from the base table now)
SELECT c(:'closed', '1 hour') AS within_budget;
SELECT (routed_query(:'closed', '1 hour')->'meta'->>'staleness')::interval > '0' AS says_stale;
SELECT c(:'closed');
-- DELETE and TRUNCATE invalidate too
DELETE FROM cev WHERE ts = '2026-10-11 12:00';
SELECT c(:'closed');

-- a transaction that wrote reads its own rows, not the cache, and stores nothing
BEGIN;
INSERT INTO cev VALUES ('2026-10-11 13:00', 'shop0', 7);
SELECT c(:'closed') AS own_write;
ROLLBACK;
-- the aborted insert published nothing: still a hit
SELECT c(:'closed') AS after_abort;
-- a transaction that wrote an unrelated table bypasses too (it might have written anything)
CREATE TABLE cnote (x int);
BEGIN;
INSERT INTO cnote VALUES (1);
SELECT c(:'closed') AS wrote_elsewhere;
COMMIT;

-- relative windows move: never exact from the cache, served within a budget
\set relative '{"source":"cev","time":{"from":"now-3650d"},"measures":[{"agg":"count","name":"n"}]}'
SELECT c(:'relative');
SELECT c(:'relative');
SELECT c(:'relative', '1 hour');

-- untracked sources publish nothing: stale from the moment they are computed
CREATE TABLE cplain AS SELECT * FROM cev;
\set plain '{"source":"cplain","measures":[{"agg":"count","name":"n"}]}'
SELECT c(:'plain');
SELECT c(:'plain');
SELECT c(:'plain', '1 hour');

-- DDL on a source invalidates its answers (which DDL invalidates what: ddl.sql)
SELECT c(:'closed');
ALTER TABLE cev ADD COLUMN note text;
SELECT c(:'closed') AS after_ddl;
SELECT c(:'closed');
TRUNCATE cev;
SELECT c(:'closed') AS after_truncate;

-- privileges: a hit re-checks SELECT; REVOKE takes effect at once
INSERT INTO cev SELECT timestamptz '2026-10-01' + i * interval '10 min', 'shop' || (i % 3), i % 100, NULL
  FROM generate_series(0, 9999) i;
CREATE ROLE cache_reader;
GRANT SELECT ON cev TO cache_reader;
SET ROLE cache_reader;
SELECT routed_query(:'closed')->'meta'->>'cache' AS reader_first;
SELECT routed_query(:'closed')->'meta'->>'cache' AS reader_hit;
RESET ROLE;
REVOKE SELECT ON cev FROM cache_reader;
SET ROLE cache_reader;
SELECT try_sql(format('SELECT routed_query(%L)', :'closed')) AS after_revoke;
RESET ROLE;

-- row security: answers depend on the role's policies, so they are not cached
CREATE TABLE csecret (ts timestamptz, owner text, v int);
INSERT INTO csecret VALUES ('2026-10-01', 'cache_reader', 1), ('2026-10-01', 'someone', 2);
ALTER TABLE csecret ENABLE ROW LEVEL SECURITY;
CREATE POLICY mine ON csecret USING (owner = current_user);
GRANT SELECT ON csecret TO cache_reader;
\set secret '{"source":"csecret","measures":[{"agg":"sum","column":"v","name":"v"}]}'
SET ROLE cache_reader;
SELECT routed_query(:'secret', '1 hour')->'meta'->>'cache' AS rls, routed_query(:'secret', '1 hour')->'rows' AS rls_rows;
RESET ROLE;
-- the owner is not subject to its policies: its answers are cached, and never served to others
SELECT routed_query(:'secret', '1 hour')->'rows' AS owner_rows, routed_query(:'secret', '1 hour')->'meta'->>'cache' AS owner_second;
SET ROLE cache_reader;
SELECT routed_query(:'secret', '1 hour')->'rows' AS reader_rows_again;
RESET ROLE;
-- a hit's re-check is remembered per backend until roles or memberships change; neither fires
-- the DDL event trigger, so only the re-check keeps these answers from callers no longer allowed
CREATE ROLE cache_group;
GRANT SELECT ON cev TO cache_group;
GRANT cache_group TO cache_reader;
SET ROLE cache_reader;
SELECT routed_query(:'closed')->'meta'->>'cache' AS via_group, routed_query(:'closed')->'meta'->>'cache' AS via_group_again;
RESET ROLE;
REVOKE cache_group FROM cache_reader;
SET ROLE cache_reader;
SELECT try_sql(format('SELECT routed_query(%L)', :'closed')) AS after_leaving_group;
RESET ROLE;
ALTER ROLE cache_reader BYPASSRLS;
SET ROLE cache_reader;
SELECT routed_query(:'secret', '1 hour')->'rows' AS bypassrls_rows, routed_query(:'secret', '1 hour')->'meta'->>'cache' AS bypassrls_second;
RESET ROLE;
ALTER ROLE cache_reader NOBYPASSRLS;
SET ROLE cache_reader;
SELECT routed_query(:'secret', '1 hour')->'rows' AS nobypassrls_rows, routed_query(:'secret', '1 hour')->'meta'->>'cache' AS nobypassrls_cache;
RESET ROLE;

-- answers larger than routed.max_entry_size are not stored
SET routed.max_entry_size = '1kB';
\set big '{"source":"cev","time":{"from":"2026-10-01T00:00:00Z","to":"2026-10-20T00:00:00Z","granularity":"1 hour"},"measures":[{"agg":"count","name":"n"}]}'
SELECT c(:'big');
SELECT c(:'big') AS still_miss;
RESET routed.max_entry_size;
SELECT c(:'big');
SELECT c(:'big') AS now_hit;

-- routed.cache off (or routed.enabled off): the cache is not used
SET routed.cache = off;
SELECT routed_query(:'closed')->'meta'->>'cache' AS cache_off;
RESET routed.cache;
SET routed.enabled = off;
SELECT routed_query(:'closed')->'meta'->>'cache' AS enabled_off;
RESET routed.enabled;

-- explain shows the cache candidate and why it can or cannot serve
SELECT c(:'closed');
SELECT routed_explain(:'closed')->'cache'->>'status' AS status, routed_explain(:'closed')->'cache'->>'reason' AS reason;
SELECT routed_explain(:'relative')->'cache'->>'status' AS status, routed_explain(:'relative')->'cache'->>'reason' AS reason;
SELECT routed_explain('{"source":"cev","measures":[{"agg":"count","name":"never_asked"}]}')->'cache'->>'status' AS never_asked;

-- statistics
SELECT hits > 0 AS hits, misses > 0 AS misses, bypasses > 0 AS bypasses, entries > 0 AS entries,
       used_bytes <= capacity_bytes AS fits, invalidations > 0 AS invalidations, not_stored > 0 AS not_stored,
       hit_ratio BETWEEN 0 AND 1 AS ratio
  FROM routed.cache_stats;
SELECT calls, hits, misses, from_base, p95_ms >= 0 AS timed, document->>'source' AS source
  FROM routed.query_stats WHERE database = current_database() AND document->>'source' = 'cev' AND document->'time'->>'granularity' = '1 day';
SELECT routed.stats_reset();
SELECT count(*) AS after_stats_reset FROM routed.query_stats;
SELECT routed.cache_reset() > 0 AS removed;
SELECT entries, used_bytes FROM routed.cache_stats;
SELECT c(:'closed') AS after_cache_reset;

-- a security_invoker view reads its tables as the caller: a hit's re-check of the view alone
-- would miss a REVOKE on them, so its answers are not cached
CREATE VIEW cinvoker WITH (security_invoker) AS SELECT * FROM cev;
GRANT SELECT ON cev, cinvoker TO cache_reader;
\set invoker '{"source":"cinvoker","measures":[{"agg":"count","name":"n"}]}'
SET ROLE cache_reader;
SELECT routed_query(:'invoker', '1 hour')->'meta'->>'cache' AS invoker, routed_query(:'invoker', '1 hour')->'meta'->>'cache' AS invoker_again;
RESET ROLE;
REVOKE SELECT ON cev FROM cache_reader;
SET ROLE cache_reader;
SELECT try_sql(format('SELECT routed_query(%L, %L)', :'invoker', '1 hour')) AS invoker_after_revoke;
RESET ROLE;
-- a plain view is read with its owner's privileges: its answers are cached
CREATE VIEW cdefiner AS SELECT * FROM cev;
\set definer '{"source":"cdefiner","measures":[{"agg":"count","name":"n"}]}'
SELECT routed_query(:'definer', '1 hour')->'meta'->>'cache' AS definer, routed_query(:'definer', '1 hour')->'meta'->>'cache' AS definer_again;

-- temporary tables are the session's own, and come first in its search_path: answers read
-- from them are not cached, and a session that has them does not share entries (a cached
-- answer for "cplain" above must not answer for this session's own "cplain")
SELECT c(:'plain', '1 hour') AS before_temp;
SELECT c(:'plain', '1 hour') AS before_temp_hit;
CREATE TEMP TABLE cplain (ts timestamptz, shop text, amount int);
INSERT INTO cplain VALUES ('2026-10-01', 'shop0', 1);
SELECT c(:'plain', '1 hour') AS temp_shadow, routed_query(:'plain', '1 hour')->'rows' AS temp_rows;
SELECT c(:'plain', '1 hour') AS temp_again;
DROP TABLE pg_temp.cplain;
SELECT c(:'plain', '1 hour') AS own_keys, routed_query(:'plain', '1 hour')->'rows' AS permanent_rows;
SELECT c(:'plain', '1 hour') AS own_keys_hit;

-- a transaction that changed a tracked source cannot be prepared (the cache learns at COMMIT)
\set VERBOSITY terse
BEGIN;
INSERT INTO cev VALUES ('2026-10-11 13:00', 'shop0', 7);
PREPARE TRANSACTION 'p';
\set VERBOSITY default

-- typed rows are cache citizens: routed_rows answers are stored and served like routed_query's
-- (their own entries: the form differs), invalidated by the same commits, re-checked the same
-- way; routed.last_meta() says what the last one got
\set rows_doc '{"source":"cev","time":{"from":"2026-10-10T00:00:00Z","to":"2026-10-12T00:00:00Z","granularity":"1 day"},"dimensions":["shop"],"measures":[{"agg":"count","name":"n"},{"agg":"sum","column":"amount","name":"total"}]}'
SELECT routed.last_meta() IS NULL AS no_meta_yet;
CREATE FUNCTION r(doc jsonb, staleness interval DEFAULT '0') RETURNS text
LANGUAGE plpgsql AS $$
DECLARE typed jsonb; json_rows jsonb;
BEGIN
    SELECT jsonb_agg(jsonb_build_array(to_jsonb(t.bucket), t.shop, t.n, t.total) ORDER BY t.bucket, t.shop) INTO typed
      FROM routed_rows(doc, staleness) AS t(bucket timestamptz, shop text, n bigint, total bigint);
    PERFORM set_config('routed.enabled', 'off', true);
    SELECT jsonb_agg(e ORDER BY e->>0, e->>1) INTO json_rows FROM jsonb_array_elements(routed_query(doc, staleness)->'rows') e;
    PERFORM set_config('routed.enabled', 'on', true);
    RETURN (routed.last_meta()->>'cache') || ' ' || (routed.last_meta()->>'source') || ' '
        || CASE WHEN typed = json_rows THEN 'same' ELSE 'DIFFERENT: ' || typed::text || ' vs ' || json_rows::text END;
END $$;
SELECT r(:'rows_doc') AS typed_first, r(:'rows_doc') AS typed_again;
SELECT routed_query(:'rows_doc')->'meta'->>'cache' AS json_form_has_its_own_entry;
INSERT INTO cev VALUES ('2026-10-11 06:00', 'shop2', 50);
SELECT r(:'rows_doc') AS typed_after_insert, r(:'rows_doc') AS typed_after_insert_again;
-- a hit is served only to a column list of its types; another list fails as before
SELECT * FROM routed_rows(:'rows_doc') AS t(bucket timestamptz, shop text, n bigint, total numeric);
SELECT count(*) AS rows_from_hit, routed.last_meta()->>'cache' AS cache
  FROM routed_rows(:'rows_doc') AS t(b timestamptz, s text, n bigint, total bigint);
-- routed.query_stats counts typed answers with the document's others (same fingerprint)
SELECT calls, hits, misses, bypasses FROM routed.query_stats WHERE fingerprint = routed.last_meta()->>'fingerprint';
-- a writing transaction bypasses the cache for typed rows too
BEGIN;
INSERT INTO cev VALUES ('2026-10-11 07:00', 'shop2', 50);
SELECT r(:'rows_doc') AS typed_in_writer;
ROLLBACK;
-- a REVOKE is seen on a hit
GRANT SELECT ON cev TO cache_reader;
SET ROLE cache_reader;
SELECT count(*) AS reader_rows, routed.last_meta()->>'cache' AS reader_cache
  FROM routed_rows(:'rows_doc') AS t(b timestamptz, s text, n bigint, total bigint);
RESET ROLE;
REVOKE SELECT ON cev FROM cache_reader;
SET ROLE cache_reader;
SELECT try_sql(format('SELECT count(*) FROM routed_rows(%L) AS t(b timestamptz, s text, n bigint, total bigint)', :'rows_doc')) AS reader_after_revoke;
RESET ROLE;
DROP FUNCTION r(jsonb, interval);

DROP VIEW cinvoker, cdefiner;
DROP TABLE csecret, cplain, cnote;
DROP ROLE cache_reader;
REVOKE SELECT ON cev FROM cache_group;
DROP ROLE cache_group;
