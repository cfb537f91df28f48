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

-- A relation and the views that read it, directly or through other views.
CREATE FUNCTION routed._note_ddl_relation_and_views(rel oid) RETURNS void
LANGUAGE sql AS $$
    WITH RECURSIVE r(oid) AS (
        SELECT rel
        UNION
        SELECT w.ev_class FROM r
          JOIN pg_catalog.pg_depend d ON d.refclassid = 'pg_catalog.pg_class'::regclass AND d.refobjid = r.oid
                                     AND d.classid = 'pg_catalog.pg_rewrite'::regclass
          JOIN pg_catalog.pg_rewrite w ON w.oid = d.objid
         WHERE w.ev_class <> r.oid)
    SELECT routed._note_ddl_relation(r.oid) FROM r;
$$;

-- Schema changes invalidate, at commit, the cached answers they may change and nothing else:
-- a changed relation (and the views over it) invalidates the answers that read it; a new
-- relation only when another one of its name exists (it may now resolve first on some
-- search_path); anything whose effect on names or types is not known (types, schemas,
-- operators, casts, ...) every answer of the database. GRANT and REVOKE (a hit re-checks
-- privileges), COMMENT, indexes, statistics, triggers, functions and temporary tables (the key of
-- a backend with temporary tables is its own) invalidate nothing. Drops: routed._on_drop.
CREATE FUNCTION routed._on_ddl() RETURNS event_trigger
LANGUAGE plpgsql AS $$
DECLARE
    c record;
    rel record;
    seen boolean := false;
BEGIN
    FOR c IN SELECT * FROM pg_catalog.pg_event_trigger_ddl_commands() LOOP
        seen := true;
        IF c.command_tag IN ('GRANT', 'REVOKE', 'COMMENT', 'SECURITY LABEL', 'ALTER DEFAULT PRIVILEGES',
                             'CREATE INDEX', 'ALTER INDEX', 'REINDEX', 'CREATE STATISTICS', 'ALTER STATISTICS',
                             'CREATE TRIGGER', 'ALTER TRIGGER', 'CREATE FUNCTION', 'ALTER FUNCTION',
                             'CREATE PROCEDURE', 'ALTER PROCEDURE', 'CREATE AGGREGATE', 'CREATE SCHEMA',
                             'CREATE SEQUENCE', 'ALTER SEQUENCE', 'CREATE POLICY', 'ALTER POLICY')
           OR c.object_type IN ('index', 'sequence', 'trigger', 'function', 'procedure', 'statistics object',
                                'policy', 'table constraint') THEN
            CONTINUE;
        END IF;
        IF c.classid = 'pg_catalog.pg_class'::regclass THEN
            SELECT k.relname, k.relnamespace, k.relpersistence INTO rel FROM pg_catalog.pg_class k WHERE k.oid = c.objid;
            IF NOT FOUND OR rel.relpersistence = 't' THEN
                CONTINUE;
            END IF;
            PERFORM routed._note_ddl_relation_and_views(c.objid);
            -- created, renamed or moved where a relation of its name exists in another schema:
            -- that name may now resolve to this one on some search_path
            IF EXISTS (SELECT 1 FROM pg_catalog.pg_class o
                        WHERE o.relname = rel.relname AND o.oid <> c.objid AND o.relkind IN ('r', 'p', 'v', 'm', 'f')
                          AND o.relpersistence <> 't') THEN
                PERFORM routed._note_ddl();
            END IF;
            CONTINUE;
        END IF;
        PERFORM routed._note_ddl();
    END LOOP;
    -- a command that reports no objects (drops are reported to routed._on_drop)
    IF NOT seen AND tg_tag NOT LIKE 'DROP %' THEN
        PERFORM routed._note_ddl();
    END IF;
END $$;

CREATE EVENT TRIGGER routed_on_ddl ON ddl_command_end EXECUTE FUNCTION routed._on_ddl();

-- Drops: a dropped relation invalidates the answers that read it (views over it are dropped
-- with it, or the drop fails); a dropped type, schema, operator, cast, ... every answer.
CREATE FUNCTION routed._on_drop_note() RETURNS event_trigger
LANGUAGE plpgsql AS $$
DECLARE
    o record;
BEGIN
    FOR o IN SELECT * FROM pg_catalog.pg_event_trigger_dropped_objects() d WHERE NOT d.is_temporary LOOP
        IF o.classid = 'pg_catalog.pg_class'::regclass AND o.objsubid = 0
           AND o.object_type IN ('table', 'view', 'materialized view', 'foreign table') THEN
            PERFORM routed._note_ddl_relation(o.objid);
        ELSIF o.object_type NOT IN ('index', 'sequence', 'trigger', 'function', 'procedure', 'aggregate',
                                    'table constraint', 'default value', 'policy', 'statistics object',
                                    'event trigger', 'table column', 'rule', 'toast table', 'type')
              -- a type dropped without a relation (a relation's row types go with it)
              OR o.object_type = 'type' AND NOT EXISTS (
                   SELECT 1 FROM pg_catalog.pg_event_trigger_dropped_objects() r
                    WHERE r.classid = 'pg_catalog.pg_class'::regclass) THEN
            PERFORM routed._note_ddl();
        END IF;
    END LOOP;
END $$;

CREATE EVENT TRIGGER routed_on_drop_note ON sql_drop EXECUTE FUNCTION routed._on_drop_note();

DO $$
BEGIN
    IF NOT routed._cache_available() THEN
        RAISE WARNING 'pg_routed: the result cache is disabled'
            USING DETAIL = 'pg_routed is not in shared_preload_libraries (or routed.cache_size is 0); answers come from rollups and base tables only.',
                  HINT = 'Add pg_routed to shared_preload_libraries and restart the server.';
    END IF;
END $$;

-- Warms one document on demand (before peak hours): computes its answer into the cache unless
-- it is there; returns the answer's meta.
CREATE FUNCTION routed.warm(query jsonb, staleness interval DEFAULT NULL) RETURNS jsonb
LANGUAGE plpgsql AS $$
BEGIN
    RETURN @extschema@.routed_query(query, staleness)->'meta';
END $$;

-- Like pg_stat_statements_reset: resetting is for superusers and roles granted it; the views
-- (documents of every role's queries) are readable only by superusers unless granted.
REVOKE EXECUTE ON FUNCTION routed.cache_reset(), routed.stats_reset() FROM PUBLIC;
