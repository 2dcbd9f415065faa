//! Looking at a failure: the trace file every reported failure writes (Chrome's
//! trace-event JSON, which Perfetto opens), the deviations from asyncio's order
//! explained, and where the blocked tasks of a deadlock wait.

use std::cell::{Cell, RefCell};
use std::collections::{BTreeMap, BTreeSet};
use std::rc::Rc;
use std::sync::atomic::{AtomicU32, Ordering};

use detsim::trace::EventKind;
use detsim::{Builder, Failure, JoinHandle, Scheduler, task, yield_now};
use serde_json::Value;

use crate::programs;

/// A failure of a lost update among three named tasks, shrunk.
fn lost_update_failure() -> Failure {
    Builder::new()
        .seeds(200)
        .jobs(1)
        .scheduler(Scheduler::random())
        .explore(|| programs::lost_update(3, 2))
        .failure
        .expect("a random sweep finds the lost update")
}

fn read_json(path: &std::path::Path) -> Value {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{path:?}: {e}"));
    serde_json::from_str(&text).expect("the trace file is JSON")
}

/// Checks the trace-event structure of `file` against the run `trace` it shows.
fn check_trace_file(file: &Value, trace: &detsim::Trace) {
    let events = file["traceEvents"].as_array().expect("a traceEvents array");
    for event in events {
        assert!(event["ph"].is_string(), "{event}");
        assert!(event["ts"].is_number(), "{event}");
        assert!(event["pid"].is_u64(), "{event}");
        assert!(event["tid"].is_u64(), "{event}");
        assert!(event["name"].is_string(), "{event}");
    }
    check_task_tracks(events, trace);
    check_poll_slices(events, trace);
    check_flows(events);
}

/// Every task of the run has a named track.
fn check_task_tracks(events: &[Value], trace: &detsim::Trace) {
    let names: BTreeMap<u64, String> = events
        .iter()
        .filter(|e| e["ph"] == "M" && e["name"] == "thread_name")
        .map(|e| {
            let tid = e["tid"].as_u64().unwrap();
            (tid, e["args"]["name"].as_str().unwrap().to_owned())
        })
        .collect();
    let mut tasks = BTreeSet::from([task::Id::ROOT]);
    for event in trace.events() {
        if let EventKind::Spawn { task, .. } = event.kind {
            tasks.insert(task);
        }
    }
    for task in &tasks {
        let label = match trace.name(*task) {
            Some(name) => format!("{task} {name}"),
            None => task.to_string(),
        };
        assert_eq!(names.get(&(task.as_u64() + 1)), Some(&label), "{names:?}");
    }
}

/// A poll slice for every poll, in order, on the polled task's track, each wider than
/// zero and after the one before.
fn check_poll_slices(events: &[Value], trace: &detsim::Trace) {
    let slices: Vec<&Value> = events
        .iter()
        .filter(|e| e["ph"] == "X" && e["cat"] == "poll")
        .collect();
    let polls: Vec<(u64, task::Id)> = trace
        .events()
        .iter()
        .filter_map(|e| match e.kind {
            EventKind::Poll { task, .. } => Some((e.step, task)),
            _ => None,
        })
        .collect();
    assert_eq!(slices.len(), polls.len());
    let mut last_end = f64::MIN;
    for (slice, (step, task)) in slices.iter().zip(&polls) {
        assert_eq!(slice["args"]["step"].as_u64(), Some(*step), "{slice}");
        assert_eq!(slice["tid"].as_u64(), Some(task.as_u64() + 1), "{slice}");
        let ts = slice["ts"].as_f64().unwrap();
        let dur = slice["dur"].as_f64().unwrap();
        assert!(dur > 0.0 && ts >= last_end, "{slice}");
        last_end = ts + dur;
    }
}

/// Every flow that ends started before, with the same id; there is one.
fn check_flows(events: &[Value]) {
    let starts: BTreeMap<u64, f64> = events
        .iter()
        .filter(|e| e["ph"] == "s")
        .map(|e| (e["id"].as_u64().unwrap(), e["ts"].as_f64().unwrap()))
        .collect();
    let ends: Vec<&Value> = events.iter().filter(|e| e["ph"] == "f").collect();
    assert!(!ends.is_empty());
    for end in ends {
        let start = starts[&end["id"].as_u64().unwrap()];
        assert!(start <= end["ts"].as_f64().unwrap(), "{end}");
    }
}

#[test]
fn a_failure_writes_a_trace_file_perfetto_opens_and_the_report_names_it() {
    let failure = lost_update_failure();
    let path = failure.trace_file().expect("a trace file was written");
    let name = path.file_name().unwrap().to_str().unwrap();
    let test = std::thread::current().name().unwrap().replace("::", "__");
    assert_eq!(name, format!("{test}-{:#x}.trace.json", failure.seed));
    assert_eq!(path.parent().unwrap().file_name().unwrap(), "detsim-traces");
    let report = failure.to_string();
    assert!(
        report.contains(&format!(
            "trace file (open it in ui.perfetto.dev or chrome://tracing):\n    {}\n",
            path.display()
        )),
        "{report}"
    );
    let file = read_json(path);
    check_trace_file(&file, failure.trace());
    // The shrunk run: as many poll slices as the failure's polls.
    let polls = file["traceEvents"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["ph"] == "X" && e["cat"] == "poll")
        .count();
    assert_eq!(polls as u64, failure.steps);
    assert!(
        file["otherData"]["timeline"]
            .as_str()
            .unwrap()
            .contains("simulated time in microseconds")
    );
}

#[test]
fn write_trace_writes_the_same_file_anywhere() {
    let failure = lost_update_failure();
    let dir = std::env::temp_dir().join(format!("detsim-pictures-{}", std::process::id()));
    let path = dir.join("nested").join("lost_update.json");
    failure.write_trace(&path).unwrap();
    assert_eq!(
        std::fs::read(&path).unwrap(),
        std::fs::read(failure.trace_file().unwrap()).unwrap()
    );
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn timers_and_clock_jumps_show_in_the_file() {
    let failure = Builder::new()
        .seed(1)
        .explore(|| async {
            let sleeper = task::Builder::new().name("sleeper").spawn(async {
                detsim::time::sleep(std::time::Duration::from_millis(5)).await;
            });
            sleeper.await.unwrap();
            panic!("after the sleep");
        })
        .failure
        .unwrap();
    let file = read_json(failure.trace_file().unwrap());
    check_trace_file(&file, failure.trace());
    let events = file["traceEvents"].as_array().unwrap();
    let jump = events
        .iter()
        .find(|e| e["cat"] == "clock")
        .expect("a clock jump");
    assert_eq!(jump["s"], "g");
    assert_eq!(jump["name"], "clock advances to 0.005000s");
    // The timeline: ts is the simulated time in µs plus one per earlier unit.
    let ts = jump["ts"].as_f64().unwrap();
    assert!((5000.0..5010.0).contains(&ts), "{jump}");
    let timer = events.iter().find(|e| e["cat"] == "timer").unwrap();
    assert_eq!(timer["tid"].as_u64(), Some(2), "on the sleeper's track");
    let panic = events.iter().find(|e| e["name"] == "panicked").unwrap();
    assert_eq!(panic["args"]["message"], "after the sleep");
    // The sleeper's first poll ended in sleep, at this file's line.
    let suspended = events
        .iter()
        .find(|e| e["tid"] == 2 && e["cat"] == "poll")
        .map(|e| e["args"]["suspended"].as_str().unwrap().to_owned())
        .unwrap();
    assert!(
        suspended.starts_with(&format!("in sleep ({}:", file!())),
        "{suspended}"
    );
}

#[test]
fn a_passing_run_writes_a_trace_file_on_request() {
    let path = std::env::temp_dir().join(format!("detsim-passing-{}.json", std::process::id()));
    let _ = std::fs::remove_file(&path);
    let report = Builder::new()
        .seed(3)
        .write_trace_to(&path)
        .explore(|| programs::lost_update(1, 1));
    assert!(report.passed());
    let file = read_json(&path);
    let events = file["traceEvents"].as_array().unwrap();
    let names: Vec<&str> = events
        .iter()
        .filter(|e| e["name"] == "thread_name")
        .map(|e| e["args"]["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["t0 main", "t1 incr-0"]);
    assert!(events.iter().any(|e| e["cat"] == "poll"));
    let title = events[0]["args"]["name"].as_str().unwrap();
    assert!(title.ends_with("passed"), "{title}");
    std::fs::remove_file(&path).unwrap();
}

/// The lines of this file where the writer and the reader yield.
static YIELD_LINES: [AtomicU32; 2] = [AtomicU32::new(0), AtomicU32::new(0)];

/// Passes in asyncio's order: the writer spawns the reader and yields, the reader
/// yields, the writer writes, the reader reads. Fails only when the reader's second poll
/// runs ahead of the writer's (step 4).
async fn write_then_read() {
    let writer = task::Builder::new().name("writer").spawn(async move {
        let flag = Rc::new(Cell::new(false));
        let seen = flag.clone();
        let reader = task::Builder::new().name("reader").spawn(async move {
            YIELD_LINES[1].store(line!() + 1, Ordering::Relaxed);
            yield_now().await;
            assert!(seen.get(), "the reader read before the write");
        });
        YIELD_LINES[0].store(line!() + 1, Ordering::Relaxed);
        yield_now().await;
        flag.set(true);
        reader.await.unwrap();
    });
    writer.await.unwrap();
}

#[test]
fn the_report_explains_each_deviation_with_the_tasks_positions() {
    let failure = Builder::new()
        .seeds(100)
        .jobs(1)
        .scheduler(Scheduler::random())
        .explore(write_then_read)
        .failure
        .expect("a random sweep runs the reader first");
    let lines = failure.explain();
    assert_eq!(failure.schedule().deviations(), 1, "{failure}");
    let here = file!();
    let [writer, reader] = [0, 1].map(|i| YIELD_LINES[i].load(Ordering::Relaxed));
    assert_eq!(
        lines,
        [format!(
            "step 4: t2 reader ran although t1 writer was first in line of 2 ready (asyncio \
             would have run t1)\n    t2 reader waited in yield_now ({here}:{reader}:25)\n    \
             t1 writer waited in yield_now ({here}:{writer}:21)"
        )],
        "{failure}"
    );
    let report = failure.to_string();
    assert!(
        report.contains(&format!(
            "\ndeviations from asyncio's order in the run below:\n  {}\n",
            lines[0]
        )),
        "{report}"
    );
    // FIFO order passes: no deviation, no explanation.
    assert!(
        Builder::new()
            .scheduler(Scheduler::fifo())
            .seeds(1)
            .explore(write_then_read)
            .passed()
    );
}

#[test]
fn a_deadlock_of_two_tasks_awaiting_each_other_names_the_cycle() {
    let bob_line = AtomicU32::new(0);
    let failure = Builder::new()
        .seeds(5)
        .explore(|| async {
            let slot: Rc<RefCell<Option<JoinHandle<()>>>> = Rc::default();
            let for_alice = slot.clone();
            let alice = task::Builder::new().name("alice").spawn(async move {
                while for_alice.borrow().is_none() {
                    yield_now().await;
                }
                let bob = for_alice.borrow_mut().take().unwrap();
                bob.await.unwrap();
            });
            bob_line.store(line!() + 2, Ordering::Relaxed);
            let bob = task::Builder::new().name("bob").spawn(async move {
                alice.await.unwrap();
            });
            *slot.borrow_mut() = Some(bob);
            futures::future::pending::<()>().await;
        })
        .failure
        .expect("a deadlock");
    let message = &failure.message;
    let alice = message
        .lines()
        .find(|l| l.starts_with("  t1 alice"))
        .unwrap();
    let bob = message.lines().find(|l| l.starts_with("  t2 bob")).unwrap();
    let here = file!();
    assert!(
        alice.contains(&format!(") waits on a JoinHandle of t2 bob ({here}:")),
        "{message}"
    );
    let at = format!("({here}:{}:", bob_line.load(Ordering::Relaxed));
    assert!(
        bob.contains(&format!(") waits on a JoinHandle of t1 alice {at}")),
        "{message}"
    );
    assert!(
        message.contains("\n  t0 main waits in a foreign future"),
        "{message}"
    );
    assert!(
        message.ends_with("\nwait-for cycle: t1 alice -> t2 bob -> t1 alice"),
        "{message}"
    );
    assert!(failure.to_string().contains("wait-for cycle: t1 alice"));
}

#[test]
fn a_deadlock_on_a_foreign_channel_says_where_each_task_waits() {
    let line = AtomicU32::new(0);
    let body = || async {
        let (tx, rx) = futures::channel::oneshot::channel::<()>();
        let reader = task::Builder::new().name("reader").spawn(async move {
            yield_now().await;
            rx.await.unwrap(); // waits on a channel detsim does not know
        });
        let _holder = task::Builder::new().name("holder").spawn(async move {
            let _tx = tx; // keeps the channel open, never sends
            futures::future::pending::<()>().await;
        });
        line.store(line!() + 1, Ordering::Relaxed);
        reader.await.unwrap();
    };
    let failure = Builder::new().seeds(5).explore(body).failure.unwrap();
    let message = &failure.message;
    let here = file!();
    assert!(
        message.contains(&format!(
            "\n  t0 main waits on a JoinHandle of t1 reader ({here}:{}:",
            line.load(Ordering::Relaxed)
        )),
        "{message}"
    );
    let reader = message
        .lines()
        .find(|l| l.starts_with("  t1 reader"))
        .unwrap();
    assert!(
        reader.contains(") waits in a foreign future (last detsim call: yield_now "),
        "{message}"
    );
    assert!(reader.contains(&format!("yield_now {here}:")), "{message}");
    let holder = message
        .lines()
        .find(|l| l.starts_with("  t2 holder"))
        .unwrap();
    assert!(holder.ends_with(") waits in a foreign future"), "{message}");
    assert!(!message.contains("cycle"), "{message}");
}

#[test]
fn the_trace_file_groups_tasks_by_node() {
    use detsim_runtime::node;
    let failure = Builder::new()
        .seed(0)
        .explore(|| async {
            let a = node::create("alpha");
            let b = node::create("beta");
            let on_a = node::spawn_on(a, Some("server".to_owned()), yield_now());
            let on_b = node::spawn_on(b, None, yield_now());
            let also_a = node::spawn_on(a, Some("client".to_owned()), yield_now());
            let _ = (on_a.await, on_b.await, also_a.await);
            panic!("look at the nodes");
        })
        .failure
        .unwrap();
    let file = read_json(failure.trace_file().unwrap());
    check_trace_file(&file, failure.trace());
    let events = file["traceEvents"].as_array().unwrap();
    let processes: BTreeMap<u64, &str> = events
        .iter()
        .filter(|e| e["name"] == "process_name")
        .map(|e| {
            (
                e["pid"].as_u64().unwrap(),
                e["args"]["name"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(processes[&2], "node alpha");
    assert_eq!(processes[&3], "node beta");
    assert!(processes[&1].starts_with("detsim: "), "{processes:?}");
    // Each task's track is in its node's process: t1 and t3 on alpha, t2 on beta.
    let pid_of = |tid: u64| {
        events
            .iter()
            .find(|e| e["name"] == "thread_name" && e["tid"] == tid)
            .map(|e| {
                (
                    e["pid"].as_u64().unwrap(),
                    e["args"]["name"].as_str().unwrap(),
                )
            })
            .unwrap()
    };
    assert_eq!(pid_of(1), (1, "t0 main"));
    assert_eq!(pid_of(2), (2, "t1 alpha/server"));
    assert_eq!(pid_of(3), (3, "t2 beta"));
    assert_eq!(pid_of(4), (2, "t3 alpha/client"));
    // So are its polls.
    assert!(
        events
            .iter()
            .filter(|e| e["cat"] == "poll" && e["tid"] == 4)
            .all(|e| e["pid"] == 2)
    );
}

/// The trace file of a passing run of `body` (seed 3, FIFO order).
fn passing_trace_file<F, Fut>(name: &str, body: F) -> Value
where
    F: Fn() -> Fut + Sync,
    Fut: std::future::Future<Output = ()>,
{
    let path = std::env::temp_dir().join(format!("detsim-{name}-{}.json", std::process::id()));
    let _ = std::fs::remove_file(&path);
    let report = Builder::new()
        .seed(3)
        .scheduler(Scheduler::fifo())
        .write_trace_to(&path)
        .explore(body);
    assert!(report.passed(), "{report:?}");
    let file = read_json(&path);
    std::fs::remove_file(&path).unwrap();
    file
}

/// The slices of `file` on the track named `track`, in order, as (name, ts, end).
fn slices_on(file: &Value, track: &str) -> Vec<(String, f64, f64)> {
    let events = file["traceEvents"].as_array().unwrap();
    let (pid, tid) = events
        .iter()
        .find(|e| e["name"] == "thread_name" && e["args"]["name"] == track)
        .map(|e| (&e["pid"], &e["tid"]))
        .unwrap_or_else(|| panic!("no track {track:?}"));
    events
        .iter()
        .filter(|e| e["ph"] == "X" && &e["pid"] == pid && &e["tid"] == tid)
        .map(|e| {
            let ts = e["ts"].as_f64().unwrap();
            let end = ts + e["dur"].as_f64().unwrap();
            (e["name"].as_str().unwrap().to_owned(), ts, end)
        })
        .collect()
}

/// The trace file of alice holding a mutex and a permit for 10 ms while bob waits
/// for two permits and then the mutex; and where the mutex was created.
fn locks_trace_file() -> (Value, String) {
    let created = AtomicU32::new(0);
    let file = passing_trace_file("locks", || async {
        created.store(line!() + 1, Ordering::Relaxed);
        let lock = Rc::new(detsim::sync::Mutex::new(0));
        let permits = Rc::new(detsim::sync::Semaphore::new(2));
        let (l, p) = (lock.clone(), permits.clone());
        let alice = task::Builder::new().name("alice").spawn(async move {
            let guard = l.lock().await;
            let permit = p.acquire().await.unwrap();
            detsim::time::sleep(std::time::Duration::from_millis(10)).await;
            drop(guard);
            drop(permit);
        });
        let (l, p) = (lock.clone(), permits.clone());
        let bob = task::Builder::new().name("bob").spawn(async move {
            let _permits = p.acquire_many(2).await.unwrap();
            let _guard = l.lock().await;
        });
        alice.await.unwrap();
        bob.await.unwrap();
    });
    let here = format!(
        "sim/tests/it/pictures.rs:{}",
        created.load(Ordering::Relaxed)
    );
    (file, here)
}

#[test]
fn the_trace_file_shows_who_held_each_lock_and_who_waited_for_it() {
    let (file, here) = locks_trace_file();
    let alice = slices_on(&file, "t1 alice · locks");
    let bob = slices_on(&file, "t2 bob · locks");
    let names = |slices: &[(String, f64, f64)]| -> Vec<String> {
        slices.iter().map(|s| s.0.clone()).collect()
    };
    // alice holds the lock, then a permit, for 10 ms of simulated time (overlapping
    // holds go on a second track); bob waits for both permits meanwhile, then holds
    // them and the lock.
    assert_eq!(alice.len(), 1, "{alice:?}");
    assert!(
        alice[0]
            .0
            .starts_with(&format!("holds the Mutex created at {here}:")),
        "{alice:?}"
    );
    assert!(alice[0].2 - alice[0].1 >= 10_000.0, "{alice:?}");
    let alice_permit = slices_on(&file, "t1 alice · locks (2)");
    assert!(
        alice_permit[0]
            .0
            .starts_with("holds 1 permit of the Semaphore created at"),
        "{alice_permit:?}"
    );
    let bob_names = names(&bob);
    assert!(
        bob_names[0].starts_with("waits for 2 permits of the Semaphore created at")
            && bob_names[1].starts_with("holds 2 permits of the Semaphore created at"),
        "{bob_names:?}"
    );
    assert!(
        bob_names[0].contains(", from sim/tests/it/pictures.rs:"),
        "the acquiring line: {bob_names:?}"
    );
    let bob_lock = slices_on(&file, "t2 bob · locks (2)");
    assert!(
        bob_lock[0]
            .0
            .starts_with(&format!("holds the Mutex created at {here}:")),
        "{bob_lock:?}"
    );
    // bob waited while alice held her permit, and held them once she let go.
    let (wait, hold) = (&bob[0], &bob[1]);
    assert!(
        wait.1 < alice_permit[0].2 && alice_permit[0].2 <= wait.2,
        "{bob:?}"
    );
    assert!(wait.2 <= hold.1, "{bob:?}");
}

#[test]
fn the_trace_file_shows_a_history_per_client_and_marks_a_violation() {
    use detsim::history::{History, Kv, KvOp, KvRet};
    let failure = Builder::new()
        .seeds(1)
        .explore(|| async {
            let history = History::new();
            let write = history.invoke(1, KvOp::Put(7u64, 1u64));
            detsim::time::sleep(std::time::Duration::from_millis(10)).await;
            write.complete(KvRet::Ok);
            drop(history.invoke(3, KvOp::Put(7, 9)));
            detsim::time::sleep(std::time::Duration::from_millis(10)).await;
            history.invoke(2, KvOp::Get(7)).complete(KvRet::Value(None));
            history.assert_linearizable(&Kv::new());
        })
        .failure
        .expect("the stale read fails the run");
    let file = read_json(failure.trace_file().expect("a trace file"));
    let events = file["traceEvents"].as_array().unwrap();
    let history = events
        .iter()
        .find(|e| e["name"] == "process_name" && e["args"]["name"] == "history 1")
        .expect("a process for the history");
    // A track per client, in order.
    let tracks: Vec<&str> = events
        .iter()
        .filter(|e| e["name"] == "thread_name" && e["pid"] == history["pid"])
        .map(|e| e["args"]["name"].as_str().unwrap())
        .collect();
    assert_eq!(tracks, ["client 1", "client 2", "client 3"]);
    // Each operation a slice from invocation to completion, named by its input and
    // result; the violation's operations marked.
    let put = &slices_on(&file, "client 1")[..];
    assert_eq!(put.len(), 1);
    assert_eq!(put[0].0, "✗ Put(7, 1) -> Ok");
    assert!(put[0].2 - put[0].1 >= 10_000.0, "{put:?}");
    let get = slices_on(&file, "client 2");
    assert_eq!(get[0].0, "✗ Get(7) -> Value(None)");
    assert!(put[0].2 < get[0].1);
    let dropped = slices_on(&file, "client 3");
    assert_eq!(dropped[0].0, "Put(7, 9) -> ? (indeterminate)");
    let marked: Vec<&Value> = events
        .iter()
        .filter(|e| e["cat"] == "history" && e["args"]["marked"].is_string())
        .collect();
    assert_eq!(marked.len(), 2);
    for slice in marked {
        assert_eq!(slice["cname"], "terrible");
        assert!(
            slice["args"]["marked"]
                .as_str()
                .unwrap()
                .contains("in the smallest non-linearizable part found (the kv model, key 7)"),
            "{slice}"
        );
        assert_eq!(slice["args"]["task"], "t0 main");
    }
}
