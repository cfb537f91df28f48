//! Stale-while-revalidate: a hit served stale but within budget, and older than half of it,
//! flags its entry; the background worker of the entry's database recomputes flagged entries
//! as the role that computed them, with the same settings (both are in the key), so steady
//! dashboards keep hitting answers that stay fresh.

use super::shmem;
use pgrx::pg_sys;
use std::sync::atomic::Ordering;

/// A flagged entry's key parts: (canonical document, role, settings, search_path, TimeZone).
pub struct Due {
    pub document: String,
    pub role: u32,
    pub row_security: bool,
    pub extra_float_digits: String,
    pub interval_style: &'static str,
    pub search_path: String,
    pub time_zone: String,
}

/// Takes the flags of this database's flagged entries (at most `max`).
pub fn take_due(max: usize) -> Vec<Due> {
    if !shmem::available() {
        return Vec::new();
    }
    let db = unsafe { pg_sys::MyDatabaseId }.to_u32();
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

fn parse_key(key: &[u8]) -> Option<Due> {
    let text = std::str::from_utf8(key).ok()?;
    let parts: Vec<&str> = text.split('\0').collect();
    let [document, _db, role, settings, search_path, time_zone] = parts.as_slice() else {
        return None;
    };
    let mut s = settings.split('/');
    let row_security = s.next()? == "1";
    let extra_float_digits = s.next()?.to_string();
    let interval_style = match s.next()? {
        "0" => "postgres",
        "1" => "postgres_verbose",
        "2" => "sql_standard",
        _ => "iso_8601",
    };
    Some(Due {
        document: document.to_string(),
        role: role.parse().ok()?,
        row_security,
        extra_float_digits,
        interval_style,
        search_path: search_path.to_string(),
        time_zone: time_zone.to_string(),
    })
}

pub fn count() {
    shmem::stats().revalidations.fetch_add(1, Ordering::Relaxed);
}
