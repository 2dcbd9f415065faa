//! Addresses and ports: loopback names, ephemeral ports, address in use, lookups,
//! and the panic outside a simulation.

use std::future::Future;
use std::io::ErrorKind;
use std::net::SocketAddr;
use std::pin::pin;
use std::task::{Context, Waker};

use detsim::net::{TcpListener, TcpStream, UdpSocket, lookup_host};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::run;

#[test]
fn port_zero_gives_ephemeral_ports_in_a_fixed_order() {
    let ports = |seed| {
        run(seed, async {
            let a = TcpListener::bind("127.0.0.1:0").await.unwrap();
            let b = TcpListener::bind("0.0.0.0:0").await.unwrap();
            let c = UdpSocket::bind("127.0.0.1:0").await.unwrap();
            let d = TcpStream::connect(a.local_addr().unwrap()).await.unwrap();
            [
                a.local_addr(),
                b.local_addr(),
                c.local_addr(),
                d.local_addr(),
            ]
            .map(|a| a.unwrap().port())
        })
    };
    assert_eq!(ports(1), [49152, 49153, 49154, 49155]);
    assert_eq!(ports(2), ports(1), "ports do not depend on the seed");
}

#[test]
fn binding_a_port_in_use_is_addr_in_use_until_it_is_closed() {
    run(1, async {
        let a = TcpListener::bind("127.0.0.1:8080").await.unwrap();
        let error = TcpListener::bind("127.0.0.1:8080").await.unwrap_err();
        assert_eq!(error.kind(), ErrorKind::AddrInUse);
        let error = TcpListener::bind("0.0.0.0:8080").await.unwrap_err();
        assert_eq!(error.kind(), ErrorKind::AddrInUse, "a wildcard overlaps");
        // Another protocol, or another loopback family, is another port.
        let _udp = UdpSocket::bind("127.0.0.1:8080").await.unwrap();
        let _v6 = TcpListener::bind("[::1]:8080").await.unwrap();
        drop(a);
        TcpListener::bind("127.0.0.1:8080").await.unwrap();
        let error = TcpListener::bind("10.1.2.3:80").await.unwrap_err();
        assert_eq!(error.kind(), ErrorKind::AddrNotAvailable);
    });
}

#[test]
fn localhost_resolves_to_both_loopbacks_and_both_work() {
    run(1, async {
        let addrs: Vec<SocketAddr> = lookup_host("localhost:80").await.unwrap().collect();
        assert_eq!(
            addrs,
            ["127.0.0.1:80".parse().unwrap(), "[::1]:80".parse().unwrap()]
        );
        let addrs: Vec<SocketAddr> = lookup_host(("localhost", 81)).await.unwrap().collect();
        assert_eq!(addrs.len(), 2);
        let error = lookup_host("no-such-host:80").await.err().unwrap();
        assert!(error.to_string().contains("no-such-host"), "{error}");
        let error = lookup_host("localhost").await.err().unwrap();
        assert_eq!(error.kind(), ErrorKind::InvalidInput);

        for bind in ["127.0.0.1:7000", "[::1]:7001", "0.0.0.0:7002"] {
            let listener = TcpListener::bind(bind).await.unwrap();
            let port = listener.local_addr().unwrap().port();
            let server = detsim::spawn(async move {
                let (mut s, _) = listener.accept().await.unwrap();
                s.write_all(b"hi").await.unwrap();
            });
            let target = match bind.starts_with('[') {
                true => format!("[::1]:{port}"),
                false => format!("localhost:{port}"),
            };
            let mut client = TcpStream::connect(target).await.unwrap();
            let mut hi = String::new();
            client.read_to_string(&mut hi).await.unwrap();
            assert_eq!(hi, "hi");
            server.await.unwrap();
        }
        let error = TcpStream::connect("10.9.9.9:1").await.unwrap_err();
        assert_eq!(error.kind(), ErrorKind::HostUnreachable);
    });
}

#[test]
#[should_panic(expected = "outside a detsim simulation")]
fn binding_outside_a_simulation_panics_clearly() {
    let bind = pin!(TcpListener::bind("127.0.0.1:0"));
    let _ = bind.poll(&mut Context::from_waker(Waker::noop()));
}

#[test]
fn sockets_are_send_and_sync_as_tokios_are() {
    fn send_sync<T: Send + Sync + 'static>() {}
    send_sync::<TcpListener>();
    send_sync::<TcpStream>();
    send_sync::<UdpSocket>();
    send_sync::<detsim::net::tcp::OwnedReadHalf>();
    send_sync::<detsim::net::tcp::OwnedWriteHalf>();
    fn send_future<F: Future + Send>(_: F) {}
    send_future(TcpStream::connect("127.0.0.1:1"));
    send_future(async {
        let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let (mut s, _) = l.accept().await.unwrap();
        s.write_all(b"x").await.unwrap();
    });
}

/// A socket kept past its run: each run on this thread still gets a network of its
/// own (the ports start over), the kept socket is refused in the next run, and
/// dropping it outside a run is quiet.
#[test]
fn a_socket_kept_past_its_run_belongs_to_no_later_run() {
    let kept = run(1, async {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        assert_eq!(listener.local_addr().unwrap().port(), 49152);
        listener
    });
    let reused = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        run(2, async {
            let fresh = TcpListener::bind("127.0.0.1:0").await.unwrap();
            assert_eq!(fresh.local_addr().unwrap().port(), 49152, "a fresh network");
            let _ = kept.local_addr();
        })
    }));
    let payload = reused.expect_err("the kept socket is refused");
    let message = payload
        .downcast_ref::<String>()
        .map(String::as_str)
        .or_else(|| payload.downcast_ref::<&str>().copied())
        .unwrap_or_default();
    assert!(message.contains("belongs to another run"), "{message}");
    drop(kept);
}
