//! The grammars of detsim's settings, each parsed in exactly one place: scheduler names
//! (`DETSIM_SCHEDULER`, `detsim::Scheduler`'s `FromStr`, `#[detsim::test(scheduler =
//! "…")]`) and seeds (`DETSIM_SEED`, `DETSIM_SEED_START`, the facade's
//! `#[tokio::main]`).
//!
//! # Design
//! A crate of its own, with no dependencies, because a proc-macro crate
//! (`detsim-macros`) cannot share a module with the crates it expands into: the macro
//! checks an argument at compile time with the very function `detsim` parses it with at
//! run time, so the macro rejects exactly what the runtime rejects. Each grammar has its
//! parser and the text of its expected form (`*_FORM`), which every error message
//! quotes.
//!
//! # What must never vary
//! Parsing is pure: the same text gives the same value on every machine.
//!
//! ```
//! use detsim_grammar::{SchedulerName, parse_scheduler, parse_seed};
//!
//! assert_eq!(parse_scheduler(" pct:3 "), Some(SchedulerName::Pct(3)));
//! assert_eq!(parse_scheduler("pct:0"), None);
//! assert_eq!(parse_seed("0x2a"), Some(42));
//! assert_eq!(parse_seed("1_000"), Some(1000));
//! ```

#![forbid(unsafe_code)]

/// The scheduler names [`parse_scheduler`] accepts, as error messages state them.
pub const SCHEDULER_FORM: &str =
    "`portfolio`, `random`, `fifo` or `pct:<depth>` with a depth of at least 1, such as pct:3";

/// A scheduler, by name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SchedulerName {
    /// `portfolio`: seeds take turns among the strategies of detsim's portfolio.
    Portfolio,
    /// `random`: a uniform choice at every decision.
    Random,
    /// `fifo`: asyncio's order.
    Fifo,
    /// `pct:<depth>`, depth at least 1: PCT.
    Pct(u32),
}

/// Parses a scheduler name ([`SCHEDULER_FORM`]); white space around it is ignored.
/// `None` for anything else (`Random`, `pct`, `pct:0`, `lifo`, …).
pub fn parse_scheduler(s: &str) -> Option<SchedulerName> {
    match s.trim() {
        "portfolio" => Some(SchedulerName::Portfolio),
        "random" => Some(SchedulerName::Random),
        "fifo" => Some(SchedulerName::Fifo),
        other => {
            let depth = other.strip_prefix("pct:")?.parse::<u32>().ok()?;
            (depth >= 1).then_some(SchedulerName::Pct(depth))
        }
    }
}

/// The seeds [`parse_seed`] accepts, as error messages state them.
pub const SEED_FORM: &str = "a decimal or 0x-prefixed hexadecimal u64, such as 42 or 0x2a";

/// Parses a seed ([`SEED_FORM`]): decimal, or hexadecimal with a `0x` (or `0X`) prefix;
/// `_` separators allowed; white space around it is ignored. `None` for anything else,
/// a value past `u64::MAX` included.
pub fn parse_seed(s: &str) -> Option<u64> {
    let s = s.trim().replace('_', "");
    match s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
        Some(hex) => u64::from_str_radix(hex, 16).ok(),
        None => s.parse().ok(),
    }
}

/// Scheduler names, accepted and refused, that the tests of `detsim` and of
/// `detsim-macros` both run: each side accepts exactly those [`parse_scheduler`] does.
#[doc(hidden)]
pub const SCHEDULER_SAMPLES: &[&str] = &[
    "portfolio",
    "random",
    "fifo",
    "pct:1",
    "pct:3",
    " pct:3 ",
    "",
    "Random",
    "pct",
    "pct:",
    "pct:0",
    "pct:-1",
    "pct:x",
    "lifo",
    "pct:99999999999",
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schedulers() {
        assert_eq!(parse_scheduler("portfolio"), Some(SchedulerName::Portfolio));
        assert_eq!(parse_scheduler("random"), Some(SchedulerName::Random));
        assert_eq!(parse_scheduler("fifo\n"), Some(SchedulerName::Fifo));
        assert_eq!(parse_scheduler("pct:12"), Some(SchedulerName::Pct(12)));
        for bad in [
            "", "Random", "pct", "pct:", "pct:0", "pct:-1", "pct:x", "lifo",
        ] {
            assert_eq!(parse_scheduler(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn seeds() {
        assert_eq!(parse_seed("42"), Some(42));
        assert_eq!(parse_seed(" 0X2A "), Some(42));
        assert_eq!(parse_seed("0xffff_ffff_ffff_ffff"), Some(u64::MAX));
        for bad in ["", "0x", "0xzz", "-1", "18446744073709551616", "forty"] {
            assert_eq!(parse_seed(bad), None, "{bad:?}");
        }
    }
}
