//! Schedules as data: the seed, the strategy, the decisions of a run (and, for fuzzed
//! runs, the program's random words), and their encoding as a replay token.
//!
//! A token is `ds3.` followed by base64url without padding (RFC 4648 §5, the `base64`
//! crate's `URL_SAFE_NO_PAD` engine) of:
//! `varint strategy`, `[varint depth]` for pct, `varint seed`, `varint n`, then `n`
//! pairs `varint zeros, varint index` (each non-zero decision, after that many FIFO
//! decisions; trailing FIFO decisions are implied), `varint words`, then that many
//! `varint` user random words, optionally the outcome of the run that made the token
//! (`varint kind`, `varint checksum`: see [`Outcome`]), and the CRC-32 (ISO-HDLC, the zlib/PNG CRC, from the
//! `crc` crate) of everything before it, little-endian. Varints are LEB128. A shrunk
//! schedule is mostly FIFO, so its token is short.
//!
//! # Why a mistyped token is always an error
//! The payload followed by its little-endian CRC is a codeword of the CRC's cyclic code
//! (a reflected CRC reads each byte low bit first; appending the CRC low byte first is
//! what makes payload‖CRC divisible by the generator, up to a constant fixed by the
//! length). The generator has degree 32 and a non-zero constant term, so it divides no
//! error polynomial `x^k·e(x)` with `e ≠ 0` of degree below 32: every error confined to
//! 32 consecutive bits of the codeword — a *burst* — changes the remainder and is
//! caught. One base64 character carries 6 bits, which lie within two adjacent bytes; two
//! adjacent characters carry 12 bits, within three adjacent bytes. Whatever order a CRC
//! reads the bits of a byte in, a change inside `b` adjacent bytes is a burst of at most
//! `8·b` bits: at most 16 bits for a substituted character, at most 24 for a swap of two
//! adjacent characters — both below 32, so both are always caught, wherever they fall
//! (in the payload, in the CRC, or across the two). The decoder also rejects a last
//! character whose unused low bits are not zero, so a change there cannot hide in
//! padding bits. An inserted or deleted character shifts everything after it, which no
//! burst bound covers: it is caught unless the shifted bytes still parse as a schedule
//! *and* hit the one CRC value in 2³² that matches; the test
//! `every_one_character_edit_of_a_long_token_is_rejected` tries every such edit of a
//! long token.
//!
//! Invariants: `Schedule::parse(&s.to_token()) == Ok(s)` (with trailing zero decisions
//! trimmed); the tag changes whenever the encoding does (`ds1` had a 16-bit FNV-1a
//! check that missed some single-character changes); a truncated or mistyped token is
//! an error, never a different schedule.

use std::cell::RefCell;
use std::convert::Infallible;
use std::fmt;
use std::rc::Rc;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rand::TryRng;

use crate::scheduler::Scheduler;

/// The version tag every token starts with.
pub(crate) const TOKEN_PREFIX: &str = "ds3.";

/// Version tags of tokens that older releases of detsim made (`ds2`: before elapsed
/// sleeps yielded and tokens carried their run's outcome).
const OLDER_PREFIXES: [&str; 2] = ["ds1.", "ds2."];

/// The token check: CRC-32/ISO-HDLC (see the module docs for what it guarantees).
const CRC32: crc::Crc<u32> = crc::Crc::<u32>::new(&crc::CRC_32_ISO_HDLC);

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

/// How the run that made a token ended: its failure's kind (a code of
/// [`FailureKind`](crate::FailureKind)) and the CRC-32 of its message. A replay that
/// fails otherwise says how.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Outcome {
    /// The failure's kind, as `report::kind_code` numbers them.
    pub(crate) kind: u8,
    /// The CRC-32 of the failure's message.
    pub(crate) message: u32,
}

impl Outcome {
    /// The outcome of a failure of kind `kind` (see `report::kind_code`) with `message`.
    pub(crate) fn new(kind: u8, message: &str) -> Outcome {
        Outcome {
            kind,
            message: CRC32.checksum(message.as_bytes()),
        }
    }
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
        self.to_token_with(None)
    }

    /// The replay token, carrying the outcome of the run that made it when there is one.
    pub(crate) fn to_token_with(&self, outcome: Option<Outcome>) -> String {
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
        if let Some(outcome) = outcome {
            put(&mut bytes, u64::from(outcome.kind));
            put(&mut bytes, u64::from(outcome.message));
        }
        let sum = CRC32.checksum(&bytes);
        bytes.extend_from_slice(&sum.to_le_bytes());
        format!("{TOKEN_PREFIX}{}", URL_SAFE_NO_PAD.encode(&bytes))
    }

    /// Reads a replay token.
    pub fn parse(token: &str) -> Result<Schedule, TokenError> {
        Schedule::parse_with_outcome(token).map(|(schedule, _)| schedule)
    }

    /// Reads a replay token and the outcome of the run that made it, when it has one.
    pub(crate) fn parse_with_outcome(
        token: &str,
    ) -> Result<(Schedule, Option<Outcome>), TokenError> {
        let error = |reason: &str| TokenError {
            token: token.to_owned(),
            reason: reason.to_owned(),
        };
        let trimmed = token.trim();
        let body = trimmed.strip_prefix(TOKEN_PREFIX).ok_or_else(|| {
            if let Some(old) = OLDER_PREFIXES.iter().find(|p| trimmed.starts_with(**p)) {
                let version = old.trim_end_matches('.');
                error(&format!(
                    "it was made by an older detsim (token version {version}); rerun the \
                     seed or the test to get a new token"
                ))
            } else if trimmed.starts_with("ds") && trimmed.contains('.') {
                error("it was made by a different version of detsim (unknown version tag)")
            } else {
                error(&format!(
                    "it does not start with the version tag `{TOKEN_PREFIX}`"
                ))
            }
        })?;
        let bytes = URL_SAFE_NO_PAD
            .decode(body)
            .map_err(|_| error("it is not base64url (a character is wrong, missing or extra)"))?;
        if bytes.len() < 5 {
            return Err(error("it is too short (truncated?)"));
        }
        let (payload, sum) = bytes.split_at(bytes.len() - 4);
        if CRC32.checksum(payload).to_le_bytes() != sum {
            return Err(error(
                "its checksum does not match (truncated or mistyped?)",
            ));
        }
        Schedule::decode(payload).map_err(error)
    }

    /// Reads a token's checked payload (see the module docs for its layout); the error
    /// is the reason a [`TokenError`] gives.
    fn decode(payload: &[u8]) -> Result<(Schedule, Option<Outcome>), &'static str> {
        let mut reader = Reader { bytes: payload };
        let truncated = "it ends early (truncated?)";
        let kind = reader.get().ok_or(truncated)?;
        let depth = match kind {
            2 => Some(reader.get().ok_or(truncated)?),
            _ => None,
        };
        let scheduler =
            Scheduler::decode(kind, depth).ok_or("it names an unknown scheduling strategy")?;
        let seed = reader.get().ok_or(truncated)?;
        let count = reader.get().ok_or(truncated)?;
        let mut decisions = Vec::new();
        for _ in 0..count {
            let zeros = reader.get().ok_or(truncated)?;
            let decision = reader.get().ok_or(truncated)?;
            let decision = u32::try_from(decision)
                .ok()
                .filter(|&d| d != 0)
                .ok_or("it holds an impossible decision")?;
            if zeros > 1 << 32 {
                return Err("it holds an impossible decision");
            }
            decisions.extend(std::iter::repeat_n(0, zeros as usize));
            decisions.push(decision);
        }
        let words = reader.get().ok_or(truncated)?;
        let mut user_words = Vec::new();
        for _ in 0..words {
            user_words.push(reader.get().ok_or(truncated)?);
        }
        let outcome = match reader.bytes.is_empty() {
            true => None,
            false => {
                let kind = reader.get().ok_or(truncated)?;
                let message = reader.get().ok_or(truncated)?;
                Some(Outcome {
                    kind: u8::try_from(kind).map_err(|_| "it names an unknown outcome")?,
                    message: u32::try_from(message).map_err(|_| "it names an unknown outcome")?,
                })
            }
        };
        if !reader.bytes.is_empty() {
            return Err("it has bytes left over after the schedule");
        }
        let schedule = Schedule {
            scheduler,
            seed,
            decisions,
            user_words,
        };
        Ok((schedule, outcome))
    }
}

/// A `rand` generator that returns recorded words, then the seed's user stream:
/// how a token's `user_words` reach `detsim::random` on replay.
///
/// Each `next_u64` takes one word; `next_u32` takes one word's low half; `fill_bytes`
/// takes one word per 8 bytes, little-endian.
#[derive(Debug, Clone)]
pub(crate) struct WordRng {
    words: Vec<u64>,
    next: usize,
    fallback: rand_chacha::ChaCha8Rng,
}

impl WordRng {
    /// Returns `words` in order, then `seed`'s user stream from its start.
    pub(crate) fn new(words: Vec<u64>, seed: u64) -> WordRng {
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

/// Records every value a generator returns, as the words a [`WordRng`] needs to return
/// the same values: a `u32` as its zero-extended word, bytes 8 to a word.
pub(crate) struct Recording<R> {
    pub(crate) inner: R,
    pub(crate) words: Rc<RefCell<Vec<u64>>>,
}

impl<R: TryRng<Error = Infallible>> TryRng for Recording<R> {
    type Error = Infallible;

    fn try_next_u32(&mut self) -> Result<u32, Infallible> {
        let value = self.inner.try_next_u32()?;
        self.words.borrow_mut().push(u64::from(value));
        Ok(value)
    }

    fn try_next_u64(&mut self) -> Result<u64, Infallible> {
        let value = self.inner.try_next_u64()?;
        self.words.borrow_mut().push(value);
        Ok(value)
    }

    fn try_fill_bytes(&mut self, dst: &mut [u8]) -> Result<(), Infallible> {
        self.inner.try_fill_bytes(dst)?;
        let mut words = self.words.borrow_mut();
        for chunk in dst.chunks(8) {
            let mut bytes = [0u8; 8];
            bytes[..chunk.len()].copy_from_slice(chunk);
            words.push(u64::from_le_bytes(bytes));
        }
        Ok(())
    }
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

    /// A long token: substitution, insertion, deletion and adjacent swap of any one
    /// character is an error that says "bad detsim replay token", never a schedule.
    /// (Blank space around a token is trimmed, so it is not among the inserted
    /// characters: a token with a space added at an end is the same token.)
    #[test]
    fn every_one_character_edit_of_a_long_token_is_rejected() {
        let token =
            schedule(vec![0, 2, 0, 0, 1, 3, 0, 1, 0, 0, 0, 2, 1], vec![7, 0xfeed]).to_token();
        assert!(token.len() >= 40, "{token} is {} characters", token.len());
        let alphabet: Vec<char> =
            "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_+/=.!é"
                .chars()
                .collect();
        let chars: Vec<char> = token.chars().collect();
        let mut variants = Vec::new();
        for i in 0..chars.len() {
            for &c in &alphabet {
                if c != chars[i] {
                    let mut v = chars.clone();
                    v[i] = c;
                    variants.push(v);
                }
            }
            let mut deleted = chars.clone();
            deleted.remove(i);
            variants.push(deleted);
            if i + 1 < chars.len() && chars[i] != chars[i + 1] {
                let mut swapped = chars.clone();
                swapped.swap(i, i + 1);
                variants.push(swapped);
            }
        }
        for i in 0..=chars.len() {
            for &c in &alphabet {
                let mut v = chars.clone();
                v.insert(i, c);
                variants.push(v);
            }
        }
        assert!(variants.len() > 5_000, "{}", variants.len());
        for variant in variants {
            let variant: String = variant.into_iter().collect();
            match Schedule::parse(&variant) {
                Ok(other) => panic!("`{variant}` (from `{token}`) was accepted as {other:?}"),
                Err(error) => {
                    let error = error.to_string();
                    assert!(error.starts_with("bad detsim replay token"), "{error}");
                }
            }
        }
    }

    #[test]
    fn an_older_token_says_it_is_older() {
        let error = Schedule::parse("ds1.AgEBAQABAMMP").unwrap_err().to_string();
        assert!(
            error.contains(
                "made by an older detsim (token version ds1); rerun the seed or \
                            the test to get a new token"
            ),
            "{error}"
        );
        // A `ds2` token (a real one, from the README of that version) is older too.
        let error = Schedule::parse("ds2.AgEBAQABAGZiaF0")
            .unwrap_err()
            .to_string();
        assert!(error.contains("(token version ds2)"), "{error}");
        let error = Schedule::parse("ds7.AAAA").unwrap_err().to_string();
        assert!(error.contains("a different version of detsim"), "{error}");
    }

    #[test]
    fn a_token_carries_its_outcome_and_one_without_reads_as_none() {
        let s = schedule(vec![0, 2, 1], vec![5]);
        let outcome = Outcome::new(6, "the message");
        assert_eq!(outcome, Outcome::new(6, "the message"));
        assert_ne!(outcome, Outcome::new(6, "another message"));
        let token = s.to_token_with(Some(outcome));
        assert_eq!(
            Schedule::parse_with_outcome(&token),
            Ok((s.clone(), Some(outcome)))
        );
        assert_eq!(Schedule::parse(&token), Ok(s.clone()));
        assert_eq!(Schedule::parse_with_outcome(&s.to_token()), Ok((s, None)));
    }
}
