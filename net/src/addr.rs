//! Addresses: [`ToSocketAddrs`] and [`lookup_host`], resolved on the simulated network.
//!
//! Names resolve inside the run: `localhost` is the loopback (`127.0.0.1`, then
//! `::1`), an address literal is itself, and any other name is a host of the network
//! (the cluster's nodes). Nothing here asks a real resolver.

use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};

use crate::world::with_world;

/// Types that name one or more socket addresses: what `TcpListener::bind`,
/// `TcpStream::connect`, `UdpSocket::send_to` and [`lookup_host`] accept.
///
/// Implemented for the same types as tokio's (sealed) `ToSocketAddrs`: [`SocketAddr`],
/// [`SocketAddrV4`], [`SocketAddrV6`], `(IpAddr, u16)`, `(Ipv4Addr, u16)`,
/// `(Ipv6Addr, u16)`, `(&str, u16)`, `(String, u16)`, `str` and `String` in
/// `"host:port"` form, `&[SocketAddr]`, and references to any of them. Host names are
/// resolved on the run's simulated network (see the [module docs](crate#addresses)).
pub trait ToSocketAddrs {
    /// The addresses, resolved on the current run's network. Called inside a
    /// simulation only.
    fn to_sim_addrs(&self) -> io::Result<Vec<SocketAddr>>;
}

fn resolve(host: &str, port: u16) -> io::Result<Vec<SocketAddr>> {
    let ips = with_world("detsim::net::lookup_host", |world| world.resolve(host));
    match ips {
        Some(ips) => Ok(ips
            .into_iter()
            .map(|ip| SocketAddr::new(ip, port))
            .collect()),
        None => Err(io::Error::other(format!(
            "failed to lookup address information: no simulated host is named {host:?}"
        ))),
    }
}

fn resolve_str(s: &str) -> io::Result<Vec<SocketAddr>> {
    if let Ok(addr) = s.parse::<SocketAddr>() {
        return Ok(vec![addr]);
    }
    let invalid = || io::Error::new(io::ErrorKind::InvalidInput, "invalid socket address");
    let (host, port) = s.rsplit_once(':').ok_or_else(invalid)?;
    let port: u16 = port.parse().map_err(|_| invalid())?;
    resolve(host, port)
}

impl ToSocketAddrs for SocketAddr {
    fn to_sim_addrs(&self) -> io::Result<Vec<SocketAddr>> {
        Ok(vec![*self])
    }
}

impl ToSocketAddrs for SocketAddrV4 {
    fn to_sim_addrs(&self) -> io::Result<Vec<SocketAddr>> {
        Ok(vec![SocketAddr::V4(*self)])
    }
}

impl ToSocketAddrs for SocketAddrV6 {
    fn to_sim_addrs(&self) -> io::Result<Vec<SocketAddr>> {
        Ok(vec![SocketAddr::V6(*self)])
    }
}

impl ToSocketAddrs for (IpAddr, u16) {
    fn to_sim_addrs(&self) -> io::Result<Vec<SocketAddr>> {
        Ok(vec![SocketAddr::new(self.0, self.1)])
    }
}

impl ToSocketAddrs for (Ipv4Addr, u16) {
    fn to_sim_addrs(&self) -> io::Result<Vec<SocketAddr>> {
        Ok(vec![SocketAddr::new(IpAddr::V4(self.0), self.1)])
    }
}

impl ToSocketAddrs for (Ipv6Addr, u16) {
    fn to_sim_addrs(&self) -> io::Result<Vec<SocketAddr>> {
        Ok(vec![SocketAddr::new(IpAddr::V6(self.0), self.1)])
    }
}

impl ToSocketAddrs for (&str, u16) {
    fn to_sim_addrs(&self) -> io::Result<Vec<SocketAddr>> {
        match self.0.parse::<IpAddr>() {
            Ok(ip) => Ok(vec![SocketAddr::new(ip, self.1)]),
            Err(_) => resolve(self.0, self.1),
        }
    }
}

impl ToSocketAddrs for (String, u16) {
    fn to_sim_addrs(&self) -> io::Result<Vec<SocketAddr>> {
        (self.0.as_str(), self.1).to_sim_addrs()
    }
}

impl ToSocketAddrs for str {
    fn to_sim_addrs(&self) -> io::Result<Vec<SocketAddr>> {
        resolve_str(self)
    }
}

impl ToSocketAddrs for String {
    fn to_sim_addrs(&self) -> io::Result<Vec<SocketAddr>> {
        resolve_str(self)
    }
}

impl ToSocketAddrs for [SocketAddr] {
    fn to_sim_addrs(&self) -> io::Result<Vec<SocketAddr>> {
        Ok(self.to_vec())
    }
}

impl<T: ToSocketAddrs + ?Sized> ToSocketAddrs for &T {
    fn to_sim_addrs(&self) -> io::Result<Vec<SocketAddr>> {
        (**self).to_sim_addrs()
    }
}

/// The addresses `host` names, resolved on the run's simulated network (tokio's
/// `lookup_host`). Panics outside a simulation.
pub async fn lookup_host<T: ToSocketAddrs>(
    host: T,
) -> io::Result<impl Iterator<Item = SocketAddr>> {
    let addrs = host.to_sim_addrs()?;
    Ok(addrs.into_iter())
}

/// Tries `f` on each address in turn; the first success, or the last error.
pub(crate) fn each_addr<T>(
    addrs: &[SocketAddr],
    mut f: impl FnMut(SocketAddr) -> io::Result<T>,
) -> io::Result<T> {
    let mut last = None;
    for &addr in addrs {
        match f(addr) {
            Ok(value) => return Ok(value),
            Err(error) => last = Some(error),
        }
    }
    Err(last.unwrap_or_else(|| {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            "could not resolve to any address",
        )
    }))
}
