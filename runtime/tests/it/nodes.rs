//! Nodes: a spawned task inherits its node; kill drops every task of a node in id
//! order with the node current; pause holds a node's tasks (and what its timers wake)
//! until resume; traces name a task's node.

use std::cell::RefCell;
use std::rc::Rc;
use std::time::Duration;

use detsim_runtime::{Runtime, node, spawn, time};

struct OnDrop(Rc<RefCell<Vec<String>>>, &'static str);

impl Drop for OnDrop {
    fn drop(&mut self) {
        let node = node::name(node::current());
        self.0.borrow_mut().push(format!("{} on {node}", self.1));
    }
}

#[test]
fn spawned_tasks_inherit_their_node_and_kill_drops_them_all_in_id_order() {
    Runtime::new(1).block_on(async {
        let log = Rc::new(RefCell::new(Vec::new()));
        let a = node::create("a");
        let b = node::create("b");
        assert_eq!(node::current(), node::NodeId::NONE);
        let l = log.clone();
        let first = node::spawn_on(a, Some("init".into()), async move {
            assert_eq!(node::current(), a);
            let l2 = l.clone();
            spawn(async move {
                let _guard = OnDrop(l2, "child");
                std::future::pending::<()>().await;
            });
            let _guard = OnDrop(l, "init");
            std::future::pending::<()>().await;
        });
        let l = log.clone();
        let other = node::spawn_on(b, None, async move {
            let _guard = OnDrop(l, "other");
            time::sleep(Duration::from_secs(1)).await;
        });
        detsim_runtime::yield_now().await;
        detsim_runtime::yield_now().await;
        node::kill(a);
        assert_eq!(*log.borrow(), ["init on a", "child on a"]);
        assert!(first.await.unwrap_err().is_cancelled());
        other.await.unwrap();
        assert_eq!(log.borrow().len(), 3, "node b was not touched");
    });
}

/// A task spawned on a node in the same poll as the node's kill, before it was ever
/// polled, is dropped with the node: it never runs and its handle says cancelled; so is
/// a task a node's task spawns in the poll in which it kills its own node.
#[test]
fn a_task_spawned_in_the_same_poll_as_its_node_s_kill_does_not_survive_it() {
    Runtime::new(1).block_on(async {
        let ran = Rc::new(RefCell::new(Vec::new()));
        let n = node::create("n");
        let r = ran.clone();
        let task = node::spawn_on(n, Some("init".into()), async move {
            r.borrow_mut().push("init");
        });
        node::kill(n);
        assert!(task.await.unwrap_err().is_cancelled());

        let m = node::create("m");
        let r = ran.clone();
        let killer = node::spawn_on(m, Some("killer".into()), async move {
            let r2 = r.clone();
            let child = spawn(async move { r2.borrow_mut().push("child") });
            node::kill(m);
            r.borrow_mut().push("killer after the kill");
            assert!(child.await.unwrap_err().is_cancelled());
            std::future::pending::<()>().await;
        });
        time::sleep(Duration::from_secs(1)).await;
        // The killer's own poll runs to its end; nothing of `m` runs after it.
        assert_eq!(*ran.borrow(), ["killer after the kill"]);
        assert!(killer.await.unwrap_err().is_cancelled());
    });
}

#[test]
fn a_paused_node_runs_nothing_until_it_resumes() {
    Runtime::new(2).block_on(async {
        let n = node::create("n");
        let ticks = Rc::new(RefCell::new(Vec::new()));
        let t = ticks.clone();
        node::spawn_on(n, Some("ticker".into()), async move {
            loop {
                time::sleep(Duration::from_secs(1)).await;
                t.borrow_mut().push(time::now().since_start().as_secs());
            }
        });
        time::sleep(Duration::from_millis(2500)).await;
        assert_eq!(*ticks.borrow(), [1, 2]);
        node::pause(n);
        assert!(node::is_paused(n));
        time::sleep(Duration::from_secs(5)).await;
        assert_eq!(*ticks.borrow(), [1, 2], "no tick while paused");
        node::resume(n);
        time::sleep(Duration::from_millis(1)).await;
        // The timer due at 3 s fired during the pause; its task ran on resume.
        assert_eq!(*ticks.borrow(), [1, 2, 7]);
        node::kill(n);
    });
}

#[test]
fn traces_name_the_node_of_a_task_and_show_notes() {
    let mut rt = Runtime::new(3);
    rt.set_trace(true);
    rt.block_on(async {
        let n = node::create("raft-2");
        node::spawn_on(n, Some("ticker".into()), async {})
            .await
            .unwrap();
        node::note(|| "partition raft-1 | raft-2".to_owned());
    });
    let trace = rt.take_trace().unwrap().to_string();
    assert!(trace.contains("t1 raft-2/ticker"), "{trace}");
    assert!(trace.contains("partition raft-1 | raft-2"), "{trace}");
}
