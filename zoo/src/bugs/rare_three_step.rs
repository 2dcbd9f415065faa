//! A bug that needs one rare ordering of three steps in three tasks.

use std::cell::Cell;
use std::rc::Rc;

use detsim::{spawn, yield_now};

use crate::support::{join, pause};

/// Three tasks pass a stale value along: `a` raises `x` for one step, `b` copies a raised
/// `x` into `y` for one step, `c` fails if it sees `y` raised. Each first awaits a
/// different number of times (its setup: 2, 5 and 8 awaits), so their windows rarely
/// line up.
///
/// Shows only in the order: `a` raises `x`; `b` looks before `a` lowers it; `c` looks
/// before `b` lowers `y`. That is two ordering constraints, each inside a one-step
/// window: a bug of depth 3 in PCT's terms (two priority changes, each at one precise
/// poll out of about 20; PCT(3)'s bound 1/(n·k²) is about 1/1,200 with n = 3 tasks),
/// and under `fifo` it never shows. Random needs about a hundred seeds, PCT(3) a couple
/// of thousand.
pub async fn rare_three_step() {
    let x = Rc::new(Cell::new(false));
    let y = Rc::new(Cell::new(false));
    let a = {
        let x = Rc::clone(&x);
        spawn(async move {
            pause(2).await;
            x.set(true);
            yield_now().await;
            x.set(false);
        })
    };
    let b = {
        let (x, y) = (Rc::clone(&x), Rc::clone(&y));
        spawn(async move {
            pause(5).await;
            if x.get() {
                y.set(true);
                yield_now().await;
                y.set(false);
            }
        })
    };
    let c = {
        let y = Rc::clone(&y);
        spawn(async move {
            pause(8).await;
            assert!(
                !y.get(),
                "stale value: c saw y, copied by b from a's short-lived x"
            );
        })
    };
    join(a).await;
    join(b).await;
    join(c).await;
}
