//! Port checks: is a port free before a start, and free again after a stop.

use std::net::TcpListener;
use std::time::Duration;

/// Whether `host:port` can be bound now.
pub fn is_free(host: &str, port: u16) -> bool {
    TcpListener::bind((host, port)).is_ok()
}

/// Wait up to `timeout` for `host:port` to be bindable again.
pub async fn wait_free(host: &str, port: u16, timeout: Duration) -> bool {
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        if is_free(host, port) {
            return true;
        }
        if tokio::time::Instant::now() >= deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The ports of `needed` that are taken, as `(port, who)`.
pub fn taken(host_ports: &[(String, u16, String)]) -> Vec<(u16, String)> {
    host_ports
        .iter()
        .filter(|(h, p, _)| !is_free(h, *p))
        .map(|(_, p, who)| (*p, who.clone()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bound_port_is_taken() {
        let l = TcpListener::bind(("127.0.0.1", 0)).unwrap();
        let port = l.local_addr().unwrap().port();
        assert!(!is_free("127.0.0.1", port));
        let t = taken(&[("127.0.0.1".into(), port, "instance 0".into())]);
        assert_eq!(t, vec![(port, "instance 0".to_string())]);
        drop(l);
        assert!(is_free("127.0.0.1", port));
    }
}
