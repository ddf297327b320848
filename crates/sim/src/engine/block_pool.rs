//! The KV block pool: reference counts, an LRU free queue whose blocks keep their hash and
//! stay hit-able until reused, and a hash → block index for the prefix cache
//! (sim-model.md §2.1, §2.8). Every operation is O(1) per block.

use std::collections::HashMap;

/// Index of a block in the pool.
pub type BlockId = u32;

const NIL: u32 = u32::MAX;

/// Fixed-size pool of KV blocks.
#[derive(Debug, Clone)]
pub struct BlockPool {
    ref_count: Vec<u32>,
    /// Hash of the block's content when it is registered in the prefix cache, else 0.
    hash: Vec<u64>,
    prev: Vec<u32>,
    next: Vec<u32>,
    /// Least recently freed block: evicted first.
    head: u32,
    /// Most recently freed block.
    tail: u32,
    num_free: u32,
    cached: HashMap<u64, BlockId>,
    caching: bool,
}

impl BlockPool {
    /// A pool of `num_blocks` free blocks; `caching` enables the prefix cache.
    pub fn new(num_blocks: u32, caching: bool) -> Self {
        let n = num_blocks as usize;
        let mut pool = Self {
            ref_count: vec![0; n],
            hash: vec![0; n],
            prev: vec![NIL; n],
            next: vec![NIL; n],
            head: NIL,
            tail: NIL,
            num_free: 0,
            cached: HashMap::new(),
            caching,
        };
        for b in 0..num_blocks {
            pool.push_free(b);
        }
        pool
    }

    /// Total blocks.
    pub fn num_blocks(&self) -> u32 {
        self.ref_count.len() as u32
    }

    /// Blocks not held by any request (cached or not).
    pub fn num_free(&self) -> u32 {
        self.num_free
    }

    /// Share of blocks held by requests, in `[0, 1]` (`vllm:kv_cache_usage_perc`).
    pub fn usage(&self) -> f64 {
        if self.ref_count.is_empty() {
            return 0.0;
        }
        1.0 - f64::from(self.num_free) / self.ref_count.len() as f64
    }

    /// Whether the prefix cache is on.
    pub fn caching(&self) -> bool {
        self.caching
    }

    /// The cached blocks holding the longest prefix of `hashes`, in order.
    pub fn cached_prefix(&self, hashes: &[u64]) -> Vec<BlockId> {
        if !self.caching {
            return Vec::new();
        }
        hashes
            .iter()
            .map_while(|h| self.cached.get(h).copied())
            .collect()
    }

    /// How many of `blocks` sit in the free queue (taking them would use free capacity).
    pub fn count_free(&self, blocks: &[BlockId]) -> u32 {
        blocks
            .iter()
            .filter(|&&b| self.ref_count[b as usize] == 0)
            .count() as u32
    }

    /// Share cached blocks with one more request, taking free ones out of the free queue.
    pub fn acquire(&mut self, blocks: &[BlockId]) {
        for &b in blocks {
            if self.ref_count[b as usize] == 0 {
                self.unlink(b);
            }
            self.ref_count[b as usize] += 1;
        }
    }

    /// Take `n` blocks from the front of the free queue, evicting their cached content.
    /// Returns `false` (and takes nothing) when fewer than `n` are free.
    pub fn allocate(&mut self, n: u32, out: &mut Vec<BlockId>) -> bool {
        if n > self.num_free {
            return false;
        }
        for _ in 0..n {
            let b = self.head;
            self.unlink(b);
            self.evict(b);
            self.ref_count[b as usize] = 1;
            out.push(b);
        }
        true
    }

    /// Release one reference to each block, last block first, so a request's tail is
    /// evicted before its head (as vLLM does).
    pub fn free(&mut self, blocks: &[BlockId]) {
        for &b in blocks.iter().rev() {
            let rc = &mut self.ref_count[b as usize];
            debug_assert!(*rc > 0, "block {b} freed twice");
            *rc -= 1;
            if *rc == 0 {
                self.push_free(b);
            }
        }
    }

    /// Register a full block's content hash so later requests can hit it. A hash already
    /// held by another block is left alone (the duplicate is not cached).
    pub fn register(&mut self, block: BlockId, hash: u64) {
        if !self.caching || self.hash[block as usize] != 0 {
            return;
        }
        if let std::collections::hash_map::Entry::Vacant(slot) = self.cached.entry(hash) {
            slot.insert(block);
            self.hash[block as usize] = hash;
        }
    }

    /// Forget every cached hash; returns how many were dropped.
    pub fn reset_prefix_cache(&mut self) -> usize {
        let dropped = self.cached.len();
        for &b in self.cached.values() {
            self.hash[b as usize] = 0;
        }
        self.cached.clear();
        dropped
    }

    /// Number of blocks registered in the prefix cache.
    pub fn num_cached(&self) -> usize {
        self.cached.len()
    }

    fn evict(&mut self, b: BlockId) {
        let h = std::mem::take(&mut self.hash[b as usize]);
        if h != 0 && self.cached.get(&h) == Some(&b) {
            self.cached.remove(&h);
        }
    }

    fn push_free(&mut self, b: BlockId) {
        let i = b as usize;
        self.prev[i] = self.tail;
        self.next[i] = NIL;
        if self.tail == NIL {
            self.head = b;
        } else {
            self.next[self.tail as usize] = b;
        }
        self.tail = b;
        self.num_free += 1;
    }

    fn unlink(&mut self, b: BlockId) {
        let i = b as usize;
        let (p, n) = (self.prev[i], self.next[i]);
        if p == NIL {
            self.head = n;
        } else {
            self.next[p as usize] = n;
        }
        if n == NIL {
            self.tail = p;
        } else {
            self.prev[n as usize] = p;
        }
        self.prev[i] = NIL;
        self.next[i] = NIL;
        self.num_free -= 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn allocate_and_free_track_usage() {
        let mut pool = BlockPool::new(4, true);
        let mut got = Vec::new();
        assert!(pool.allocate(3, &mut got));
        assert_eq!(got, [0, 1, 2]);
        assert_eq!(pool.num_free(), 1);
        assert!((pool.usage() - 0.75).abs() < 1e-12);
        assert!(!pool.allocate(2, &mut got), "only one block left");
        assert_eq!(got.len(), 3, "a failed allocation takes nothing");
        pool.free(&got);
        assert_eq!(pool.num_free(), 4);
        assert_eq!(pool.usage(), 0.0);
    }

    #[test]
    fn freed_blocks_stay_hitable_until_evicted_lru_first() {
        let mut pool = BlockPool::new(3, true);
        let mut a = Vec::new();
        pool.allocate(2, &mut a);
        pool.register(a[0], 11);
        pool.register(a[1], 22);
        pool.free(&a);
        assert_eq!(pool.cached_prefix(&[11, 22, 33]), a);
        // Free queue order: the never-used block 2, then a[1] (tail freed first), then a[0].
        let mut b = Vec::new();
        pool.allocate(2, &mut b);
        assert_eq!(b, [2, a[1]]);
        assert_eq!(
            pool.cached_prefix(&[11, 22]),
            [a[0]],
            "block 22 was evicted"
        );
    }

    #[test]
    fn acquire_shares_and_removes_from_free_queue() {
        let mut pool = BlockPool::new(2, true);
        let mut a = Vec::new();
        pool.allocate(1, &mut a);
        pool.register(a[0], 5);
        pool.free(&a);
        let hit = pool.cached_prefix(&[5]);
        assert_eq!(pool.count_free(&hit), 1);
        pool.acquire(&hit);
        pool.acquire(&hit);
        assert_eq!(pool.num_free(), 1);
        pool.free(&hit);
        assert_eq!(pool.num_free(), 1, "still shared by one holder");
        pool.free(&hit);
        assert_eq!(pool.num_free(), 2);
    }

    #[test]
    fn caching_off_never_hits_and_reset_empties() {
        let mut off = BlockPool::new(2, false);
        let mut a = Vec::new();
        off.allocate(1, &mut a);
        off.register(a[0], 9);
        assert!(off.cached_prefix(&[9]).is_empty());

        let mut on = BlockPool::new(2, true);
        let mut b = Vec::new();
        on.allocate(2, &mut b);
        on.register(b[0], 1);
        on.register(b[1], 1); // duplicate content: not cached twice
        assert_eq!(on.num_cached(), 1);
        assert_eq!(on.reset_prefix_cache(), 1);
        assert!(on.cached_prefix(&[1]).is_empty());
    }
}
