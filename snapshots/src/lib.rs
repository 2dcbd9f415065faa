//! Snapshots of detsim's traces and failure reports (tests only; see `tests/it`).
//!
//! A seed must mean the same run in every future version of detsim within a major
//! version: these insta snapshots pin the trace `Display` of fixed programs under fixed
//! seeds and every scheduler, and the full text of a failure report. A change that
//! moves a single poll shows up here as a diff to review, never silently.
