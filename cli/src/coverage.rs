//! Which seeds a test's records covered: the runs, the ranges, and in each range the
//! seeds nobody ran (gaps) and the seeds run more than once (overlaps).
//!
//! A record covers the arithmetic progression `start + offset + k·stride`, `k < count`,
//! and stands for the *nominal range* `start .. start + stride·count`: the range its
//! campaign (every shard of that stride, same start and count) was meant to cover.
//! Records whose ranges overlap or touch form one range of the report; within it,
//! every seed is expected exactly once. So four shards of one campaign form one range;
//! CI jobs that split `0..1000` and `1000..2000` form one range; the rounds of a
//! continuous campaign, each from a random start, form a range each.
//!
//! Within a range whose records share one stride `d` (every sharded campaign), each
//! residue class modulo `d` is a line of intervals: exact arithmetic whatever the seed
//! counts. A range that mixes strides is checked seed by seed on a bitmap, up to
//! [`BITMAP_LIMIT`] seeds; a larger one is reported as not checked.

use std::fmt;

/// The widest range that mixes strides and is still checked seed by seed.
const BITMAP_LIMIT: u128 = 1 << 27;
/// The largest stride checked residue by residue.
const RESIDUE_LIMIT: u64 = 1 << 16;

/// Seeds `first + k·stride`, `k < count`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct Progression {
    pub(crate) first: u64,
    pub(crate) stride: u64,
    pub(crate) count: u64,
}

/// One record's seeds, as coverage sees them.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Covered {
    pub(crate) start: u64,
    pub(crate) count: u64,
    pub(crate) stride: u64,
    pub(crate) offset: u64,
}

impl Covered {
    fn first(&self) -> u128 {
        u128::from(self.start) + u128::from(self.offset)
    }

    /// The nominal range, widened to the seeds actually run if they fall outside it.
    fn hull(&self) -> (u128, u128) {
        let nominal_end = u128::from(self.start) + u128::from(self.stride) * u128::from(self.count);
        let last = self.first() + u128::from(self.stride) * u128::from(self.count - 1);
        (
            u128::from(self.start).min(self.first()),
            nominal_end.max(last + 1),
        )
    }
}

/// A range of a test's coverage.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Range {
    /// First seed and one past the last.
    pub(crate) lo: u128,
    pub(crate) hi: u128,
    pub(crate) records: usize,
    /// Seeds run in the range (a seed run twice counts twice).
    pub(crate) runs: u128,
    /// `None` when the range is too large to check.
    pub(crate) check: Option<Check>,
}

/// The seeds of a range not run, and run more than once.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(crate) struct Check {
    pub(crate) gaps: Vec<Progression>,
    pub(crate) overlaps: Vec<Progression>,
}

/// A test's coverage: its ranges, lowest first.
pub(crate) fn ranges(records: &[Covered]) -> Vec<Range> {
    let mut records: Vec<Covered> = records.iter().copied().filter(|r| r.count > 0).collect();
    records.sort_by_key(|r| r.hull());
    let mut groups: Vec<Vec<Covered>> = Vec::new();
    let mut group_end = 0;
    for record in records {
        let (lo, hi) = record.hull();
        match groups.last_mut() {
            Some(group) if lo <= group_end => {
                group.push(record);
                group_end = group_end.max(hi);
            }
            _ => {
                groups.push(vec![record]);
                group_end = hi;
            }
        }
    }
    groups.iter().map(|group| range(group)).collect()
}

fn range(records: &[Covered]) -> Range {
    let lo = records.iter().map(|r| r.hull().0).min().unwrap_or(0);
    let hi = records.iter().map(|r| r.hull().1).max().unwrap_or(0);
    let stride = records[0].stride;
    let check = if records.iter().all(|r| r.stride == stride) && stride <= RESIDUE_LIMIT {
        Some(by_residue(records, lo, hi, stride))
    } else if hi - lo <= BITMAP_LIMIT {
        Some(by_bitmap(records, lo, hi))
    } else {
        None
    };
    Range {
        lo,
        hi,
        records: records.len(),
        runs: records.iter().map(|r| u128::from(r.count)).sum(),
        check,
    }
}

/// The seeds `x` of `lo..hi` with `x ≡ r (mod d)` are `q·d + r` for `q` in the result.
fn quotients(lo: u128, hi: u128, r: u128, d: u128) -> (u128, u128) {
    let first_at_or_above = |x: u128| if x <= r { 0 } else { (x - r).div_ceil(d) };
    (first_at_or_above(lo), first_at_or_above(hi))
}

fn by_residue(records: &[Covered], lo: u128, hi: u128, stride: u64) -> Check {
    let d = u128::from(stride);
    let mut by_class: std::collections::BTreeMap<u128, Vec<(u128, u128)>> = Default::default();
    for record in records {
        let first = record.first();
        let q = first / d;
        by_class
            .entry(first % d)
            .or_default()
            .push((q, q + u128::from(record.count)));
    }
    let mut check = Check::default();
    let progression = |q0: u128, q1: u128, r: u128| Progression {
        first: (q0 * d + r) as u64,
        stride,
        count: (q1 - q0) as u64,
    };
    for r in 0..d {
        let (qlo, qhi) = quotients(lo, hi, r, d);
        let mut intervals = by_class.remove(&r).unwrap_or_default();
        intervals.sort_unstable();
        // Sweep: `covered_to` is where the union so far ends; intervals come in order
        // of their start, so overlap pieces do too and merge with the previous one.
        let mut covered_to = qlo;
        let mut overlaps: Vec<(u128, u128)> = Vec::new();
        for (a, b) in intervals {
            if a > covered_to {
                check.gaps.push(progression(covered_to, a, r));
            } else if a < covered_to {
                let piece = (a, b.min(covered_to));
                match overlaps.last_mut() {
                    Some(last) if piece.0 <= last.1 => last.1 = last.1.max(piece.1),
                    _ => overlaps.push(piece),
                }
            }
            covered_to = covered_to.max(b);
        }
        if covered_to < qhi {
            check.gaps.push(progression(covered_to, qhi, r));
        }
        check
            .overlaps
            .extend(overlaps.into_iter().map(|(a, b)| progression(a, b, r)));
    }
    check.gaps.sort_unstable();
    check.overlaps.sort_unstable();
    check
}

fn by_bitmap(records: &[Covered], lo: u128, hi: u128) -> Check {
    let size = (hi - lo) as usize;
    let mut once = vec![0u64; size.div_ceil(64)];
    let mut twice = vec![0u64; size.div_ceil(64)];
    for record in records {
        for k in 0..u128::from(record.count) {
            let i = (record.first() + k * u128::from(record.stride) - lo) as usize;
            let bit = 1 << (i % 64);
            if once[i / 64] & bit != 0 {
                twice[i / 64] |= bit;
            }
            once[i / 64] |= bit;
        }
    }
    let runs_of = |bits: &[u64], set: bool| {
        let mut out = Vec::new();
        let mut i = 0;
        while i < size {
            if (bits[i / 64] >> (i % 64) & 1 == 1) == set {
                let begin = i;
                while i < size && (bits[i / 64] >> (i % 64) & 1 == 1) == set {
                    i += 1;
                }
                out.push(Progression {
                    first: (lo + begin as u128) as u64,
                    stride: 1,
                    count: (i - begin) as u64,
                });
            }
            i += 1;
        }
        out
    };
    Check {
        gaps: runs_of(&once, false),
        overlaps: runs_of(&twice, true),
    }
}

/// `0x10..0x20` (one past the last), as a range of seeds.
pub(crate) struct Span(pub(crate) u128, pub(crate) u128);

impl fmt::Display for Span {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:#x}..{:#x}", self.0, self.1)
    }
}

/// Seeds listed for a reader: a few progressions, then how many more.
pub(crate) struct Listing<'a>(pub(crate) &'a [Progression]);

/// Progressions a listing names before "and N more".
const LISTED: usize = 4;

impl fmt::Display for Listing<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let seeds: u128 = self.0.iter().map(|p| u128::from(p.count)).sum();
        write!(f, "{seeds} seed{}: ", if seeds == 1 { "" } else { "s" })?;
        for (i, p) in self.0.iter().take(LISTED).enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            let last = u128::from(p.first) + u128::from(p.stride) * u128::from(p.count - 1);
            match (p.count, p.stride) {
                (1, _) => write!(f, "{:#x}", p.first)?,
                (_, 1) => write!(f, "{}", Span(u128::from(p.first), last + 1))?,
                (_, d) => write!(f, "every {d}th of {:#x}..={last:#x}", p.first)?,
            }
        }
        if self.0.len() > LISTED {
            write!(f, " and {} more", self.0.len() - LISTED)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn shard(start: u64, count: u64, index: u64, n: u64) -> Covered {
        Covered {
            start,
            count,
            stride: n,
            offset: index,
        }
    }

    #[test]
    fn four_shards_cover_one_range_without_gaps() {
        let records: Vec<Covered> = (0..4).map(|i| shard(0, 100, i, 4)).collect();
        let ranges = ranges(&records);
        assert_eq!(ranges.len(), 1);
        let r = &ranges[0];
        assert_eq!((r.lo, r.hi, r.records, r.runs), (0, 400, 4, 400));
        assert_eq!(r.check, Some(Check::default()));
    }

    /// A shard that stopped early leaves its tail as a gap; a shard run twice is an
    /// overlap; a missing shard is a gap of its whole class.
    #[test]
    fn names_gaps_and_overlaps() {
        let records = [
            shard(0, 100, 0, 4),
            shard(0, 10, 1, 4),
            shard(0, 100, 2, 4),
            shard(0, 100, 2, 4),
        ];
        let check = ranges(&records)[0].check.clone().unwrap();
        assert_eq!(
            check.gaps,
            [
                Progression {
                    first: 3,
                    stride: 4,
                    count: 100
                },
                Progression {
                    first: 41,
                    stride: 4,
                    count: 90
                },
            ]
        );
        assert_eq!(
            check.overlaps,
            [Progression {
                first: 2,
                stride: 4,
                count: 100
            }]
        );
        assert_eq!(
            Listing(&check.gaps).to_string(),
            "190 seeds: every 4th of 0x3..=0x18f, every 4th of 0x29..=0x18d"
        );
    }

    #[test]
    fn touching_ranges_merge_and_distant_ones_do_not() {
        let plain = |start, count| Covered {
            start,
            count,
            stride: 1,
            offset: 0,
        };
        let ranges = ranges(&[plain(1000, 1000), plain(0, 1000), plain(1 << 40, 5)]);
        assert_eq!(ranges.len(), 2);
        assert_eq!((ranges[0].lo, ranges[0].hi), (0, 2000));
        assert_eq!(ranges[0].check, Some(Check::default()));
        assert_eq!(
            Span(ranges[1].lo, ranges[1].hi).to_string(),
            "0x10000000000..0x10000000005"
        );
    }

    #[test]
    fn seeds_near_u64_max() {
        let records = [shard(u64::MAX - 7, 2, 0, 4), shard(u64::MAX - 7, 2, 3, 4)];
        let check = ranges(&records)[0].check.clone().unwrap();
        let gap = |first| Progression {
            first,
            stride: 4,
            count: 2,
        };
        assert_eq!(check.gaps, [gap(u64::MAX - 6), gap(u64::MAX - 5)]);
        assert!(check.overlaps.is_empty());
    }

    /// Both methods agree with counting seed by seed, on many small campaigns.
    #[test]
    fn agrees_with_a_seed_by_seed_count() {
        let mut state = 0x2545_f491_4f6c_dd1d_u64;
        let mut next = |n: u64| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state % n
        };
        for case in 0..300 {
            let mixed = case % 3 == 0;
            let n = 1 + next(5);
            let records: Vec<Covered> = (0..1 + next(6))
                .map(|_| {
                    let stride = if mixed { 1 + next(5) } else { n };
                    Covered {
                        start: next(3) * 7,
                        count: 1 + next(12),
                        stride,
                        offset: next(stride),
                    }
                })
                .collect();
            let mut runs: BTreeMap<u128, u32> = BTreeMap::new();
            for r in &records {
                for k in 0..u128::from(r.count) {
                    *runs
                        .entry(r.first() + k * u128::from(r.stride))
                        .or_default() += 1;
                }
            }
            for range in ranges(&records) {
                let check = range.check.unwrap();
                let seeds = |ps: &[Progression]| -> Vec<u128> {
                    let mut v: Vec<u128> = ps
                        .iter()
                        .flat_map(|p| {
                            (0..u128::from(p.count))
                                .map(move |k| u128::from(p.first) + k * u128::from(p.stride))
                        })
                        .collect();
                    v.sort_unstable();
                    v
                };
                let expected_gaps: Vec<u128> = (range.lo..range.hi)
                    .filter(|x| !runs.contains_key(x))
                    .collect();
                let expected_overlaps: Vec<u128> = (range.lo..range.hi)
                    .filter(|x| runs.get(x).is_some_and(|&c| c > 1))
                    .collect();
                assert_eq!(seeds(&check.gaps), expected_gaps, "{records:?}");
                assert_eq!(seeds(&check.overlaps), expected_overlaps, "{records:?}");
            }
        }
    }
}
