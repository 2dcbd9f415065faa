//! The client library: one connection, one request at a time.

use std::io;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader, Lines};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpStream, ToSocketAddrs};

/// A connection to a kv server.
#[derive(Debug)]
pub struct Client {
    lines: Lines<BufReader<OwnedReadHalf>>,
    write: OwnedWriteHalf,
}

impl Client {
    /// Connects to the server at `addr`.
    pub async fn connect(addr: impl ToSocketAddrs) -> io::Result<Client> {
        let socket = TcpStream::connect(addr).await?;
        socket.set_nodelay(true)?;
        let (read, write) = socket.into_split();
        Ok(Client {
            lines: BufReader::new(read).lines(),
            write,
        })
    }

    async fn request(&mut self, command: String) -> io::Result<String> {
        self.write.write_all(command.as_bytes()).await?;
        self.write.write_all(b"\n").await?;
        match self.lines.next_line().await? {
            Some(reply) if reply.starts_with("ERR ") => Err(io::Error::other(reply)),
            Some(reply) => Ok(reply),
            None => Err(io::ErrorKind::UnexpectedEof.into()),
        }
    }

    /// The value of `key`, or `None`.
    pub async fn get(&mut self, key: &str) -> io::Result<Option<String>> {
        let reply = self.request(format!("GET {key}")).await?;
        match reply.strip_prefix("VALUE ") {
            Some(value) => Ok(Some(value.to_owned())),
            None if reply == "NIL" => Ok(None),
            None => Err(io::Error::other(format!("unexpected reply: {reply}"))),
        }
    }

    /// Sets `key` to `value` (no spaces in either).
    pub async fn set(&mut self, key: &str, value: &str) -> io::Result<()> {
        self.expect_ok(format!("SET {key} {value}")).await
    }

    /// Sets `key` to `value`, expiring after `expire`.
    pub async fn set_expires(
        &mut self,
        key: &str,
        value: &str,
        expire: Duration,
    ) -> io::Result<()> {
        self.expect_ok(format!("SET {key} {value} PX {}", expire.as_millis()))
            .await
    }

    /// Removes `key`; whether it was there.
    pub async fn del(&mut self, key: &str) -> io::Result<bool> {
        Ok(self.request(format!("DEL {key}")).await? == "1")
    }

    async fn expect_ok(&mut self, command: String) -> io::Result<()> {
        match self.request(command).await?.as_str() {
            "OK" => Ok(()),
            other => Err(io::Error::other(format!("unexpected reply: {other}"))),
        }
    }
}
