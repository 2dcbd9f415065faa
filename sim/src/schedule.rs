//! Schedules as data: the seed, the strategy, the decisions of a run (and, for fuzzed
//! runs, the program's random words), and their encoding as a replay token.
//!
//! A token is `ds1.` followed by base64url (no padding) of:
//! `varint strategy`, `[varint depth]` for pct, `varint seed`, `varint n`, then `n`
//! pairs `varint zeros, varint index` (each non-zero decision, after that many FIFO
//! decisions; trailing FIFO decisions are implied), `varint words`, then that many
//! `varint` user random words, and a 2-byte FNV-1a checksum of everything before it.
//! Varints are LEB128. A shrunk schedule is mostly FIFO, so its token is short.
//!
//! Invariants: `Schedule::parse(&s.to_token()) == Ok(s)` (with trailing zero decisions
//! trimmed); the `ds1` tag changes whenever the encoding does; a truncated or mistyped
//! token is an error, never a different schedule (the checksum).

use std::fmt;

use crate::scheduler::Scheduler;

/// The version tag every token starts with.
pub const TOKEN_PREFIX: &str = "ds1.";

/// A recorded schedule: everything needed to run one failing run again.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Schedule {
    /// The strategy that produced it (informational: replay follows the decisions).
    pub scheduler: Scheduler,
    /// The seed: it also seeds the program's own `detsim::random` stream.
    pub seed: u64,
    /// The index chosen at each decision point (two or more tasks ready), FIFO order.
    pub decisions: Vec<u32>,
    /// Values `detsim::random` returned, when they did not come from the seed (fuzzing);
    /// the seed's stream takes over after the last.
    pub user_words: Vec<u64>,
}

/// Why a replay token could not be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenError {
    token: String,
    reason: String,
}

impl fmt::Display for TokenError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let shown: String = self.token.chars().take(40).collect();
        let ellipsis = if self.token.chars().count() > 40 {
            "…"
        } else {
            ""
        };
        write!(
            f,
            "bad detsim replay token `{shown}{ellipsis}`: {}; copy the whole token (it starts \
             with `{TOKEN_PREFIX}`) from the failure report",
            self.reason
        )
    }
}

impl std::error::Error for TokenError {}

impl Schedule {
    /// Decisions that did not take the oldest ready task.
    pub fn deviations(&self) -> usize {
        self.decisions.iter().filter(|&&d| d != 0).count()
    }

    /// Drops trailing FIFO decisions, which replay implies.
    pub fn trim(&mut self) {
        while self.decisions.last() == Some(&0) {
            self.decisions.pop();
        }
    }

    /// The replay token: a short ASCII string (see the module docs).
    pub fn to_token(&self) -> String {
        let mut bytes = Vec::new();
        let (kind, depth) = self.scheduler.encode();
        put(&mut bytes, kind);
        if let Some(depth) = depth {
            put(&mut bytes, u64::from(depth));
        }
        put(&mut bytes, self.seed);
        let nonzero: Vec<(usize, u32)> = self
            .decisions
            .iter()
            .copied()
            .enumerate()
            .filter(|&(_, d)| d != 0)
            .collect();
        put(&mut bytes, nonzero.len() as u64);
        let mut last = 0;
        for (position, decision) in nonzero {
            put(&mut bytes, (position - last) as u64);
            put(&mut bytes, u64::from(decision));
            last = position + 1;
        }
        put(&mut bytes, self.user_words.len() as u64);
        for &word in &self.user_words {
            put(&mut bytes, word);
        }
        let sum = checksum(&bytes);
        bytes.extend_from_slice(&sum.to_le_bytes());
        format!("{TOKEN_PREFIX}{}", base64url::encode(&bytes))
    }

    /// Reads a replay token.
    pub fn parse(token: &str) -> Result<Schedule, TokenError> {
        let error = |reason: &str| TokenError {
            token: token.to_owned(),
            reason: reason.to_owned(),
        };
        let trimmed = token.trim();
        let body = trimmed.strip_prefix(TOKEN_PREFIX).ok_or_else(|| {
            if trimmed.starts_with("ds") && trimmed.contains('.') {
                error("it was made by a different version of detsim (unknown version tag)")
            } else {
                error("it does not start with the version tag `ds1.`")
            }
        })?;
        let bytes = base64url::decode(body)
            .ok_or_else(|| error("it contains characters that are not base64url"))?;
        if bytes.len() < 3 {
            return Err(error("it is too short (truncated?)"));
        }
        let (payload, sum) = bytes.split_at(bytes.len() - 2);
        if checksum(payload).to_le_bytes() != sum {
            return Err(error(
                "its checksum does not match (truncated or mistyped?)",
            ));
        }
        let mut reader = Reader { bytes: payload };
        let truncated = || error("it ends early (truncated?)");
        let kind = reader.get().ok_or_else(truncated)?;
        let depth = match kind {
            2 => Some(reader.get().ok_or_else(truncated)?),
            _ => None,
        };
        let scheduler = Scheduler::decode(kind, depth)
            .ok_or_else(|| error("it names an unknown scheduling strategy"))?;
        let seed = reader.get().ok_or_else(truncated)?;
        let count = reader.get().ok_or_else(truncated)?;
        let mut decisions = Vec::new();
        for _ in 0..count {
            let zeros = reader.get().ok_or_else(truncated)?;
            let decision = reader.get().ok_or_else(truncated)?;
            let decision = u32::try_from(decision)
                .ok()
                .filter(|&d| d != 0)
                .ok_or_else(|| error("it holds an impossible decision"))?;
            if zeros > 1 << 32 {
                return Err(error("it holds an impossible decision"));
            }
            decisions.extend(std::iter::repeat_n(0, zeros as usize));
            decisions.push(decision);
        }
        let words = reader.get().ok_or_else(truncated)?;
        let mut user_words = Vec::new();
        for _ in 0..words {
            user_words.push(reader.get().ok_or_else(truncated)?);
        }
        if !reader.bytes.is_empty() {
            return Err(error("it has bytes left over after the schedule"));
        }
        Ok(Schedule {
            scheduler,
            seed,
            decisions,
            user_words,
        })
    }
}

/// A `rand` generator that returns recorded words, then the seed's user stream:
/// how a token's `user_words` reach `detsim::random` on replay.
///
/// Each `next_u64` takes one word; `next_u32` takes one word's low half; `fill_bytes`
/// takes one word per 8 bytes, little-endian.
#[derive(Debug, Clone)]
pub struct WordRng {
    words: Vec<u64>,
    next: usize,
    fallback: rand_chacha::ChaCha8Rng,
}

impl WordRng {
    /// Returns `words` in order, then `seed`'s user stream from its start.
    pub fn new(words: Vec<u64>, seed: u64) -> WordRng {
        WordRng {
            words,
            next: 0,
            fallback: detsim_runtime::choice::seeded_rng(seed, detsim_runtime::choice::USER_STREAM),
        }
    }
}

impl rand::TryRng for WordRng {
    type Error = std::convert::Infallible;

    fn try_next_u64(&mut self) -> Result<u64, Self::Error> {
        Ok(match self.words.get(self.next) {
            Some(&word) => {
                self.next += 1;
                word
            }
            None => rand::Rng::next_u64(&mut self.fallback),
        })
    }

    fn try_next_u32(&mut self) -> Result<u32, Self::Error> {
        Ok(self.try_next_u64()? as u32)
    }

    fn try_fill_bytes(&mut self, dst: &mut [u8]) -> Result<(), Self::Error> {
        for chunk in dst.chunks_mut(8) {
            let word = self.try_next_u64()?.to_le_bytes();
            chunk.copy_from_slice(&word[..chunk.len()]);
        }
        Ok(())
    }
}

/// FNV-1a, folded to 16 bits.
fn checksum(bytes: &[u8]) -> u16 {
    let mut hash: u32 = 0x811c_9dc5;
    for &b in bytes {
        hash ^= u32::from(b);
        hash = hash.wrapping_mul(0x0100_0193);
    }
    (hash ^ (hash >> 16)) as u16
}

fn put(bytes: &mut Vec<u8>, mut value: u64) {
    loop {
        let low = (value & 0x7f) as u8;
        value >>= 7;
        if value == 0 {
            bytes.push(low);
            return;
        }
        bytes.push(low | 0x80);
    }
}

struct Reader<'a> {
    bytes: &'a [u8],
}

impl Reader<'_> {
    fn get(&mut self) -> Option<u64> {
        let mut value = 0u64;
        for shift in (0..64).step_by(7) {
            let (&byte, rest) = self.bytes.split_first()?;
            self.bytes = rest;
            value |= u64::from(byte & 0x7f).checked_shl(shift)?;
            if byte & 0x80 == 0 {
                return Some(value);
            }
        }
        None
    }
}

/// base64url without padding (RFC 4648 §5): every character is safe in a shell word.
mod base64url {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

    pub(super) fn encode(bytes: &[u8]) -> String {
        let mut out = String::with_capacity(bytes.len() * 4 / 3 + 3);
        for chunk in bytes.chunks(3) {
            let n = chunk
                .iter()
                .enumerate()
                .fold(0u32, |n, (i, &b)| n | u32::from(b) << (16 - 8 * i));
            for i in 0..=chunk.len() {
                out.push(ALPHABET[(n >> (18 - 6 * i) & 63) as usize] as char);
            }
        }
        out
    }

    pub(super) fn decode(text: &str) -> Option<Vec<u8>> {
        let values: Vec<u32> = text
            .bytes()
            .map(|c| ALPHABET.iter().position(|&a| a == c).map(|v| v as u32))
            .collect::<Option<_>>()?;
        if values.len() % 4 == 1 {
            return None;
        }
        let mut out = Vec::with_capacity(values.len() * 3 / 4);
        for chunk in values.chunks(4) {
            let n = chunk
                .iter()
                .enumerate()
                .fold(0u32, |n, (i, &v)| n | v << (18 - 6 * i));
            for i in 0..chunk.len() - 1 {
                out.push((n >> (16 - 8 * i)) as u8);
            }
        }
        Some(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn schedule(decisions: Vec<u32>, user_words: Vec<u64>) -> Schedule {
        Schedule {
            scheduler: Scheduler::pct(3),
            seed: 0xdead_beef_1234,
            decisions,
            user_words,
        }
    }

    #[test]
    fn tokens_round_trip() {
        let cases = [
            schedule(vec![], vec![]),
            schedule(vec![0, 0, 3, 0, 1, 0, 0, 0, 7, 1_000_000], vec![]),
            schedule(vec![1; 500], vec![u64::MAX, 0, 42]),
        ];
        for s in cases {
            let token = s.to_token();
            assert!(token.starts_with(TOKEN_PREFIX));
            assert!(
                token
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
            );
            assert_eq!(Schedule::parse(&token), Ok(s));
        }
        for scheduler in [Scheduler::random(), Scheduler::fifo()] {
            let s = Schedule {
                scheduler,
                ..schedule(vec![2, 0, 1], vec![])
            };
            assert_eq!(Schedule::parse(&s.to_token()), Ok(s));
        }
    }

    #[test]
    fn trailing_fifo_decisions_are_implied() {
        let mut s = schedule(vec![0, 2, 0, 0], vec![]);
        let token = s.to_token();
        s.trim();
        assert_eq!(s.decisions, vec![0, 2]);
        assert_eq!(Schedule::parse(&token), Ok(s));
    }

    #[test]
    fn a_sparse_schedule_makes_a_short_token() {
        let mut decisions = vec![0; 10_000];
        decisions[5_000] = 1;
        decisions[9_000] = 2;
        assert!(schedule(decisions, vec![]).to_token().len() < 40);
    }

    #[test]
    fn damaged_tokens_are_token_errors() {
        let token = schedule(vec![0, 3, 1], vec![9]).to_token();
        let mut damaged = vec![
            String::new(),
            "hello".to_owned(),
            "ds9.AAAA".to_owned(),
            format!("{}!", token),
        ];
        for cut in 1..token.len() - TOKEN_PREFIX.len() {
            damaged.push(token[..token.len() - cut].to_owned());
        }
        // One character changed anywhere after the prefix.
        for i in TOKEN_PREFIX.len()..token.len() {
            let mut bytes = token.clone().into_bytes();
            bytes[i] = if bytes[i] == b'A' { b'B' } else { b'A' };
            damaged.push(String::from_utf8(bytes).unwrap());
        }
        for bad in damaged {
            let error = Schedule::parse(&bad).expect_err(&bad).to_string();
            assert!(error.starts_with("bad detsim replay token"), "{error}");
        }
    }
}
