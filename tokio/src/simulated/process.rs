//! `tokio::process` is not simulated: a child process is a real OS process whose exit
//! and pipes only tokio's reactor can watch. The module is real tokio's, so code that
//! uses it compiles; awaiting a child inside a simulation panics with tokio's "there is
//! no reactor running". Test such code without `--cfg detsim`, or put the process
//! behind a trait that the simulated test replaces.

#[cfg(feature = "process")]
pub use tokio::process::*;
