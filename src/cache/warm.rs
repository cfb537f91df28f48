//! Warm after a restart: the cache is memory, so a restart empties it. When the background
//! worker of a database stops at a clean shutdown (SIGTERM), it saves the keys of the database's
//! most valuable entries (hits × what computing them cost, up to `routed.warm_entries`) to a file
//! in the data directory; when it starts, it takes that file (deleting it, so a crash later
//! never replays an old list) and recomputes each entry as the role and with the settings of its
//! key, before dashboards ask. A crash kills the worker without SIGTERM: nothing is saved.

use super::revalidate::{parse_key, Due};
use super::shmem;
use std::io::Write;
use std::sync::atomic::Ordering;

/// Keys longer than this are not saved (documents of realistic size are far shorter).
const MAX_KEY_BYTES: usize = 64 * 1024;

fn path(db: u32) -> String {
    // backends run in the data directory
    format!("pg_routed_warm.{db}")
}

/// Keys of this database's entries the worker could recompute, most valuable first.
fn hot(db: u32, max: usize) -> Vec<Vec<u8>> {
    let mut found: Vec<(u128, Vec<u8>)> = Vec::new();
    for part in 0..shmem::PARTITIONS {
        let _lock = shmem::lock_partition(part, false);
        let p = shmem::partition(part);
        for i in 0..p.nslots() {
            let s = p.slot(i);
            if s.state.load(Ordering::Acquire) != routed_core::cache::store::READY
                || s.meta.db != db
            {
                continue;
            }
            let key = p.key(i);
            if key.len() <= MAX_KEY_BYTES && parse_key(&key).is_some() {
                let hits = s.hits.load(Ordering::Relaxed) as u128 + 1;
                found.push((hits * (s.meta.cost_us as u128 + 1), key));
            }
        }
    }
    found.sort_by_key(|f| std::cmp::Reverse(f.0));
    found.into_iter().take(max).map(|(_, k)| k).collect()
}

/// Saves the keys of the database's most valuable entries (at the worker's clean exit).
pub fn save(db: u32, max: usize) -> std::io::Result<usize> {
    if !shmem::available() || max == 0 {
        return Ok(0);
    }
    let keys = hot(db, max);
    let tmp = format!("{}.tmp", path(db));
    let mut f = std::fs::File::create(&tmp)?;
    for k in &keys {
        f.write_all(&(k.len() as u32).to_le_bytes())?;
        f.write_all(k)?;
    }
    f.sync_all()?;
    std::fs::rename(&tmp, path(db))?;
    Ok(keys.len())
}

/// Takes the saved keys (the file is deleted first): what to recompute at the worker's start.
pub fn take_saved(db: u32) -> Vec<Due> {
    let Ok(bytes) = std::fs::read(path(db)) else {
        return Vec::new();
    };
    let _ = std::fs::remove_file(path(db));
    let mut due = Vec::new();
    let mut rest = &bytes[..];
    while rest.len() >= 4 {
        let len = u32::from_le_bytes([rest[0], rest[1], rest[2], rest[3]]) as usize;
        if len > MAX_KEY_BYTES || rest.len() < 4 + len {
            break; // a torn file: keep what was whole
        }
        if let Some(d) = parse_key(&rest[4..4 + len]) {
            due.push(d);
        }
        rest = &rest[4 + len..];
    }
    due
}
