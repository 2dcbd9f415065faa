//! `tokio::net` through the facade: the same tests on real loopback and, under
//! `--cfg detsim`, on the simulated network.

use std::io::ErrorKind;

use tokio::io::{AsyncReadExt, AsyncWriteExt, Interest};
use tokio::net::{TcpListener, TcpStream, UdpSocket, lookup_host};

#[tokio::test]
async fn tcp_bytes_arrive_in_order_and_a_dropped_stream_is_eof() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    assert_ne!(addr.port(), 0);
    let server = tokio::spawn(async move {
        let (mut socket, peer) = listener.accept().await.unwrap();
        assert_eq!(socket.peer_addr().unwrap(), peer);
        let mut all = Vec::new();
        socket.read_to_end(&mut all).await.unwrap(); // until the client's EOF
        all
    });
    let mut client = TcpStream::connect(addr).await.unwrap();
    client.set_nodelay(true).unwrap();
    for chunk in 0..50u8 {
        client.write_all(&[chunk; 100]).await.unwrap();
    }
    drop(client);
    let all = server.await.unwrap();
    let expected: Vec<u8> = (0..50u8).flat_map(|c| [c; 100]).collect();
    assert_eq!(all, expected);
}

#[tokio::test]
async fn connecting_where_nothing_listens_is_refused() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    let error = TcpStream::connect(addr).await.unwrap_err();
    assert_eq!(error.kind(), ErrorKind::ConnectionRefused);
}

#[tokio::test]
async fn half_close_and_split_halves() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server = tokio::spawn(async move {
        let (socket, _) = listener.accept().await.unwrap();
        let (mut read, mut write) = socket.into_split();
        let mut request = Vec::new();
        read.read_to_end(&mut request).await.unwrap(); // the client shut down its side
        write.write_all(&request).await.unwrap(); // but still reads the reply
        request.len()
    });
    let mut client = TcpStream::connect(addr).await.unwrap();
    let (mut read, mut write) = client.split();
    write.write_all(b"ping").await.unwrap();
    write.shutdown().await.unwrap();
    let mut reply = Vec::new();
    read.read_to_end(&mut reply).await.unwrap();
    assert_eq!(reply, b"ping");
    assert_eq!(server.await.unwrap(), 4);
}

/// `try_read` into `buf` after each readiness until it gives bytes (or EOF).
async fn read_when_ready(stream: &TcpStream, buf: &mut [u8]) -> usize {
    loop {
        let ready = stream.ready(Interest::READABLE).await.unwrap();
        assert!(ready.is_readable() || ready.is_read_closed(), "{ready:?}");
        match stream.try_read(buf) {
            Ok(n) => return n,
            Err(error) => assert_eq!(error.kind(), ErrorKind::WouldBlock),
        }
    }
}

#[tokio::test]
async fn tcp_readiness_then_try_read_and_try_write() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let client = TcpStream::connect(listener.local_addr().unwrap())
        .await
        .unwrap();
    let (server, _) = listener.accept().await.unwrap();
    let mut buf = [0u8; 16];
    let empty = client.try_read(&mut buf).unwrap_err();
    assert_eq!(empty.kind(), ErrorKind::WouldBlock);
    let ready = server.ready(Interest::WRITABLE).await.unwrap();
    assert!(ready.is_writable(), "{ready:?}");
    assert_eq!(server.try_write(b"ping").unwrap(), 4);
    assert_eq!(read_when_ready(&client, &mut buf).await, 4);
    assert_eq!(&buf[..4], b"ping");
    drop(server);
    loop {
        let ready = client.ready(Interest::READABLE).await.unwrap();
        if ready.is_read_closed() {
            break;
        }
        tokio::task::yield_now().await;
    }
    assert_eq!(read_when_ready(&client, &mut buf).await, 0, "EOF");
}

#[tokio::test]
async fn udp_ready_and_try_send_and_try_recv() {
    let a = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let b = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    b.connect(a.local_addr().unwrap()).await.unwrap();
    let mut buf = [0u8; 16];
    assert_eq!(
        a.try_recv(&mut buf).unwrap_err().kind(),
        ErrorKind::WouldBlock
    );
    assert!(b.ready(Interest::WRITABLE).await.unwrap().is_writable());
    assert_eq!(b.try_send(b"hello").unwrap(), 5);
    loop {
        assert!(a.ready(Interest::READABLE).await.unwrap().is_readable());
        match a.try_recv_from(&mut buf) {
            Ok((n, from)) => {
                assert_eq!((&buf[..n], from), (&b"hello"[..], b.local_addr().unwrap()));
                break;
            }
            Err(error) => assert_eq!(error.kind(), ErrorKind::WouldBlock),
        }
    }
}

#[tokio::test]
async fn udp_keeps_message_boundaries() {
    let a = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let b = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let b_addr = b.local_addr().unwrap();
    a.send_to(b"one", b_addr).await.unwrap();
    a.send_to(b"three", b_addr).await.unwrap();
    let mut buf = [0u8; 64];
    let (n, from) = b.recv_from(&mut buf).await.unwrap();
    assert_eq!((&buf[..n], from), (&b"one"[..], a.local_addr().unwrap()));
    let (n, _) = b.recv_from(&mut buf).await.unwrap();
    assert_eq!(&buf[..n], b"three");
}

#[tokio::test]
async fn localhost_resolves() {
    let addrs: Vec<_> = lookup_host("localhost:80").await.unwrap().collect();
    assert!(
        addrs.iter().any(|a| a.ip().is_loopback() && a.port() == 80),
        "{addrs:?}"
    );
}
