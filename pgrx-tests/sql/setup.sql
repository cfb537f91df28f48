-- Fixture shared by the golden tests: a small table with fixed rows, so answers are exact text.
SET client_min_messages = warning;
DROP EXTENSION IF EXISTS pg_routed CASCADE;
CREATE EXTENSION pg_routed;
DROP TABLE IF EXISTS orders CASCADE;
DROP SEQUENCE IF EXISTS order_ids;
CREATE SEQUENCE order_ids;
CREATE TABLE orders (
    id        integer PRIMARY KEY,
    placed_at timestamptz NOT NULL,
    local_ts  timestamp,
    day       date,
    shop      text,
    status    text,
    qty       integer,
    amount    numeric(10,2),
    latency   double precision,
    customer  bigint,
    "Odd ""Name"";" text,
    meta      json
);
INSERT INTO orders
SELECT i,
       timestamptz '2026-11-01 00:00:00+00' + (i * interval '37 minutes'),
       timestamp '2026-11-01 00:00:00' + (i * interval '37 minutes'),
       (timestamptz '2026-11-01 00:00:00+00' + (i * interval '37 minutes'))::date,
       (ARRAY['north', 'south', 'east', NULL])[1 + i % 4],
       (ARRAY['PAID', 'PAID', 'REFUNDED', 'OPEN', 'PAID'])[1 + i % 5],
       1 + i % 7,
       round((i * 3.17)::numeric % 250, 2),
       (i % 13) * 1.5,
       1000 + i % 23,
       'x' || (i % 3),
       '{}'
FROM generate_series(1, 500) AS i;
DO $$ BEGIN CREATE ROLE routed_reader; EXCEPTION WHEN duplicate_object THEN NULL; END $$;
GRANT SELECT (placed_at, shop) ON orders TO routed_reader;
-- Runs a document and shows its outcome on one line: "ok" or SQLSTATE, message and hint.
CREATE FUNCTION try_query(doc text, staleness interval DEFAULT NULL) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE state text; msg text; hint text;
BEGIN
    PERFORM routed_query(doc::jsonb, staleness);
    RETURN 'ok';
EXCEPTION WHEN OTHERS THEN
    GET STACKED DIAGNOSTICS state = RETURNED_SQLSTATE, msg = MESSAGE_TEXT, hint = PG_EXCEPTION_HINT;
    RETURN state || ' ' || msg || CASE WHEN hint <> '' THEN ' (hint: ' || hint || ')' ELSE '' END;
END $$;
