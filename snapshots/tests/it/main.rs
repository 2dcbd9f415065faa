//! Snapshots of traces and reports: a seed's schedule is part of detsim's
//! compatibility promise, and the report's format is a deliberate choice.

mod programs;
mod report;
mod traces;
