-- routed_rows returns SETOF record: the caller's column list types the rows, and the C entry
-- point checks it against the answer's columns before running anything.
CREATE FUNCTION routed_rows(query jsonb, staleness interval DEFAULT NULL)
RETURNS SETOF record
VOLATILE
LANGUAGE c
AS 'MODULE_PATHNAME', 'routed_rows_wrapper';

COMMENT ON FUNCTION routed_rows(jsonb, interval) IS
  'Answer a pg_routed query document as typed rows: SELECT * FROM routed_rows(''{...}'') AS t(bucket timestamptz, n bigint)';
