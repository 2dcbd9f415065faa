//! Integration tests of the `detsim` harness, one binary grouped by behaviour.

mod determinism;
mod parallel;
mod programs;
mod replay;
mod shrinking;
