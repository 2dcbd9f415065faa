//! A primary-backup key-value store written only against tokio's API: it compiles and
//! runs on real tokio, and under `--cfg detsim` its tests run it as a simulated
//! cluster with faults (`tests/kv.rs`).
//!
//! # The service
//! - The **primary** (`primary`) takes `PUT k v` and `GET k` from clients and answers
//!   `OK`, `VAL v`, `NONE` or `ERR …`. How it replicates and reads is its
//!   [`Variant`]:
//!   - [`Variant::Fixed`]: it sends `REPL` to the backup and answers `OK` only after
//!     the backup's `ACK` (synchronous replication; any error or a 2 s timeout is
//!     `ERR`), one write at a time (so both servers apply them in one order), and
//!     answers a read only after the backup confirmed (`CHECK`) that it is still the
//!     primary's backup.
//!   - [`Variant::Buggy`]: it answers `OK` at once and a replicator task ships the
//!     accepted writes to the backup in batches every 50 ms (asynchronous replication,
//!     the planted bug): a primary that crashes with a batch not yet shipped loses
//!     writes it acknowledged.
//!   - [`Variant::StaleReads`]: it replicates as `Fixed` does, but answers reads from
//!     its own map without asking the backup (the second planted bug): a primary the
//!     backup has deposed keeps serving reads, and misses the writes the new primary
//!     takes.
//! - The **backup** (`backup`) keeps a map on its disk. It stores what the primary
//!   replicates (`REPL k v`, then `ACK`), confirms `CHECK`, and answers `DUMP` (its
//!   whole map). Given the primary's address, it pings the primary every 200 ms; when
//!   no ping succeeded for 2 s it **fails over**: it promotes itself, for good, to primary of its own map (the old
//!   primary is deposed: the backup refuses its `REPL` and `CHECK` with `ERR
//!   deposed`) and serves `PUT` and `GET` alone. Before that it refuses `PUT` and
//!   `GET` with `ERR not primary`.
//! - A **disk** is a value the test keeps outside the nodes and passes to `init`: it
//!   survives kills and restarts; so does the backup's [`Role`].
//!
//! The protocol is one line per request and per answer over TCP.
//!
//! [`store`] is a single-node store on a disk written against `tokio::fs` (a
//! write-ahead log plus snapshots), with two planted durability bugs.

pub mod store;

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

/// How often the backup pings the primary.
pub const PING_EVERY: Duration = Duration::from_millis(200);

/// How long a ping may take (a slow link is not a dead primary).
pub const PING_TIMEOUT: Duration = Duration::from_secs(1);

/// How long without a successful ping before the backup fails over.
pub const FAILOVER_AFTER: Duration = Duration::from_secs(2);

/// The answer of a backup that is not the primary to a client's request.
pub const NOT_PRIMARY: &str = "ERR not primary";

/// The answer of a promoted backup to its old primary.
pub const DEPOSED: &str = "ERR deposed";

/// How the primary replicates.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Variant {
    /// Answers `OK` only after the backup acknowledged the write.
    Fixed,
    /// Answers `OK` at once and replicates in batches later (the planted bug).
    Buggy,
    /// Replicates as `Fixed` does but reads its own map without asking the backup: a
    /// deposed primary serves stale reads (the second planted bug).
    StaleReads,
}

/// Whether the backup has promoted itself to primary: kept by the test outside the
/// node (it survives restarts, as the disk does), so the test can see a failover.
pub type Role = Rc<std::cell::Cell<bool>>;

/// A node's persistent state: its map. Survives kills (the test keeps it).
pub type Disk = Rc<RefCell<BTreeMap<u64, u64>>>;

/// One request line: `PUT k v`, `GET k`, `REPL k v`, `CHECK`, `PING` or `DUMP`.
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
    /// The primary asks the backup whether it is still its backup: `ACK` or `ERR deposed`.
    Check,
    /// The backup asks whether the primary is up: `PONG`.
    Ping,
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
            "CHECK" => Some(Request::Check),
            "PING" => Some(Request::Ping),
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
            Request::Check => "CHECK\n".to_owned(),
            Request::Ping => "PING\n".to_owned(),
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

/// The backup: stores what the primary replicates; with `watch` (the primary's
/// address), fails over to primary of its own map (for good, as `role` records) when
/// it could not ping the primary for [`FAILOVER_AFTER`]; without, it never does.
pub async fn backup(disk: Disk, role: Role, watch: Option<&'static str>) {
    let listener = TcpListener::bind(("0.0.0.0", PORT))
        .await
        .expect("the backup's port is free");
    if let Some(primary) = watch {
        tokio::task::spawn_local(watch_primary(primary, role.clone()));
    }
    serve(listener, move |request| {
        let (disk, role) = (disk.clone(), role.clone());
        async move {
            let promoted = role.get();
            match request {
                Request::Repl(k, v) if !promoted => {
                    disk.borrow_mut().insert(k, v);
                    "ACK".to_owned()
                }
                Request::Check if !promoted => "ACK".to_owned(),
                Request::Repl(..) | Request::Check => DEPOSED.to_owned(),
                Request::Put(k, v) if promoted => {
                    disk.borrow_mut().insert(k, v);
                    "OK".to_owned()
                }
                Request::Get(k) if promoted => read(&disk, k),
                Request::Put(..) | Request::Get(_) => NOT_PRIMARY.to_owned(),
                Request::Dump => dump(&disk),
                Request::Ping => "PONG".to_owned(),
            }
        }
    })
    .await;
}

/// The backup's failure detector: pings `primary` every [`PING_EVERY`] and promotes the
/// backup when no ping succeeded for [`FAILOVER_AFTER`].
async fn watch_primary(primary: &'static str, role: Role) {
    let mut last_pong = tokio::time::Instant::now();
    let mut conn: Option<Conn> = None;
    while !role.get() {
        tokio::time::sleep(PING_EVERY).await;
        let attempt = async {
            let mut c = match conn.take() {
                Some(c) => c,
                None => Conn::connect(primary).await.ok()?,
            };
            (c.call(Request::Ping).await.ok()? == "PONG").then_some(c)
        };
        match timeout(PING_TIMEOUT, attempt).await {
            Ok(Some(c)) => {
                conn = Some(c);
                last_pong = tokio::time::Instant::now();
            }
            _ if last_pong.elapsed() >= FAILOVER_AFTER => role.set(true),
            _ => {}
        }
    }
}

/// A `GET` answer from `disk`.
fn read(disk: &Disk, k: u64) -> String {
    match disk.borrow().get(&k) {
        Some(v) => format!("VAL {v}"),
        None => "NONE".to_owned(),
    }
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
        Self::ask(link, backup, Request::Repl(k, v)).await
    }

    /// Sends `request` to the backup; `true` when it answered `ACK` within
    /// [`REPLICATION_TIMEOUT`].
    async fn ask(link: &Rc<RefCell<ToBackup>>, backup: &str, request: Request) -> bool {
        // Take the connection out: a concurrent request opens its own.
        let conn = link.borrow_mut().conn.take();
        let attempt = async {
            let mut conn = match conn {
                Some(conn) => conn,
                None => Conn::connect(backup).await.ok()?,
            };
            let answer = conn.call(request).await.ok()?;
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
    // One write at a time: concurrent writes, each on its own connection, could reach
    // the backup in one order and this map in the other.
    let writes = Rc::new(tokio::sync::Mutex::new(()));
    let (batch_tx, batch_rx) = mpsc::unbounded_channel::<(u64, u64)>();
    if variant == Variant::Buggy {
        tokio::task::spawn_local(replicator(batch_rx, link.clone(), backup));
    }
    serve(listener, move |request| {
        let (disk, link, batch_tx) = (disk.clone(), link.clone(), batch_tx.clone());
        let writes = writes.clone();
        async move {
            match request {
                Request::Put(k, v) => match variant {
                    Variant::Fixed | Variant::StaleReads => {
                        let _one_at_a_time = match variant {
                            Variant::Fixed => Some(writes.lock().await),
                            _ => None,
                        };
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
                Request::Get(k) => match variant {
                    Variant::Fixed => {
                        // Read the map only once the backup confirmed it has not
                        // taken over: a deposed primary's map misses new writes.
                        let map = disk.clone();
                        if ToBackup::ask(&link, backup, Request::Check).await {
                            read(&map, k)
                        } else {
                            "ERR the backup did not confirm".to_owned()
                        }
                    }
                    Variant::Buggy | Variant::StaleReads => read(&disk, k),
                },
                Request::Dump => dump(&disk),
                Request::Ping => "PONG".to_owned(),
                Request::Repl(..) | Request::Check => {
                    "ERR the primary takes no replication".to_owned()
                }
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
