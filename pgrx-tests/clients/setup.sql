-- The clients' table: 30 days of rows up to now, tracked, with an hourly rollup.
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS pg_routed;
DROP TABLE IF EXISTS cm CASCADE;
CREATE TABLE cm (ts timestamptz NOT NULL, status text, rule_id int, ms float8);
INSERT INTO cm SELECT now() - i * interval '13 seconds', (ARRAY['OK','ERROR','WARN'])[1 + i % 3], i % 20, (i % 997) * 0.5
  FROM generate_series(0, 199999) i;
CREATE INDEX ON cm (ts);
SELECT routed.track('cm', 'ts');
CALL routed.create_rollup('cm_hourly', 'cm', '1 hour', ARRAY['status', 'rule_id'],
  '[{"agg":"count"},{"agg":"sum","column":"ms"},{"agg":"count","column":"ms"},{"agg":"max","column":"ms"}]');
ANALYZE cm;
