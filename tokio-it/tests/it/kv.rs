//! The kv application's test suite: a server on `127.0.0.1:0`, clients, key expiry
//! checked with `time::pause()` and `advance()`, the connection limit, and shutdown.
//! Passes on real tokio and, swept over seeds, under `--cfg detsim`.

use std::net::SocketAddr;
use std::time::Duration;

use detsim_tokio_it::kv::{Client, server};
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tokio::time;

/// A server on an ephemeral port, stopped by the returned sender.
async fn start(max_connections: usize) -> (SocketAddr, oneshot::Sender<()>, JoinHandle<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = oneshot::channel::<()>();
    let server = tokio::spawn(server::run(listener, max_connections, async move {
        let _ = stopped.await;
    }));
    (addr, stop, server)
}

/// On real tokio, a paused clock auto-advances when the runtime has nothing to do but
/// wait on real sockets: its time driver polls the I/O driver without waiting and, if
/// nothing is ready yet, jumps straight to the next timer — a key's expiry — so a key
/// can expire while the test waits for the server's reply (the flaw the issue
/// describes; it is a race with the kernel's loopback delivery, rarely lost on an idle
/// machine, more often under load). This task keeps a timer 1 ms ahead, so the clock
/// can only creep while sockets are waited on. detsim needs nothing of the sort: its
/// sockets are part of the simulation, and time moves only when every task waits.
fn anchor_the_clock() {
    #[cfg(not(detsim))]
    tokio::spawn(async {
        loop {
            time::sleep(Duration::from_millis(1)).await;
        }
    });
}

#[tokio::test]
async fn set_get_and_del() {
    let (addr, stop, server) = start(server::MAX_CONNECTIONS).await;
    let mut client = Client::connect(addr).await.unwrap();
    assert_eq!(client.get("greeting").await.unwrap(), None);
    client.set("greeting", "hello").await.unwrap();
    assert_eq!(
        client.get("greeting").await.unwrap().as_deref(),
        Some("hello")
    );
    // Another connection sees the same data.
    let mut other = Client::connect(addr).await.unwrap();
    assert_eq!(
        other.get("greeting").await.unwrap().as_deref(),
        Some("hello")
    );
    assert!(other.del("greeting").await.unwrap());
    assert!(!other.del("greeting").await.unwrap());
    assert_eq!(client.get("greeting").await.unwrap(), None);
    stop.send(()).unwrap();
    server.await.unwrap();
}

#[tokio::test]
async fn a_key_with_an_expiry_is_there_before_and_gone_after() {
    time::pause();
    anchor_the_clock();
    let (addr, stop, server) = start(server::MAX_CONNECTIONS).await;
    let mut client = Client::connect(addr).await.unwrap();
    client
        .set_expires("session", "abc", Duration::from_secs(60))
        .await
        .unwrap();
    client.set("forever", "x").await.unwrap();
    assert_eq!(client.get("session").await.unwrap().as_deref(), Some("abc"));
    time::advance(Duration::from_secs(30)).await;
    assert_eq!(client.get("session").await.unwrap().as_deref(), Some("abc"));
    time::advance(Duration::from_secs(31)).await;
    assert_eq!(
        client.get("session").await.unwrap(),
        None,
        "expired after 61 s"
    );
    assert_eq!(client.get("forever").await.unwrap().as_deref(), Some("x"));
    // A later, shorter expiry is honoured too (the expiry task is woken for it).
    client
        .set_expires("a", "1", Duration::from_secs(600))
        .await
        .unwrap();
    client
        .set_expires("b", "2", Duration::from_secs(10))
        .await
        .unwrap();
    time::advance(Duration::from_secs(11)).await;
    assert_eq!(client.get("b").await.unwrap(), None);
    assert_eq!(client.get("a").await.unwrap().as_deref(), Some("1"));
    stop.send(()).unwrap();
    server.await.unwrap();
}

#[tokio::test]
async fn connections_beyond_the_limit_wait_for_a_free_slot() {
    time::pause();
    anchor_the_clock();
    let (addr, stop, server) = start(2).await;
    let mut first = Client::connect(addr).await.unwrap();
    let mut second = Client::connect(addr).await.unwrap();
    first.set("k", "v").await.unwrap();
    second.set("k2", "v2").await.unwrap();
    // The third connects (the listener's backlog) but is not served yet.
    let mut third = Client::connect(addr).await.unwrap();
    let waiting = tokio::spawn(async move {
        let value = third.get("k").await.unwrap();
        (value, third)
    });
    time::sleep(Duration::from_secs(1)).await;
    assert!(!waiting.is_finished(), "served beyond the limit");
    drop(first); // frees a slot
    let (value, _third) = waiting.await.unwrap();
    assert_eq!(value.as_deref(), Some("v"));
    stop.send(()).unwrap();
    server.await.unwrap();
}

#[tokio::test]
async fn shutdown_closes_every_connection_and_waits_for_them() {
    let (addr, stop, server) = start(server::MAX_CONNECTIONS).await;
    let mut client = Client::connect(addr).await.unwrap();
    client.set("k", "v").await.unwrap();
    stop.send(()).unwrap();
    server.await.unwrap();
    // The connection task is gone: the request fails instead of hanging.
    assert!(client.get("k").await.is_err());
    assert!(Client::connect(addr).await.is_err(), "still listening");
}

/// The application's own shutdown path: ctrl-c, broadcast to every connection.
#[cfg(detsim)]
#[tokio::test]
async fn ctrl_c_shuts_the_server_down() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server = tokio::spawn(server::run_until_ctrl_c(listener));
    let mut clients = Vec::new();
    for i in 0..3 {
        let mut client = Client::connect(addr).await.unwrap();
        client.set(&format!("k{i}"), "v").await.unwrap();
        clients.push(client);
    }
    tokio::simulation::send_ctrl_c();
    server.await.unwrap();
    for mut client in clients {
        assert!(client.get("k0").await.is_err());
    }
}

/// Every seed of a sweep runs the same way twice, network included (CI also runs this
/// module with `DETSIM_CHECK_DETERMINISM=1`).
#[cfg(detsim)]
#[test]
fn the_application_is_deterministic() {
    detsim::Builder::new()
        .seeds(64)
        .check_determinism(true)
        .check(|| async {
            let (addr, stop, server) = start(2).await;
            let mut clients = Vec::new();
            for i in 0..3 {
                let mut client = Client::connect(addr).await.unwrap();
                client
                    .set_expires(&format!("k{i}"), "v", Duration::from_millis(100 * i))
                    .await
                    .unwrap_or(());
                clients.push(client);
                if i == 1 {
                    drop(clients.remove(0)); // make room for the third
                }
            }
            time::sleep(Duration::from_millis(150)).await;
            let _ = clients[1].get("k1").await;
            stop.send(()).unwrap();
            server.await.unwrap();
        });
}
