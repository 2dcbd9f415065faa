//! A primary-backup key-value store written only against tokio's API: it compiles and
//! runs on real tokio, and under `--cfg detsim` its tests run it as a simulated
//! cluster with faults (`tests/kv.rs`).
//!
//! # The service
//! - The **backup** (`backup`) keeps a map on its disk. It serves `REPL k v` (store,
//!   then `ACK`) from the primary and `GET k` (`VAL v` or `NONE`) from anyone.
//! - The **primary** (`primary`) takes `PUT k v` from clients and answers `OK` or
//!   `ERR`. How it replicates is its [`Variant`]:
//!   - [`Variant::Fixed`]: it sends `REPL` to the backup and answers `OK` only after
//!     the backup's `ACK` (synchronous replication); any error or a 2 s timeout is
//!     `ERR`.
//!   - [`Variant::Buggy`]: it answers `OK` at once and a replicator task ships the
//!     accepted writes to the backup in batches every 50 ms (asynchronous replication,
//!     the planted bug): a primary that crashes with a batch not yet shipped loses
//!     writes it acknowledged.
//! - A **disk** is a value the test keeps outside the nodes and passes to `init`: it
//!   survives kills and restarts.
//!
//! The protocol is one line per request and per answer over TCP.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::rc::Rc;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio::time::timeout;

/// The port both servers listen on.
pub const PORT: u16 = 7000;

/// How long the primary waits for the backup's `ACK` before answering `ERR`.
pub const REPLICATION_TIMEOUT: Duration = Duration::from_secs(2);

/// How the primary replicates.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Variant {
    /// Answers `OK` only after the backup acknowledged the write.
    Fixed,
    /// Answers `OK` at once and replicates in batches later (the planted bug).
    Buggy,
}

/// A node's persistent state: its map. Survives kills (the test keeps it).
pub type Disk = Rc<RefCell<BTreeMap<u64, u64>>>;

/// One request line: `PUT k v`, `GET k` or `REPL k v`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Request {
    /// Store `v` at `k` (clients → primary).
    Put(u64, u64),
    /// Read `k`.
    Get(u64),
    /// Replicate `v` at `k` (primary → backup).
    Repl(u64, u64),
    /// Every key and value, as `MAP k:v k:v …`.
    Dump,
}

impl Request {
    /// Parses a request line.
    pub fn parse(line: &str) -> Option<Request> {
        let mut words = line.split_whitespace();
        let verb = words.next()?;
        let mut num = || words.next()?.parse::<u64>().ok();
        match verb {
            "PUT" => Some(Request::Put(num()?, num()?)),
            "GET" => Some(Request::Get(num()?)),
            "REPL" => Some(Request::Repl(num()?, num()?)),
            "DUMP" => Some(Request::Dump),
            _ => None,
        }
    }

    /// The request as a line (with its newline).
    pub fn line(self) -> String {
        match self {
            Request::Put(k, v) => format!("PUT {k} {v}\n"),
            Request::Get(k) => format!("GET {k}\n"),
            Request::Repl(k, v) => format!("REPL {k} {v}\n"),
            Request::Dump => "DUMP\n".to_owned(),
        }
    }
}

/// A connection that sends one line and reads one line back.
#[derive(Debug)]
pub struct Conn {
    stream: BufReader<TcpStream>,
}

impl Conn {
    /// Connects to `addr` (`"backup:7000"`, say).
    pub async fn connect(addr: &str) -> std::io::Result<Conn> {
        let stream = TcpStream::connect(addr).await?;
        stream.set_nodelay(true)?;
        Ok(Conn {
            stream: BufReader::new(stream),
        })
    }

    /// Sends `request` and returns the answer line (without its newline).
    pub async fn call(&mut self, request: Request) -> std::io::Result<String> {
        self.stream
            .get_mut()
            .write_all(request.line().as_bytes())
            .await?;
        let mut answer = String::new();
        if self.stream.read_line(&mut answer).await? == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        Ok(answer.trim_end().to_owned())
    }
}

/// Serves each connection of `listener` with `handle`, one task per connection.
async fn serve<H, F>(listener: TcpListener, handle: H)
where
    H: Fn(Request) -> F + Clone + 'static,
    F: std::future::Future<Output = String> + 'static,
{
    loop {
        let Ok((socket, _)) = listener.accept().await else {
            continue;
        };
        let handle = handle.clone();
        tokio::task::spawn_local(async move {
            let mut lines = BufReader::new(socket);
            let mut line = String::new();
            loop {
                line.clear();
                match lines.read_line(&mut line).await {
                    Ok(0) | Err(_) => return,
                    Ok(_) => {}
                }
                let answer = match Request::parse(&line) {
                    Some(request) => handle(request).await,
                    None => "ERR bad request".to_owned(),
                };
                let reply = format!("{answer}\n");
                if lines.get_mut().write_all(reply.as_bytes()).await.is_err() {
                    return;
                }
            }
        });
    }
}

/// The backup: stores what the primary replicates, answers reads.
pub async fn backup(disk: Disk) {
    let listener = TcpListener::bind(("0.0.0.0", PORT))
        .await
        .expect("the backup's port is free");
    serve(listener, move |request| {
        let disk = disk.clone();
        async move {
            match request {
                Request::Repl(k, v) => {
                    disk.borrow_mut().insert(k, v);
                    "ACK".to_owned()
                }
                Request::Get(k) => match disk.borrow().get(&k) {
                    Some(v) => format!("VAL {v}"),
                    None => "NONE".to_owned(),
                },
                Request::Dump => dump(&disk),
                Request::Put(..) => "ERR the backup takes no writes".to_owned(),
            }
        }
    })
    .await;
}

/// A `DUMP` answer: `MAP k:v k:v …`.
fn dump(disk: &Disk) -> String {
    let mut answer = "MAP".to_owned();
    for (k, v) in disk.borrow().iter() {
        answer.push_str(&format!(" {k}:{v}"));
    }
    answer
}

/// Parses a `DUMP` answer.
pub fn parse_dump(answer: &str) -> Option<BTreeMap<u64, u64>> {
    let mut words = answer.split_whitespace();
    if words.next()? != "MAP" {
        return None;
    }
    words
        .map(|pair| {
            let (k, v) = pair.split_once(':')?;
            Some((k.parse().ok()?, v.parse().ok()?))
        })
        .collect()
}

/// The primary's link to the backup: one connection, reopened after an error.
#[derive(Debug, Default)]
struct ToBackup {
    conn: Option<Conn>,
}

impl ToBackup {
    /// Replicates one write; `true` once the backup acknowledged it.
    async fn replicate(link: &Rc<RefCell<ToBackup>>, backup: &str, k: u64, v: u64) -> bool {
        // Take the connection out: a concurrent request opens its own.
        let conn = link.borrow_mut().conn.take();
        let attempt = async {
            let mut conn = match conn {
                Some(conn) => conn,
                None => Conn::connect(backup).await.ok()?,
            };
            let answer = conn.call(Request::Repl(k, v)).await.ok()?;
            (answer == "ACK").then_some(conn)
        };
        match timeout(REPLICATION_TIMEOUT, attempt).await {
            Ok(Some(conn)) => {
                link.borrow_mut().conn = Some(conn);
                true
            }
            _ => false,
        }
    }
}

/// The primary: takes writes, replicates them to `backup` as `variant` says.
pub async fn primary(disk: Disk, backup: &'static str, variant: Variant) {
    let listener = TcpListener::bind(("0.0.0.0", PORT))
        .await
        .expect("the primary's port is free");
    let link = Rc::new(RefCell::new(ToBackup::default()));
    let (batch_tx, batch_rx) = mpsc::unbounded_channel::<(u64, u64)>();
    if variant == Variant::Buggy {
        tokio::task::spawn_local(replicator(batch_rx, link.clone(), backup));
    }
    serve(listener, move |request| {
        let (disk, link, batch_tx) = (disk.clone(), link.clone(), batch_tx.clone());
        async move {
            match request {
                Request::Put(k, v) => match variant {
                    Variant::Fixed => {
                        if ToBackup::replicate(&link, backup, k, v).await {
                            disk.borrow_mut().insert(k, v);
                            "OK".to_owned()
                        } else {
                            "ERR the backup did not acknowledge".to_owned()
                        }
                    }
                    Variant::Buggy => {
                        disk.borrow_mut().insert(k, v);
                        let _ = batch_tx.send((k, v));
                        "OK".to_owned()
                    }
                },
                Request::Get(k) => match disk.borrow().get(&k) {
                    Some(v) => format!("VAL {v}"),
                    None => "NONE".to_owned(),
                },
                Request::Dump => dump(&disk),
                Request::Repl(..) => "ERR the primary takes no replication".to_owned(),
            }
        }
    })
    .await;
}

/// The buggy primary's replicator: ships what was accepted every 50 ms.
async fn replicator(
    mut batch: mpsc::UnboundedReceiver<(u64, u64)>,
    link: Rc<RefCell<ToBackup>>,
    backup: &'static str,
) {
    let mut pending: Vec<(u64, u64)> = Vec::new();
    loop {
        tokio::time::sleep(Duration::from_millis(50)).await;
        while let Ok(write) = batch.try_recv() {
            pending.push(write);
        }
        while let Some(&(k, v)) = pending.first() {
            if !ToBackup::replicate(&link, backup, k, v).await {
                break;
            }
            pending.remove(0);
        }
    }
}
