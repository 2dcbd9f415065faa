//! [`Chunked`]: a vector that grows by whole chunks, so that growing never copies or
//! moves what it holds.
//!
//! The task slab is one: its slots are cache-line aligned, and `Vec` cannot grow an
//! over-aligned buffer in place (the allocator's `realloc` only promises 16 bytes), so
//! every doubling of a `Vec<Slot>` was a fresh allocation, a copy and fresh pages:
//! about a fifth of a spawn in a new runtime. Here the first chunk grows as a `Vec`
//! does up to [`CHUNK`] items; every later chunk is allocated at its full size once.
//! Indexing costs one more load (the chunk), which stays in cache.

use std::ops::{Index, IndexMut};

const SHIFT: u32 = 12;
/// Items per chunk.
pub(crate) const CHUNK: usize = 1 << SHIFT;
const MASK: usize = CHUNK - 1;

/// A growable array in chunks of [`CHUNK`] items.
#[derive(Debug)]
pub(crate) struct Chunked<T> {
    chunks: Vec<Vec<T>>,
    len: usize,
}

impl<T> Default for Chunked<T> {
    fn default() -> Self {
        Chunked {
            chunks: Vec::new(),
            len: 0,
        }
    }
}

impl<T> Chunked<T> {
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    pub(crate) fn push(&mut self, item: T) {
        if self.len.is_multiple_of(CHUNK) {
            // The first chunk grows as a `Vec`; later ones are allocated whole.
            let capacity = if self.chunks.is_empty() { 0 } else { CHUNK };
            self.chunks.push(Vec::with_capacity(capacity));
        }
        let last = self.chunks.len() - 1;
        self.chunks[last].push(item);
        self.len += 1;
    }

    pub(crate) fn get_mut(&mut self, index: usize) -> Option<&mut T> {
        self.chunks.get_mut(index >> SHIFT)?.get_mut(index & MASK)
    }

    pub(crate) fn iter(&self) -> impl Iterator<Item = &T> {
        self.chunks.iter().flatten()
    }
}

impl<T> Index<usize> for Chunked<T> {
    type Output = T;

    #[inline]
    fn index(&self, index: usize) -> &T {
        &self.chunks[index >> SHIFT][index & MASK]
    }
}

impl<T> IndexMut<usize> for Chunked<T> {
    #[inline]
    fn index_mut(&mut self, index: usize) -> &mut T {
        &mut self.chunks[index >> SHIFT][index & MASK]
    }
}

#[cfg(test)]
mod tests {
    use super::{CHUNK, Chunked};

    /// Items keep their index and their address across growth.
    #[test]
    fn growth_keeps_every_item_in_place() {
        let mut chunked = Chunked::default();
        let mut addresses = Vec::new();
        for i in 0..3 * CHUNK + 5 {
            chunked.push(i);
            if i >= CHUNK {
                addresses.push((i, std::ptr::from_ref(&chunked[i]).addr()));
            }
        }
        assert_eq!(chunked.len(), 3 * CHUNK + 5);
        for (i, address) in addresses {
            assert_eq!(chunked[i], i);
            assert_eq!(std::ptr::from_ref(&chunked[i]).addr(), address);
        }
        assert!(chunked.iter().copied().eq(0..3 * CHUNK + 5));
        *chunked.get_mut(CHUNK + 1).unwrap() = 7;
        assert_eq!(chunked[CHUNK + 1], 7);
        assert!(chunked.get_mut(3 * CHUNK + 5).is_none());
        assert!(chunked.get_mut(100 * CHUNK).is_none());
    }
}
