//! ABA on a shared slot: a compare-and-swap that cannot see A→B→A.

use std::cell::{Cell, RefCell};
use std::rc::Rc;

use detsim::{spawn, yield_now};

use crate::support::join;

/// A free list of nodes 1 and 2 (a Treiber stack without a version counter), with a
/// record of which nodes are handed out.
struct FreeList {
    head: Cell<Option<usize>>,
    next: RefCell<[Option<usize>; 3]>,
    in_use: RefCell<[bool; 3]>,
}

impl FreeList {
    fn new() -> Self {
        FreeList {
            head: Cell::new(Some(2)),
            next: RefCell::new([None, None, Some(1)]),
            in_use: RefCell::new([false; 3]),
        }
    }

    fn hand_out(&self, node: usize) -> usize {
        let mut in_use = self.in_use.borrow_mut();
        assert!(!in_use[node], "ABA: node {node} was handed out twice");
        in_use[node] = true;
        node
    }

    /// Pops in one step.
    fn pop(&self) -> Option<usize> {
        let node = self.head.get()?;
        self.head.set(self.next.borrow()[node]);
        Some(self.hand_out(node))
    }

    /// Pops the way a lock-free stack does: read the head and its successor, then
    /// compare-and-swap the head. Here an await (a preemption) splits the two.
    async fn pop_cas(&self) -> Option<usize> {
        let node = self.head.get()?;
        let next = self.next.borrow()[node];
        yield_now().await;
        if self.head.get() == Some(node) {
            self.head.set(next);
            Some(self.hand_out(node))
        } else {
            None
        }
    }

    fn push(&self, node: usize) {
        self.in_use.borrow_mut()[node] = false;
        self.next.borrow_mut()[node] = self.head.get();
        self.head.set(Some(node));
    }
}

/// Task `a` pops with a split compare-and-swap; task `b` pops twice and pushes its first
/// node back, awaiting between each; then the owner pops once more.
///
/// Shows when all three of `b`'s steps fall inside `a`'s window: `a`'s compare sees the
/// same head (A→B→A), installs the successor it read before, which `b` still holds, and
/// the owner's pop hands that node out a second time.
pub async fn aba_slot() {
    let list = Rc::new(FreeList::new());
    let a = {
        let list = Rc::clone(&list);
        spawn(async move { list.pop_cas().await })
    };
    let b = {
        let list = Rc::clone(&list);
        spawn(async move {
            let first = list.pop();
            yield_now().await;
            let _second = list.pop();
            yield_now().await;
            if let Some(node) = first {
                list.push(node);
            }
        })
    };
    join(a).await;
    join(b).await;
    let _ = list.pop();
}
