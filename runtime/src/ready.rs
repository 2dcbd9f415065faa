//! The ready set: tasks that may be polled, in the order they became ready.
//!
//! Invariants this module owns:
//! - iteration order is FIFO (the order of `push`), so index 0 is asyncio's choice and a
//!   scheduler decision "index k" means "the k-th oldest ready task";
//! - every operation is O(log n) or better, whatever the number of ready tasks: `push`
//!   is amortized O(1) plus a tree update, `remove_nth(k)`, `remove(value)` and
//!   `rank(value)` are O(log n), so picking among a million ready tasks costs about as
//!   much as picking among a thousand.
//!
//! # Layout
//! Each push takes the next *position* of a growing array (`entries`), so positions are
//! in FIFO order; a removal leaves a hole. A bitmap (`words`, one bit per position)
//! marks the live positions, and a Fenwick tree (`tree`) over the bitmap's words holds
//! their population counts, so the k-th live position is found by descending the tree
//! (O(log(n / 64))) and then selecting a bit in one word. `position` maps each value
//! back to its position, which makes removal by value and rank queries O(log n).
//!
//! When the array is full, the live entries are packed to the front in order and the
//! array grows to twice their number (at least one word): packing costs O(capacity)
//! and happens at most once per `capacity / 2` pushes, so it is amortized O(1). A queue
//! that drains starts over at position 0 without packing (every run ends this way).
//!
//! Values are small dense integers (slot indices, task id numbers): `position` is a
//! vector indexed by value.

/// Positions per bitmap word.
const WORD: usize = 64;
/// `entries` and `position` marker for "none".
const NONE: u32 = u32::MAX;

/// A FIFO-ordered set of small integers with cheap removal by rank or value, and a
/// hint of type `H` kept beside each (the executor's: where the task's future lives,
/// for prefetching; none by default).
#[derive(Debug, Default, Clone)]
pub(crate) struct ReadyQueue<H = ()> {
    /// The value at each position, `NONE` for a hole; `entries.len() == words.len() * 64`.
    entries: Vec<u32>,
    /// The hint pushed with the value at each position (unspecified at holes and for
    /// values pushed without one), so that one position gives both without a dependent
    /// load. Grown only as far as `push_with` writes: a queue that is never given a
    /// hint never fills or moves this.
    hints: Vec<H>,
    /// Bit `p % 64` of `words[p / 64]` is set when position `p` holds a value.
    words: Vec<u64>,
    /// Fenwick tree over the words' population counts, padded with empty words to a
    /// power of two so that `select` descends it without bounds checks or branches:
    /// `tree[i - 1]` is the sum over
    /// words `i - lowbit(i) .. i` (1-based `i`).
    tree: Vec<u32>,
    /// Position of each value, `NONE` when it is not in the queue.
    position: Vec<u32>,
    /// Every position below `head` is empty.
    head: usize,
    /// The next position to fill.
    tail: usize,
    len: usize,
    /// Removals and repackings so far: a position [`nth_position`](Self::nth_position)
    /// gave still holds the same rank while this count is unchanged (pushes only
    /// append).
    removals: u64,
}

impl<H: Copy + Default> ReadyQueue<H> {
    /// Number of ready tasks.
    #[inline]
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// Empties the queue, keeping its allocations. O(1) when it is already empty.
    pub(crate) fn clear(&mut self) {
        self.removals += 1;
        if self.len == 0 {
            self.head = 0;
            self.tail = 0;
            return;
        }
        for &value in &self.entries[self.head..self.tail] {
            if value != NONE {
                self.position[value as usize] = NONE;
            }
        }
        self.entries[self.head..self.tail].fill(NONE);
        self.words.fill(0);
        self.tree.fill(0);
        self.head = 0;
        self.tail = 0;
        self.len = 0;
    }

    /// Appends `value` at the back, leaving its hint unspecified (whatever the position
    /// held). It must not be in the queue already.
    #[inline(always)]
    pub(crate) fn push(&mut self, value: u32) {
        self.append(value);
    }

    /// Appends `value` at the back with `hint`. It must not be in the queue already.
    #[inline(always)]
    pub(crate) fn push_with(&mut self, value: u32, hint: H) {
        let p = self.append(value);
        if self.hints.len() <= p {
            // Once per packing at most: to the whole array.
            self.hints.resize(self.entries.len(), H::default());
        }
        self.hints[p] = hint;
    }

    /// Appends `value` at the back; returns its position.
    #[inline(always)]
    fn append(&mut self, value: u32) -> usize {
        debug_assert!(value != NONE);
        if self.tail == self.entries.len() {
            self.pack();
        }
        let p = self.tail;
        self.tail += 1;
        self.entries[p] = value;
        self.words[p / WORD] |= 1 << (p % WORD);
        self.tree_add(p / WORD, 1);
        let v = value as usize;
        if self.position.len() <= v {
            self.position.resize(v + 1, NONE);
        }
        debug_assert_eq!(self.position[v], NONE, "value {value} pushed twice");
        self.position[v] = p as u32;
        self.len += 1;
        p
    }

    /// Removes and returns the `k`-th oldest entry (`k < len`).
    #[inline(always)]
    pub(crate) fn remove_nth(&mut self, k: usize) -> u32 {
        assert!(
            k < self.len,
            "ready index {k} out of range ({} ready)",
            self.len
        );
        let p = if k == 0 {
            // FIFO's pick. `head` only moves forward, so the skipped holes cost O(1)
            // amortized.
            let p = self.first_live_from(self.head);
            self.head = p;
            p
        } else {
            self.select(k)
        };
        self.take(p)
    }

    /// The position of the `k`-th oldest entry (`k < len`), for [`value_at`],
    /// [`next_position`] and [`remove_at`]; valid while [`removals`] is unchanged.
    ///
    /// [`value_at`]: Self::value_at
    /// [`next_position`]: Self::next_position
    /// [`remove_at`]: Self::remove_at
    /// [`removals`]: Self::removals
    #[inline]
    pub(crate) fn nth_position(&self, k: usize) -> usize {
        debug_assert!(k < self.len);
        self.select(k)
    }

    /// The position of the next live entry after position `p` (which must exist).
    #[inline]
    pub(crate) fn next_position(&self, p: usize) -> usize {
        self.first_live_from(p + 1)
    }

    /// The first live position at or after `p` (one must exist).
    #[inline(always)]
    fn first_live_from(&self, p: usize) -> usize {
        let mut w = p / WORD;
        let mut word = self.words[w] & (u64::MAX << (p % WORD));
        while word == 0 {
            w += 1;
            word = self.words[w];
        }
        w * WORD + word.trailing_zeros() as usize
    }

    /// The value at live position `p`.
    #[inline]
    pub(crate) fn value_at(&self, p: usize) -> u32 {
        self.entries[p]
    }

    /// The hint pushed with the value at live position `p` (unspecified if it was
    /// pushed without one).
    #[inline]
    pub(crate) fn hint_at(&self, p: usize) -> H {
        self.hints.get(p).copied().unwrap_or_default()
    }

    /// Removes and returns the value at live position `p`.
    #[inline]
    pub(crate) fn remove_at(&mut self, p: usize) -> u32 {
        self.take(p)
    }

    /// How many removals and repackings the queue has seen (see `nth_position`).
    #[inline]
    pub(crate) fn removals(&self) -> u64 {
        self.removals
    }

    /// Removes `value` wherever it is; returns whether it was there.
    pub(crate) fn remove(&mut self, value: u32) -> bool {
        let position = self.position_of(value);
        if let Some(p) = position {
            self.take(p);
        }
        position.is_some()
    }

    /// The last one or two levels of `descend` (`step` is 2, 1 or 0 after its rounds of
    /// three), the same compare and conditional moves; returns the word and the rank left
    /// in it. Inlined: `descend` stays one function for the compiler.
    #[inline(always)]
    fn descend_last_levels(
        tree: &[u32],
        mask: usize,
        step: usize,
        mut w: usize,
        mut rest: u32,
    ) -> (usize, u32) {
        use std::hint::select_unpredictable as pick;
        match step {
            2 => {
                let this = tree[(w + 1) & mask];
                let (left, right) = (tree[w & mask], tree[(w + 2) & mask]);
                let go = this <= rest;
                w += pick(go, 2, 0);
                rest -= pick(go, this, 0);
                let next = pick(go, right, left);
                let go = next <= rest;
                w += pick(go, 1, 0);
                rest -= pick(go, next, 0);
            }
            1 => {
                let this = tree[w & mask];
                let go = this <= rest;
                w += pick(go, 1, 0);
                rest -= pick(go, this, 0);
            }
            _ => {}
        }
        (w, rest)
    }

    /// The FIFO index of `value` (how many entries are older), if it is in the queue.
    #[cfg(test)]
    pub(crate) fn rank(&self, value: u32) -> Option<usize> {
        Some(self.rank_at(self.position_of(value)?))
    }

    /// The position of `value`, if it is in the queue (for [`rank_at`], [`hint_at`] and
    /// [`remove_at`]; valid while [`removals`] is unchanged).
    ///
    /// [`rank_at`]: Self::rank_at
    /// [`hint_at`]: Self::hint_at
    /// [`remove_at`]: Self::remove_at
    /// [`removals`]: Self::removals
    #[inline]
    pub(crate) fn position_of(&self, value: u32) -> Option<usize> {
        match self.position.get(value as usize) {
            Some(&p) if p != NONE => Some(p as usize),
            _ => None,
        }
    }

    /// The FIFO index of the entry at live position `p`: O(log n), with loads that do
    /// not wait on each other (unlike `select`'s descent).
    pub(crate) fn rank_at(&self, p: usize) -> usize {
        let (w, bit) = (p / WORD, p % WORD);
        let below = self.words[w] & ((1u64 << bit) - 1);
        self.prefix(w) + below.count_ones() as usize
    }

    /// The live entries, oldest first.
    pub(crate) fn iter(&self) -> impl Iterator<Item = u32> + '_ {
        self.entries[self.head..self.tail]
            .iter()
            .copied()
            .filter(|&value| value != NONE)
    }

    /// Empties position `p` (which holds a value) and returns its value.
    #[inline(always)]
    fn take(&mut self, p: usize) -> u32 {
        self.removals += 1;
        let value = std::mem::replace(&mut self.entries[p], NONE);
        debug_assert!(value != NONE);
        self.words[p / WORD] &= !(1 << (p % WORD));
        self.tree_add(p / WORD, u32::MAX); // −1, wrapping
        self.position[value as usize] = NONE;
        self.len -= 1;
        if self.len == 0 {
            // Every bit and count is zero again: start over at position 0.
            self.head = 0;
            self.tail = 0;
        } else if p == self.head {
            self.head = p + 1;
        }
        value
    }

    /// Adds `delta` (wrapping: `u32::MAX` is −1) to word `w`'s count.
    #[inline]
    fn tree_add(&mut self, w: usize, delta: u32) {
        let mut i = w + 1;
        while i <= self.tree.len() {
            self.tree[i - 1] = self.tree[i - 1].wrapping_add(delta);
            i += i & i.wrapping_neg();
        }
    }

    /// Live entries in words `0..w`.
    fn prefix(&self, w: usize) -> usize {
        let mut i = w;
        let mut sum = 0;
        while i > 0 {
            sum += self.tree[i - 1] as usize;
            i &= i - 1;
        }
        sum
    }

    /// The position of the `k`-th live entry (`k < len`): descend the Fenwick tree to
    /// the word that holds it, then select the bit. A queue of one word (64 positions
    /// or fewer, a small test's) has no tree to descend, and no call.
    #[inline(always)]
    fn select(&self, k: usize) -> usize {
        match self.words.len() {
            1 => select_in_word(self.words[0], k as u32),
            _ => self.descend(k),
        }
    }

    /// `select` in a queue of more than one word.
    ///
    /// The tree's length is a power of two, so every node the descent visits exists,
    /// and each level is a compare and two conditional moves (`pick`): a random `k`
    /// would mispredict about half of the branches of the textbook loop.
    #[inline(never)]
    fn descend(&self, k: usize) -> usize {
        use std::hint::select_unpredictable as pick;
        let tree = &self.tree[..];
        debug_assert!(tree.len().is_power_of_two());
        // Every index the descent reads is below the (power of two) length: the mask
        // changes none of them, and lets the compiler drop the bounds checks.
        let mask = tree.len().wrapping_sub(1);
        let mut w = 0;
        let mut rest = k as u32;
        // The root (`tree.len()`) counts every entry, more than `k`: the descent would
        // never go right there, so it starts one level below.
        let mut step = tree.len() / 2;
        // Three levels a round: the node of this level and every node the next two
        // levels may visit (seven in all) are loaded at once, so the loads of a round
        // do not wait on each other and the chain of dependent loads is a third as
        // long; the conditional moves then pick among them.
        while step >= 4 {
            let (half, quarter) = (step / 2, step / 4);
            let node = |i: usize| tree[(w + i - 1) & mask];
            let this = node(step);
            let (left, right) = (node(half), node(step + half));
            let (left_left, left_right) = (node(quarter), node(half + quarter));
            let (right_left, right_right) = (node(step + quarter), node(step + half + quarter));
            let go = this <= rest;
            w += pick(go, step, 0);
            rest -= pick(go, this, 0);
            let next = pick(go, right, left);
            let (next_left, next_right) = (
                pick(go, right_left, left_left),
                pick(go, right_right, left_right),
            );
            let go = next <= rest;
            w += pick(go, half, 0);
            rest -= pick(go, next, 0);
            let last = pick(go, next_right, next_left);
            let go = last <= rest;
            w += pick(go, quarter, 0);
            rest -= pick(go, last, 0);
            step /= 8;
        }
        // The last one or two levels.
        let (w, rest) = Self::descend_last_levels(tree, mask, step, w, rest);
        w * WORD + select_in_word(self.words[w], rest)
    }

    /// Packs the live entries to the front, in order, and makes room for at least as
    /// many more (at least one word's worth): O(capacity), once per `capacity / 2`
    /// pushes at most.
    fn pack(&mut self) {
        self.removals += 1;
        let len = self.len;
        let mut write = 0;
        for read in self.head..self.tail {
            let value = self.entries[read];
            if value != NONE {
                self.entries[write] = value;
                if let Some(&hint) = self.hints.get(read) {
                    self.hints[write] = hint;
                }
                self.position[value as usize] = write as u32;
                write += 1;
            }
        }
        debug_assert_eq!(write, len);
        let old_tail = self.tail;
        let words = (2 * len).div_ceil(WORD).max(1).max(self.words.len());
        self.entries[len..old_tail].fill(NONE);
        self.entries.resize(words * WORD, NONE);
        self.hints.truncate(len);
        self.words.clear();
        self.words.resize(words, 0);
        for w in 0..len / WORD {
            self.words[w] = u64::MAX;
        }
        if !len.is_multiple_of(WORD) {
            self.words[len / WORD] = (1u64 << (len % WORD)) - 1;
        }
        // Linear-time Fenwick construction: each node passes its sum to its parent.
        self.tree.clear();
        self.tree
            .extend(self.words.iter().map(|word| word.count_ones()));
        let nodes = words.next_power_of_two();
        self.tree.resize(nodes, 0);
        for i in 1..=nodes {
            let parent = i + (i & i.wrapping_neg());
            if parent <= nodes {
                self.tree[parent - 1] += self.tree[i - 1];
            }
        }
        self.head = 0;
        self.tail = len;
    }
}

/// The position of the `k`-th set bit of `word` (which has more than `k`). Past the
/// first few bits, without a branch: the bytes' running population counts (SWAR) say
/// how many bytes lie wholly before that bit, and a table gives the bit within its
/// byte. A uniformly random `k` made the loops this replaced mispredict about twice per
/// call.
fn select_in_word(word: u64, k: u32) -> usize {
    if k < 4 {
        // A few ready tasks, the common case: clear the lower set bits.
        let mut word = word;
        for _ in 0..k {
            word &= word - 1;
        }
        return word.trailing_zeros() as usize;
    }
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGHS: u64 = 0x8080_8080_8080_8080;
    let mut x = word - ((word >> 1) & 0x5555_5555_5555_5555);
    x = (x & 0x3333_3333_3333_3333) + ((x >> 2) & 0x3333_3333_3333_3333);
    x = (x + (x >> 4)) & 0x0f0f_0f0f_0f0f_0f0f;
    // Byte i of `running` counts the set bits of bytes 0..=i (at most 64: no carry).
    let running = x.wrapping_mul(ONES);
    // The high bit of byte i is set when running_i <= k (both below 128: no borrow).
    let at_most_k = (((u64::from(k) * ONES) | HIGHS) - running) & HIGHS;
    // Running counts only grow, so those bytes are a prefix; count them.
    let byte = ((at_most_k >> 7).wrapping_mul(ONES) >> 56) as usize;
    // Set bits before that byte: the running count of the byte below (0 for byte 0).
    let before = ((running << 8) >> (8 * byte)) as u32 & 0xff;
    let bits = (word >> (8 * byte)) as u8;
    8 * byte + usize::from(SELECT_IN_BYTE[usize::from(bits)][(k - before) as usize])
}

/// `SELECT_IN_BYTE[b][r]`: the position of the `r`-th set bit of byte `b` (8 if none).
static SELECT_IN_BYTE: [[u8; 8]; 256] = select_in_byte_table();

const fn select_in_byte_table() -> [[u8; 8]; 256] {
    let mut table = [[8u8; 8]; 256];
    let mut byte = 0;
    while byte < 256 {
        let mut rank = 0;
        let mut bit = 0;
        while bit < 8 {
            if byte >> bit & 1 == 1 {
                table[byte][rank] = bit as u8;
                rank += 1;
            }
            bit += 1;
        }
        byte += 1;
    }
    table
}

#[cfg(test)]
mod tests {
    use super::{ReadyQueue, WORD, select_in_word};

    fn xorshift(mut state: u64) -> impl FnMut() -> u64 {
        move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        }
    }

    /// A plain `Vec` is the model: the queue must agree with it on every operation,
    /// through sizes of many words and back to empty.
    #[test]
    fn agrees_with_a_vec_model() {
        let mut queue: ReadyQueue = ReadyQueue::default();
        let mut model: Vec<u32> = Vec::new();
        let mut next = xorshift(0x2545_f491_4f6c_dd1d);
        // Values are reused, as slot indices are: the lowest free one first.
        let mut free: Vec<u32> = Vec::new();
        let mut fresh = 0;
        for round in 0..60_000 {
            // Grow for a while, then shrink, so sizes sweep 0 ..= several hundred.
            let grow = (round / 6_000) % 2 == 0;
            let roll = next() % 10;
            if model.is_empty() || (grow && roll < 7) || (!grow && roll < 3) {
                let value = free.pop().unwrap_or_else(|| {
                    fresh += 1;
                    fresh - 1
                });
                queue.push(value);
                model.push(value);
            } else if roll < 5 {
                assert_eq!(queue.remove_nth(0), model.remove(0));
            } else if roll != 9 {
                let k = (next() % model.len() as u64) as usize;
                let value = model.remove(k);
                assert_eq!(queue.remove_nth(k), value);
                free.push(value);
            } else {
                let k = (next() % model.len() as u64) as usize;
                let value = model.remove(k);
                assert_eq!(queue.rank(value), Some(k));
                assert!(queue.remove(value));
                assert!(!queue.remove(value));
                assert_eq!(queue.rank(value), None);
                free.push(value);
            }
            assert_eq!(queue.len(), model.len());
            if round % 997 == 0 {
                assert_eq!(queue.iter().collect::<Vec<_>>(), model);
                for (k, &value) in model.iter().enumerate() {
                    assert_eq!(queue.rank(value), Some(k));
                }
            }
        }
        assert_eq!(queue.iter().collect::<Vec<_>>(), model);
    }

    /// `select` descends trees of every depth (from one word to thousands, so every
    /// split of the levels into rounds of three, two and one) to the `k`-th live entry.
    #[test]
    fn select_finds_every_rank_at_every_depth() {
        let mut next = xorshift(0x9e37_79b9_7f4a_7c15);
        for n in [
            1u32, 2, 63, 64, 65, 130, 300, 600, 1_100, 2_500, 5_000, 9_000, 20_000, 70_000,
        ] {
            let mut queue: ReadyQueue = ReadyQueue::default();
            for value in 0..n {
                queue.push(value);
            }
            // Holes in runs and alone, about half of the entries.
            for value in 0..n {
                if next().is_multiple_of(2) || (value / 200) % 3 == 1 {
                    queue.remove(value);
                }
            }
            let live: Vec<u32> = queue.iter().collect();
            assert_eq!(live.len(), queue.len());
            for (k, &value) in live.iter().enumerate() {
                assert_eq!(queue.value_at(queue.nth_position(k)), value, "n {n}, k {k}");
            }
        }
    }

    /// A position from `nth_position` keeps its entry through pushes (which only
    /// append) and is given up by any removal, which `removals` counts; `value_at` and
    /// `next_position` agree with the model, and `remove_at` removes that entry.
    #[test]
    fn positions_hold_until_a_removal() {
        let mut queue: ReadyQueue = ReadyQueue::default();
        let mut model: Vec<u32> = Vec::new();
        let mut next = xorshift(0x9e37_79b9_7f4a_7c15);
        let mut fresh = 0;
        for _ in 0..20_000 {
            // Push a few (crossing word boundaries and repackings), then look up a rank.
            for _ in 0..next() % 5 {
                queue.push(fresh);
                model.push(fresh);
                fresh += 1;
            }
            if model.len() < 2 {
                continue;
            }
            let k = (next() % (model.len() as u64 - 1)) as usize;
            let removals = queue.removals();
            let p = queue.nth_position(k);
            assert_eq!(queue.value_at(p), model[k]);
            assert_eq!(queue.value_at(queue.next_position(p)), model[k + 1]);
            // Pushes that do not repack leave the position as it was.
            let pushes = next() % 3;
            for _ in 0..pushes {
                queue.push(fresh);
                model.push(fresh);
                fresh += 1;
            }
            if queue.removals() == removals {
                assert_eq!(queue.value_at(p), model[k]);
                assert_eq!(queue.remove_at(p), model.remove(k));
                assert_ne!(queue.removals(), removals, "a removal is counted");
            } else {
                // A repacking moved the entries: the rank is looked up again.
                assert_eq!(queue.remove_nth(k), model.remove(k));
            }
            if next().is_multiple_of(4) {
                assert_eq!(queue.remove_nth(0), model.remove(0));
            }
            assert_eq!(queue.len(), model.len());
        }
        assert_eq!(queue.iter().collect::<Vec<_>>(), model);
    }

    #[test]
    fn fifo_order_and_reuse_after_drain() {
        let mut queue: ReadyQueue = ReadyQueue::default();
        let n = 3 * WORD as u32 + 7;
        for round in 0..3 {
            for t in 0..n {
                queue.push(t + round);
            }
            assert_eq!(queue.remove_nth(n as usize - 1), n - 1 + round);
            for t in 0..n - 1 {
                assert_eq!(queue.remove_nth(0), t + round);
            }
            assert_eq!(queue.len(), 0);
            assert_eq!(queue.tail, 0, "a drained queue starts over at position 0");
        }
        queue.push(1);
        queue.push(2);
        queue.clear();
        assert_eq!(queue.len(), 0);
        assert_eq!(queue.rank(1), None);
        queue.push(2);
        assert_eq!(queue.iter().collect::<Vec<_>>(), [2]);
    }

    /// A queue that never drains (a task always ready) packs instead of growing.
    #[test]
    fn a_queue_that_never_drains_stays_small() {
        let mut queue: ReadyQueue = ReadyQueue::default();
        queue.push(0);
        for i in 0..100_000u32 {
            queue.push(1 + i % 2);
            assert_eq!(queue.remove_nth(1), 1 + i % 2);
        }
        assert_eq!(queue.iter().collect::<Vec<_>>(), [0]);
        assert_eq!(queue.words.len(), 1);
    }

    #[test]
    fn select_in_word_finds_every_set_bit() {
        let mut next = xorshift(99);
        for _ in 0..1_000 {
            let word = next();
            let bits: Vec<usize> = (0..64).filter(|b| word >> b & 1 == 1).collect();
            for (k, &bit) in bits.iter().enumerate() {
                assert_eq!(select_in_word(word, k as u32), bit);
            }
        }
        assert_eq!(select_in_word(u64::MAX, 63), 63);
        // Words with their bits in the high bytes, or one bit only.
        for word in [1u64 << 63, 0xff00_0000_0000_0000, 0x8000_0000_0000_0001] {
            let bits: Vec<usize> = (0..64).filter(|b| word >> b & 1 == 1).collect();
            for (k, &bit) in bits.iter().enumerate() {
                assert_eq!(select_in_word(word, k as u32), bit, "{word:#x} {k}");
            }
        }
    }
}
