//! TCP: in-order complete delivery, connect refused, EOF on drop, half-close, resets,
//! split halves, flow control.

use std::io::ErrorKind;
use std::time::Duration;

use detsim::net::{TcpListener, TcpStream};
use detsim::{spawn, time};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::run;

#[test]
fn bytes_arrive_in_order_and_complete_under_every_seed() {
    detsim::Builder::new().seeds(40).check(|| async {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        // Chunks of random sizes, written by a task while the test reads.
        let sizes: Vec<usize> = (0..200)
            .map(|_| 1 + detsim::random::<u32>() as usize % 3000)
            .collect();
        let total: usize = sizes.iter().sum();
        let expected: Vec<u8> = (0..total).map(|i| (i % 251) as u8).collect();
        let sent = expected.clone();
        let writer = spawn(async move {
            let mut stream = TcpStream::connect(addr).await.unwrap();
            let mut at = 0;
            for size in sizes {
                stream.write_all(&sent[at..at + size]).await.unwrap();
                at += size;
                if detsim::random::<bool>() {
                    detsim::yield_now().await;
                }
            }
        });
        let (mut socket, _) = listener.accept().await.unwrap();
        let mut received = Vec::new();
        socket.read_to_end(&mut received).await.unwrap();
        assert_eq!(received.len(), expected.len());
        assert!(
            received == expected,
            "the bytes arrived corrupted or reordered"
        );
        writer.await.unwrap();
    });
}

#[test]
fn connecting_where_nothing_listens_is_refused_after_a_round_trip() {
    run(3, async {
        let error = TcpStream::connect("127.0.0.1:9").await.unwrap_err();
        assert_eq!(error.kind(), ErrorKind::ConnectionRefused);
        assert!(time::now().since_start() >= Duration::from_micros(20));
    });
}

#[test]
fn a_dropped_stream_gives_its_peer_eof() {
    run(4, async {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let server = spawn(async move {
            let (socket, _) = listener.accept().await.unwrap();
            drop(socket);
        });
        let mut client = TcpStream::connect(addr).await.unwrap();
        let mut buf = [0; 16];
        assert_eq!(client.read(&mut buf).await.unwrap(), 0);
        assert_eq!(client.read(&mut buf).await.unwrap(), 0, "EOF stays EOF");
        server.await.unwrap();
    });
}

#[test]
fn shutdown_is_a_half_close() {
    run(5, async {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let server = spawn(async move {
            let (mut socket, _) = listener.accept().await.unwrap();
            let mut request = Vec::new();
            socket.read_to_end(&mut request).await.unwrap(); // ends at the client's shutdown
            assert_eq!(request, b"request");
            socket.write_all(b"response to request").await.unwrap();
        });
        let mut client = TcpStream::connect(addr).await.unwrap();
        client.write_all(b"request").await.unwrap();
        client.shutdown().await.unwrap();
        let error = client.write_all(b"more").await.unwrap_err();
        assert_eq!(error.kind(), ErrorKind::BrokenPipe);
        let mut response = Vec::new();
        client.read_to_end(&mut response).await.unwrap(); // this side still reads
        assert_eq!(response, b"response to request");
        server.await.unwrap();
    });
}

#[test]
fn writing_after_the_peer_closed_is_reset() {
    run(6, async {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let server = spawn(async move {
            let (socket, _) = listener.accept().await.unwrap();
            drop(socket);
        });
        let mut client = TcpStream::connect(addr).await.unwrap();
        let mut buf = [0; 4];
        assert_eq!(client.read(&mut buf).await.unwrap(), 0);
        // The first write leaves; the closed peer answers it with a reset.
        client.write_all(b"ping").await.unwrap();
        time::sleep(Duration::from_millis(1)).await;
        let error = client.write_all(b"ping").await.unwrap_err();
        assert_eq!(error.kind(), ErrorKind::ConnectionReset);
        let error = client.read(&mut buf).await.unwrap_err();
        assert_eq!(error.kind(), ErrorKind::ConnectionReset);
        server.await.unwrap();
    });
}

#[test]
fn closing_with_unread_data_resets_the_peer() {
    run(7, async {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let mut client = TcpStream::connect(addr).await.unwrap();
        let (socket, _) = listener.accept().await.unwrap();
        client.write_all(b"never read").await.unwrap();
        time::sleep(Duration::from_millis(1)).await;
        drop(socket);
        let mut buf = [0; 4];
        let error = client.read(&mut buf).await.unwrap_err();
        assert_eq!(error.kind(), ErrorKind::ConnectionReset);
    });
}

#[test]
fn a_closed_listener_refuses_and_resets_what_it_did_not_accept() {
    run(8, async {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let mut waiting = TcpStream::connect(addr).await.unwrap(); // in the backlog
        drop(listener);
        let mut buf = [0; 4];
        let error = waiting.read(&mut buf).await.unwrap_err();
        assert_eq!(error.kind(), ErrorKind::ConnectionReset);
        let error = TcpStream::connect(addr).await.unwrap_err();
        assert_eq!(error.kind(), ErrorKind::ConnectionRefused);
    });
}

#[test]
fn addresses_of_both_sides_match() {
    run(9, async {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let client = TcpStream::connect(addr).await.unwrap();
        let (server, from) = listener.accept().await.unwrap();
        assert_eq!(client.peer_addr().unwrap(), addr);
        assert_eq!(server.local_addr().unwrap(), addr);
        assert_eq!(server.peer_addr().unwrap(), client.local_addr().unwrap());
        assert_eq!(from, client.local_addr().unwrap());
        assert!(from.port() >= 49152);
        assert!(!client.nodelay().unwrap());
        client.set_nodelay(true).unwrap();
        assert!(client.nodelay().unwrap());
    });
}

#[test]
fn split_halves_read_and_write_and_owned_halves_reunite() {
    run(10, async {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let echo = spawn(async move {
            let (mut socket, _) = listener.accept().await.unwrap();
            let (mut read, mut write) = socket.split();
            tokio::io::copy(&mut read, &mut write).await.unwrap();
        });
        let client = TcpStream::connect(addr).await.unwrap();
        let (mut read, mut write) = client.into_split();
        write.write_all(b"abc").await.unwrap();
        let mut buf = [0; 3];
        read.read_exact(&mut buf).await.unwrap();
        assert_eq!(&buf, b"abc");
        let mut client = read.reunite(write).unwrap();
        client.write_all(b"def").await.unwrap();
        let (mut read, write) = client.into_split();
        read.read_exact(&mut buf).await.unwrap();
        assert_eq!(&buf, b"def");
        drop(write); // shuts the write side: the echo ends, then closes its side
        let mut rest = Vec::new();
        read.read_to_end(&mut rest).await.unwrap();
        assert!(rest.is_empty());
        echo.await.unwrap();

        // Halves of two different streams do not reunite.
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (a_read, _a_write) = TcpStream::connect(addr).await.unwrap().into_split();
        let (_b_read, b_write) = TcpStream::connect(addr).await.unwrap().into_split();
        let error = a_read.reunite(b_write).unwrap_err();
        assert!(error.to_string().contains("not from the same socket"));
    });
}

#[test]
fn a_writer_waits_for_a_reader_that_falls_behind() {
    run(11, async {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let writer = spawn(async move {
            let mut stream = TcpStream::connect(addr).await.unwrap();
            stream.write_all(&vec![7u8; 1 << 20]).await.unwrap();
        });
        let (mut socket, _) = listener.accept().await.unwrap();
        time::sleep(Duration::from_secs(1)).await;
        assert!(
            !writer.is_finished(),
            "1 MiB does not fit in the window unread"
        );
        let mut received = Vec::new();
        socket.read_to_end(&mut received).await.unwrap();
        assert_eq!(received.len(), 1 << 20);
        writer.await.unwrap();
    });
}

#[test]
fn an_abandoned_connect_resets_the_accepted_side() {
    run(12, async {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        // Give up before the answer can arrive (the latency is at least 10 µs).
        let attempt = time::timeout(Duration::from_micros(1), TcpStream::connect(addr)).await;
        assert!(attempt.is_err());
        let (mut socket, _) = listener.accept().await.unwrap();
        let mut buf = [0; 4];
        let error = socket.read(&mut buf).await.unwrap_err();
        assert_eq!(error.kind(), ErrorKind::ConnectionReset);
    });
}
