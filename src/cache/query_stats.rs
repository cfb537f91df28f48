//! `routed.query_stats`: per fingerprint, the document, calls, answers by source and by cache
//! outcome, time (mean, approximate p95) and the last staleness served. A fixed table in shared
//! memory updated with atomics only (no lock on the answer path); when it is full, new
//! fingerprints are not recorded.

use crate::pg::time::now_us;
use pgrx::pg_sys;
use routed_core::cache::Outcome;
use std::sync::atomic::{AtomicI64, AtomicU32, AtomicU64, Ordering};

const SLOTS: usize = 1024;
/// A document's canonical text kept up to this many bytes (recommend_rollups re-reads it, so
/// it must hold the dashboards' long documents whole).
const DOC_BYTES: usize = 4096;
/// Four histogram steps per power of two of microseconds, up to 2^28 µs (about 4.5 minutes).
const STEPS: usize = 112;
pub const SOURCES: [&str; 3] = ["base", "rollup", "rollup+base"];

#[repr(C)]
pub struct QueryStat {
    /// The fingerprint mixed with the database (0: free).
    pub key: AtomicU64,
    pub fingerprint: AtomicU64,
    pub db: AtomicU32,
    pub ready: AtomicU32,
    doc_len: u32,
    doc: [u8; DOC_BYTES],
    pub calls: AtomicU64,
    pub by_source: [AtomicU64; 3],
    pub by_outcome: [AtomicU64; 5],
    pub total_us: AtomicU64,
    hist: [AtomicU32; STEPS],
    pub last_staleness_us: AtomicI64,
    pub last_call_us: AtomicI64,
}

#[repr(C)]
struct Table {
    slots: [QueryStat; SLOTS],
}

static mut TABLE: *mut Table = std::ptr::null_mut();

pub fn bytes() -> usize {
    std::mem::size_of::<Table>()
}

/// Attaches (and on first start zeroes) the table; called from the shmem startup hook.
pub unsafe fn attach() {
    // SAFETY: runs in the shmem startup hook under AddinShmemInitLock, before any backend reads
    // TABLE; the region is bytes() long.
    unsafe {
        let mut found = false;
        let t = pg_sys::ShmemInitStruct(c"pg_routed query stats".as_ptr(), bytes(), &mut found)
            as *mut Table;
        if !found {
            std::ptr::write_bytes(t as *mut u8, 0, bytes());
        }
        TABLE = t;
    }
}

fn table() -> Option<&'static Table> {
    // SAFETY: TABLE is set once, before backends fork, to a region valid for the life of the
    // server (or stays NULL).
    unsafe { TABLE.as_ref() }
}

fn step_of(us: u64) -> usize {
    if us < 1 {
        return 0;
    }
    let log = 63 - us.leading_zeros() as usize;
    let frac = if log >= 2 {
        ((us >> (log - 2)) & 3) as usize
    } else {
        0
    };
    (log * 4 + frac).min(STEPS - 1)
}

/// The upper end of a histogram step, in microseconds.
fn step_upper_us(step: usize) -> f64 {
    let (log, frac) = (step / 4, step % 4);
    (1u64 << log) as f64 * (1.0 + (frac as f64 + 1.0) / 4.0)
}

fn slot_for(t: &'static Table, fp: u64, db: u32, doc: &str) -> Option<&'static QueryStat> {
    let key = (fp ^ (u64::from(db)).wrapping_mul(0x9E37_79B9_7F4A_7C15)).max(1);
    for i in 0..SLOTS {
        let s = &t.slots[(key as usize + i) % SLOTS];
        match s.key.load(Ordering::Acquire) {
            k if k == key => return Some(s),
            0 => {
                if s.key
                    .compare_exchange(0, key, Ordering::AcqRel, Ordering::Acquire)
                    .is_ok()
                {
                    s.fingerprint.store(fp, Ordering::Relaxed);
                    s.db.store(db, Ordering::Relaxed);
                    let n = doc.len().min(DOC_BYTES);
                    // the slot is ours alone until `ready` is set
                    // SAFETY: this backend won the compare-exchange on `key`, so no other backend
                    // writes the slot, and none reads doc before `ready` is set (Release below).
                    unsafe {
                        let p = s as *const QueryStat as *mut QueryStat;
                        std::ptr::copy_nonoverlapping(doc.as_ptr(), (*p).doc.as_mut_ptr(), n);
                        (*p).doc_len = n as u32;
                    }
                    s.ready.store(1, Ordering::Release);
                    return Some(s);
                }
                if s.key.load(Ordering::Acquire) == key {
                    return Some(s);
                }
            }
            _ => {}
        }
    }
    None
}

/// The fingerprint (hex text) as the table indexes it.
pub fn fingerprint_key(fingerprint: &str) -> u64 {
    u64::from_str_radix(fingerprint, 16).unwrap_or(1)
}

/// Counts one answer of the document with `fingerprint_key`.
pub fn record(
    fp: u64,
    canonical: &str,
    source: &str,
    outcome: Outcome,
    elapsed_ms: f64,
    staleness_us: i64,
) {
    let Some(t) = table() else { return };
    let db = crate::pg::fast::database_id().to_u32();
    let Some(s) = slot_for(t, fp, db, canonical) else {
        return;
    };
    let us = (elapsed_ms * 1000.0) as u64;
    s.calls.fetch_add(1, Ordering::Relaxed);
    // by source: where computed answers came from (a cache hit's source is the cache)
    let served = matches!(outcome, Outcome::Hit | Outcome::Coalesced);
    if let Some(i) = SOURCES
        .iter()
        .position(|x| *x == source)
        .filter(|_| !served)
    {
        s.by_source[i].fetch_add(1, Ordering::Relaxed);
    }
    s.by_outcome[outcome as usize].fetch_add(1, Ordering::Relaxed);
    s.total_us.fetch_add(us, Ordering::Relaxed);
    s.hist[step_of(us)].fetch_add(1, Ordering::Relaxed);
    s.last_staleness_us.store(staleness_us, Ordering::Relaxed);
    s.last_call_us.store(now_us(), Ordering::Relaxed);
}

/// One row of `routed.query_stats`.
pub struct Row {
    pub db: u32,
    pub fingerprint: String,
    pub document: String,
    pub calls: i64,
    pub by_source: [i64; 3],
    pub by_outcome: [i64; 5],
    pub mean_ms: f64,
    pub p95_ms: f64,
    pub last_staleness_us: i64,
    pub last_call_us: i64,
}

pub fn rows() -> Vec<Row> {
    let Some(t) = table() else { return Vec::new() };
    t.slots
        .iter()
        .filter(|s| s.ready.load(Ordering::Acquire) == 1 && s.calls.load(Ordering::Relaxed) > 0)
        .map(|s| {
            let calls = s.calls.load(Ordering::Relaxed);
            let hist: Vec<u64> = s
                .hist
                .iter()
                .map(|h| u64::from(h.load(Ordering::Relaxed)))
                .collect();
            let total: u64 = hist.iter().sum();
            let mut seen = 0;
            let mut p95 = 0.0;
            for (i, n) in hist.iter().enumerate() {
                seen += n;
                if seen * 100 >= total * 95 && total > 0 {
                    p95 = step_upper_us(i) / 1000.0;
                    break;
                }
            }
            Row {
                db: s.db.load(Ordering::Relaxed),
                fingerprint: format!("{:016x}", s.fingerprint.load(Ordering::Relaxed)),
                document: String::from_utf8_lossy(&s.doc[..s.doc_len as usize]).into_owned(),
                calls: calls as i64,
                by_source: std::array::from_fn(|i| s.by_source[i].load(Ordering::Relaxed) as i64),
                by_outcome: std::array::from_fn(|i| s.by_outcome[i].load(Ordering::Relaxed) as i64),
                mean_ms: s.total_us.load(Ordering::Relaxed) as f64 / calls as f64 / 1000.0,
                p95_ms: p95,
                last_staleness_us: s.last_staleness_us.load(Ordering::Relaxed),
                last_call_us: s.last_call_us.load(Ordering::Relaxed),
            }
        })
        .collect()
}

/// Forgets every fingerprint.
pub fn reset() {
    if let Some(t) = table() {
        for s in &t.slots {
            s.ready.store(0, Ordering::Release);
            s.calls.store(0, Ordering::Relaxed);
            for c in s.by_source.iter().chain(&s.by_outcome) {
                c.store(0, Ordering::Relaxed);
            }
            s.total_us.store(0, Ordering::Relaxed);
            for h in &s.hist {
                h.store(0, Ordering::Relaxed);
            }
            s.key.store(0, Ordering::Release);
        }
    }
}

/// Saves this database's statistics to `path` (the worker, at a clean shutdown), one JSON
/// object per document.
pub fn save(db: u32, path: &str) -> std::io::Result<usize> {
    use std::io::Write;
    let Some(t) = table() else { return Ok(0) };
    let load = |a: &AtomicU64| a.load(Ordering::Relaxed);
    let mut out = Vec::new();
    let mut n = 0;
    for s in t.slots.iter().filter(|s| {
        s.ready.load(Ordering::Acquire) == 1
            && s.db.load(Ordering::Relaxed) == db
            && s.calls.load(Ordering::Relaxed) > 0
    }) {
        let line = serde_json::json!({
            "fingerprint": load(&s.fingerprint),
            "document": String::from_utf8_lossy(&s.doc[..s.doc_len as usize]),
            "calls": load(&s.calls),
            "by_source": s.by_source.iter().map(load).collect::<Vec<_>>(),
            "by_outcome": s.by_outcome.iter().map(load).collect::<Vec<_>>(),
            "total_us": load(&s.total_us),
            "hist": s.hist.iter().map(|h| h.load(Ordering::Relaxed)).collect::<Vec<_>>(),
            "last_staleness_us": s.last_staleness_us.load(Ordering::Relaxed),
            "last_call_us": s.last_call_us.load(Ordering::Relaxed),
        });
        writeln!(out, "{line}")?;
        n += 1;
    }
    let tmp = format!("{path}.tmp");
    let mut f = std::fs::File::create(&tmp)?;
    f.write_all(&out)?;
    f.sync_all()?;
    std::fs::rename(&tmp, path)?;
    Ok(n)
}

/// Adds the statistics saved at `path` to this database's (the worker, at start), then deletes
/// the file, so a later crash never brings back what a clean shutdown saved before it.
pub fn load(db: u32, path: &str) -> usize {
    let Some(t) = table() else { return 0 };
    let Ok(text) = std::fs::read_to_string(path) else {
        return 0;
    };
    let _ = std::fs::remove_file(path);
    let mut n = 0;
    for v in text
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
    {
        let (Some(fp), Some(doc)) = (v["fingerprint"].as_u64(), v["document"].as_str()) else {
            continue;
        };
        let Some(s) = slot_for(t, fp, db, doc) else {
            break;
        };
        let add = |a: &AtomicU64, x: &serde_json::Value| {
            a.fetch_add(x.as_u64().unwrap_or(0), Ordering::Relaxed);
        };
        add(&s.calls, &v["calls"]);
        add(&s.total_us, &v["total_us"]);
        for (a, x) in s
            .by_source
            .iter()
            .zip(v["by_source"].as_array().into_iter().flatten())
        {
            add(a, x);
        }
        for (a, x) in s
            .by_outcome
            .iter()
            .zip(v["by_outcome"].as_array().into_iter().flatten())
        {
            add(a, x);
        }
        for (h, x) in s
            .hist
            .iter()
            .zip(v["hist"].as_array().into_iter().flatten())
        {
            h.fetch_add(x.as_u64().unwrap_or(0) as u32, Ordering::Relaxed);
        }
        s.last_staleness_us.store(
            v["last_staleness_us"].as_i64().unwrap_or(0),
            Ordering::Relaxed,
        );
        s.last_call_us
            .store(v["last_call_us"].as_i64().unwrap_or(0), Ordering::Relaxed);
        n += 1;
    }
    n
}
