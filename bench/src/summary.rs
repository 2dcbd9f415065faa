//! The figures the design's performance targets name, gathered from every section and
//! printed together at the end of a run.

/// One line of the summary.
#[derive(Debug)]
struct Line {
    what: String,
    value: f64,
    target: &'static str,
    met: bool,
}

/// The target figures of a run, in the order the sections found them.
#[derive(Debug, Default)]
pub(crate) struct Summary {
    lines: Vec<Line>,
}

impl Summary {
    /// Adds a figure, its target as text, and whether it is met.
    pub(crate) fn add(&mut self, what: String, value: f64, target: &'static str, met: bool) {
        self.lines.push(Line {
            what,
            value,
            target,
            met,
        });
    }

    /// Prints every figure with its target.
    pub(crate) fn print(&self) {
        if self.lines.is_empty() {
            return;
        }
        println!("## summary: the targets of the design, from this run");
        for line in &self.lines {
            println!(
                "  {:<52} {:>8.2}  target {:<10} {}",
                line.what,
                line.value,
                line.target,
                if line.met { "met" } else { "NOT MET" }
            );
        }
    }
}
