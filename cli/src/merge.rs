//! `cargo detsim merge`: the records of many shards, processes and machines put
//! together, per test: the seeds run (with gaps and overlaps named), and the distinct
//! failures by signature, each with its count, its lowest seed and that seed's replay
//! command.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;

use crate::coverage::{self, Covered, Listing, Range, Span};
use crate::record::{FailureRecord, Found, Record, Signature, binary_stem};

/// Every test of a campaign.
#[derive(Debug)]
pub(crate) struct Merged {
    pub(crate) tests: Vec<TestSummary>,
    pub(crate) records: usize,
    pub(crate) skipped: Vec<String>,
}

/// One test, over all its records.
#[derive(Debug)]
pub(crate) struct TestSummary {
    pub(crate) name: String,
    /// The test binary's name without cargo's hash.
    pub(crate) binary: String,
    pub(crate) records: usize,
    /// Seeds run (a seed run twice counts twice).
    pub(crate) runs: u128,
    pub(crate) ranges: Vec<Range>,
    pub(crate) schedulers: BTreeMap<String, u64>,
    pub(crate) commits: BTreeMap<String, usize>,
    pub(crate) hosts: BTreeSet<String>,
    pub(crate) elapsed_secs: f64,
    /// Records of sweeps that stopped at their first failure.
    pub(crate) stopped_at_first: usize,
    /// Distinct failures, the one with the lowest seed first.
    pub(crate) failures: Vec<Distinct>,
}

/// One distinct failure of a test: every failing seed with one signature.
#[derive(Debug)]
pub(crate) struct Distinct {
    pub(crate) signature: Signature,
    pub(crate) seeds: BTreeSet<u64>,
    /// The record of the lowest seed.
    pub(crate) lowest: FailureRecord,
}

impl Merged {
    /// Distinct failures over all tests.
    pub(crate) fn distinct_failures(&self) -> usize {
        self.tests.iter().map(|t| t.failures.len()).sum()
    }

    /// Seeds run over all tests.
    pub(crate) fn runs(&self) -> u128 {
        self.tests.iter().map(|t| t.runs).sum()
    }

    /// The report's last line.
    pub(crate) fn summary(&self) -> String {
        format!(
            "{} seeds of {} tests in {} records; {} distinct failures",
            self.runs(),
            self.tests.len(),
            self.records,
            self.distinct_failures()
        )
    }
}

/// Puts the records together, test by test (a test is its name and binary).
pub(crate) fn merge(found: Found) -> Merged {
    let records = found.records.len();
    let mut by_test: BTreeMap<(String, String), Vec<Record>> = BTreeMap::new();
    for record in found.records {
        let key = (record.test.clone(), binary_stem(&record.binary).to_owned());
        by_test.entry(key).or_default().push(record);
    }
    let tests = by_test
        .into_iter()
        .map(|((name, binary), records)| summarize(name, binary, &records))
        .collect();
    Merged {
        tests,
        records,
        skipped: found.skipped,
    }
}

fn summarize(name: String, binary: String, records: &[Record]) -> TestSummary {
    let covered: Vec<Covered> = records
        .iter()
        .map(|r| Covered {
            start: r.seeds.start,
            count: r.seeds.count,
            stride: r.seeds.stride,
            offset: r.seeds.offset,
        })
        .collect();
    let mut schedulers = BTreeMap::new();
    let mut commits = BTreeMap::new();
    let mut by_signature: BTreeMap<Signature, Distinct> = BTreeMap::new();
    for record in records {
        for (scheduler, runs) in &record.runs_per_scheduler {
            *schedulers.entry(scheduler.clone()).or_insert(0) += runs;
        }
        let commit = record
            .commit
            .clone()
            .unwrap_or_else(|| "unknown".to_owned());
        *commits.entry(commit).or_insert(0) += 1;
        for failure in &record.failures {
            let distinct = by_signature
                .entry(failure.signature.clone())
                .or_insert_with(|| Distinct {
                    signature: failure.signature.clone(),
                    seeds: BTreeSet::new(),
                    lowest: failure.clone(),
                });
            distinct.seeds.insert(failure.seed);
            if failure.seed < distinct.lowest.seed {
                distinct.lowest = failure.clone();
            }
        }
    }
    let mut failures: Vec<Distinct> = by_signature.into_values().collect();
    failures.sort_by_key(|d| d.lowest.seed);
    TestSummary {
        name,
        binary,
        records: records.len(),
        runs: records.iter().map(|r| u128::from(r.seeds.count)).sum(),
        ranges: coverage::ranges(&covered),
        schedulers,
        commits,
        hosts: records.iter().map(|r| r.host.clone()).collect(),
        elapsed_secs: records.iter().map(|r| r.elapsed_secs).sum(),
        stopped_at_first: records.iter().filter(|r| r.stopped_at_first).count(),
        failures,
    }
}

/// Ranges a test's report lists before "and N more ranges".
const LISTED_RANGES: usize = 3;

impl TestSummary {
    /// The coverage lines: one per range (the first few), gaps and overlaps named.
    pub(crate) fn coverage_lines(&self) -> Vec<String> {
        let mut lines = Vec::new();
        let unbroken = self
            .ranges
            .iter()
            .filter(|r| {
                r.check
                    .as_ref()
                    .is_some_and(|c| c.gaps.is_empty() && c.overlaps.is_empty())
            })
            .count();
        if self.ranges.len() > 1 {
            lines.push(format!(
                "{} separate ranges of seeds, {unbroken} of them with no gaps and no overlaps:",
                self.ranges.len()
            ));
        }
        for range in self.ranges.iter().take(LISTED_RANGES) {
            let mut line = format!(
                "{}: {} seed runs in {} record{}: ",
                Span(range.lo, range.hi),
                range.runs,
                range.records,
                if range.records == 1 { "" } else { "s" }
            );
            match &range.check {
                None => line.push_str("gaps and overlaps not checked (strides differ over a range too wide to check seed by seed)"),
                Some(check) if check.gaps.is_empty() && check.overlaps.is_empty() => {
                    line.push_str("no gaps, no overlaps");
                }
                Some(check) => {
                    let mut parts = Vec::new();
                    if !check.gaps.is_empty() {
                        parts.push(format!("gaps: {}", Listing(&check.gaps)));
                    } else {
                        parts.push("no gaps".to_owned());
                    }
                    if !check.overlaps.is_empty() {
                        parts.push(format!("overlaps: {}", Listing(&check.overlaps)));
                    } else {
                        parts.push("no overlaps".to_owned());
                    }
                    line.push_str(&parts.join("; "));
                }
            }
            lines.push(line);
        }
        if self.ranges.len() > LISTED_RANGES {
            lines.push(format!(
                "and {} more ranges",
                self.ranges.len() - LISTED_RANGES
            ));
        }
        if self.stopped_at_first > 0 {
            lines.push(format!(
                "{} record(s) stopped at their first failure (DETSIM_STOP_AT_FIRST=1): their \
                 shards' later seeds did not run",
                self.stopped_at_first
            ));
        }
        lines
    }

    /// The failure's text: one paragraph per distinct failure.
    pub(crate) fn failure_text(&self) -> String {
        let mut text = String::new();
        for (i, d) in self.failures.iter().enumerate() {
            let lowest = &d.lowest;
            let at = d
                .signature
                .location
                .as_deref()
                .map(|l| format!(" at {l}"))
                .unwrap_or_default();
            let _ = writeln!(
                text,
                "{}. {} ({}{at}), {} seed{}, lowest {:#x} ({}):",
                i + 1,
                lowest.message,
                lowest.kind,
                d.seeds.len(),
                if d.seeds.len() == 1 { "" } else { "s" },
                lowest.seed,
                lowest.scheduler,
            );
            let _ = writeln!(text, "   {}", lowest.replay);
            if let Some(file) = &lowest.token_file {
                let _ = writeln!(
                    text,
                    "   (token file {file}: copy it along from the machine that ran the seed)"
                );
            }
        }
        text
    }
}

/// The report a person reads; its last line is [`Merged::summary`].
pub(crate) fn render(merged: &Merged) -> String {
    let mut out = String::new();
    for test in &merged.tests {
        let _ = writeln!(
            out,
            "test {} ({}, {} record{})",
            test.name,
            test.binary,
            test.records,
            if test.records == 1 { "" } else { "s" }
        );
        for line in test.coverage_lines() {
            let _ = writeln!(out, "  {line}");
        }
        let schedulers: Vec<String> = test
            .schedulers
            .iter()
            .map(|(s, n)| format!("{s} {n}"))
            .collect();
        let commits: Vec<String> = test
            .commits
            .iter()
            .map(|(c, n)| match test.commits.len() {
                1 => c.clone(),
                _ => format!("{c} ({n} records)"),
            })
            .collect();
        let _ = writeln!(
            out,
            "  runs by scheduler: {}; commit {}; {} host{}; {:.1} s",
            schedulers.join(", "),
            commits.join(", "),
            test.hosts.len(),
            if test.hosts.len() == 1 { "" } else { "s" },
            test.elapsed_secs
        );
        match test.failures.len() {
            0 => out.push_str("  no failures\n"),
            n => {
                let _ = writeln!(
                    out,
                    "  {n} distinct failure{}:",
                    if n == 1 { "" } else { "s" }
                );
                for line in test.failure_text().lines() {
                    let _ = writeln!(out, "    {line}");
                }
            }
        }
        out.push('\n');
    }
    for skipped in &merged.skipped {
        let _ = writeln!(out, "skipped {skipped}");
    }
    out.push_str(&merged.summary());
    out.push('\n');
    out
}
