//! The merged report as JUnit XML, the format CI dashboards read (GitHub, GitLab,
//! Jenkins, Buildkite): a `<testsuite>` per test binary, a `<testcase>` per test with a
//! `<failure>` listing its distinct failures, and its coverage as `<system-out>`.
//!
//! Written by hand: the subset is small and fixed, and every piece of text goes through
//! [`escape`], which also drops the characters XML 1.0 cannot carry at all.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use crate::merge::{Merged, TestSummary};

/// The JUnit XML document of a merged campaign.
pub(crate) fn render(merged: &Merged) -> String {
    let mut by_binary: BTreeMap<&str, Vec<&TestSummary>> = BTreeMap::new();
    for test in &merged.tests {
        by_binary.entry(&test.binary).or_default().push(test);
    }
    let failing = |tests: &[&TestSummary]| tests.iter().filter(|t| !t.failures.is_empty()).count();
    let all: Vec<&TestSummary> = merged.tests.iter().collect();
    let mut xml = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    let _ = writeln!(
        xml,
        "<testsuites name=\"detsim campaign\" tests=\"{}\" failures=\"{}\" errors=\"0\" time=\"{:.3}\">",
        all.len(),
        failing(&all),
        all.iter().map(|t| t.elapsed_secs).sum::<f64>()
    );
    for (binary, tests) in by_binary {
        let _ = writeln!(
            xml,
            "  <testsuite name=\"{}\" tests=\"{}\" failures=\"{}\" errors=\"0\" skipped=\"0\" time=\"{:.3}\">",
            escape(binary),
            tests.len(),
            failing(&tests),
            tests.iter().map(|t| t.elapsed_secs).sum::<f64>()
        );
        for test in tests {
            let _ = writeln!(
                xml,
                "    <testcase name=\"{}\" classname=\"{}\" time=\"{:.3}\">",
                escape(&test.name),
                escape(binary),
                test.elapsed_secs
            );
            if !test.failures.is_empty() {
                let n = test.failures.len();
                let message = format!(
                    "{n} distinct failure{} in {} seed runs",
                    if n == 1 { "" } else { "s" },
                    test.runs
                );
                let _ = writeln!(
                    xml,
                    "      <failure message=\"{}\" type=\"detsim\">{}</failure>",
                    escape(&message),
                    escape(&test.failure_text())
                );
            }
            let coverage = test.coverage_lines().join("\n");
            let _ = writeln!(xml, "      <system-out>{}</system-out>", escape(&coverage));
            xml.push_str("    </testcase>\n");
        }
        xml.push_str("  </testsuite>\n");
    }
    xml.push_str("</testsuites>\n");
    xml
}

/// `text` as XML character data or an attribute value: markup characters escaped,
/// characters XML 1.0 does not allow (control characters other than tab and line
/// breaks, U+FFFE, U+FFFF) replaced by U+FFFD.
pub(crate) fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\t' | '\n' | '\r' => out.push(c),
            c if c < ' ' || c == '\u{FFFE}' || c == '\u{FFFF}' => out.push('\u{FFFD}'),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_markup_and_drops_what_xml_cannot_carry() {
        assert_eq!(
            escape("a<b & \"c\" 'd'>\u{1b}[31m\u{0}\tz\n"),
            "a&lt;b &amp; &quot;c&quot; &apos;d&apos;&gt;\u{FFFD}[31m\u{FFFD}\tz\n"
        );
        assert_eq!(escape("plain: ünïcode ✓"), "plain: ünïcode ✓");
    }
}
