-- create_rollup analyzes the rollup after its backfill, and may build it from a finer rollup
-- (from_rollup, recorded in the catalog)
ALTER TABLE routed.rollup_catalog ADD COLUMN from_rollup text;
DROP PROCEDURE routed.create_rollup(text, regclass, interval, text[], jsonb, interval, interval);
CREATE PROCEDURE routed.create_rollup(name text, source regclass, granularity interval,
                                      dimensions text[], measures jsonb,
                                      refresh_interval interval DEFAULT '1 minute',
                                      refresh_lag interval DEFAULT '0',
                                      from_rollup text DEFAULT NULL)
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM routed._create_rollup(name, source, granularity, dimensions, measures,
                                  refresh_interval, refresh_lag);
    IF from_rollup IS NOT NULL THEN
        PERFORM routed._set_from_rollup(name, from_rollup);
    END IF;
    COMMIT;
    CALL routed.refresh_rollup(name);
    -- planner statistics now, not at autovacuum's next visit: the router's costs read them
    EXECUTE format('ANALYZE routed.%I', name);
END $$;

-- pg_restore --jobs loads the catalogs in any order: no foreign key between them
ALTER TABLE routed.rollup_catalog DROP CONSTRAINT IF EXISTS rollup_catalog_source_fkey;

-- each source kept by oid and by qualified name: a restore without one source warns and leaves
-- its rollups unused instead of failing the catalogs' restore (routed._resolve_source)
DROP VIEW routed.sources;
DROP VIEW routed.rollups;
ALTER TABLE routed.tracked ALTER COLUMN source TYPE oid, ADD COLUMN source_name text;
ALTER TABLE routed.rollup_catalog ALTER COLUMN source TYPE oid, ALTER COLUMN source DROP NOT NULL,
    ADD COLUMN source_name text;
UPDATE routed.tracked t SET source_name = format('%I.%I', n.nspname, c.relname)
  FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace WHERE c.oid = t.source;
UPDATE routed.rollup_catalog r SET source_name = format('%I.%I', n.nspname, c.relname)
  FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace WHERE c.oid = r.source;
UPDATE routed.rollup_catalog r SET source_name = r.source::text WHERE r.source_name IS NULL;
ALTER TABLE routed.tracked ALTER COLUMN source_name SET NOT NULL;
ALTER TABLE routed.rollup_catalog ALTER COLUMN source_name SET NOT NULL;

CREATE FUNCTION routed._relation_name(rel oid) RETURNS text
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
    SELECT format('%I.%I', n.nspname, c.relname)
      FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
     WHERE c.oid = rel
$$;

-- Names a source written by routed.track or create_rollup; a row that comes with a name comes
-- from a restore (pg_restore, psql of a dump), whose oids are the dumped database's: the name
-- says which relation it is here. A source the restore did not bring back is a WARNING, never a
-- failed restore: it is no longer tracked, and its rollups stay listed but unused.
CREATE FUNCTION routed._resolve_source() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    IF NEW.source_name IS NULL THEN
        NEW.source_name := routed._relation_name(NEW.source);
        RETURN NEW;
    END IF;
    NEW.source := pg_catalog.to_regclass(NEW.source_name);
    IF NEW.source IS NULL AND TG_TABLE_NAME = 'tracked' THEN
        RAISE WARNING 'pg_routed: % was not restored; it is no longer tracked', NEW.source_name;
        RETURN NULL;
    ELSIF NEW.source IS NULL THEN
        RAISE WARNING 'pg_routed: rollup % is unused: its source % was not restored', NEW.name, NEW.source_name
            USING HINT = format('Restore %s and recreate the rollup, or drop it: SELECT routed.drop_rollup(%L);',
                                NEW.source_name, NEW.name);
    END IF;
    RETURN NEW;
END $$;
CREATE TRIGGER resolve_source BEFORE INSERT ON routed.tracked
    FOR EACH ROW EXECUTE FUNCTION routed._resolve_source();
CREATE TRIGGER resolve_source BEFORE INSERT ON routed.rollup_catalog
    FOR EACH ROW EXECUTE FUNCTION routed._resolve_source();

-- Whether a relation carries the capture triggers (the source a catalog row means does).
CREATE FUNCTION routed._captured(rel oid) RETURNS boolean
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
    SELECT EXISTS (SELECT 1 FROM pg_catalog.pg_trigger g WHERE g.tgrelid = rel AND g.tgname = 'routed_capture_insert')
$$;

-- After ALTER TABLE or ALTER SCHEMA: a renamed source, or one moved to another schema, keeps its
-- name in the catalogs (and so in the next dump): the oid says which. And rows a restore loaded
-- with triggers disabled (pg_restore --disable-triggers, which ends with ALTER TABLE ... ENABLE
-- TRIGGER) carry the dumped database's oids: the name says which. SECURITY DEFINER: the owner
-- of a source renames it without rights on the catalogs.
CREATE FUNCTION routed._sync_sources() RETURNS event_trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    UPDATE routed.tracked t SET source = pg_catalog.to_regclass(t.source_name)
     WHERE NOT routed._captured(t.source) AND routed._captured(pg_catalog.to_regclass(t.source_name));
    UPDATE routed.rollup_catalog c SET source = pg_catalog.to_regclass(c.source_name)
     WHERE NOT routed._captured(c.source) AND routed._captured(pg_catalog.to_regclass(c.source_name));
    UPDATE routed.tracked t SET source_name = routed._relation_name(t.source)
     WHERE routed._captured(t.source) AND t.source_name IS DISTINCT FROM routed._relation_name(t.source);
    UPDATE routed.rollup_catalog c SET source_name = routed._relation_name(c.source)
     WHERE routed._captured(c.source) AND c.source_name IS DISTINCT FROM routed._relation_name(c.source);
END $$;
CREATE EVENT TRIGGER routed_sync_sources ON ddl_command_end
    WHEN TAG IN ('ALTER TABLE', 'ALTER SCHEMA') EXECUTE FUNCTION routed._sync_sources();

CREATE VIEW routed.sources AS
SELECT t.source::regclass AS source, t.time_column, t.explicit AS tracked_explicitly, t.tracked_at,
       (SELECT count(*) FROM routed.rollup_catalog c WHERE c.source = t.source) AS rollups
  FROM routed.tracked t;
GRANT SELECT ON routed.sources TO PUBLIC;

-- routed.rollups says how each rollup is indexed
CREATE VIEW routed.rollups AS
SELECT c.name, c.source::regclass AS source, c.granularity, c.dimensions, c.measures, c.watermark,
       p.pending_ranges, p.oldest_pending,
       routed._row_count(pg_catalog.to_regclass(format('routed.%I', c.name || '$delta'))) AS pending_deltas,
       c.last_refresh, c.last_refresh_ms,
       c.refresh_interval, c.refresh_lag, c.row_count AS rows,
       pg_catalog.pg_total_relation_size(pg_catalog.to_regclass(format('routed.%I', c.name)))
       + pg_catalog.pg_total_relation_size(pg_catalog.to_regclass(format('routed.%I', c.name || '$delta'))) AS size_bytes,
       ARRAY(SELECT pg_catalog.pg_get_indexdef(i.indexrelid) FROM pg_catalog.pg_index i
              WHERE i.indrelid = pg_catalog.to_regclass(format('routed.%I', c.name)) ORDER BY i.indexrelid) AS indexes,
       c.from_rollup
  FROM routed.rollup_catalog c
  LEFT JOIN LATERAL (SELECT count(*) AS pending_ranges, min(i.logged_at) AS oldest_pending
                       FROM routed.invalidations i WHERE i.rollup_id = c.id) p ON true;
GRANT SELECT ON routed.rollups TO PUBLIC;

-- existing rollups get the covering index new ones are created with (RollupDef::covering_index_sql)
DO $$
DECLARE
    r record;
    include text[];
BEGIN
    FOR r IN SELECT c.name, c.dimensions, c.states FROM routed.rollup_catalog c
              WHERE cardinality(c.dimensions) > 0 AND pg_catalog.to_regclass(format('routed.%I', c.name)) IS NOT NULL
                -- (a rollup created by the new library before the update has it already)
                AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_index i
                                  JOIN pg_catalog.pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = i.indkey[0]
                                 WHERE i.indrelid = pg_catalog.to_regclass(format('routed.%I', c.name))
                                   AND a.attname = c.dimensions[1])
    LOOP
        include := ARRAY(SELECT quote_ident(d) FROM unnest(r.dimensions[2:]) d)
                || ARRAY(SELECT quote_ident(s->>'name') FROM jsonb_array_elements(r.states) s
                          WHERE s->>'kind' NOT IN ('quantile', 'distinct'));
        EXECUTE format('CREATE INDEX ON routed.%I (%I, bucket)%s', r.name, r.dimensions[1],
                       CASE WHEN cardinality(include) BETWEEN 1 AND 30
                            THEN ' INCLUDE (' || array_to_string(include, ', ') || ')' ELSE '' END);
    END LOOP;
END $$;

-- the catalogs are dumped with the extension (pg_dump / pg_restore keep every rollup)
SELECT pg_catalog.pg_extension_config_dump('routed.tracked', '');
SELECT pg_catalog.pg_extension_config_dump('routed.rollup_catalog', '');
SELECT pg_catalog.pg_extension_config_dump('routed.rollup_catalog_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('routed.invalidations', '');

-- DDL invalidates only what it changes (was: every answer of the database)
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
CREATE OR REPLACE FUNCTION routed._on_ddl() RETURNS event_trigger
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

-- routed.notify: refreshes send NOTIFY routed_refreshes
-- With routed.notify on, a completed refresh sends NOTIFY routed_refreshes (at its commit).
CREATE FUNCTION routed._notify_refreshed(name text) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    IF coalesce(current_setting('routed.notify', true), 'off')::boolean THEN
        PERFORM pg_catalog.pg_notify('routed_refreshes', json_build_object(
            'rollup', name,
            'watermark', (SELECT to_json(c.watermark AT TIME ZONE 'UTC')#>>'{}' || '+00:00'
                            FROM routed.rollup_catalog c WHERE c.name = _notify_refreshed.name))::text);
    END IF;
END $$;

-- Refresh: raise the threshold and commit, then bounded steps, each its own transaction.
-- Needs its own transactions, so it cannot run inside BEGIN ... COMMIT.
CREATE OR REPLACE PROCEDURE routed.refresh_rollup(name text, "from" timestamptz DEFAULT NULL,
                                       "to" timestamptz DEFAULT NULL)
LANGUAGE plpgsql AS $$
DECLARE
    target timestamptz;
    started timestamptz := clock_timestamp();
    finer text;
BEGIN
    -- built from a finer rollup: that one first, so this one reads its states, not raw rows
    SELECT c.from_rollup INTO finer FROM routed.rollup_catalog c WHERE c.name = refresh_rollup.name;
    IF finer IS NOT NULL THEN
        CALL routed.refresh_rollup(finer, "from", "to");
    END IF;
    target := routed._refresh_begin(name, "to");
    COMMIT;
    WHILE routed._refresh_step(name, "from", "to", target) LOOP
        COMMIT;
    END LOOP;
    UPDATE routed.rollup_catalog c SET last_refresh = started,
           last_refresh_ms = extract(epoch FROM clock_timestamp() - started) * 1000
     WHERE c.name = refresh_rollup.name;
    PERFORM routed._notify_refreshed(name);
END $$;


-- routed.warm
-- Warms one document on demand (before peak hours): computes its answer into the cache unless
-- it is there; returns the answer's meta.
CREATE FUNCTION routed.warm(query jsonb, staleness interval DEFAULT NULL) RETURNS jsonb
LANGUAGE plpgsql AS $$
BEGIN
    RETURN @extschema@.routed_query(query, staleness)->'meta';
END $$;

-- partitioned sources: the capture triggers on every table of the tree (routed._sync_partitions)

-- The capture triggers on one table (once).
CREATE FUNCTION routed._install_triggers_on(rel regclass, time_column name) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    IF routed._captured(rel) THEN
        RETURN;
    END IF;
    IF (SELECT c.relkind FROM pg_catalog.pg_class c WHERE c.oid = rel) = 'f' THEN
        RAISE EXCEPTION USING ERRCODE = '0A000',
            MESSAGE = format('%s is a foreign table: writes to it cannot be captured', rel),
            HINT = 'A tracked partitioned table may have only local partitions.';
    END IF;
    EXECUTE format('CREATE TRIGGER routed_capture_insert AFTER INSERT ON %s '
                   'REFERENCING NEW TABLE AS routed_new FOR EACH STATEMENT '
                   'EXECUTE FUNCTION routed._capture(%L)', rel, time_column);
    EXECUTE format('CREATE TRIGGER routed_capture_update AFTER UPDATE ON %s '
                   'REFERENCING OLD TABLE AS routed_old NEW TABLE AS routed_new FOR EACH STATEMENT '
                   'EXECUTE FUNCTION routed._capture(%L)', rel, time_column);
    EXECUTE format('CREATE TRIGGER routed_capture_delete AFTER DELETE ON %s '
                   'REFERENCING OLD TABLE AS routed_old FOR EACH STATEMENT '
                   'EXECUTE FUNCTION routed._capture(%L)', rel, time_column);
    EXECUTE format('CREATE TRIGGER routed_capture_truncate AFTER TRUNCATE ON %s '
                   'FOR EACH STATEMENT EXECUTE FUNCTION routed._capture(%L)', rel, time_column);
END $$;

CREATE FUNCTION routed._drop_triggers_on(rel regclass) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    EXECUTE format('DROP TRIGGER IF EXISTS routed_capture_insert ON %s', rel);
    EXECUTE format('DROP TRIGGER IF EXISTS routed_capture_update ON %s', rel);
    EXECUTE format('DROP TRIGGER IF EXISTS routed_capture_delete ON %s', rel);
    EXECUTE format('DROP TRIGGER IF EXISTS routed_capture_truncate ON %s', rel);
END $$;

-- On the source and, when it is partitioned, on every table of its tree: a statement aimed at
-- a partition fires only that partition's statement triggers (src/changes/partitions.rs).
CREATE OR REPLACE FUNCTION routed._install_triggers(source regclass, time_column name) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    rel regclass;
BEGIN
    PERFORM routed._install_triggers_on(source, time_column);
    FOR rel IN SELECT t.relid FROM pg_catalog.pg_partition_tree(source) t WHERE t.relid <> source ORDER BY t.level, t.relid LOOP
        PERFORM routed._install_triggers_on(rel, time_column);
    END LOOP;
END $$;

CREATE OR REPLACE FUNCTION routed._track(source regclass, time_column name, explicit boolean) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    kind "char";
    typ regtype;
    known routed.tracked;
BEGIN
    SELECT c.relkind INTO kind FROM pg_catalog.pg_class c WHERE c.oid = source;
    IF kind IS DISTINCT FROM 'r' AND kind IS DISTINCT FROM 'p' THEN
        RAISE EXCEPTION USING ERRCODE = '42809',
            MESSAGE = format('%s is not a table', source),
            HINT = 'routed.track installs statement triggers on ordinary and partitioned tables';
    END IF;
    SELECT a.atttypid INTO typ FROM pg_catalog.pg_attribute a
     WHERE a.attrelid = source AND a.attname = time_column AND a.attnum > 0 AND NOT a.attisdropped;
    IF NOT FOUND THEN
        RAISE EXCEPTION USING ERRCODE = '42703',
            MESSAGE = format('column %I does not exist in %s', time_column, source);
    END IF;
    IF typ NOT IN ('timestamptz'::regtype, 'timestamp'::regtype, 'date'::regtype) THEN
        RAISE EXCEPTION USING ERRCODE = '42804',
            MESSAGE = format('column %I of %s has type %s; a tracked time column must be timestamptz, timestamp or date',
                             time_column, source, typ);
    END IF;
    SELECT * INTO known FROM routed.tracked t WHERE t.source = _track.source FOR UPDATE;
    IF FOUND THEN
        IF known.time_column <> time_column THEN
            RAISE EXCEPTION USING ERRCODE = '55000',
                MESSAGE = format('%s is already tracked on column %I', source, known.time_column);
        END IF;
        UPDATE routed.tracked t SET explicit = t.explicit OR _track.explicit WHERE t.source = _track.source;
        RETURN;
    END IF;
    INSERT INTO routed.tracked (source, time_column, explicit) VALUES (source, time_column, explicit);
    PERFORM routed._install_triggers(source, time_column);
END $$;

-- Dimension tables: tracked as a whole, every change is a change of all of it (for answers
-- that join it). The trigger is the whole state, so a dump of the table keeps it.
CREATE FUNCTION routed._table_changed() RETURNS trigger
LANGUAGE c SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'routed_table_changed';

CREATE FUNCTION routed._tracked_whole(rel oid) RETURNS boolean
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
    SELECT EXISTS (SELECT 1 FROM pg_catalog.pg_trigger g
                    WHERE g.tgrelid = rel AND g.tgfoid = 'routed._table_changed()'::regprocedure)
$$;

CREATE FUNCTION routed.track(source regclass) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    kind "char";
BEGIN
    SELECT c.relkind INTO kind FROM pg_catalog.pg_class c WHERE c.oid = source;
    IF kind <> 'r' THEN
        RAISE EXCEPTION USING ERRCODE = '0A000',
            MESSAGE = format('%s cannot be tracked as a whole: only ordinary tables can', source),
            HINT = 'partitioned tables are tracked on a time column: routed.track(table, time_column)';
    END IF;
    IF routed._tracked_whole(source) OR EXISTS (SELECT 1 FROM routed.tracked t WHERE t.source = track.source) THEN
        RETURN;
    END IF;
    EXECUTE format('CREATE TRIGGER routed_table_changed AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON %s '
                   'FOR EACH STATEMENT EXECUTE FUNCTION routed._table_changed()', source);
END $$;

CREATE OR REPLACE FUNCTION routed.untrack(source regclass) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    rollups text;
BEGIN
    IF routed._tracked_whole(source) THEN
        EXECUTE format('DROP TRIGGER routed_table_changed ON %s', source);
        -- its changes are no longer seen: the answers that joined it cannot stay exact
        PERFORM routed._note_ddl_relation(source);
        RETURN;
    END IF;
    SELECT string_agg(c.name, ', ' ORDER BY c.name) INTO rollups
      FROM routed.rollup_catalog c WHERE c.source = untrack.source;
    IF rollups IS NOT NULL THEN
        RAISE EXCEPTION USING ERRCODE = '2BP01',
            MESSAGE = format('%s has rollups: %s', source, rollups),
            HINT = 'drop them first with routed.drop_rollup';
    END IF;
    DELETE FROM routed.tracked t WHERE t.source = untrack.source;
    IF NOT FOUND THEN
        RAISE EXCEPTION USING ERRCODE = '55000', MESSAGE = format('%s is not tracked', source);
    END IF;
    PERFORM routed._drop_triggers_on(source);
    PERFORM routed._drop_triggers_on(t.relid) FROM pg_catalog.pg_partition_tree(source) t WHERE t.relid <> source;
END $$;

-- Dropping a tracked source drops its rollups; dropping a rollup's table unregisters it.
CREATE OR REPLACE FUNCTION routed._on_drop() RETURNS event_trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    o record;
    r routed.rollup_catalog;
    dropped_source boolean := EXISTS (SELECT 1 FROM pg_catalog.pg_event_trigger_dropped_objects() d
                                        JOIN routed.tracked t ON t.source = d.objid
                                       WHERE d.classid = 'pg_catalog.pg_class'::regclass AND d.objsubid = 0);
BEGIN
    FOR o IN SELECT d.objid, d.schema_name, d.object_name FROM pg_catalog.pg_event_trigger_dropped_objects() d
              WHERE d.classid = 'pg_catalog.pg_class'::regclass AND d.objsubid = 0 AND d.object_type = 'table'
    LOOP
        FOR r IN SELECT * FROM routed.rollup_catalog c
                  WHERE c.source::oid = o.objid
                     OR (o.schema_name = 'routed' AND o.object_name IN (c.name, c.name || '$delta'))
        LOOP
            EXECUTE format('DROP TABLE IF EXISTS routed.%I, routed.%I', r.name, r.name || '$delta');
            DELETE FROM routed.invalidations i WHERE i.rollup_id = r.id;
            DELETE FROM routed.rollup_catalog c WHERE c.id = r.id;
            -- those built from it go on from the source
            UPDATE routed.rollup_catalog c SET from_rollup = NULL WHERE c.from_rollup = r.name;
        END LOOP;
        DELETE FROM routed.tracked t WHERE t.source::oid = o.objid;
    END LOOP;
    -- a dropped partition of a tracked tree took its rows: which tree is no longer known, so
    -- every partitioned source counts as changed everywhere (DETACH first says exactly what)
    IF NOT dropped_source AND EXISTS (
        SELECT 1 FROM pg_catalog.pg_event_trigger_dropped_objects() dg
          JOIN pg_catalog.pg_event_trigger_dropped_objects() dt
            ON dt.classid = 'pg_catalog.pg_class'::regclass AND dt.objsubid = 0
           AND dg.object_identity = 'routed_capture_insert on ' || dt.object_identity
         WHERE dg.object_type = 'trigger') THEN
        PERFORM routed._note_change(k.source, '-infinity', 'infinity')
           FROM routed.tracked k JOIN pg_catalog.pg_class c ON c.oid = k.source WHERE c.relkind = 'p';
    END IF;
    -- tracking that only the dropped rollups needed goes with them
    FOR o IN SELECT t.source FROM routed.tracked t
              WHERE NOT t.explicit AND NOT EXISTS (SELECT 1 FROM routed.rollup_catalog c WHERE c.source = t.source)
    LOOP
        PERFORM routed.untrack(o.source);
    END LOOP;
END $$;

-- The rows of one table of a tracked tree, as a change of the tracked source (a partition
-- attached brings them, one detached takes them away).
CREATE FUNCTION routed._note_rows_of(source regclass, rel regclass, time_column name) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    lo timestamptz;
    hi timestamptz;
BEGIN
    EXECUTE format('SELECT min(%1$I), max(%1$I) FROM %2$s', time_column, rel) INTO lo, hi;
    -- a timestamp or date means an instant only in a TimeZone: widened by the largest offset
    IF lo IS NOT NULL AND (SELECT a.atttypid FROM pg_catalog.pg_attribute a
                            WHERE a.attrelid = rel AND a.attname = time_column) <> 'timestamptz'::regtype THEN
        lo := lo - interval '16 hours';
        hi := hi + interval '40 hours';
    END IF;
    IF lo IS NOT NULL THEN
        PERFORM routed._note_change(source, lo, hi);
    END IF;
END $$;

-- After CREATE TABLE and ALTER TABLE: a table that joined a tracked partitioned source (CREATE
-- TABLE ... PARTITION OF, ATTACH PARTITION) gets the capture triggers and its rows count as
-- changed; one that left it (DETACH PARTITION) loses them and its rows count as changed too.
-- SECURITY DEFINER: whoever may create a partition installs the triggers and logs the change.
CREATE FUNCTION routed._sync_partitions() RETURNS event_trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    t routed.tracked;
    m record;
    roots oid[];
BEGIN
    IF NOT EXISTS (SELECT 1 FROM routed.tracked k JOIN pg_catalog.pg_class c ON c.oid = k.source WHERE c.relkind = 'p') THEN
        RETURN;
    END IF;
    FOR t IN SELECT k.* FROM routed.tracked k JOIN pg_catalog.pg_class c ON c.oid = k.source WHERE c.relkind = 'p' LOOP
        FOR m IN SELECT p.relid FROM pg_catalog.pg_partition_tree(t.source) p
                  WHERE p.relid <> t.source AND NOT routed._captured(p.relid) ORDER BY p.level, p.relid LOOP
            PERFORM routed._install_triggers_on(m.relid, t.time_column);
            PERFORM routed._note_rows_of(t.source, m.relid, t.time_column);
        END LOOP;
    END LOOP;
    -- detached: captured, not tracked, in no tracked tree; the command's target says whose
    roots := ARRAY(SELECT DISTINCT pg_catalog.pg_partition_root(d.objid) FROM pg_catalog.pg_event_trigger_ddl_commands() d
                    WHERE d.classid = 'pg_catalog.pg_class'::regclass);
    FOR m IN SELECT g.tgrelid AS relid FROM pg_catalog.pg_trigger g
              WHERE g.tgname = 'routed_capture_insert'
                AND NOT EXISTS (SELECT 1 FROM routed.tracked k WHERE k.source = g.tgrelid)
                AND NOT EXISTS (SELECT 1 FROM routed.tracked k WHERE k.source = pg_catalog.pg_partition_root(g.tgrelid)) LOOP
        FOR t IN SELECT k.* FROM routed.tracked k JOIN pg_catalog.pg_class c ON c.oid = k.source
                  WHERE c.relkind = 'p' AND (k.source = ANY (roots) OR NOT EXISTS (
                        SELECT 1 FROM routed.tracked r WHERE r.source = ANY (roots))) LOOP
            PERFORM routed._note_rows_of(t.source, m.relid, t.time_column);
        END LOOP;
        PERFORM routed._drop_triggers_on(m.relid);
    END LOOP;
END $$;
REVOKE EXECUTE ON FUNCTION routed._note_change(oid, timestamptz, timestamptz) FROM PUBLIC;
CREATE EVENT TRIGGER routed_sync_partitions ON ddl_command_end
    WHEN TAG IN ('CREATE TABLE', 'ALTER TABLE') EXECUTE FUNCTION routed._sync_partitions();

-- Merges the log per rollup: a stream of corrections logs a row per statement and bucket; this
-- keeps one row per run of touched buckets (with the oldest log time among the rows it merges,
-- so staleness is never understated). Safe beside writers and refreshes: rows not yet committed
-- are left alone, and a row a refresh consumes meanwhile only makes the merged one recompute
-- buckets again. Run by the background worker for rollups with more than min_rows rows;
-- returns the rows it saved.
CREATE FUNCTION routed._compact_invalidations(min_rows int DEFAULT 64) RETURNS bigint
LANGUAGE sql SET search_path = pg_catalog, pg_temp AS $$
    WITH many AS (
        SELECT i.rollup_id FROM routed.invalidations i GROUP BY 1 HAVING count(*) > min_rows),
    gone AS (
        DELETE FROM routed.invalidations i USING many m WHERE i.rollup_id = m.rollup_id
        RETURNING i.rollup_id, i.lo, i.hi, i.logged_at),
    -- whole buckets, the end exclusive (infinite times are their own ends)
    aligned AS (
        SELECT g.rollup_id, g.logged_at,
               CASE WHEN isfinite(g.lo) THEN date_bin(c.granularity, g.lo, TIMESTAMPTZ '1970-01-01 00:00:00+00')
                    ELSE g.lo END AS lo,
               CASE WHEN isfinite(g.hi) THEN date_bin(c.granularity, g.hi, TIMESTAMPTZ '1970-01-01 00:00:00+00')
                                             + c.granularity
                    ELSE g.hi END AS hi
          FROM gone g JOIN routed.rollup_catalog c ON c.id = g.rollup_id),
    -- a row starts a run unless it overlaps or touches the rows before it
    starts AS (
        SELECT a.*, CASE WHEN a.lo <= max(a.hi) OVER (PARTITION BY a.rollup_id ORDER BY a.lo, a.hi
                                                       ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING)
                         THEN 0 ELSE 1 END AS first
          FROM aligned a),
    runs AS (
        SELECT s.*, sum(s.first) OVER (PARTITION BY s.rollup_id ORDER BY s.lo, s.hi) AS run FROM starts s),
    kept AS (
        INSERT INTO routed.invalidations (rollup_id, lo, hi, logged_at)
        SELECT r.rollup_id, min(r.lo),
               CASE WHEN isfinite(max(r.hi)) THEN max(r.hi) - interval '1 microsecond' ELSE max(r.hi) END,
               min(r.logged_at)
          FROM runs r GROUP BY r.rollup_id, r.run
        RETURNING 1)
    SELECT (SELECT count(*) FROM gone) - (SELECT count(*) FROM kept)
$$;
REVOKE ALL ON FUNCTION routed._compact_invalidations(int) FROM PUBLIC;

-- drop_rollup refuses while rollups are built from the one it drops
CREATE OR REPLACE FUNCTION routed.drop_rollup(name text) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    r routed.rollup_catalog;
BEGIN
    SELECT * INTO r FROM routed.rollup_catalog c WHERE c.name = drop_rollup.name FOR UPDATE;
    IF NOT FOUND THEN
        RAISE EXCEPTION USING ERRCODE = '42704', MESSAGE = format('rollup %L does not exist', name);
    END IF;
    IF EXISTS (SELECT 1 FROM routed.rollup_catalog c WHERE c.from_rollup = r.name) THEN
        RAISE EXCEPTION USING ERRCODE = '2BP01',
            MESSAGE = format('rollup %L is the from_rollup of rollup %s', name,
                             (SELECT string_agg(format('%L', c.name), ', ' ORDER BY c.name)
                                FROM routed.rollup_catalog c WHERE c.from_rollup = r.name)),
            HINT = 'drop the rollups built from it first';
    END IF;
    EXECUTE format('DROP TABLE IF EXISTS routed.%I, routed.%I', r.name, r.name || '$delta');
    DELETE FROM routed.invalidations i WHERE i.rollup_id = r.id;
    DELETE FROM routed.rollup_catalog c WHERE c.id = r.id;
    IF NOT EXISTS (SELECT 1 FROM routed.rollup_catalog c WHERE c.source = r.source)
       AND NOT (SELECT t.explicit FROM routed.tracked t WHERE t.source = r.source) THEN
        PERFORM routed.untrack(r.source);
    END IF;
END $$;
