-- Lookup joins (document version 2): answers equal the SQL join (inner and left, filters and
-- order on attributes, facts without a match, NULL keys), from the base table and from a
-- rollup keyed by the fact-side key; a change of the dimension table invalidates exactly the
-- answers that read it; privileges on it are re-checked on hits. same_rows: computed.sql.
SET client_min_messages = warning;
SET TimeZone = 'UTC';

CREATE TABLE jrules (rule_id text PRIMARY KEY, rule_name text NOT NULL, category text NOT NULL);
INSERT INTO jrules SELECT 'rule_' || n, 'Detection rule ' || n, (ARRAY['auth','net','disk'])[n % 3 + 1]
  FROM generate_series(0, 29) n;
-- facts for 34 rule ids (4 without a dimension row), some with no rule at all; the facts have a
-- category column of their own (the dimension's is jrules.category)
CREATE TABLE jfacts (ts timestamptz NOT NULL, rule_id text, category text, status text, ms float8);
INSERT INTO jfacts
SELECT timestamptz '2026-11-01' + i * interval '1 min', CASE WHEN i % 41 = 0 THEN NULL ELSE 'rule_' || (i % 34) END,
       'facts_' || (i % 2), (ARRAY['OK','ERROR','OK','OK'])[i % 4 + 1], (i % 101) / 2.0
FROM generate_series(0, 39999) i;
ANALYZE jfacts;
SELECT routed.track('jfacts', 'ts');
SELECT routed.track('jrules');
SELECT routed.track('jrules');  -- again: nothing to do

-- ADR Q5: top rules with names over 7 days, grouped by the key and its attributes
\set q5 '{"source":"jfacts","join":[{"table":"jrules","on":{"rule_id":"rule_id"}}],"time":{"from":"2026-11-03T00:30:00Z","to":"2026-11-10T07:00:00Z"},"dimensions":["rule_id","jrules.rule_name","jrules.category"],"measures":[{"name":"runs","agg":"count"},{"name":"errors","agg":"count","where":[{"column":"status","op":"=","value":"ERROR"}]},{"name":"error_rate","expr":"errors / runs"},{"name":"p95","agg":"percentile","column":"ms","q":0.95},{"name":"max_ms","agg":"max","column":"ms"}],"order":[{"by":"p95","dir":"desc"},{"by":"jrules.rule_name","dir":"desc"}],"limit":10,"exact":true}'
\set q5_sql 'SELECT f.rule_id, r.rule_name AS "jrules.rule_name", r.category AS "jrules.category", count(*) AS runs, count(*) FILTER (WHERE f.status = ''ERROR'') AS errors, (count(*) FILTER (WHERE f.status = ''ERROR''))::numeric / NULLIF(count(*)::numeric, 0) AS error_rate, percentile_cont(0.95) WITHIN GROUP (ORDER BY f.ms) AS p95, max(f.ms) AS max_ms FROM jfacts f JOIN jrules r ON r.rule_id = f.rule_id WHERE f.ts >= ''2026-11-03T00:30:00Z'' AND f.ts < ''2026-11-10T07:00:00Z'' GROUP BY 1, 2, 3 ORDER BY 7 DESC, 2 DESC, 1, 3 LIMIT 10'
SELECT same_rows(:'q5', :'q5_sql') AS q5;
SELECT c->>'name' AS name, c->>'type' AS type FROM jsonb_array_elements(routed_query(:'q5')->'columns') c;

-- grouped by an attribute only, a filter on another attribute and one on a fact column of the
-- same name as an attribute (category), ordered by the attribute
\set bycat '{"source":"jfacts","join":[{"table":"jrules","on":{"rule_id":"rule_id"}}],"time":{"from":"2026-11-02T10:00:00Z","to":"2026-11-20T00:00:00Z","granularity":"1 day"},"dimensions":["jrules.category"],"measures":[{"name":"runs","agg":"count"},{"name":"avg_ms","agg":"avg","column":"ms"},{"name":"pct","expr":"100 * share(runs, bucket)"}],"where":[{"column":"jrules.rule_name","op":"!=","value":"Detection rule 4"},{"column":"category","op":"=","value":"facts_1"}],"order":[{"by":"bucket"},{"by":"jrules.category","dir":"desc"}]}'
\set bycat_sql 'SELECT date_trunc(''day'', f.ts) AS bucket, r.category AS "jrules.category", count(*) AS runs, avg(f.ms) AS avg_ms, 100 * (count(*)::numeric / NULLIF(sum(count(*)::numeric) OVER (PARTITION BY date_trunc(''day'', f.ts)), 0)) AS pct FROM jfacts f JOIN jrules r ON r.rule_id = f.rule_id WHERE f.ts >= ''2026-11-02T10:00:00Z'' AND f.ts < ''2026-11-20'' AND r.rule_name <> ''Detection rule 4'' AND f.category = ''facts_1'' GROUP BY 1, 2 ORDER BY 1, 2 DESC'
SELECT same_rows(:'bycat', :'bycat_sql') AS by_category;

-- a left join keeps facts without a dimension row (unknown rule ids and NULL keys), with NULL
-- attributes
\set left '{"source":"jfacts","join":[{"table":"jrules","on":{"rule_id":"rule_id"},"left":true}],"time":{"from":"2026-11-02T00:00:00Z","to":"2026-11-28T00:00:00Z"},"dimensions":["jrules.category"],"measures":[{"name":"runs","agg":"count"},{"name":"rules","agg":"count_distinct","column":"rule_id"}],"exact":true}'
\set left_sql 'SELECT r.category AS "jrules.category", count(*) AS runs, count(DISTINCT f.rule_id) AS rules FROM jfacts f LEFT JOIN jrules r ON r.rule_id = f.rule_id WHERE f.ts >= ''2026-11-02'' AND f.ts < ''2026-11-28'' GROUP BY 1 ORDER BY 1'
SELECT same_rows(:'left', :'left_sql') AS left_join;
SELECT jsonb_array_length(routed_query(:'left')->'rows') AS left_groups,
       jsonb_array_length(routed_query(replace(:'left', '"left":true', '"left":false')::jsonb)->'rows') AS inner_groups;

-- the same documents from a daily rollup keyed by rule_id (aggregate on the rollup, join after,
-- merge again where the answer groups by an attribute)
CALL routed.create_rollup('jfacts_daily', 'jfacts', '1 day', ARRAY['rule_id', 'category', 'status'],
  '[{"agg":"count"},{"agg":"avg","column":"ms"},{"agg":"max","column":"ms"}]');
SELECT routed.cache_reset() >= 0 AS reset;
SELECT same_rows(:'bycat', :'bycat_sql') AS by_category_rollup;
SELECT same_rows('{"source":"jfacts","join":[{"table":"jrules","on":{"rule_id":"rule_id"},"left":true}],"time":{"from":"2026-11-02T00:10:00Z","to":"2026-11-28T00:00:00Z"},"dimensions":["jrules.category","status"],"measures":[{"name":"runs","agg":"count"},{"name":"max_ms","agg":"max","column":"ms"}],"where":[{"column":"jrules.rule_name","op":"is null"}]}',
  'SELECT r.category AS "jrules.category", f.status, count(*) AS runs, max(f.ms) AS max_ms FROM jfacts f LEFT JOIN jrules r ON r.rule_id = f.rule_id WHERE f.ts >= ''2026-11-02T00:10:00Z'' AND f.ts < ''2026-11-28'' AND r.rule_name IS NULL GROUP BY 1, 2 ORDER BY 1, 2') AS unmatched_rollup;

-- a change of the dimension table invalidates the answers that joined it, at commit
SELECT routed_query(:'bycat')->'meta'->>'cache' AS before_update;
UPDATE jrules SET category = 'net' WHERE rule_id = 'rule_0';
SELECT routed_query(:'bycat')->'meta'->>'cache' AS after_update, same_rows(:'bycat', :'bycat_sql') AS by_category_updated;
-- ... and only those: an answer without the join stays cached
\set plain '{"source":"jfacts","time":{"from":"2026-11-02T00:00:00Z","to":"2026-11-09T00:00:00Z"},"measures":[{"name":"runs","agg":"count"}]}'
SELECT routed_query(:'plain')->'meta'->>'cache' AS plain_first;
DELETE FROM jrules WHERE rule_id = 'rule_7';
SELECT routed_query(:'plain')->'meta'->>'cache' AS plain_after_delete, routed_query(:'bycat')->'meta'->>'cache' AS joined_after_delete;
SELECT same_rows(:'q5', :'q5_sql') AS q5_after_delete;
BEGIN;
INSERT INTO jrules VALUES ('rule_7', 'Detection rule 7', 'disk');
ROLLBACK;
SELECT routed_query(:'bycat')->'meta'->>'cache' AS after_rollback;

-- a dimension table that is not tracked: its changes are not seen, so its answers are served
-- only within a budget, with their age as staleness
CREATE TABLE jowners (category text PRIMARY KEY, owner text);
INSERT INTO jowners VALUES ('facts_0', 'alice'), ('facts_1', 'bob');
\set owned '{"source":"jfacts","join":[{"table":"jowners","on":{"category":"category"}}],"time":{"from":"2026-11-02T00:00:00Z","to":"2026-11-09T00:00:00Z"},"dimensions":["jowners.owner"],"measures":[{"name":"runs","agg":"count"}]}'
SELECT routed_query(:'owned')->'rows' AS owned_rows;
SELECT routed_query(:'owned')->'meta'->>'cache' AS untracked_budget_0,
       routed_query(:'owned', '1 hour')->'meta'->>'cache' AS untracked_within_budget;

-- privileges on the dimension table are checked on every hit
CREATE ROLE join_reader;
GRANT SELECT ON jfacts, jrules TO join_reader;
SET ROLE join_reader;
SELECT routed_query(:'bycat')->'meta'->>'cache' AS reader_first, routed_query(:'bycat')->'meta'->>'cache' AS reader_second;
RESET ROLE;
REVOKE SELECT ON jrules FROM join_reader;
SET ROLE join_reader;
SELECT try_query(:'bycat') AS reader_revoked;
RESET ROLE;
DROP OWNED BY join_reader;
DROP ROLE join_reader;

-- what is refused
CREATE TABLE jnokey (rule_id text, label text);
CREATE TABLE jparted (rule_id text PRIMARY KEY) PARTITION BY HASH (rule_id);
SELECT routed.track('jparted');
SELECT n, try_query(doc) FROM (VALUES
 (1, '{"source":"jfacts","join":[{"table":"jnokey","on":{"rule_id":"rule_id"}}],"measures":[{"name":"n","agg":"count"}]}'),
 (2, '{"source":"jfacts","join":[{"table":"jrules","on":{"ms":"rule_id"}}],"measures":[{"name":"n","agg":"count"}]}'),
 (3, '{"source":"jfacts","join":[{"table":"jmissing","on":{"rule_id":"rule_id"}}],"measures":[{"name":"n","agg":"count"}]}'),
 (4, '{"source":"jfacts","join":[{"table":"jrules","on":{"rule_id":"rule_id"}}],"dimensions":["jrules.owner"],"measures":[{"name":"n","agg":"count"}]}'),
 (5, '{"source":"jfacts","join":[{"table":"jrules","on":{"rule_id":"rule_id"}}],"measures":[{"name":"n","agg":"count_distinct","column":"jrules.rule_name"}]}'),
 (6, '{"source":"jfacts","join":[{"table":"jrules","on":{"rule_id":"nope"}}],"measures":[{"name":"n","agg":"count"}]}'),
 (7, '{"source":"jfacts","join":[{"table":"jrules","on":{"rule_id":"rule_id"},"left":"yes"}],"measures":[{"name":"n","agg":"count"}]}'),
 (8, '{"source":"jfacts","join":[{"table":"jrules"}],"measures":[{"name":"n","agg":"count"}]}')
) AS t(n, doc) ORDER BY n;
SELECT routed.untrack('jrules');
SELECT routed_query(:'bycat', '0')->'meta'->>'cache' AS untracked_now;
