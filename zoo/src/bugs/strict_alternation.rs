//! A bug that needs two tasks to alternate strictly.

use std::cell::Cell;
use std::rc::Rc;

use detsim::{spawn, yield_now};

use crate::support::join;

/// How many times the reader tries before it gives up.
const ATTEMPTS: u32 = 6;

/// A seqlock: the writer bumps a sequence number at each of its steps; the reader reads
/// the sequence number, awaits (it copies the data), and accepts its copy if the number
/// has not moved, else tries again, at most 6 times. The writer makes one
/// more update than the reader has attempts.
///
/// Shows when the writer runs between every two steps of the reader: the ping-pong
/// order of asyncio's FIFO queue, which `fifo` produces on its first seed, and PCT when
/// a run demotes a task at each of its yields (detsim's PCT with a yield patience of 1,
/// shuttle's PCT always). A uniform random scheduler rarely alternates that long: it
/// takes hundreds of seeds.
pub async fn strict_alternation() {
    let seq = Rc::new(Cell::new(0u64));
    let reader = {
        let seq = Rc::clone(&seq);
        spawn(async move {
            for _ in 0..ATTEMPTS {
                let before = seq.get();
                yield_now().await; // copy the data
                if seq.get() == before {
                    return;
                }
            }
            panic!(
                "seqlock reader starved: the writer moved during each of its {ATTEMPTS} attempts"
            );
        })
    };
    let writer = {
        let seq = Rc::clone(&seq);
        spawn(async move {
            for _ in 0..=ATTEMPTS {
                seq.set(seq.get() + 1);
                yield_now().await;
            }
        })
    };
    join(reader).await;
    join(writer).await;
}
