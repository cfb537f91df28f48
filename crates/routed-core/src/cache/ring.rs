//! The change ring: committed changes of tracked sources, in publication order, in a fixed
//! circular buffer. Each change is (database, relation, time range, commit time, publication
//! time); relation 0 stands for every relation of the database (DDL, a reset).
//!
//! Writers publish under an exclusive lock, readers scan under a shared one; `head` is also read
//! without the lock so a hit with nothing new to compare takes no lock at all.

use std::sync::atomic::{AtomicU64, Ordering};

#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Change {
    pub db: u32,
    pub rel: u32,
    pub lo: i64,
    pub hi: i64,
    /// When the transaction committed (staleness is measured from here).
    pub commit_us: i64,
    /// When it was published; never decreases along the ring.
    pub published_us: i64,
}

#[repr(C)]
struct Header {
    head: AtomicU64,
    capacity: u64,
}

pub struct Ring {
    header: *mut Header,
    changes: *mut Change,
}

impl Ring {
    pub fn bytes(capacity: u64) -> usize {
        std::mem::size_of::<Header>() + capacity as usize * std::mem::size_of::<Change>()
    }

    /// # Safety
    /// `base` points to `Ring::bytes(capacity)` bytes, 8-aligned, formatted by `init`.
    pub unsafe fn attach(base: *mut u8) -> Ring {
        Ring {
            header: base as *mut Header,
            changes: base.add(std::mem::size_of::<Header>()) as *mut Change,
        }
    }

    /// # Safety
    /// As for `attach`; nobody else uses the memory meanwhile.
    pub unsafe fn init(base: *mut u8, capacity: u64) -> Ring {
        std::ptr::write_bytes(base, 0, Ring::bytes(capacity));
        let r = Ring::attach(base);
        (*r.header).capacity = capacity.max(1);
        r
    }

    fn capacity(&self) -> u64 {
        // SAFETY: header points at the ring's header, valid while the region is (Ring::attach's
        // contract).
        unsafe { (*self.header).capacity }
    }

    /// The position the next change will take (changes so far).
    pub fn head(&self) -> u64 {
        // SAFETY: header points at the ring's header, valid while the region is (Ring::attach's
        // contract).
        unsafe { (*self.header).head.load(Ordering::Acquire) }
    }

    fn at(&self, pos: u64) -> Change {
        // SAFETY: the index is below capacity, within the array Ring::init laid out.
        unsafe { *self.changes.add((pos % self.capacity()) as usize) }
    }

    /// Appends a change (exclusive lock held). Publication times are kept non-decreasing even if
    /// the wall clock steps back, so `position_since` can stop at the first older one.
    pub fn publish(&mut self, mut change: Change) {
        let head = self.head();
        if head > 0 {
            change.published_us = change.published_us.max(self.at(head - 1).published_us);
        }
        // SAFETY: the caller holds the ring lock exclusively; the index is below capacity.
        unsafe {
            *self.changes.add((head % self.capacity()) as usize) = change;
            (*self.header).head.store(head + 1, Ordering::Release);
        }
    }

    /// Whether positions from `pos` on are no longer all in the ring.
    pub fn lost_since(&self, pos: u64) -> bool {
        self.head().saturating_sub(pos) > self.capacity()
    }

    /// Calls `f` for each change at positions `[from, head)` still held (shared lock held);
    /// returns the head it stopped at and whether some were already overwritten.
    pub fn scan(&self, from: u64, mut f: impl FnMut(&Change)) -> (u64, bool) {
        let head = self.head();
        let oldest = head.saturating_sub(self.capacity());
        let lost = from < oldest;
        for pos in from.max(oldest)..head {
            f(&self.at(pos));
        }
        (head, lost)
    }

    /// The first position whose change was published at or after `since_us` (shared lock held):
    /// every change before it was committed, and visible, before `since_us`. None when the ring
    /// no longer reaches back that far.
    pub fn position_since(&self, since_us: i64) -> Option<u64> {
        let head = self.head();
        let oldest = head.saturating_sub(self.capacity());
        let mut pos = head;
        while pos > oldest {
            if self.at(pos - 1).published_us < since_us {
                return Some(pos);
            }
            pos -= 1;
        }
        // nothing older left: fine only if nothing was ever overwritten
        (oldest == 0).then_some(0)
    }
}
