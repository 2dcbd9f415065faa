//! tokio's readiness API on simulated sockets: `ready`, `readable`, `writable`,
//! `poll_*_ready`, `try_read`/`try_write`, `try_io`/`async_io`, with tokio's cached
//! readiness (readable from an arrival until a read finds nothing, writable until a
//! write finds no room).

use std::cell::Cell;
use std::future::Future;
use std::io::ErrorKind;
use std::pin::{Pin, pin};
use std::task::{Context, Poll, Waker};

use detsim::net::{TcpListener, TcpStream, UdpSocket};
use tokio::io::{AsyncReadExt, AsyncWriteExt, Interest};

use crate::run;

/// Polls `future` once, with a waker that does nothing.
fn poll_once<F: Future>(future: Pin<&mut F>) -> Poll<F::Output> {
    future.poll(&mut Context::from_waker(Waker::noop()))
}

/// A connected pair: (the connecting side, the accepted side).
async fn pair() -> (TcpStream, TcpStream) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let client = TcpStream::connect(listener.local_addr().unwrap())
        .await
        .unwrap();
    let (server, _) = listener.accept().await.unwrap();
    (client, server)
}

/// `try_write`s until `WouldBlock`; returns the bytes written.
fn fill(stream: &TcpStream) -> usize {
    let chunk = vec![1u8; 100_000];
    let mut total = 0;
    loop {
        match stream.try_write(&chunk) {
            Ok(n) => total += n,
            Err(error) => {
                assert_eq!(error.kind(), ErrorKind::WouldBlock);
                return total;
            }
        }
    }
}

#[test]
fn ready_for_reading_pends_until_the_peer_writes_then_reports_readable() {
    run(1, async {
        let (client, mut server) = pair().await;
        let mut ready = pin!(client.ready(Interest::READABLE));
        assert!(poll_once(ready.as_mut()).is_pending());
        server.write_all(b"ping").await.unwrap();
        let ready = ready.await.unwrap();
        assert!(ready.is_readable(), "{ready:?}");
        assert!(!ready.is_read_closed() && !ready.is_writable(), "{ready:?}");
        let mut buf = [0; 8];
        assert_eq!(client.try_read(&mut buf).unwrap(), 4);
        assert_eq!(&buf[..4], b"ping");
    });
}

#[test]
fn try_read_on_an_empty_stream_would_block_and_clears_readability() {
    run(2, async {
        let (mut client, mut server) = pair().await;
        // tokio assumes an accepted stream readable until a read finds nothing.
        assert!(poll_once(pin!(server.readable())).is_ready());
        let error = server.try_read(&mut [0; 1]).unwrap_err();
        assert_eq!(error.kind(), ErrorKind::WouldBlock);
        assert!(poll_once(pin!(server.readable())).is_pending());
        assert!(
            poll_once(pin!(client.readable())).is_pending(),
            "a connected side"
        );
        // Bytes make it readable; it stays so after they are read, until a read
        // finds nothing (tokio's readiness is cached, not the buffer's state).
        client.write_all(b"ping").await.unwrap();
        server.readable().await.unwrap();
        let mut buf = [0; 4];
        server.read_exact(&mut buf).await.unwrap();
        let cx = &mut Context::from_waker(Waker::noop());
        assert!(server.poll_read_ready(cx).is_ready());
        // A stale readiness is reported once: a loop of polls and yields waits.
        assert!(server.poll_read_ready(cx).is_pending());
        let error = server.try_read(&mut buf).unwrap_err();
        assert_eq!(error.kind(), ErrorKind::WouldBlock);
        assert!(server.poll_read_ready(cx).is_pending());
        // Readiness from bytes that are there is not stale: reported while they are.
        client.write_all(b"more").await.unwrap();
        server.readable().await.unwrap();
        assert!(server.poll_read_ready(cx).is_ready());
        assert!(server.poll_read_ready(cx).is_ready());
        assert_eq!(server.try_read(&mut buf).unwrap(), 4);
    });
}

#[test]
fn ready_reports_read_closed_once_the_peer_closed() {
    run(3, async {
        let (client, server) = pair().await;
        server.try_read(&mut [0; 1]).unwrap_err();
        drop(client);
        let ready = server.ready(Interest::READABLE).await.unwrap();
        assert!(ready.is_readable() && ready.is_read_closed(), "{ready:?}");
        assert!(!ready.is_write_closed(), "{ready:?}");
        assert_eq!(server.try_read(&mut [0; 1]).unwrap(), 0);
    });
}

#[test]
fn writable_until_a_write_finds_no_room_and_again_when_the_peer_reads() {
    run(4, async {
        let (client, mut server) = pair().await;
        let ready = client.ready(Interest::WRITABLE).await.unwrap();
        assert!(ready.is_writable() && !ready.is_readable(), "{ready:?}");
        let written = fill(&client);
        assert_eq!(written, 256 * 1024, "the window");
        let cx = &mut Context::from_waker(Waker::noop());
        assert!(client.poll_write_ready(cx).is_pending());
        let mut ready = pin!(client.ready(Interest::WRITABLE));
        assert!(poll_once(ready.as_mut()).is_pending());
        let mut buf = vec![0; 1000];
        server.read_exact(&mut buf).await.unwrap();
        let ready = ready.await.unwrap();
        assert!(ready.is_writable() && !ready.is_write_closed(), "{ready:?}");
        assert_eq!(client.try_write(&[0; 5000]).unwrap(), 1000);
        // Cached, stale: the window is full, the readiness is reported once.
        assert!(poll_once(pin!(client.writable())).is_ready());
        assert!(poll_once(pin!(client.writable())).is_pending());
        assert_eq!(
            client.try_write(&[0; 1]).unwrap_err().kind(),
            ErrorKind::WouldBlock
        );
        assert!(poll_once(pin!(client.writable())).is_pending());
    });
}

#[test]
fn a_reset_connection_is_write_closed_and_in_error() {
    run(5, async {
        let (client, server) = pair().await;
        fill(&client);
        // The server closes with unread bytes: its peer is reset.
        drop(server);
        let cx = &mut Context::from_waker(Waker::noop());
        assert!(client.poll_write_ready(cx).is_pending());
        let ready = client
            .ready(Interest::WRITABLE | Interest::ERROR)
            .await
            .unwrap();
        assert!(ready.is_write_closed() && ready.is_error(), "{ready:?}");
        let error = client.try_write(b"x").unwrap_err();
        assert_eq!(error.kind(), ErrorKind::ConnectionReset);
    });
}

#[test]
fn try_io_runs_its_call_only_when_ready_and_clears_readiness_on_would_block() {
    run(6, async {
        let (mut client, server) = pair().await;
        let calls = Cell::new(0);
        let would_block = || -> std::io::Result<()> {
            calls.set(calls.get() + 1);
            Err(ErrorKind::WouldBlock.into())
        };
        // Readable (accepted): the call runs, says WouldBlock, readiness is cleared.
        let error = server.try_io(Interest::READABLE, would_block).unwrap_err();
        assert_eq!((error.kind(), calls.get()), (ErrorKind::WouldBlock, 1));
        let error = server.try_io(Interest::READABLE, would_block).unwrap_err();
        assert_eq!((error.kind(), calls.get()), (ErrorKind::WouldBlock, 1));
        // async_io waits for the bytes, then reads them through try_read.
        let mut buf = [0; 8];
        {
            let mut reading = pin!(server.async_io(Interest::READABLE, || {
                calls.set(calls.get() + 1);
                server.try_read(&mut buf)
            }));
            assert!(poll_once(reading.as_mut()).is_pending());
            assert_eq!(calls.get(), 1, "not called before an event");
            client.write_all(b"data").await.unwrap();
            assert_eq!(reading.await.unwrap(), 4);
        }
        assert_eq!((&buf[..4], calls.get()), (&b"data"[..], 2));
        // Writable: the call runs at once.
        assert_eq!(server.try_io(Interest::WRITABLE, || Ok(7)).unwrap(), 7);
    });
}

#[test]
fn udp_ready_is_writable_at_once_and_readable_while_a_datagram_is_queued() {
    run(7, async {
        let a = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let b = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let ready = a
            .ready(Interest::READABLE | Interest::WRITABLE)
            .await
            .unwrap();
        assert!(ready.is_writable() && !ready.is_readable(), "{ready:?}");
        let mut readable = pin!(a.ready(Interest::READABLE));
        assert!(poll_once(readable.as_mut()).is_pending());
        b.send_to(b"hello", a.local_addr().unwrap()).await.unwrap();
        assert!(readable.await.unwrap().is_readable());
        assert_eq!(a.peek_sender().await.unwrap(), b.local_addr().unwrap());
        let mut buf = [0; 8];
        assert_eq!(a.try_recv(&mut buf).unwrap(), 5);
        let error = a.try_recv(&mut buf).unwrap_err();
        assert_eq!(error.kind(), ErrorKind::WouldBlock);
    });
}

#[test]
fn split_halves_have_the_streams_readiness_and_try_calls() {
    run(8, async {
        let (mut client, server) = pair().await;
        let (read, write) = server.into_split();
        assert_eq!(
            read.try_read(&mut [0; 4]).unwrap_err().kind(),
            ErrorKind::WouldBlock
        );
        let mut readable = pin!(read.readable());
        assert!(poll_once(readable.as_mut()).is_pending());
        assert!(write.ready(Interest::WRITABLE).await.unwrap().is_writable());
        assert_eq!(write.try_write(b"pong").unwrap(), 4);
        let (client_read, client_write) = client.split();
        client_read.readable().await.unwrap();
        let mut reply = Vec::with_capacity(8);
        assert_eq!(client_read.try_read_buf(&mut reply).unwrap(), 4);
        assert_eq!(reply, b"pong");
        assert_eq!(client_write.try_write(b"ping").unwrap(), 4);
        readable.await.unwrap();
        let ready = read.ready(Interest::READABLE).await.unwrap();
        assert!(ready.is_readable(), "{ready:?}");
        let mut buf = [0; 4];
        assert_eq!(read.try_read(&mut buf).unwrap(), 4);
        assert_eq!(&buf, b"ping");
    });
}
