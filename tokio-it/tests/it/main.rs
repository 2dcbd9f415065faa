//! The facade's tests, one binary: each module exercises one of tokio's modules
//! through `detsim-tokio`, the same source on real tokio and under `--cfg detsim`.

mod coop;
mod crate_graph;
mod fs;
mod kv;
mod local;
mod net;
mod panics;
mod runtime;
mod select;
mod shutdown;
mod signal;
mod sync;
mod task;
mod time;
