//! Changing a partition (under the exclusive lock): claiming a slot, filling it, removing
//! entries, and the CLOCK sweep that evicts.

use super::*;

impl Partition {
    /// Takes a slot for a backend about to compute `hash`'s answer (FILLING), evicting if no slot
    /// is free. Returns the slot and how many entries were evicted, or None when every slot is
    /// being filled.
    pub fn claim(&mut self, hash: u64, hash2: u64, filler: i32) -> Option<(u32, u32)> {
        let mut evicted = 0;
        if self.h().free_slot == NIL {
            evicted += self.sweep(|p| p.h().free_slot != NIL, None);
        }
        let i = self.h().free_slot;
        if i == NIL {
            return None;
        }
        let next_free = self.slot(i as u32).next;
        self.hm().free_slot = next_free;
        let bucket = self.bucket_of(hash);
        let s = self.slot_mut(i as u32);
        s.filler = filler;
        s.hash = hash;
        s.hash2 = hash2;
        s.first_block = NIL;
        s.nblocks = 0;
        s.key_len = 0;
        s.value_len = 0;
        // SAFETY: bucket_of returns a pointer within the bucket array; the exclusive lock is held.
        s.next = unsafe { *bucket };
        s.state.store(FILLING, Ordering::Release);
        // SAFETY: bucket_of returns a pointer within the bucket array; the exclusive lock is held.
        unsafe { *bucket = i };
        Some((i as u32, evicted))
    }

    /// Stores the answer in a claimed slot and makes it READY. On failure the slot is released.
    /// Returns how many entries were evicted to make room.
    pub fn fill(
        &mut self,
        slot: u32,
        key: &[u8],
        value: &[u8],
        meta: EntryMeta,
    ) -> Result<u32, NotStored> {
        let total = key.len() + value.len();
        let need = total.div_ceil(BLOCK_SIZE).max(1) as u32;
        if need > self.h().nblocks / 2 {
            self.remove(slot);
            return Err(NotStored::TooLarge);
        }
        let mut evicted = 0;
        if self.h().free_blocks < need {
            evicted = self.sweep(|p| p.h().free_blocks >= need, Some(slot));
            if self.h().free_blocks < need {
                self.remove(slot);
                return Err(NotStored::NoRoom);
            }
        }
        // take `need` blocks off the free list, in order
        let first = self.h().free_block;
        let mut last = first;
        for _ in 1..need {
            last = self.next_block(last);
        }
        let rest = self.next_block(last);
        // SAFETY: last is a block of the free list, below nblocks; the exclusive lock is held.
        unsafe { *self.block_next.add(last as usize) = NIL };
        self.hm().free_block = rest;
        self.hm().free_blocks -= need;
        // copy key then value across the chain
        let mut b = first;
        let mut written = 0usize;
        for part in [key, value] {
            let mut src = part;
            while !src.is_empty() {
                let in_block = written % BLOCK_SIZE;
                let n = src.len().min(BLOCK_SIZE - in_block);
                // SAFETY: the destination is within block `block` (n fits what is left of it),
                // which this fill owns; src has at least n bytes.
                unsafe {
                    std::ptr::copy_nonoverlapping(
                        src.as_ptr(),
                        self.blocks.add(b as usize * BLOCK_SIZE + in_block),
                        n,
                    );
                }
                written += n;
                src = &src[n..];
                if written.is_multiple_of(BLOCK_SIZE) && written < total {
                    b = self.next_block(b);
                }
            }
        }
        let s = self.slot_mut(slot);
        s.first_block = first;
        s.nblocks = need;
        s.key_len = key.len() as u32;
        s.value_len = value.len() as u32;
        s.credit.store(credit_for(meta.cost_us), Ordering::Relaxed);
        s.hits.store(0, Ordering::Relaxed);
        s.checked_upto.store(meta.pos, Ordering::Relaxed);
        s.first_change_us.store(i64::MAX, Ordering::Relaxed);
        s.revalidate.store(0, Ordering::Relaxed);
        s.meta = meta;
        s.state.store(READY, Ordering::Release);
        self.hm().entries += 1;
        Ok(evicted)
    }

    /// Frees a slot (READY or FILLING) and its blocks.
    pub fn remove(&mut self, slot: u32) {
        let (hash, state, first, nblocks) = {
            let s = self.slot(slot);
            (
                s.hash,
                s.state.load(Ordering::Relaxed),
                s.first_block,
                s.nblocks,
            )
        };
        if state == FREE {
            return;
        }
        // unlink from its bucket chain
        let mut link = self.bucket_of(hash);
        // SAFETY: links walk the bucket chain, each within the bucket array or a slot's `next`;
        // the exclusive lock is held.
        unsafe {
            while *link != NIL {
                if *link == slot as i32 {
                    *link = self.slot(slot).next;
                    break;
                }
                link = &mut (*self.slots.add(*link as usize)).next;
            }
        }
        if first != NIL {
            let mut last = first;
            while self.next_block(last) != NIL {
                last = self.next_block(last);
            }
            // SAFETY: last is the entry's last block, below nblocks; the exclusive lock is held.
            unsafe { *self.block_next.add(last as usize) = self.h().free_block };
            self.hm().free_block = first;
            self.hm().free_blocks += nblocks;
        }
        if state == READY {
            self.hm().entries -= 1;
        }
        let free_slot = self.h().free_slot;
        let s = self.slot_mut(slot);
        s.state.store(FREE, Ordering::Release);
        s.first_block = NIL;
        s.nblocks = 0;
        s.next = free_slot;
        self.hm().free_slot = slot as i32;
    }

    /// CLOCK sweep until `enough` holds or every READY entry has been evicted; never evicts
    /// `keep` or FILLING slots. Returns the number evicted.
    fn sweep(&mut self, enough: impl Fn(&Partition) -> bool, keep: Option<u32>) -> u32 {
        let n = self.h().nslots;
        let mut evicted = 0;
        // (MAX_CREDIT + 1) full turns bring every credit to zero
        for _ in 0..(n as u64 * (MAX_CREDIT as u64 + 2)) {
            if enough(self) {
                break;
            }
            let i = self.h().hand;
            self.hm().hand = (i + 1) % n;
            if Some(i) == keep {
                continue;
            }
            let s = self.slot(i);
            if s.state.load(Ordering::Relaxed) != READY {
                continue;
            }
            let c = s.credit.load(Ordering::Relaxed);
            if c == 0 {
                self.remove(i);
                evicted += 1;
            } else {
                s.credit.store(c - 1, Ordering::Relaxed);
            }
        }
        evicted
    }

    /// Removes every READY entry for which `doomed` holds; returns how many.
    pub fn remove_where(&mut self, doomed: impl Fn(&Slot) -> bool) -> u32 {
        let mut n = 0;
        for i in 0..self.h().nslots {
            let s = self.slot(i);
            if s.state.load(Ordering::Relaxed) == READY && doomed(s) {
                self.remove(i);
                n += 1;
            }
        }
        n
    }
}
