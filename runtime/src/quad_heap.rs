//! A max-heap with four children per node, for PCT's pick.
//!
//! Invariant: every node is at least as large as its children (`items[i] >=
//! items[4i + 1 ..= 4i + 4]`), so `items[0]` is the largest.
//!
//! Why not `std::collections::BinaryHeap`: with a hundred thousand ready tasks a pop
//! walks a binary heap 17 levels down, and each level below the cached top is a cache
//! miss. Four children per node halve the depth, and the four siblings compared at each
//! level sit in one or two cache lines.

use crate::prefetch::prefetch;

/// A max-heap of `T` with four children per node.
#[derive(Debug, Clone)]
pub(crate) struct QuadHeap<T> {
    items: Vec<T>,
}

impl<T> Default for QuadHeap<T> {
    fn default() -> Self {
        QuadHeap { items: Vec::new() }
    }
}

impl<T: Ord + Copy> QuadHeap<T> {
    pub(crate) fn len(&self) -> usize {
        self.items.len()
    }

    /// Removes every item, keeping the allocation.
    pub(crate) fn clear(&mut self) {
        self.items.clear();
    }

    pub(crate) fn push(&mut self, item: T) {
        self.items.push(item);
        let mut i = self.items.len() - 1;
        while i > 0 {
            let parent = (i - 1) / 4;
            if self.items[parent] >= item {
                break;
            }
            self.items[i] = self.items[parent];
            i = parent;
        }
        self.items[i] = item;
    }

    /// The largest item.
    pub(crate) fn peek(&self) -> Option<&T> {
        self.items.first()
    }

    /// The largest of the top's children: the top after the next `pop`, unless a
    /// larger item is pushed first.
    pub(crate) fn runner_up(&self) -> Option<&T> {
        self.items.get(1..self.items.len().min(5))?.iter().max()
    }

    /// Replaces the largest item with `item` (the heap must not be empty).
    pub(crate) fn replace_top(&mut self, item: T) {
        assert!(!self.items.is_empty(), "replace_top on an empty heap");
        self.sift_down(0, item);
    }

    /// Removes and returns the largest item.
    pub(crate) fn pop(&mut self) -> Option<T> {
        let last = self.items.pop()?;
        let Some(&top) = self.items.first() else {
            return Some(last);
        };
        self.sift_down(0, last);
        Some(top)
    }

    /// Keeps only the items `keep` accepts, and restores the heap order: O(n).
    pub(crate) fn retain(&mut self, keep: impl FnMut(&T) -> bool) {
        self.items.retain(keep);
        let n = self.items.len();
        if n > 1 {
            for i in (0..=(n - 2) / 4).rev() {
                let item = self.items[i];
                self.sift_down(i, item);
            }
        }
    }

    /// Puts `item` at `i` or below, moving larger children up.
    fn sift_down(&mut self, mut i: usize, item: T) {
        let n = self.items.len();
        loop {
            let first = 4 * i + 1;
            if first >= n {
                break;
            }
            // The next level down is among these siblings' children: 256 bytes in a
            // row, asked for now so that their misses overlap this level's work.
            if let Some(next) = self.items.get(4 * first + 1) {
                let start = (&raw const *next).addr();
                for line in 0..4 {
                    prefetch(start + 64 * line);
                }
            }
            let best = match self.items.get(first..first + 4) {
                Some(children) => first + largest_of_four(children),
                None => {
                    // The last parent: fewer than four children.
                    let mut best = first;
                    for child in first + 1..n {
                        if self.items[child] > self.items[best] {
                            best = child;
                        }
                    }
                    best
                }
            };
            if self.items[best] <= item {
                break;
            }
            self.items[i] = self.items[best];
            i = best;
        }
        self.items[i] = item;
    }
}

/// The index of the largest of four siblings, as a tournament of conditional moves:
/// which sibling is larger is a coin toss for random priorities, so a branch (and the
/// loop this replaced) mispredicted about half the time, and the loop's bounds checks
/// cost as much again.
#[inline(always)]
fn largest_of_four<T: Ord>(children: &[T]) -> usize {
    let [a, b, c, d] = children else {
        unreachable!("four siblings")
    };
    let left = std::hint::select_unpredictable(b > a, 1, 0);
    let right = std::hint::select_unpredictable(d > c, 3, 2);
    let left_item = std::hint::select_unpredictable(b > a, b, a);
    let right_item = std::hint::select_unpredictable(d > c, d, c);
    std::hint::select_unpredictable(right_item > left_item, right, left)
}

#[cfg(test)]
mod tests {
    use super::{QuadHeap, largest_of_four};
    use std::collections::BinaryHeap;

    /// The tournament picks the first of the largest, as the loop it replaced did.
    #[test]
    fn largest_of_four_is_the_first_largest() {
        for a in 0..3 {
            for b in 0..3 {
                for c in 0..3 {
                    for d in 0..3 {
                        let items = [a, b, c, d];
                        let max = *items.iter().max().unwrap();
                        let first = items.iter().position(|&x| x == max).unwrap();
                        assert_eq!(largest_of_four(&items), first, "{items:?}");
                    }
                }
            }
        }
    }

    /// `std`'s `BinaryHeap` is the model: same pops, through pushes, pops and retains.
    #[test]
    fn agrees_with_binary_heap() {
        let mut heap = QuadHeap::default();
        let mut model = BinaryHeap::new();
        let mut state = 0x853c_49e6_748f_ea9bu64;
        for round in 0..50_000u32 {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            match state % 7 {
                0..=3 => {
                    let item = (state >> 40) % 1_000;
                    heap.push(item);
                    model.push(item);
                }
                4 | 5 => assert_eq!(heap.pop(), model.pop()),
                _ if round % 50 == 0 => {
                    let cut = state % 1_000;
                    heap.retain(|&item| item % 3 != cut % 3);
                    model.retain(|&item| item % 3 != cut % 3);
                }
                _ => {}
            }
            assert_eq!(heap.len(), model.len());
        }
        while let Some(item) = model.pop() {
            assert_eq!(heap.pop(), Some(item));
        }
        assert_eq!(heap.pop(), None);
    }
}
