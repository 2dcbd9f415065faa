//! Tests of the tokio facade (`detsim-tokio`), depended on as a user does:
//! `tokio = { package = "detsim-tokio", features = ["full"] }`. The same tests run on
//! real tokio (`cargo test -p detsim-tokio-it`) and simulated
//! (`RUSTFLAGS="--cfg detsim" cargo test -p detsim-tokio-it`); the ones about
//! simulation alone (seeding, replay) are `#[cfg(detsim)]`.
//!
//! [`kv`] is a small but realistic tokio application written only against tokio's
//! API — a key-value server over TCP and its client library — whose test suite
//! (`tests/it/kv.rs`) passes on both.

pub mod kv;
