//! The ready set: tasks that may be polled, in the order they became ready.
//!
//! Invariants this module owns:
//! - iteration order is FIFO (the order of `push`), so index 0 is asyncio's choice and a
//!   scheduler decision "index k" means "the k-th oldest ready task";
//! - `push` is O(1) and `remove_nth(k)` costs O(n / BLOCK + BLOCK) for any k, so a
//!   random choice among 10,000 ready tasks costs a few dozen cache-friendly steps.
//!
//! The layout is an unrolled list: a vector of blocks of at most [`BLOCK`] entries,
//! each block a `Vec` (a removal shifts at most a kilobyte, and for the few tasks of a
//! typical test it is a handful of instructions), with the block lengths kept in a
//! contiguous vector for the rank search. Up to `BLOCK` ready tasks (the common case)
//! live in one block. Finding the k-th entry walks the block lengths; removing it
//! shifts the rest of its block. Emptied blocks are recycled, but the last one stays.

/// Entries per block.
const BLOCK: usize = 256;

/// A FIFO-ordered set of task indices with cheap removal by rank.
#[derive(Debug, Default)]
pub(crate) struct ReadyQueue {
    blocks: Vec<Vec<u32>>,
    /// `lens[b] == blocks[b].len()`, contiguous so that finding a rank is a tight scan.
    lens: Vec<u32>,
    len: usize,
    /// Emptied blocks, kept for reuse.
    spare: Vec<Vec<u32>>,
}

impl ReadyQueue {
    /// Number of ready tasks.
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// Empties the queue, keeping its allocations.
    pub(crate) fn clear(&mut self) {
        while let Some(mut block) = self.blocks.pop() {
            block.clear();
            self.spare.push(block);
        }
        self.lens.clear();
        self.len = 0;
    }

    /// Appends a task at the back.
    pub(crate) fn push(&mut self, task: u32) {
        match self.blocks.last_mut() {
            Some(block) if block.len() < BLOCK => {
                block.push(task);
                *self.lens.last_mut().expect("a length per block") += 1;
            }
            _ => {
                let mut block = self
                    .spare
                    .pop()
                    .unwrap_or_else(|| Vec::with_capacity(BLOCK));
                block.push(task);
                self.blocks.push(block);
                self.lens.push(1);
            }
        }
        self.len += 1;
    }

    /// Removes and returns the `k`-th oldest entry (`k < len`).
    pub(crate) fn remove_nth(&mut self, mut k: usize) -> u32 {
        assert!(
            k < self.len,
            "ready index {k} out of range ({} ready)",
            self.len
        );
        let mut b = 0;
        while k >= self.lens[b] as usize {
            k -= self.lens[b] as usize;
            b += 1;
        }
        let task = self.blocks[b].remove(k);
        self.after_removal(b);
        task
    }

    /// Removes `task` wherever it is; returns whether it was there. O(n): used by abort.
    pub(crate) fn remove(&mut self, task: u32) -> bool {
        for b in 0..self.blocks.len() {
            if let Some(k) = self.blocks[b].iter().position(|&t| t == task) {
                self.blocks[b].remove(k);
                self.after_removal(b);
                return true;
            }
        }
        false
    }

    /// The live entries, oldest first.
    pub(crate) fn iter(&self) -> impl Iterator<Item = u32> + '_ {
        self.blocks.iter().flatten().copied()
    }

    fn after_removal(&mut self, b: usize) {
        self.len -= 1;
        self.lens[b] -= 1;
        // An emptied block goes to the spares, unless it is the only one: a queue that
        // drains and refills (every run does) keeps its block in place.
        if self.lens[b] == 0 && self.blocks.len() > 1 {
            self.lens.remove(b);
            self.spare.push(self.blocks.remove(b));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{BLOCK, ReadyQueue};

    /// A plain `Vec` is the model: the queue must agree with it on every operation,
    /// through sizes of many blocks and back to empty.
    #[test]
    fn agrees_with_a_vec_model() {
        let mut queue = ReadyQueue::default();
        let mut model: Vec<u32> = Vec::new();
        let mut state = 0x2545_f491_4f6c_dd1du64;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        let mut fresh = 0;
        for round in 0..40_000 {
            // Grow for a while, then shrink, so sizes sweep 0 ..= several blocks.
            let grow = (round / 5_000) % 2 == 0;
            let roll = next() % 10;
            if model.is_empty() || (grow && roll < 7) || (!grow && roll < 3) {
                queue.push(fresh);
                model.push(fresh);
                fresh += 1;
            } else if roll != 9 {
                let k = (next() % model.len() as u64) as usize;
                assert_eq!(queue.remove_nth(k), model.remove(k));
            } else {
                let k = (next() % model.len() as u64) as usize;
                let task = model.remove(k);
                assert!(queue.remove(task));
                assert!(!queue.remove(task));
            }
            assert_eq!(queue.len(), model.len());
        }
        assert_eq!(queue.iter().collect::<Vec<_>>(), model);
    }

    #[test]
    fn fifo_order_and_reuse_after_drain() {
        let mut queue = ReadyQueue::default();
        let n = 3 * BLOCK as u32 + 7;
        for round in 0..3 {
            for t in 0..n {
                queue.push(t + round);
            }
            assert_eq!(queue.remove_nth(n as usize - 1), n - 1 + round);
            for t in 0..n - 1 {
                assert_eq!(queue.remove_nth(0), t + round);
            }
            assert_eq!(queue.len(), 0);
            assert_eq!(queue.blocks.len(), 1, "a drained queue keeps one block");
        }
        queue.push(1);
        queue.clear();
        assert_eq!(queue.len(), 0);
    }
}
