-- The demo's dashboard source: rule and parser executions of a data pipeline, 30 days up to now.
-- Deterministic apart from the anchor (now) so answers look alike on every machine. Loaded in
-- one transaction (psql -1), so an interrupted load leaves nothing behind.
\set ON_ERROR_STOP on
SELECT setseed(0.42);
CREATE TABLE metrics (
    ts                timestamptz NOT NULL,
    metric_type       text        NOT NULL,
    rule_category     text        NOT NULL,
    rule_id           integer     NOT NULL,
    status            text        NOT NULL,
    region            text,
    execution_time_ms double precision NOT NULL,
    records_processed bigint      NOT NULL
);
INSERT INTO metrics
SELECT now() - random() * interval '30 days',
       (ARRAY['RULE_EXECUTION', 'PARSER_EXECUTION', 'EXPORT'])[1 + floor(random() ^ 2 * 3)::int],
       (ARRAY['fraud', 'billing', 'compliance', 'quality', 'routing', 'alerts'])[1 + floor(random() * 6)::int],
       (random() * 499)::int + 1,
       CASE WHEN random() < 0.03 THEN 'ERROR' WHEN random() < 0.05 THEN 'TIMEOUT' ELSE 'OK' END,
       CASE WHEN random() < 0.01 THEN NULL ELSE (ARRAY['eu-west', 'us-east', 'us-west', 'ap-south'])[1 + floor(random() * 4)::int] END,
       round((exp(random() * 5) * 2)::numeric, 3)::float8,
       (random() * 10000)::bigint
FROM generate_series(1, :rows);
CREATE INDEX metrics_ts_idx ON metrics (ts);
ANALYZE metrics;
