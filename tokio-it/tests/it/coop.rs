//! tokio's coop budget through the facade: the resources spend it and yield once it is
//! spent, `unconstrained` and blocking regions lift it, and a task that is always ready
//! starves neither a timer nor the network. The same tests pass on real tokio.

use std::future::poll_fn;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::Poll;
use std::time::Duration;

use futures::FutureExt;
use tokio::io::{AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio::task::{self, JoinSet, coop};

/// tokio's budget per poll of a task.
const BUDGET: usize = 128;

/// Spawns a task that yields forever, so that some task is always ready.
fn spinner() -> task::JoinHandle<()> {
    tokio::spawn(async {
        loop {
            task::yield_now().await;
        }
    })
}

/// A `select!` polls nothing once the budget is spent: it yields, although a branch
/// is ready.
#[tokio::test]
async fn select_yields_once_the_budget_is_spent() {
    let select = || {
        Box::pin(async {
            tokio::select! {
                biased;
                () = coop::consume_budget() => {},
                () = std::future::ready(()) => {},
            }
        })
    };
    for _ in 0..BUDGET {
        assert!(futures::poll!(select()).is_ready());
    }
    assert!(!coop::has_budget_remaining());
    assert!(futures::poll!(select()).is_pending());
}

/// `unconstrained` lifts the budget: a thousand ready receives in one poll.
#[tokio::test]
async fn unconstrained_receives_without_yielding() {
    let (tx, mut rx) = mpsc::unbounded_channel();
    for _ in 0..1_000 {
        tx.send(()).unwrap();
    }
    task::unconstrained(poll_fn(|cx| {
        for _ in 0..1_000 {
            assert_eq!(rx.poll_recv(cx), Poll::Ready(Some(())));
        }
        Poll::Ready(())
    }))
    .await;
}

/// How many tasks `finished_tasks` spawns.
const TASKS: usize = 1_000;

/// A `JoinSet` of `TASKS` tasks, once every one has finished.
async fn finished_tasks() -> JoinSet<()> {
    let done = Arc::new(AtomicUsize::new(0));
    let mut set = JoinSet::new();
    for _ in 0..TASKS {
        let done = done.clone();
        set.spawn(async move {
            done.fetch_add(1, Ordering::SeqCst);
        });
    }
    while done.load(Ordering::SeqCst) < TASKS {
        task::yield_now().await;
    }
    set
}

/// A `JoinSet` of finished tasks yields before it has given them all in one poll.
#[tokio::test(flavor = "current_thread")]
async fn join_set_spends_the_budget() {
    let mut set = finished_tasks().await;
    let (mut joined, mut yields) = (0, 0);
    loop {
        match set.join_next().now_or_never() {
            Some(Some(result)) => {
                result.unwrap();
                joined += 1;
            }
            Some(None) => break,
            None => {
                yields += 1;
                task::yield_now().await;
            }
        }
    }
    assert_eq!(joined, TASKS);
    assert!(yields >= TASKS / BUDGET, "{yields} yields");
}

/// `try_join_next` is not budgeted (it cannot yield): one loop of it in one poll gives
/// every finished task.
#[tokio::test(flavor = "current_thread")]
async fn try_join_next_gives_every_finished_task() {
    let mut set = finished_tasks().await;
    let mut joined = 0;
    while let Some(result) = set.try_join_next() {
        result.unwrap();
        joined += 1;
    }
    assert_eq!(joined, TASKS);
}

/// `block_in_place` lifts the budget: a `block_on` inside it receives 200 ready
/// messages without being told to yield (which would hang it).
#[tokio::test(flavor = "multi_thread")]
async fn block_in_place_is_not_budgeted() {
    let (tx, mut rx) = mpsc::unbounded_channel();
    for i in 0..200 {
        tx.send(i).unwrap();
    }
    drop(tx);
    let count = task::block_in_place(|| {
        futures::executor::block_on(async {
            let mut count = 0;
            while rx.recv().await.is_some() {
                count += 1;
            }
            count
        })
    });
    assert_eq!(count, 200);
}

/// A loop on an always-ready reader (`io::empty`) spends the budget, so the timeout
/// around it gets a turn and fires.
#[tokio::test]
async fn a_timeout_fires_around_an_always_ready_loop() {
    let spin = async {
        let mut buffer = [0u8; 1];
        loop {
            let _ = tokio::io::empty().read(&mut buffer).await;
        }
    };
    let result = tokio::time::timeout(Duration::from_millis(1), spin).await;
    assert!(result.is_err());
}

/// A task that wakes itself forever does not keep a timer from coming due.
#[tokio::test(flavor = "current_thread")]
async fn an_always_ready_task_does_not_starve_a_timer() {
    let spinning = spinner();
    let start = tokio::time::Instant::now();
    tokio::time::sleep(Duration::from_millis(10)).await;
    assert!(start.elapsed() >= Duration::from_millis(10));
    spinning.abort();
}

/// Tasks that are always ready starve neither the network nor its peers: a TCP
/// exchange completes.
#[tokio::test(flavor = "current_thread")]
async fn always_ready_tasks_do_not_starve_the_network() {
    let spinning: Vec<_> = (0..8).map(|_| spinner()).collect();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server = tokio::spawn(async move {
        let (mut stream, _) = listener.accept().await.unwrap();
        stream.write_all(b"hello world").await.unwrap();
    });
    let mut stream = TcpStream::connect(addr).await.unwrap();
    let mut buffer = [0u8; 11];
    stream.read_exact(&mut buffer).await.unwrap();
    assert_eq!(&buffer, b"hello world");
    server.await.unwrap();
    spinning.iter().for_each(|s| s.abort());
}

/// How many of up to 200 polls of `poll` one poll of the task completes.
async fn ready_in_one_poll(mut poll: impl FnMut(&mut std::task::Context<'_>) -> bool) -> usize {
    // A fresh poll of the task, with a full budget.
    task::yield_now().await;
    poll_fn(|cx| Poll::Ready((0..200).take_while(|_| poll(cx)).count())).await
}

/// UDP sends and receives spend the budget as tokio's sockets do: one poll of a task
/// completes 128 of them.
#[tokio::test]
async fn udp_sends_and_receives_spend_the_budget() {
    let tx = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let rx = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    tx.connect(rx.local_addr().unwrap()).await.unwrap();
    let sent = ready_in_one_poll(|cx| tx.poll_send(cx, b"ping").is_ready()).await;
    assert_eq!(sent, BUDGET);
    for _ in sent..200 {
        tx.send(b"ping").await.unwrap();
    }
    tokio::time::sleep(Duration::from_millis(10)).await;
    let mut buffer = [0u8; 4];
    let received = ready_in_one_poll(|cx| {
        let mut read = tokio::io::ReadBuf::new(&mut buffer);
        rx.poll_recv(cx, &mut read).is_ready()
    })
    .await;
    assert_eq!(received, BUDGET);
}

/// TCP reads and writes spend the budget too.
#[tokio::test]
async fn tcp_writes_spend_the_budget() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server = tokio::spawn(async move { listener.accept().await.unwrap().0 });
    let mut client = TcpStream::connect(addr).await.unwrap();
    let _server_side = server.await.unwrap();
    let written = ready_in_one_poll(|cx| {
        std::pin::Pin::new(&mut client)
            .poll_write(cx, b"x")
            .is_ready()
    })
    .await;
    assert_eq!(written, BUDGET);
}
