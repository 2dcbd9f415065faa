//! Integration tests of `detsim-runtime`, one module per behaviour. Each semantic rule
//! of the README and ARCHITECTURE.md (asyncio's task rules, virtual time, seeded
//! choice, stalls) is checked under `fifo`, and under `random` and `pct` over many seeds
//! (see [`util::schedules`]), so a test fails if the rule breaks under any of them.

mod cancellation;
mod channels;
mod channels_bw;
mod coop;
mod decisions;
mod documented;
mod extension;
mod fifo_order;
mod foreign_wakers;
mod lazy_start;
mod nodes;
mod outside;
mod results;
mod seeded_choice;
mod stalls;
mod sync;
mod trace;
mod util;
mod virtual_time;
