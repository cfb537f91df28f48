//! One partition of the result cache, laid out in a caller-provided block of (shared) memory:
//! slots indexed by a chained hash table, and answer bytes in fixed-size blocks chained per
//! entry, so memory never fragments and a full partition evicts instead of failing.
//!
//! Locking belongs to the caller: lookups and reads under a shared lock, everything that takes
//! `&mut self` under an exclusive one. Fields a reader may update under a shared lock (hit
//! counts, eviction credit, what the change ring said) are atomics.
//!
//! Eviction is CLOCK with credit: an entry starts with credit for how costly it was to compute,
//! each hit adds that credit again (capped), and the hand takes one away per pass; entries at
//! zero go first. Hot entries and costly entries both survive sweeps; cold cheap ones do not.

use super::entry::EntryMeta;
use std::sync::atomic::{AtomicI64, AtomicU32, AtomicU64, Ordering};

pub const BLOCK_SIZE: usize = 512;
const NIL: i32 = -1;
const MAX_CREDIT: u32 = 16;

pub const FREE: u32 = 0;
pub const FILLING: u32 = 1;
pub const READY: u32 = 2;

#[repr(C)]
pub struct Slot {
    pub state: AtomicU32,
    /// The pid of the backend filling a FILLING slot.
    pub filler: i32,
    pub hash: u64,
    pub hash2: u64,
    next: i32,
    first_block: i32,
    nblocks: u32,
    key_len: u32,
    value_len: u32,
    credit: AtomicU32,
    pub hits: AtomicU64,
    /// Change-ring position up to which changes were compared with this entry.
    pub checked_upto: AtomicU64,
    /// Commit time of the first change found inside the entry's range (i64::MAX: none).
    pub first_change_us: AtomicI64,
    /// Set when a stale-within-budget hit asks the worker to recompute this entry.
    pub revalidate: AtomicU32,
    pub meta: EntryMeta,
}

#[repr(C)]
struct Header {
    nslots: u32,
    nbuckets: u32,
    nblocks: u32,
    free_slot: i32,
    free_block: i32,
    free_blocks: u32,
    entries: u32,
    hand: u32,
}

/// Sizes of one partition's parts, from the bytes it may use.
#[derive(Clone, Copy, Debug)]
pub struct Dims {
    pub nslots: u32,
    pub nbuckets: u32,
    pub nblocks: u32,
}

impl Dims {
    /// How many slots and blocks fit in `bytes` (one slot per two blocks).
    pub fn for_bytes(bytes: usize) -> Dims {
        let per_block = BLOCK_SIZE + 4 + (std::mem::size_of::<Slot>() + 8) / 2;
        let usable = bytes.saturating_sub(std::mem::size_of::<Header>() + 64);
        let nblocks = (usable / per_block).max(2) as u32;
        let nslots = (nblocks / 2).max(1);
        let nbuckets = nslots.next_power_of_two();
        Dims {
            nslots,
            nbuckets,
            nblocks,
        }
    }

    pub fn bytes(&self) -> usize {
        std::mem::size_of::<Header>()
            + self.nslots as usize * std::mem::size_of::<Slot>()
            + self.nbuckets as usize * 4
            + self.nblocks as usize * 4
            + self.nblocks as usize * BLOCK_SIZE
            + 64
    }

    pub fn capacity_bytes(&self) -> usize {
        self.nblocks as usize * BLOCK_SIZE
    }
}

/// A view of one partition's memory.
pub struct Partition {
    header: *mut Header,
    slots: *mut Slot,
    buckets: *mut i32,
    block_next: *mut i32,
    blocks: *mut u8,
}

/// Why an answer was not stored.
#[derive(Debug, PartialEq, Eq)]
pub enum NotStored {
    /// Larger than the whole partition could ever hold.
    TooLarge,
    /// Everything that could be evicted was, and it still does not fit.
    NoRoom,
}

fn align8(n: usize) -> usize {
    (n + 7) & !7
}

impl Partition {
    /// # Safety
    /// `base` points to at least `dims.bytes()` bytes, 8-aligned, that live as long as the view
    /// and are only used through views of the same dims.
    pub unsafe fn attach(base: *mut u8, dims: Dims) -> Partition {
        let mut off = align8(std::mem::size_of::<Header>());
        let header = base as *mut Header;
        let slots = base.add(off) as *mut Slot;
        off = align8(off + dims.nslots as usize * std::mem::size_of::<Slot>());
        let buckets = base.add(off) as *mut i32;
        off = align8(off + dims.nbuckets as usize * 4);
        let block_next = base.add(off) as *mut i32;
        off = align8(off + dims.nblocks as usize * 4);
        let blocks = base.add(off);
        Partition {
            header,
            slots,
            buckets,
            block_next,
            blocks,
        }
    }

    /// Formats the memory: every slot and block free.
    ///
    /// # Safety
    /// As for `attach`; nobody else may use the memory meanwhile.
    pub unsafe fn init(base: *mut u8, dims: Dims) -> Partition {
        std::ptr::write_bytes(base, 0, dims.bytes());
        let p = Partition::attach(base, dims);
        *p.header = Header {
            nslots: dims.nslots,
            nbuckets: dims.nbuckets,
            nblocks: dims.nblocks,
            free_slot: 0,
            free_block: 0,
            free_blocks: dims.nblocks,
            entries: 0,
            hand: 0,
        };
        for i in 0..dims.nslots {
            let s = &mut *p.slots.add(i as usize);
            s.next = if i + 1 < dims.nslots {
                i as i32 + 1
            } else {
                NIL
            };
        }
        for i in 0..dims.nbuckets {
            *p.buckets.add(i as usize) = NIL;
        }
        for i in 0..dims.nblocks {
            *p.block_next.add(i as usize) = if i + 1 < dims.nblocks {
                i as i32 + 1
            } else {
                NIL
            };
        }
        p
    }

    fn h(&self) -> &Header {
        // SAFETY: header points at the partition's header (Partition::attach's contract).
        unsafe { &*self.header }
    }

    fn hm(&mut self) -> &mut Header {
        // SAFETY: header points at the partition's header; &mut self means the caller holds the
        // exclusive lock.
        unsafe { &mut *self.header }
    }

    pub fn slot(&self, i: u32) -> &Slot {
        // SAFETY: callers pass slot indices below nslots, within the slot array.
        unsafe { &*self.slots.add(i as usize) }
    }

    fn slot_mut(&mut self, i: u32) -> &mut Slot {
        // SAFETY: callers pass slot indices below nslots; &mut self means the exclusive lock is
        // held.
        unsafe { &mut *self.slots.add(i as usize) }
    }

    fn bucket_of(&self, hash: u64) -> *mut i32 {
        // SAFETY: nbuckets is a power of two and the mask keeps the index within the bucket array.
        unsafe {
            self.buckets
                .add((hash & (self.h().nbuckets as u64 - 1)) as usize)
        }
    }

    fn next_block(&self, b: i32) -> i32 {
        // SAFETY: b is a block index taken from a slot's or the free list's chain, below nblocks.
        unsafe { *self.block_next.add(b as usize) }
    }

    pub fn entries(&self) -> u32 {
        self.h().entries
    }

    pub fn used_bytes(&self) -> usize {
        (self.h().nblocks - self.h().free_blocks) as usize * BLOCK_SIZE
    }

    pub fn nslots(&self) -> u32 {
        self.h().nslots
    }

    /// The slot holding `key` (READY), or a FILLING slot with the same hashes (when `filling`).
    pub fn find(&self, hash: u64, hash2: u64, key: &[u8], filling: bool) -> Option<u32> {
        // SAFETY: bucket_of returns a pointer within the bucket array.
        let mut i = unsafe { *self.bucket_of(hash) };
        while i != NIL {
            let s = self.slot(i as u32);
            if s.hash == hash && s.hash2 == hash2 {
                match s.state.load(Ordering::Acquire) {
                    READY if self.key_equals(i as u32, key) => return Some(i as u32),
                    FILLING if filling => return Some(i as u32),
                    _ => {}
                }
            }
            i = s.next;
        }
        None
    }

    fn key_equals(&self, slot: u32, key: &[u8]) -> bool {
        let s = self.slot(slot);
        if s.key_len as usize != key.len() {
            return false;
        }
        let mut same = true;
        self.walk(slot, 0, key.len(), |off, bytes| {
            same &= bytes == &key[off..off + bytes.len()];
        });
        same
    }

    /// Calls `f(offset, bytes)` for the stored bytes `[from, from + len)` of an entry.
    fn walk(&self, slot: u32, from: usize, len: usize, mut f: impl FnMut(usize, &[u8])) {
        let mut b = self.slot(slot).first_block;
        let mut block_start = 0usize;
        let end = from + len;
        while b != NIL && block_start < end {
            let block_end = block_start + BLOCK_SIZE;
            if block_end > from {
                let lo = from.max(block_start);
                let hi = end.min(block_end);
                // SAFETY: block b is below nblocks and lo..hi lies within it (both clamped to the
                // block just above).
                let bytes = unsafe {
                    std::slice::from_raw_parts(
                        self.blocks
                            .add(b as usize * BLOCK_SIZE + (lo - block_start)),
                        hi - lo,
                    )
                };
                f(lo - from, bytes);
            }
            block_start = block_end;
            b = self.next_block(b);
        }
    }

    /// A READY entry's key bytes.
    pub fn key(&self, slot: u32) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.slot(slot).key_len as usize);
        self.walk(slot, 0, self.slot(slot).key_len as usize, |_, b| {
            out.extend_from_slice(b)
        });
        out
    }

    /// Appends a READY entry's answer bytes to `out`.
    pub fn read_value(&self, slot: u32, out: &mut Vec<u8>) {
        let s = self.slot(slot);
        out.reserve(s.value_len as usize);
        self.walk(slot, s.key_len as usize, s.value_len as usize, |_, b| {
            out.extend_from_slice(b)
        });
    }

    /// Counts a hit: the entry earns its credit again.
    pub fn touch(&self, slot: u32) {
        let s = self.slot(slot);
        s.hits.fetch_add(1, Ordering::Relaxed);
        let w = credit_for(s.meta.cost_us);
        let c = s.credit.load(Ordering::Relaxed);
        if c < MAX_CREDIT {
            s.credit.store((c + w).min(MAX_CREDIT), Ordering::Relaxed);
        }
    }
}

mod write;

/// Credit an entry earns per hit: 1 plus log2 of its cost in milliseconds.
fn credit_for(cost_us: u64) -> u32 {
    1 + (64 - (cost_us / 1000).leading_zeros()).min(MAX_CREDIT - 1)
}
