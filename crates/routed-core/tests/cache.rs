//! The cache's store, ring and staleness rule, on ordinary memory.

use proptest::prelude::*;
use routed_core::cache::entry::{EntryMeta, StoredAnswer, StoredAnswerRef, RELATIVE, TRACKED};
use routed_core::cache::ring::{Change, Ring};
use routed_core::cache::store::{Dims, NotStored, Partition, READY};
use routed_core::cache::Key;
use std::collections::HashMap;

fn memory(bytes: usize) -> Vec<u64> {
    vec![0u64; bytes / 8 + 1]
}

fn partition(mem: &mut [u64], dims: Dims) -> Partition {
    // SAFETY: callers size `mem` with memory(dims.bytes()), 8-byte aligned, and keep it alive
    // as long as the partition.
    unsafe { Partition::init(mem.as_mut_ptr() as *mut u8, dims) }
}

fn meta(cost_us: u64) -> EntryMeta {
    EntryMeta {
        cost_us,
        stale_since_us: i64::MAX,
        flags: TRACKED,
        ..Default::default()
    }
}

fn put(p: &mut Partition, key: &Key, value: &[u8], cost_us: u64) -> Result<u32, NotStored> {
    let (slot, _) = p.claim(key.hash, key.hash2, 1).expect("a slot");
    p.fill(slot, &key.bytes, value, meta(cost_us))
}

fn get(p: &Partition, key: &Key) -> Option<Vec<u8>> {
    let slot = p.find(key.hash, key.hash2, &key.bytes, false)?;
    let mut out = Vec::new();
    p.read_value(slot, &mut out);
    Some(out)
}

#[test]
fn stored_answers_read_back_across_blocks() {
    let dims = Dims::for_bytes(256 * 1024);
    let mut mem = memory(dims.bytes());
    let mut p = partition(&mut mem, dims);
    let long: Vec<u8> = (0..5000u32).map(|i| (i % 251) as u8).collect();
    for (i, len) in [0usize, 1, 511, 512, 513, 5000].iter().enumerate() {
        let key = Key::new(&format!("doc{i}"), &["db", "role"]);
        put(&mut p, &key, &long[..*len], 10).unwrap();
        assert_eq!(get(&p, &key).unwrap(), &long[..*len]);
    }
    assert_eq!(p.entries(), 6);
    // same document, other context: a different entry
    assert!(get(&p, &Key::new("doc0", &["db", "other role"])).is_none());
}

#[test]
fn a_filling_slot_is_found_by_hash_and_released_on_remove() {
    let dims = Dims::for_bytes(64 * 1024);
    let mut mem = memory(dims.bytes());
    let mut p = partition(&mut mem, dims);
    let key = Key::new("doc", &[]);
    let (slot, _) = p.claim(key.hash, key.hash2, 42).unwrap();
    assert_eq!(p.find(key.hash, key.hash2, &key.bytes, true), Some(slot));
    assert_eq!(p.find(key.hash, key.hash2, &key.bytes, false), None);
    assert_eq!(p.slot(slot).filler, 42);
    p.remove(slot);
    assert_eq!(p.find(key.hash, key.hash2, &key.bytes, true), None);
    assert_eq!(p.used_bytes(), 0);
}

#[test]
fn too_large_is_refused_and_leaves_nothing_behind() {
    let dims = Dims::for_bytes(32 * 1024);
    let mut mem = memory(dims.bytes());
    let mut p = partition(&mut mem, dims);
    let key = Key::new("big", &[]);
    let huge = vec![7u8; dims.capacity_bytes()];
    assert_eq!(put(&mut p, &key, &huge, 1), Err(NotStored::TooLarge));
    assert_eq!(p.entries(), 0);
    assert_eq!(p.used_bytes(), 0);
    assert!(p.find(key.hash, key.hash2, &key.bytes, true).is_none());
}

#[test]
fn a_full_partition_evicts_cold_cheap_entries_before_hot_or_costly_ones() {
    let dims = Dims::for_bytes(64 * 1024);
    let mut mem = memory(dims.bytes());
    let mut p = partition(&mut mem, dims);
    let value = vec![1u8; 1000]; // two blocks each
    let hot = Key::new("hot", &[]);
    let costly = Key::new("costly", &[]);
    put(&mut p, &hot, &value, 10).unwrap();
    put(&mut p, &costly, &value, 5_000_000).unwrap();
    let mut evicted = 0;
    for i in 0..(dims.nblocks * 2) {
        // the dashboard keeps reading `hot`
        let s = p.find(hot.hash, hot.hash2, &hot.bytes, false).unwrap();
        p.touch(s);
        let k = Key::new(&format!("cold{i}"), &[]);
        let (slot, e1) = p.claim(k.hash, k.hash2, 1).unwrap();
        evicted += e1 + p.fill(slot, &k.bytes, &value, meta(10)).unwrap();
    }
    assert!(evicted > 0);
    assert!(get(&p, &hot).is_some(), "hot entry evicted");
    assert!(get(&p, &costly).is_some(), "costly entry evicted");
    assert!(p.used_bytes() <= dims.capacity_bytes());
}

#[derive(Clone, Debug)]
enum Op {
    Put(u8, usize),
    Remove(u8),
}

proptest! {
    /// Whatever the sequence of stores and removals, every key still present reads back exactly
    /// what was stored last; the store never holds more than its capacity.
    #[test]
    fn the_store_agrees_with_a_map(ops in proptest::collection::vec(
        prop_oneof![
            (0u8..40, 0usize..3000).prop_map(|(k, n)| Op::Put(k, n)),
            (0u8..40).prop_map(Op::Remove),
        ], 1..300)) {
        let dims = Dims::for_bytes(48 * 1024);
        let mut mem = memory(dims.bytes());
        let mut p = partition(&mut mem, dims);
        let mut model: HashMap<u8, Vec<u8>> = HashMap::new();
        for op in ops {
            match op {
                Op::Put(k, n) => {
                    let key = Key::new(&format!("k{k}"), &[]);
                    if let Some(s) = p.find(key.hash, key.hash2, &key.bytes, false) {
                        p.remove(s);
                    }
                    model.remove(&k);
                    let value: Vec<u8> = (0..n).map(|i| (i as u8).wrapping_mul(k)).collect();
                    if put(&mut p, &key, &value, n as u64).is_ok() {
                        model.insert(k, value);
                    }
                }
                Op::Remove(k) => {
                    let key = Key::new(&format!("k{k}"), &[]);
                    if let Some(s) = p.find(key.hash, key.hash2, &key.bytes, false) {
                        p.remove(s);
                    }
                    model.remove(&k);
                }
            }
            // evicted keys are gone from the store; present ones are exact
            for k in 0u8..40 {
                let key = Key::new(&format!("k{k}"), &[]);
                if let Some(v) = get(&p, &key) {
                    prop_assert_eq!(Some(&v), model.get(&k));
                }
            }
            let ready = (0..p.nslots()).filter(|&i| p.slot(i).state.load(std::sync::atomic::Ordering::Relaxed) == READY).count();
            prop_assert_eq!(ready as u32, p.entries());
            prop_assert!(p.used_bytes() <= dims.capacity_bytes());
        }
    }
}

fn ring(capacity: u64) -> (Vec<u64>, Ring) {
    let mut mem = memory(Ring::bytes(capacity));
    // SAFETY: mem holds Ring::bytes(capacity), 8-byte aligned, returned beside the ring so it
    // lives as long as the ring.
    let r = unsafe { Ring::init(mem.as_mut_ptr() as *mut u8, capacity) };
    (mem, r)
}

fn change(rel: u32, lo: i64, hi: i64, at: i64) -> Change {
    Change {
        db: 1,
        rel,
        lo,
        hi,
        commit_us: at,
        published_us: at,
    }
}

#[test]
fn ring_positions_follow_publication_time() {
    let (_mem, mut r) = ring(4);
    assert_eq!(r.position_since(100), Some(0));
    r.publish(change(7, 0, 10, 100));
    r.publish(change(7, 0, 10, 200));
    // a reader whose snapshot is after 150 saw the first change; the second may be missing
    assert_eq!(r.position_since(150), Some(1));
    assert_eq!(r.position_since(250), Some(2));
    assert_eq!(r.position_since(50), Some(0));
    // a clock stepping back does not reorder publication times
    r.publish(change(7, 0, 10, 180));
    assert_eq!(r.position_since(190), Some(1));
    let mut seen = Vec::new();
    assert_eq!(r.scan(1, |c| seen.push(c.published_us)), (3, false));
    assert_eq!(seen, vec![200, 200]);
}

#[test]
fn a_wrapped_ring_reports_lost_changes() {
    let (_mem, mut r) = ring(2);
    for t in 1..=5 {
        r.publish(change(7, 0, 10, t * 100));
    }
    assert!(r.lost_since(1));
    assert!(!r.lost_since(3));
    let mut n = 0;
    assert_eq!(r.scan(0, |_| n += 1), (5, true));
    assert_eq!(n, 2);
    // a snapshot older than everything the ring still holds cannot be placed
    assert_eq!(r.position_since(50), None);
    assert_eq!(r.position_since(450), Some(4));
}

#[test]
fn staleness_follows_the_spec() {
    let m = EntryMeta {
        db: 1,
        source: 7,
        from_us: 1000,
        to_us: 2000,
        as_of_us: 5000,
        stale_since_us: i64::MAX,
        flags: TRACKED,
        ..Default::default()
    };
    // absolute range, no change: exact whatever its age
    assert_eq!(m.staleness(i64::MAX, false, 1_000_000), 0);
    // changes outside the range or of other relations or databases do not touch it
    assert!(!m.touched_by(1, 7, 2000, 3000));
    assert!(!m.touched_by(1, 8, 1500, 1500));
    assert!(!m.touched_by(2, 7, 1500, 1500));
    assert!(m.touched_by(1, 7, 1999, 5000));
    assert!(m.touched_by(1, 0, i64::MIN, i64::MAX));
    // a change inside: stale since its commit
    assert_eq!(m.staleness(6000, false, 9000), 3000);
    // relative range or untracked source: stale since as_of
    let rel = EntryMeta {
        flags: TRACKED | RELATIVE,
        ..m
    };
    assert_eq!(rel.staleness(i64::MAX, false, 9000), 4000);
    let untracked = EntryMeta { flags: 0, ..m };
    assert_eq!(untracked.staleness(i64::MAX, false, 9000), 4000);
    // lost changes: conservative, stale since as_of
    assert_eq!(m.staleness(i64::MAX, true, 9000), 4000);
    // already stale at fill
    let served_stale = EntryMeta {
        stale_since_us: 4000,
        ..m
    };
    assert_eq!(served_stale.staleness(6000, false, 9000), 5000);
    // never reported as 0 once stale
    assert_eq!(m.staleness(9000, false, 9000), 1);
}

#[test]
fn stored_answers_round_trip() {
    for a in [
        StoredAnswer::default(),
        StoredAnswer {
            body: vec![1, 2, 3, 0, 255],
            source: "rollup".into(),
            rollup: Some("metrics_hourly".into()),
            approximate: true,
            fingerprint: "abc".into(),
        },
    ] {
        let bytes = a.encode();
        assert_eq!(StoredAnswer::decode(&bytes), Some(a.clone()));
        assert_eq!(StoredAnswerRef::decode(&bytes), Some(a.as_ref()));
    }
    assert_eq!(StoredAnswer::decode(&[1, 0]), None);
    // a length running past the end, and text that is not UTF-8, are refused
    let mut bytes = StoredAnswer::default().encode();
    bytes[0] = 200;
    assert_eq!(StoredAnswerRef::decode(&bytes), None);
    let mut bad = StoredAnswer {
        source: "x".into(),
        ..Default::default()
    }
    .encode();
    bad[8] = 0xff;
    assert_eq!(StoredAnswerRef::decode(&bad), None);
}
