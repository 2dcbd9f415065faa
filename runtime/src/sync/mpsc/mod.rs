//! tokio's multi-producer, single-consumer channels, simulated: bounded ([`channel`],
//! with permits) and unbounded ([`unbounded_channel`]), with weak senders, tokio's
//! types, methods and error types.
//!
//! # Design
//! A bounded channel's capacity is a fair semaphore (the one every lock of
//! [`crate::sync`] is built on): senders get capacity in the order they asked, a
//! `reserve_many` at the head holds back smaller requests behind it, a dropped
//! `send`/`reserve` future keeps nothing, and every permit reserved and not yet used
//! records its task and site. Every wait (`recv`, `send` on a full channel, `reserve`,
//! `closed`) notes its task and call site (`#[track_caller]`), so a deadlock report
//! says e.g. `waits in mpsc::Receiver::recv (tests/x.rs:40:9)` — never a foreign
//! future.
//!
//! # Determinism
//! Wakes happen inside the poll that sends, receives or closes, in queue order; nothing
//! reads a clock or a RNG, so schedules are a function of the seed.

mod bounded;
mod chan;
pub mod error;
mod unbounded;

pub use bounded::{OwnedPermit, Permit, PermitIterator, Receiver, Sender, WeakSender, channel};
pub use unbounded::{UnboundedReceiver, UnboundedSender, WeakUnboundedSender, unbounded_channel};
