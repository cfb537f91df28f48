//! Catalog and planner statistics the recommender reads through SPI: a document's source and
//! time column (a `timestamptz` one, the only kind rollups take), the source's rows, time span
//! and distinct counts, and the rollup names in use.

use pgrx::prelude::*;
use routed_core::query::Query;
use routed_core::recommend::SourceFacts;
use std::collections::HashMap;

const RESOLVE_SQL: &str = "
SELECT pg_catalog.quote_ident(n.nspname) || '.' || pg_catalog.quote_ident(c.relname),
       coalesce($2, (SELECT t.time_column::text FROM routed.tracked t WHERE t.source = c.oid)) AS col
FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
WHERE c.oid = pg_catalog.to_regclass($1) AND c.relkind IN ('r', 'p')
  AND EXISTS (SELECT 1 FROM pg_catalog.pg_attribute a
               WHERE a.attrelid = c.oid AND a.attname = coalesce($2, (SELECT t.time_column FROM routed.tracked t WHERE t.source = c.oid))
                 AND a.atttypid = 'pg_catalog.timestamptz'::pg_catalog.regtype AND NOT a.attisdropped)";

const FACTS_SQL: &str = "
SELECT c.relname::text,
       CASE WHEN c.relkind = 'p'
            THEN (SELECT sum(greatest(p.reltuples, 0))::float8 FROM pg_catalog.pg_partition_tree(c.oid) t
                    JOIN pg_catalog.pg_class p ON p.oid = t.relid WHERE t.isleaf)
            ELSE c.reltuples::float8 END,
       (SELECT extract(epoch FROM h[array_upper(h, 1)] - h[1])::float8
          FROM (SELECT s.histogram_bounds::text::timestamptz[] AS h FROM pg_catalog.pg_stats s
                 WHERE s.schemaname = n.nspname AND s.tablename = c.relname AND s.attname = $2
                   AND s.inherited = (c.relkind = 'p')) x),
       (SELECT pg_catalog.json_object_agg(s.attname, s.n_distinct)::text FROM pg_catalog.pg_stats s
         WHERE s.schemaname = n.nspname AND s.tablename = c.relname AND s.inherited = (c.relkind = 'p'))
FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
WHERE c.oid = pg_catalog.to_regclass($1)";

/// The document's source (quoted, schema-qualified) and time column, when a rollup could be
/// built on them.
pub fn resolve(q: &Query) -> Option<(String, String)> {
    let column = q.time.as_ref()?.column.clone();
    Spi::connect(|c| {
        let row = c
            .select(
                RESOLVE_SQL,
                Some(1),
                &[q.source.clone().into(), column.into()],
            )?
            .first();
        Ok::<_, pgrx::spi::Error>(match (row.get::<String>(1)?, row.get::<String>(2)?) {
            (Some(s), Some(t)) => Some((s, t)),
            _ => None,
        })
    })
    .ok()
    .flatten()
}

/// The source's planner statistics; None before it was analyzed.
pub fn source_facts(source: &str, time_column: &str) -> Option<SourceFacts> {
    Spi::connect(|c| {
        let row = c
            .select(
                FACTS_SQL,
                Some(1),
                &[source.to_string().into(), time_column.to_string().into()],
            )?
            .first();
        let table_name: Option<String> = row.get(1)?;
        let rows: Option<f64> = row.get(2)?;
        let span: Option<f64> = row.get(3)?;
        let n_distinct: HashMap<String, f64> = row
            .get::<String>(4)?
            .and_then(|t| serde_json::from_str(&t).ok())
            .unwrap_or_default();
        Ok::<_, pgrx::spi::Error>(match (table_name, rows, span) {
            (Some(table_name), Some(rows), Some(span_secs)) if rows > 0.0 => Some(SourceFacts {
                table_name,
                rows,
                span_secs,
                n_distinct,
            }),
            _ => None,
        })
    })
    .ok()
    .flatten()
}

pub fn rollup_names() -> Vec<String> {
    Spi::connect(|c| {
        let rows = c.select("SELECT name::text FROM routed.rollup_catalog", None, &[])?;
        Ok::<_, pgrx::spi::Error>(
            rows.filter_map(|r| r.get::<String>(1).ok().flatten())
                .collect(),
        )
    })
    .unwrap_or_default()
}
