//! UDP: message boundaries, truncation, connected sockets, peeking, loss-free
//! in-order loopback, datagrams to nowhere.

use std::io::ErrorKind;
use std::time::Duration;

use detsim::net::UdpSocket;
use detsim::time;

use crate::run;

#[test]
fn datagrams_keep_their_boundaries() {
    run(1, async {
        let a = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let b = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let b_addr = b.local_addr().unwrap();
        for size in [1, 100, 1000, 0, 65_507] {
            a.send_to(&vec![size as u8; size], b_addr).await.unwrap();
        }
        let mut buf = vec![0; 70_000];
        for size in [1, 100, 1000, 0, 65_507] {
            let (n, from) = b.recv_from(&mut buf).await.unwrap();
            assert_eq!(n, size);
            assert_eq!(from, a.local_addr().unwrap());
        }
        // A short buffer gets the datagram's first bytes; the rest is gone.
        a.send_to(b"0123456789", b_addr).await.unwrap();
        a.send_to(b"next", b_addr).await.unwrap();
        let mut short = [0; 4];
        assert_eq!(b.recv(&mut short).await.unwrap(), 4);
        assert_eq!(&short, b"0123");
        assert_eq!(b.recv(&mut short).await.unwrap(), 4);
        assert_eq!(&short, b"next");
        let error = a.send_to(&vec![0; 65_508], b_addr).await.unwrap_err();
        assert_eq!(error.kind(), ErrorKind::InvalidInput);
    });
}

#[test]
fn connected_sockets_send_and_hear_only_their_peer() {
    run(2, async {
        let a = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let b = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let stranger = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        assert_eq!(
            a.send(b"x").await.unwrap_err().kind(),
            ErrorKind::NotConnected
        );
        assert_eq!(a.peer_addr().unwrap_err().kind(), ErrorKind::NotConnected);
        a.connect(b.local_addr().unwrap()).await.unwrap();
        b.connect(a.local_addr().unwrap()).await.unwrap();
        assert_eq!(a.peer_addr().unwrap(), b.local_addr().unwrap());
        stranger
            .send_to(b"noise", b.local_addr().unwrap())
            .await
            .unwrap();
        a.send(b"hello").await.unwrap();
        let mut buf = [0; 16];
        let n = b.recv(&mut buf).await.unwrap();
        assert_eq!(&buf[..n], b"hello");
        assert_eq!(
            b.try_recv(&mut buf).unwrap_err().kind(),
            ErrorKind::WouldBlock
        );
    });
}

#[test]
fn peek_leaves_the_datagram_queued() {
    run(3, async {
        let b = UdpSocket::bind("[::1]:0").await.unwrap();
        let c = UdpSocket::bind("[::1]:0").await.unwrap();
        c.send_to(b"peek", b.local_addr().unwrap()).await.unwrap();
        let mut buf = [0; 8];
        let (n, from) = b.peek_from(&mut buf).await.unwrap();
        assert_eq!((&buf[..n], from), (&b"peek"[..], c.local_addr().unwrap()));
        let (n, _) = b.recv_from(&mut buf).await.unwrap();
        assert_eq!(&buf[..n], b"peek");
    });
}

#[test]
fn loopback_loses_and_reorders_nothing() {
    detsim::Builder::new().seeds(20).check(|| async {
        let a = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let b = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let to = b.local_addr().unwrap();
        let sender = detsim::spawn(async move {
            for i in 0u32..1000 {
                a.send_to(&i.to_le_bytes(), to).await.unwrap();
                if detsim::random::<u8>() < 40 {
                    detsim::yield_now().await;
                }
            }
        });
        let mut buf = [0; 4];
        for i in 0u32..1000 {
            let n = b.recv(&mut buf).await.unwrap();
            assert_eq!((n, u32::from_le_bytes(buf)), (4, i));
        }
        sender.await.unwrap();
    });
}

#[test]
fn a_datagram_to_an_unbound_port_vanishes() {
    run(5, async {
        let a = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let b = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let gone = b.local_addr().unwrap();
        drop(b);
        a.send_to(b"lost", gone).await.unwrap();
        let c = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let mut buf = [0; 8];
        let waited = time::timeout(Duration::from_secs(1), c.recv(&mut buf)).await;
        assert!(waited.is_err(), "nobody else receives it");
    });
}

#[test]
fn a_connected_sender_learns_its_peer_port_is_closed_at_its_next_receive() {
    run(6, async {
        let a = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let b = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let gone = b.local_addr().unwrap();
        drop(b);
        // Unconnected, the datagram vanishes and nothing is reported.
        a.send_to(b"lost", gone).await.unwrap();
        let mut buf = [0; 8];
        let waited = time::timeout(Duration::from_secs(1), a.recv(&mut buf)).await;
        assert!(waited.is_err(), "an unconnected sender hears nothing");
        // Connected, the receive fails once (Linux's ICMP port unreachable), then waits.
        a.connect(gone).await.unwrap();
        a.send(b"refused").await.unwrap();
        let error = a.recv(&mut buf).await.unwrap_err();
        assert_eq!(error.kind(), ErrorKind::ConnectionRefused);
        let waited = time::timeout(Duration::from_secs(1), a.recv(&mut buf)).await;
        assert!(waited.is_err(), "the error is reported once");
    });
}
