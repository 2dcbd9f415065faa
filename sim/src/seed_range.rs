//! The seeds a sweep covers: `start + offset + k·stride` for `k` in `0..count`.
//!
//! A plain sweep has stride 1 and offset 0. Shard `I/N` (`DETSIM_SHARD`) has stride `N`
//! and offset `I`, so the `N` shards of one campaign (same start, same count) cover
//! `start .. start + N·count` exactly once between them, interleaved: every shard
//! samples the whole range, and a shard that stops early leaves gaps spread thin
//! rather than one hole at the end.
//!
//! Invariant: a [`SeedRange`] never passes `u64::MAX` — [`SeedRange::new`] refuses a
//! range whose last seed would, so `seed(k)` never wraps.

use std::fmt;

/// One shard of a campaign: `index` of `count` (`DETSIM_SHARD=I/N`, `0 ≤ I < N`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Shard {
    pub(crate) index: u64,
    pub(crate) count: u64,
}

/// The expected form of `DETSIM_SHARD`.
pub(crate) const SHARD_FORM: &str = "`I/N` with 0 ≤ I < N, such as 0/4 (shard I of N shards)";

impl Shard {
    /// Parses `I/N`; `None` unless `0 ≤ I < N`.
    pub(crate) fn parse(text: &str) -> Option<Shard> {
        let (index, count) = text.split_once('/')?;
        let index: u64 = index.trim().parse().ok()?;
        let count: u64 = count.trim().parse().ok()?;
        (index < count).then_some(Shard { index, count })
    }
}

impl fmt::Display for Shard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

/// The seeds of one sweep.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct SeedRange {
    pub(crate) start: u64,
    pub(crate) count: u64,
    pub(crate) stride: u64,
    pub(crate) offset: u64,
}

/// Where the numbers of a range came from, for the message of a range that does not
/// fit: the variables (or builder calls) a user would change.
#[derive(Debug, Clone, Default)]
pub(crate) struct RangeOrigin {
    /// `DETSIM_SEED_START=…` or `Builder::seed_start(…)`, when set.
    pub(crate) start: Option<String>,
    /// `DETSIM_SEEDS=…` or `Builder::seeds(…)`, when set.
    pub(crate) count: Option<String>,
    /// `DETSIM_SHARD=…`, when set.
    pub(crate) shard: Option<String>,
}

impl SeedRange {
    /// The range of `count` seeds from `start`, or of its shard `shard`.
    ///
    /// # Panics
    /// When the range's last seed would pass `u64::MAX`, with a message naming where
    /// the start, the count and the shard came from.
    pub(crate) fn new(
        start: u64,
        count: u64,
        shard: Option<Shard>,
        origin: &RangeOrigin,
    ) -> SeedRange {
        let (stride, offset) = shard.map_or((1, 0), |s| (s.count, s.index));
        let range = SeedRange {
            start,
            count,
            stride,
            offset,
        };
        if range.try_last().is_none() {
            let named: Vec<&str> = [&origin.start, &origin.count, &origin.shard]
                .into_iter()
                .flatten()
                .map(String::as_str)
                .collect();
            let named = match named.is_empty() {
                true => format!("start {start:#x}, {count} seeds"),
                false => named.join(" "),
            };
            panic!(
                "detsim: {named}: the sweep's seeds would pass u64::MAX \
                 (0xffffffffffffffff): its last seed is start + shard index + (seeds - 1) \
                 × shard count; lower DETSIM_SEED_START or DETSIM_SEEDS"
            );
        }
        range
    }

    /// The `k`-th seed (`k < count`).
    pub(crate) fn seed(&self, k: u64) -> u64 {
        debug_assert!(k < self.count);
        self.start + self.offset + k * self.stride
    }

    /// The last seed, or `None` when it would pass `u64::MAX`.
    fn try_last(&self) -> Option<u64> {
        let steps = self.count.checked_sub(1)?.checked_mul(self.stride)?;
        self.start.checked_add(self.offset)?.checked_add(steps)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn range(start: u64, count: u64, shard: Option<Shard>) -> SeedRange {
        SeedRange::new(start, count, shard, &RangeOrigin::default())
    }

    #[test]
    fn parses_shards() {
        assert_eq!(Shard::parse("1/4"), Some(Shard { index: 1, count: 4 }));
        assert_eq!(Shard::parse(" 0 / 1 "), Some(Shard { index: 0, count: 1 }));
        for bad in ["4/4", "1", "a/4", "-1/4", "1/0", "1/4/2", "/4"] {
            assert_eq!(Shard::parse(bad), None, "{bad}");
        }
        assert_eq!(Shard { index: 2, count: 8 }.to_string(), "2/8");
    }

    /// N shards of `count` seeds cover `start .. start + N·count` exactly once.
    #[test]
    fn shards_cover_the_range_once() {
        let (start, count, n) = (1_000, 25, 4);
        let mut seen: Vec<u64> = (0..n)
            .flat_map(|index| {
                let r = range(start, count, Some(Shard { index, count: n }));
                (0..count).map(move |k| r.seed(k))
            })
            .collect();
        seen.sort_unstable();
        let expected: Vec<u64> = (start..start + n * count).collect();
        assert_eq!(seen, expected);
        let shard1 = range(start, count, Some(Shard { index: 1, count: n }));
        assert_eq!((shard1.seed(0), shard1.seed(1)), (1_001, 1_005));
    }

    #[test]
    fn the_last_seed_may_be_u64_max() {
        let r = range(u64::MAX - 9, 10, None);
        assert_eq!(r.seed(9), u64::MAX);
        let r = range(u64::MAX - 8, 3, Some(Shard { index: 0, count: 4 }));
        assert_eq!(r.seed(2), u64::MAX);
    }

    fn overflow_message(
        start: u64,
        count: u64,
        shard: Option<Shard>,
        origin: RangeOrigin,
    ) -> String {
        let payload = std::panic::catch_unwind(|| SeedRange::new(start, count, shard, &origin))
            .expect_err("the range passes u64::MAX");
        payload.downcast_ref::<String>().unwrap().clone()
    }

    /// A range past `u64::MAX` is refused, naming the variables that made it.
    #[test]
    fn a_range_past_u64_max_names_its_variables() {
        let m = overflow_message(
            u64::MAX - 8,
            10,
            None,
            RangeOrigin {
                start: Some("DETSIM_SEED_START=0xfffffffffffffff7".into()),
                count: Some("DETSIM_SEEDS=10".into()),
                shard: None,
            },
        );
        assert!(
            m.contains("DETSIM_SEED_START=0xfffffffffffffff7 DETSIM_SEEDS=10")
                && m.contains("would pass u64::MAX"),
            "{m}"
        );
        let m = overflow_message(
            u64::MAX - 8,
            3,
            Some(Shard { index: 1, count: 4 }),
            RangeOrigin {
                shard: Some("DETSIM_SHARD=1/4".into()),
                ..RangeOrigin::default()
            },
        );
        assert!(m.contains("DETSIM_SHARD=1/4"), "{m}");
        let m = overflow_message(
            u64::MAX,
            1 << 62,
            Some(Shard { index: 0, count: 8 }),
            RangeOrigin::default(),
        );
        assert!(m.contains("would pass u64::MAX"), "{m}");
    }
}
