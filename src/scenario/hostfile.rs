//! A hostfile in the JSON format MLX's `mlx.launch --hostfile` reads
//! (`{"backend": …, "envs": […], "hosts": [{"ssh": …, "ips": […]}, …]}` or
//! the bare list of hosts), read so mlxrun knows where rank 0 runs (it
//! serves HTTP) and how many hosts the ranks span. mlx.launch itself reads
//! the file; mlxrun never rewrites it.

use serde::Deserialize;

use crate::remote::host::{Host, address_of, is_local_name};

/// One entry of the file.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Entry {
    pub ssh: String,
    #[serde(default)]
    pub ips: Vec<String>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum Shape {
    Full {
        #[serde(default)]
        backend: String,
        hosts: Vec<Entry>,
    },
    List(Vec<Entry>),
}

/// The hosts of a hostfile, in rank order, and the backend it names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hostfile {
    pub backend: String,
    pub hosts: Vec<Entry>,
}

/// Parse a hostfile's text.
pub fn parse(text: &str) -> Result<Hostfile, String> {
    let shape: Shape = serde_json::from_str(text).map_err(|e| e.to_string())?;
    let (backend, hosts) = match shape {
        Shape::Full { backend, hosts } => (backend, hosts),
        Shape::List(hosts) => (String::new(), hosts),
    };
    if hosts.is_empty() {
        return Err("it lists no hosts".into());
    }
    if let Some(i) = hosts.iter().position(|h| h.ssh.trim().is_empty()) {
        return Err(format!("host {i} has no `ssh` name"));
    }
    Ok(Hostfile { backend, hosts })
}

/// Read and parse the hostfile at `path`.
pub fn read(path: &str) -> Result<Hostfile, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("cannot read {path}: {e}"))?;
    parse(&text).map_err(|e| format!("{path} is not an mlx.launch hostfile: {e}"))
}

/// Rank 0's host in the hostfile at `path`: `None` when it is this
/// machine (a loopback address).
pub fn rank0(path: &str) -> Result<Option<Host>, String> {
    let f = read(path)?;
    Ok(rank0_of(&f))
}

/// Rank 0's host of a parsed hostfile (its first IP is where it serves).
pub fn rank0_of(f: &Hostfile) -> Option<Host> {
    let first = f.hosts.first()?;
    let address = first
        .ips
        .first()
        .cloned()
        .unwrap_or_else(|| address_of(&first.ssh).to_string());
    if is_local_name(&address) {
        return None;
    }
    let mut h = Host::bare(&first.ssh);
    h.address = address;
    Some(h)
}

/// The distinct ssh names of a hostfile, in rank order.
pub fn host_names(f: &Hostfile) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for h in &f.hosts {
        if !out.contains(&h.ssh) {
            out.push(h.ssh.clone());
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_shapes_parse_and_rank0_serves_on_its_first_ip() {
        let f = parse(
            r#"{"backend": "jaccl", "envs": ["A=1"], "hosts": [
                {"ssh": "m1", "ips": ["10.0.0.1"], "rdma": [null, "rdma_en2"]},
                {"ssh": "m2", "ips": ["10.0.0.2"], "rdma": ["rdma_en2", null]}]}"#,
        )
        .unwrap();
        assert_eq!(f.backend, "jaccl");
        let r0 = rank0_of(&f).unwrap();
        assert_eq!((r0.ssh.as_str(), r0.address.as_str()), ("m1", "10.0.0.1"));
        assert_eq!(host_names(&f), ["m1", "m2"]);
        let f = parse(r#"[{"ssh": "me@studio"}, {"ssh": "m2"}, {"ssh": "me@studio"}]"#).unwrap();
        assert_eq!(rank0_of(&f).unwrap().address, "studio");
        assert_eq!(host_names(&f), ["me@studio", "m2"]);
        assert!(rank0_of(&parse(r#"[{"ssh": "x", "ips": ["127.0.0.1"]}]"#).unwrap()).is_none());
        assert!(parse("[]").unwrap_err().contains("no hosts"));
        assert!(parse(r#"{"hosts": [{"ips": []}]}"#).is_err());
        assert!(parse("not json").is_err());
    }
}
