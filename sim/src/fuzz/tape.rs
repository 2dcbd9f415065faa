//! The input as a tape read from both ends, and the chooser and random generator that
//! read it (see the [`fuzz`](super) module docs for the mapping).
//!
//! Invariants: every byte is read at most once; decisions take single bytes from the
//! front, words take 8 bytes from the back, and a word is only taken whole; the random
//! generator reads words exactly as [`WordRng`] does, so the words the replayer records
//! of a tape run replay it through [`WordRng`].

use std::cell::RefCell;
use std::convert::Infallible;
use std::rc::Rc;

use detsim_runtime::choice::{USER_STREAM, seeded_rng};
use detsim_runtime::{Chooser, Options, UserRng};
use rand::TryRng;

#[cfg(doc)]
use crate::schedule::WordRng;

use super::FALLBACK_SEED;

/// The input, read from both ends: decisions from the front, words from the back.
#[derive(Debug)]
pub(super) struct Tape {
    data: Vec<u8>,
    front: usize,
    back: usize,
}

impl Tape {
    pub(super) fn new(data: &[u8]) -> Tape {
        Tape {
            data: data.to_vec(),
            front: 0,
            back: data.len(),
        }
    }

    /// The next decision byte, if one is left.
    pub(super) fn byte(&mut self) -> Option<u8> {
        (self.front < self.back).then(|| {
            self.front += 1;
            self.data[self.front - 1]
        })
    }

    /// The next word from the back, if 8 bytes are left.
    pub(super) fn word(&mut self) -> Option<u64> {
        (self.back - self.front >= 8).then(|| {
            self.back -= 8;
            let bytes: [u8; 8] = self.data[self.back..self.back + 8]
                .try_into()
                .expect("8 bytes");
            u64::from_le_bytes(bytes)
        })
    }
}

/// The FIFO index byte `byte` picks among `ready` tasks: `(byte · ready) >> 8`.
pub fn decision_for_byte(byte: u8, ready: usize) -> usize {
    (usize::from(byte) * ready) >> 8
}

/// Decisions from the front of the tape; FIFO once it runs out.
#[derive(Debug)]
pub(super) struct TapeChooser(pub(super) Rc<RefCell<Tape>>);

impl Chooser for TapeChooser {
    fn choose(&mut self, ready: Options<'_>) -> usize {
        self.0
            .borrow_mut()
            .byte()
            .map_or(0, |byte| decision_for_byte(byte, ready.len()))
    }
}

/// The program's random words: from the back of the tape, then seed
/// [`FALLBACK_SEED`]'s user stream. Reads words exactly as [`WordRng`] does (one word
/// per `next_u64`; its low half per `next_u32`; one word per 8 bytes of `fill_bytes`),
/// so a run fed by the tape and its replay fed by [`WordRng`] see the same values.
pub(super) struct TapeRng {
    pub(super) tape: Rc<RefCell<Tape>>,
    pub(super) fallback: Option<UserRng>,
}

impl TapeRng {
    fn word(&mut self) -> u64 {
        if let Some(word) = self.tape.borrow_mut().word() {
            return word;
        }
        let fallback = self
            .fallback
            .get_or_insert_with(|| Box::new(seeded_rng(FALLBACK_SEED, USER_STREAM)));
        let Ok(word) = fallback.try_next_u64();
        word
    }
}

impl TryRng for TapeRng {
    type Error = Infallible;

    fn try_next_u32(&mut self) -> Result<u32, Infallible> {
        Ok(self.word() as u32)
    }

    fn try_next_u64(&mut self) -> Result<u64, Infallible> {
        Ok(self.word())
    }

    fn try_fill_bytes(&mut self, dst: &mut [u8]) -> Result<(), Infallible> {
        for chunk in dst.chunks_mut(8) {
            chunk.copy_from_slice(&self.word().to_le_bytes()[..chunk.len()]);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use rand::Rng;

    use super::*;
    use crate::schedule::{Recording, WordRng};

    #[test]
    fn a_byte_is_a_fraction_of_the_ready_queue() {
        assert_eq!(decision_for_byte(0x00, 2), 0);
        assert_eq!(decision_for_byte(0x7f, 2), 0);
        assert_eq!(decision_for_byte(0x80, 2), 1);
        assert_eq!(decision_for_byte(0xff, 2), 1);
        assert_eq!(decision_for_byte(0xff, 7), 6);
        for ready in 2..300 {
            let picked: Vec<usize> = (0..=255).map(|b| decision_for_byte(b, ready)).collect();
            assert!(picked.windows(2).all(|w| w[0] <= w[1]));
            assert_eq!(picked[0], 0);
            assert!(picked[255] < ready);
            assert_eq!(picked[255], (255 * ready) >> 8);
        }
    }

    #[test]
    fn the_tape_is_read_from_both_ends_once() {
        let mut data: Vec<u8> = vec![1, 2, 3];
        data.extend_from_slice(&7u64.to_le_bytes());
        data.extend_from_slice(&9u64.to_le_bytes());
        let mut tape = Tape::new(&data);
        assert_eq!(tape.word(), Some(9));
        assert_eq!(tape.byte(), Some(1));
        assert_eq!(tape.word(), Some(7));
        assert_eq!(tape.word(), None, "only 2 bytes left");
        assert_eq!(tape.byte(), Some(2));
        assert_eq!(tape.byte(), Some(3));
        assert_eq!(tape.byte(), None);
    }

    fn tape_rng(data: &[u8]) -> TapeRng {
        TapeRng {
            tape: Rc::new(RefCell::new(Tape::new(data))),
            fallback: None,
        }
    }

    #[test]
    fn tape_words_then_seed_zeros_stream() {
        let mut data = 0x0102_0304_0506_0708_u64.to_le_bytes().to_vec();
        data.extend_from_slice(&u64::MAX.to_le_bytes());
        let mut rng = tape_rng(&data);
        assert_eq!(rng.next_u32(), u32::MAX);
        let mut bytes = [0u8; 3];
        rng.fill_bytes(&mut bytes);
        assert_eq!(bytes, [8, 7, 6]);
        let mut seed_stream = seeded_rng(FALLBACK_SEED, USER_STREAM);
        assert_eq!(rng.next_u64(), seed_stream.next_u64());
        assert_eq!(rng.next_u32(), seed_stream.next_u64() as u32);
    }

    #[test]
    fn recorded_words_replay_the_same_values_through_word_rng() {
        let words = Rc::new(RefCell::new(Vec::new()));
        let mut recording = Recording {
            inner: tape_rng(&42u64.to_le_bytes()),
            words: words.clone(),
        };
        let mut bytes = [0u8; 11];
        let first = (
            recording.next_u64(),
            recording.next_u32(),
            recording.next_u64(),
        );
        recording.fill_bytes(&mut bytes);
        // A different fallback seed: replay must not reach it.
        let mut replay = WordRng::new(words.take(), 1234);
        let mut again = [0u8; 11];
        let second = (replay.next_u64(), replay.next_u32(), replay.next_u64());
        replay.fill_bytes(&mut again);
        assert_eq!(first, second);
        assert_eq!(bytes, again);
        assert_eq!(first.0, 42);
    }
}
