//! The ready set: tasks that may be polled, in the order they became ready.
//!
//! Invariants this module owns:
//! - iteration order is FIFO (the order of `push`), so index 0 is asyncio's choice and a
//!   scheduler decision "index k" means "the k-th oldest ready task";
//! - `remove_nth(k)` costs O(log n) for any k, so a random choice among 10,000 ready tasks
//!   is as cheap as a FIFO pop.
//!
//! Up to [`SMALL`] entries live in a `VecDeque` (a removal moves at most a few dozen
//! words, cheaper than any tree). Past that the queue switches to a [`Fenwick`] layout:
//! entries live at increasing logical positions, removing one leaves a hole, and a
//! Fenwick tree over the positions counts live entries, which turns "the k-th live
//! entry" into a binary descent. When the positions run out it compacts itself. It
//! switches back when it drains.

/// A hole left by a removed entry.
const VACANT: u32 = u32::MAX;

/// Ready sets up to this size use the plain `VecDeque` layout.
const SMALL: usize = 64;

/// A FIFO-ordered set of task indices with O(log n) removal by rank.
#[derive(Debug, Default)]
pub(crate) struct ReadyQueue {
    small: std::collections::VecDeque<u32>,
    large: Fenwick,
    /// Whether entries live in `large` (else in `small`).
    is_large: bool,
}

impl ReadyQueue {
    /// Number of ready tasks.
    pub(crate) fn len(&self) -> usize {
        if self.is_large {
            self.large.len
        } else {
            self.small.len()
        }
    }

    /// Empties the queue, keeping its allocations.
    pub(crate) fn clear(&mut self) {
        self.small.clear();
        self.large.clear();
        self.is_large = false;
    }

    /// Appends a task at the back.
    pub(crate) fn push(&mut self, task: u32) {
        if self.is_large {
            self.large.push(task);
        } else if self.small.len() < SMALL {
            self.small.push_back(task);
        } else {
            self.is_large = true;
            for t in self.small.drain(..) {
                self.large.push(t);
            }
            self.large.push(task);
        }
    }

    /// Removes and returns the `k`-th oldest entry (`k < len`).
    pub(crate) fn remove_nth(&mut self, k: usize) -> u32 {
        if !self.is_large {
            return self.small.remove(k).unwrap_or_else(|| {
                panic!("ready index {k} out of range ({} ready)", self.small.len())
            });
        }
        let task = self.large.remove_nth(k);
        if self.large.len == 0 {
            self.is_large = false;
        }
        task
    }

    /// Removes `task` wherever it is; returns whether it was there. O(n): used by abort.
    pub(crate) fn remove(&mut self, task: u32) -> bool {
        if self.is_large {
            return self.large.remove(task);
        }
        match self.small.iter().position(|&t| t == task) {
            Some(k) => {
                self.small.remove(k);
                true
            }
            None => false,
        }
    }

    /// The live entries, oldest first.
    pub(crate) fn iter(&self) -> impl Iterator<Item = u32> + '_ {
        let large = self
            .is_large
            .then(|| self.large.iter())
            .into_iter()
            .flatten();
        let small = (!self.is_large)
            .then(|| self.small.iter().copied())
            .into_iter()
            .flatten();
        small.chain(large)
    }
}

/// The large layout: positions with holes, counted by a Fenwick tree.
#[derive(Debug, Default)]
struct Fenwick {
    /// Task index at each logical position, or `VACANT`.
    slots: Vec<u32>,
    /// Fenwick tree (1-based) over `slots`: `tree[i]` counts live entries in a range.
    tree: Vec<u32>,
    /// All positions before `head` are vacant.
    head: usize,
    /// Live entries.
    len: usize,
}

impl Fenwick {
    fn clear(&mut self) {
        self.slots.clear();
        self.tree.iter_mut().for_each(|c| *c = 0);
        self.head = 0;
        self.len = 0;
    }

    fn push(&mut self, task: u32) {
        debug_assert_ne!(task, VACANT);
        if self.slots.len() == self.tree.len() {
            self.compact();
        }
        let pos = self.slots.len();
        self.slots.push(task);
        self.add(pos, 1);
        self.len += 1;
    }

    fn remove_nth(&mut self, k: usize) -> u32 {
        assert!(
            k < self.len,
            "ready index {k} out of range ({} ready)",
            self.len
        );
        let pos = if k == 0 {
            while self.slots[self.head] == VACANT {
                self.head += 1;
            }
            self.head
        } else {
            self.find(k)
        };
        self.take(pos)
    }

    fn remove(&mut self, task: u32) -> bool {
        match self.slots[self.head..].iter().position(|&t| t == task) {
            Some(offset) => {
                self.take(self.head + offset);
                true
            }
            None => false,
        }
    }

    fn iter(&self) -> impl Iterator<Item = u32> + '_ {
        self.slots[self.head..]
            .iter()
            .copied()
            .filter(|&t| t != VACANT)
    }

    fn take(&mut self, pos: usize) -> u32 {
        let task = std::mem::replace(&mut self.slots[pos], VACANT);
        debug_assert_ne!(task, VACANT);
        self.add(pos, u32::MAX); // wrapping -1
        self.len -= 1;
        if self.len == 0 {
            // Cheap reset keeps positions small in the common "drain then refill" pattern.
            self.clear_tree_prefix();
        }
        task
    }

    /// Adds `delta` (wrapping) at `pos`.
    fn add(&mut self, pos: usize, delta: u32) {
        let mut i = pos + 1;
        while i <= self.tree.len() {
            self.tree[i - 1] = self.tree[i - 1].wrapping_add(delta);
            i += i & i.wrapping_neg();
        }
    }

    /// Position of the live entry with `k` live entries before it.
    fn find(&self, k: usize) -> usize {
        let mut remaining = k as u32 + 1;
        let mut pos = 0;
        let mut step = self.tree.len().next_power_of_two();
        while step > 0 {
            let next = pos + step;
            if next <= self.tree.len() && self.tree[next - 1] < remaining {
                pos = next;
                remaining -= self.tree[next - 1];
            }
            step >>= 1;
        }
        pos // 0-based position of the k-th live entry
    }

    /// All entries were removed: every count is already zero, so only positions reset.
    fn clear_tree_prefix(&mut self) {
        self.slots.clear();
        self.head = 0;
    }

    /// Moves the live entries to the front and rebuilds the tree with room to grow.
    fn compact(&mut self) {
        let mut live = 0;
        for pos in self.head..self.slots.len() {
            let task = self.slots[pos];
            if task != VACANT {
                self.slots[live] = task;
                live += 1;
            }
        }
        self.slots.truncate(live);
        self.head = 0;
        let capacity = (live * 2).max(32);
        self.tree.clear();
        self.tree.resize(capacity, 0);
        // Linear Fenwick construction.
        for i in 1..=capacity {
            if i <= live {
                self.tree[i - 1] += 1;
            }
            let parent = i + (i & i.wrapping_neg());
            if parent <= capacity {
                let count = self.tree[i - 1];
                self.tree[parent - 1] += count;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::ReadyQueue;

    /// A plain `Vec` is the model: the queue must agree with it on every operation.
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
        for _ in 0..20_000 {
            let roll = next() % 10;
            if roll < 5 || model.is_empty() {
                queue.push(fresh);
                model.push(fresh);
                fresh += 1;
            } else if roll < 9 {
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
        for round in 0..3 {
            for t in 0..100 {
                queue.push(t + round);
            }
            assert_eq!(queue.remove_nth(99), 99 + round);
            for t in 0..99 {
                assert_eq!(queue.remove_nth(0), t + round);
            }
            assert_eq!(queue.len(), 0);
        }
    }
}
