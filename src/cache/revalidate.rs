//! Stale-while-revalidate: a hit served stale but within budget, and older than half of it,
//! flags its entry; the background worker of the entry's database recomputes flagged entries
//! as the role that computed them, with the same settings (both are in the key), so steady
//! dashboards keep hitting answers that stay fresh.

use super::key::SETTINGS;
use super::shmem;
use std::sync::atomic::Ordering;

/// A flagged entry's document and what computed it: the role and the settings of its key.
pub struct Due {
    pub document: String,
    pub role: u32,
    /// (name, value) for each of `key::SETTINGS`
    pub settings: Vec<(String, String)>,
}

/// Takes the flags of this database's flagged entries (at most `max`).
pub fn take_due(max: usize) -> Vec<Due> {
    if !shmem::available() {
        return Vec::new();
    }
    let db = crate::pg::fast::database_id().to_u32();
    let mut due = Vec::new();
    for part in 0..shmem::PARTITIONS {
        let _lock = shmem::lock_partition(part, false);
        let p = shmem::partition(part);
        for i in 0..p.nslots() {
            let s = p.slot(i);
            if due.len() < max
                && s.state.load(Ordering::Acquire) == routed_core::cache::store::READY
                && s.meta.db == db
                && s.revalidate.swap(0, Ordering::AcqRel) == 1
            {
                if let Some(d) = parse_key(&p.key(i)) {
                    due.push(d);
                }
            }
        }
    }
    due
}

/// The key's parts (see `key`); None for an entry of a backend with temporary tables, whose
/// names the worker cannot resolve the same way.
pub(crate) fn parse_key(key: &[u8]) -> Option<Due> {
    let text = std::str::from_utf8(key).ok()?;
    let parts: Vec<&str> = text.split('\0').collect();
    let [document, _db, role, temp_namespace, settings @ ..] = parts.as_slice() else {
        return None;
    };
    if *temp_namespace != "0" || settings.len() != SETTINGS.len() {
        return None;
    }
    let settings = settings
        .iter()
        .zip(SETTINGS)
        .map(|(part, name)| {
            let value = part.strip_prefix(name)?.strip_prefix('=')?;
            Some((name.to_string(), value.to_string()))
        })
        .collect::<Option<Vec<_>>>()?;
    Some(Due {
        document: document.to_string(),
        role: role.parse().ok()?,
        settings,
    })
}

pub fn count() {
    shmem::stats().revalidations.fetch_add(1, Ordering::Relaxed);
}

#[cfg(any(test, feature = "pg_test"))]
#[pgrx::pg_schema]
mod tests {
    use super::*;
    use pgrx::prelude::*;

    /// The worker recomputes an entry with the settings read back from its key: every setting
    /// in the key must come back with the value the session had.
    #[pg_test]
    fn key_settings_read_back_as_set() {
        Spi::run(
            "SET LOCAL DateStyle = 'SQL, DMY'; SET LOCAL TimeZone = 'Asia/Kolkata';
             SET LOCAL search_path = pg_catalog, \"$user\", public; SET LOCAL extra_float_digits = 1;
             SET LOCAL IntervalStyle = 'sql_standard'; SET LOCAL bytea_output = 'escape';
             SET LOCAL row_security = off",
        )
        .unwrap();
        let key = super::super::key::key(r#"{"source":"t"}"#);
        let due = parse_key(&key.bytes).expect("a key without temporary tables parses");
        assert_eq!(due.document, r#"{"source":"t"}"#);
        assert_eq!(due.role, crate::pg::fast::user_id().to_u32());
        for (name, value) in &due.settings {
            let shown = Spi::get_one_with_args::<String>(
                "SELECT pg_catalog.current_setting($1)",
                &[name.as_str().into()],
            )
            .unwrap()
            .unwrap();
            assert_eq!(value, &shown, "{name}");
        }
        let names: Vec<&str> = due.settings.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(names, SETTINGS);
        assert!(due
            .settings
            .contains(&("DateStyle".into(), "SQL, DMY".into())));
        assert!(due
            .settings
            .contains(&("TimeZone".into(), "Asia/Kolkata".into())));

        // a backend with temporary tables resolves names the worker cannot: not revalidated
        Spi::run("CREATE TEMP TABLE shadow (x int)").unwrap();
        assert!(parse_key(&super::super::key::key(r#"{"source":"t"}"#).bytes).is_none());
    }
}
