//! Tests of the tokio facade (`detsim-tokio`), depended on as a user does:
//! `tokio = { package = "detsim-tokio", features = ["full"] }`. The same tests run on
//! real tokio (`cargo test -p detsim-tokio-it`) and simulated
//! (`RUSTFLAGS="--cfg detsim" cargo test -p detsim-tokio-it`); the ones about
//! simulation alone (seeding, replay) are `#[cfg(detsim)]`.
