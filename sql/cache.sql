-- The result cache's SQL surface: statistics views and the DDL event trigger.

CREATE VIEW routed.cache_stats AS
SELECT s.capacity_bytes, s.used_bytes, s.entries, s.hits, s.misses, s.coalesced, s.bypasses,
       s.evictions, s.invalidations, s.not_stored, s.revalidations, s.changes_published,
       CASE WHEN s.hits + s.coalesced + s.misses > 0
            THEN round((s.hits + s.coalesced)::numeric / (s.hits + s.coalesced + s.misses), 4)
       END AS hit_ratio
  FROM routed._cache_stats() s;

CREATE VIEW routed.query_stats AS
SELECT d.datname AS database, q.*
  FROM routed._query_stats() q LEFT JOIN pg_catalog.pg_database d ON d.oid = q.dbid;

-- Schema changes (ALTER TABLE, DROP, GRANT, ...) may change any cached answer of the database:
-- noted here, published when the transaction commits.
CREATE FUNCTION routed._on_ddl() RETURNS event_trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM routed._note_ddl();
END $$;

CREATE EVENT TRIGGER routed_on_ddl ON ddl_command_end EXECUTE FUNCTION routed._on_ddl();

DO $$
BEGIN
    IF NOT routed._cache_available() THEN
        RAISE WARNING 'pg_routed: the result cache is disabled'
            USING DETAIL = 'pg_routed is not in shared_preload_libraries (or routed.cache_size is 0); answers come from rollups and base tables only.',
                  HINT = 'Add pg_routed to shared_preload_libraries and restart the server.';
    END IF;
END $$;

-- Like pg_stat_statements_reset: resetting is for superusers and roles granted it; the views
-- (documents of every role's queries) are readable only by superusers unless granted.
REVOKE EXECUTE ON FUNCTION routed.cache_reset(), routed.stats_reset() FROM PUBLIC;
