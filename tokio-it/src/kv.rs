//! A key-value server over TCP, in the style of tokio's mini-redis, written only
//! against tokio's API, and its client library.
//!
//! The protocol is one command per line, one reply per line:
//! `SET key value` and `SET key value PX <ms>` (expires after `ms`) → `OK`;
//! `GET key` → `VALUE <value>` or `NIL`; `DEL key` → `1` or `0`; anything else →
//! `ERR <reason>`.
//!
//! The server ([`server::run`]): accepts connections up to a limit (a `Semaphore`
//! permit per connection), serves each in its own task whose `select!` loop waits for
//! the next line or the shutdown broadcast, and stops when its shutdown future
//! completes ([`server::run_until_ctrl_c`] uses `signal::ctrl_c()`), waiting for every
//! connection to finish. A background task expires keys at their deadline with
//! `sleep_until`, woken by a `Notify` when an earlier deadline is set.

pub mod client;
pub mod db;
pub mod server;

pub use client::Client;
pub use db::Db;
