//! `mlxrun __host ports ADDR PORT…`, run on a host over ssh: which of
//! these TCP ports can a server bind on ADDR there. Each port is bound
//! (as a server would: `SO_REUSEADDR`, so a connection in TIME_WAIT does
//! not count) and released at once. Prints one JSON line,
//! `{"address":"…","taken":[…],"free":[…]}`, with `"errors":{"PORT":"…"}`
//! added for ports that failed for another reason than being in use (they
//! are in `taken` too: nothing can bind them).

use std::collections::BTreeMap;
use std::net::{SocketAddr, TcpListener, ToSocketAddrs};

use serde::{Deserialize, Serialize};

/// The answer, as printed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PortsAnswer {
    /// ADDR as given.
    pub address: String,
    /// Ports that cannot be bound on it, in the order given.
    pub taken: Vec<u16>,
    /// Ports that can, in the order given.
    pub free: Vec<u16>,
    /// Why a port in `taken` failed, when not because it is in use
    /// (e.g. an address not on this host, a privileged port).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub errors: BTreeMap<u16, String>,
}

/// Try to bind each of `ports` on `address` (an IP address, or a host
/// name: its first address, the one a server given that name binds); a
/// port given twice is tried once. An address that does not resolve is
/// an error.
pub fn check_ports(address: &str, ports: &[u16]) -> Result<PortsAnswer, String> {
    let first: SocketAddr = (address, 0)
        .to_socket_addrs()
        .map_err(|e| format!("address {address:?}: {e}"))?
        .next()
        .ok_or_else(|| format!("address {address:?} resolves to nothing"))?;
    let mut answer = PortsAnswer {
        address: address.to_string(),
        taken: Vec::new(),
        free: Vec::new(),
        errors: BTreeMap::new(),
    };
    for &port in ports {
        if answer.taken.contains(&port) || answer.free.contains(&port) {
            continue;
        }
        let mut at = first;
        at.set_port(port);
        match TcpListener::bind(at) {
            Ok(_) => answer.free.push(port),
            Err(e) => {
                answer.taken.push(port);
                if e.kind() != std::io::ErrorKind::AddrInUse {
                    answer.errors.insert(port, e.to_string());
                }
            }
        }
    }
    Ok(answer)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bound_port_is_taken_and_a_released_one_free() {
        let held = TcpListener::bind("127.0.0.1:0").unwrap();
        let busy = held.local_addr().unwrap().port();
        let released = {
            let l = TcpListener::bind("127.0.0.1:0").unwrap();
            l.local_addr().unwrap().port()
        };
        let a = check_ports("127.0.0.1", &[busy, released, busy]).unwrap();
        assert_eq!(a.taken, [busy]);
        assert_eq!(a.free, [released]);
        assert!(a.errors.is_empty(), "{:?}", a.errors);
        let line = serde_json::to_string(&a).unwrap();
        assert_eq!(
            line,
            format!(r#"{{"address":"127.0.0.1","taken":[{busy}],"free":[{released}]}}"#)
        );
        assert_eq!(serde_json::from_str::<PortsAnswer>(&line).unwrap(), a);
        drop(held);
    }

    #[test]
    fn an_address_not_on_this_host_makes_every_port_taken_with_the_reason() {
        // TEST-NET-1 (RFC 5737): never a local address
        let a = check_ports("192.0.2.1", &[8080]).unwrap();
        assert_eq!(a.taken, [8080]);
        assert!(a.free.is_empty());
        assert!(a.errors.contains_key(&8080), "{a:?}");
        let line = serde_json::to_string(&a).unwrap();
        assert!(line.contains(r#""errors":{"8080":"#), "{line}");
        assert!(check_ports("no such host.invalid", &[8080]).is_err());
    }
}
