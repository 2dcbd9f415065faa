//! The server: a listener with a connection limit, a task per connection, and a
//! graceful shutdown broadcast to every connection.

use std::future::Future;
use std::io;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Semaphore, broadcast, mpsc};

use super::db::{Db, DbGuard};

/// Connections served at once by default; more wait to be accepted.
pub const MAX_CONNECTIONS: usize = 250;

/// Serves `listener` until `shutdown` completes, then tells every connection to stop
/// and waits until they all have. At most `max_connections` are served at once.
pub async fn run(listener: TcpListener, max_connections: usize, shutdown: impl Future) {
    let db = DbGuard::new();
    let (notify_shutdown, _) = broadcast::channel::<()>(1);
    // Every connection task holds a sender; `recv` returns `None` once all are gone.
    let (shutdown_complete_tx, mut shutdown_complete_rx) = mpsc::channel::<()>(1);
    let mut acceptor = Acceptor {
        listener,
        db: db.db(),
        limit: Arc::new(Semaphore::new(max_connections)),
        notify_shutdown: notify_shutdown.clone(),
        shutdown_complete_tx,
    };
    tokio::select! {
        result = acceptor.run() => {
            if let Err(error) = result {
                eprintln!("kv: failed to accept: {error}");
            }
        }
        _ = shutdown => {}
    }
    // Every sender of the broadcast must go for the connections to hear it: the
    // acceptor holds one (and a `shutdown_complete` sender) too.
    drop(acceptor);
    drop(notify_shutdown);
    let _ = shutdown_complete_rx.recv().await;
}

/// [`run`] with [`MAX_CONNECTIONS`], stopping at ctrl-c: what `main` calls.
pub async fn run_until_ctrl_c(listener: TcpListener) {
    run(listener, MAX_CONNECTIONS, tokio::signal::ctrl_c()).await;
}

struct Acceptor {
    listener: TcpListener,
    db: Db,
    limit: Arc<Semaphore>,
    notify_shutdown: broadcast::Sender<()>,
    shutdown_complete_tx: mpsc::Sender<()>,
}

impl Acceptor {
    async fn run(&mut self) -> io::Result<()> {
        loop {
            // Wait for room before accepting: beyond the limit, clients wait in the
            // listener's backlog.
            let permit = self
                .limit
                .clone()
                .acquire_owned()
                .await
                .expect("the semaphore is never closed");
            let socket = self.accept().await?;
            let mut connection = Connection {
                db: self.db.clone(),
                shutdown: self.notify_shutdown.subscribe(),
                _shutdown_complete: self.shutdown_complete_tx.clone(),
            };
            tokio::spawn(async move {
                if let Err(error) = connection.serve(socket).await {
                    eprintln!("kv: connection error: {error}");
                }
                drop(permit);
            });
        }
    }

    /// Accepts, retrying transient errors with a backoff.
    async fn accept(&mut self) -> io::Result<TcpStream> {
        let mut backoff = Duration::from_secs(1);
        loop {
            match self.listener.accept().await {
                Ok((socket, _)) => return Ok(socket),
                Err(error) if backoff > Duration::from_secs(64) => return Err(error),
                Err(_) => {}
            }
            tokio::time::sleep(backoff).await;
            backoff *= 2;
        }
    }
}

struct Connection {
    db: Db,
    shutdown: broadcast::Receiver<()>,
    /// Dropped when the connection ends: `run` waits for all of these.
    _shutdown_complete: mpsc::Sender<()>,
}

impl Connection {
    async fn serve(&mut self, socket: TcpStream) -> io::Result<()> {
        let (read, mut write) = socket.into_split();
        let mut lines = BufReader::new(read).lines();
        loop {
            let line = tokio::select! {
                line = lines.next_line() => line?,
                _ = self.shutdown.recv() => return Ok(()),
            };
            let Some(line) = line else {
                return Ok(()); // the client hung up
            };
            let mut reply = self.apply(&line);
            reply.push('\n');
            write.write_all(reply.as_bytes()).await?;
        }
    }

    fn apply(&self, line: &str) -> String {
        let words: Vec<&str> = line.split_whitespace().collect();
        match words.as_slice() {
            ["GET", key] => match self.db.get(key) {
                Some(value) => format!("VALUE {value}"),
                None => "NIL".to_owned(),
            },
            ["SET", key, value] => {
                self.db.set((*key).to_owned(), (*value).to_owned(), None);
                "OK".to_owned()
            }
            ["SET", key, value, "PX", ms] => match ms.parse::<u64>() {
                Ok(ms) => {
                    let expire = Some(Duration::from_millis(ms));
                    self.db.set((*key).to_owned(), (*value).to_owned(), expire);
                    "OK".to_owned()
                }
                Err(_) => format!("ERR not a number of milliseconds: {ms}"),
            },
            ["DEL", key] => if self.db.del(key) { "1" } else { "0" }.to_owned(),
            _ => format!("ERR unknown command: {line}"),
        }
    }
}
