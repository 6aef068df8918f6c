//! The servers under test: their URLs, the loopback-only rule, and which source address a client uses.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use anyhow::{bail, Context, Result};

/// One server node.
#[derive(Debug, Clone)]
pub struct Node {
    pub addr: SocketAddr,
    /// `ws://host:port/path`, the URL of the WebSocket endpoint.
    pub ws_url: String,
    /// `http://host:port`, the base of REST calls.
    pub http_base: String,
    /// `host:port` (the upgrade's Host header) and the endpoint's path.
    pub authority: String,
    pub path: String,
}

/// Parses `http://host:port`, `ws://host:port` or `ws://host:port/ws` (the path defaults to `/ws`) and resolves it.
/// Refuses any address outside loopback unless `allow_non_loopback`: the harness is a load generator, and it
/// must never aim at a machine that isn't ours.
pub async fn resolve(url: &str, allow_non_loopback: bool) -> Result<Node> {
    let (scheme, rest) = url.split_once("://").with_context(|| format!("{url}: expected http://host:port"))?;
    if !matches!(scheme, "http" | "ws") {
        bail!("{url}: only http:// and ws:// are supported (the harness speaks plain TCP)");
    }
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, ""),
    };
    let path = if path.is_empty() || path == "/" { "/ws" } else { path };
    let addrs: Vec<SocketAddr> = tokio::net::lookup_host(with_default_port(authority))
        .await
        .with_context(|| format!("resolving {authority}"))?
        .collect();
    let Some(addr) = addrs.first().copied() else { bail!("{authority} resolves to nothing") };
    if !allow_non_loopback {
        if let Some(bad) = addrs.iter().find(|a| !a.ip().is_loopback()) {
            bail!("{url} resolves to {bad}, which is not loopback; refusing (pass --allow-non-loopback to override)");
        }
    }
    Ok(Node {
        addr,
        ws_url: format!("ws://{authority}{path}"),
        http_base: format!("http://{authority}"),
        authority: authority.to_string(),
        path: path.to_string(),
    })
}

fn with_default_port(authority: &str) -> String {
    let has_port = authority.rsplit_once(':').is_some_and(|(host, port)| {
        !host.is_empty() && port.chars().all(|c| c.is_ascii_digit()) && (!host.contains(':') || host.ends_with(']'))
    });
    if has_port {
        authority.to_string()
    } else {
        format!("{authority}:80")
    }
}

/// The source address of client `i`: 127.0.0.x with x cycling over 1..=spread, so that one machine can open more
/// connections to one server port than one source address has ephemeral ports (and so that the server's
/// per-address limit sees many addresses). `None` (let the kernel choose) for IPv6 targets or when `spread` is 0.
pub fn source_address(node: &Node, i: u64, spread: u8) -> Option<IpAddr> {
    if spread == 0 || !node.addr.ip().is_loopback() || !node.addr.is_ipv4() {
        return None;
    }
    let x = 1 + (i % u64::from(spread)) as u8;
    Some(IpAddr::V4(Ipv4Addr::new(127, 0, 0, x)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn urls_normalise_and_only_loopback_passes() {
        let node = resolve("http://127.0.0.1:9100", false).await.expect("loopback");
        assert_eq!(node.ws_url, "ws://127.0.0.1:9100/ws");
        assert_eq!(node.http_base, "http://127.0.0.1:9100");
        let node = resolve("ws://[::1]:9100/socket", false).await.expect("ipv6 loopback");
        assert_eq!(node.ws_url, "ws://[::1]:9100/socket");
        assert!(resolve("http://192.0.2.1:80", false).await.is_err());
        assert!(resolve("https://127.0.0.1:443", false).await.is_err());
    }

    #[tokio::test]
    async fn sources_cycle_over_the_loopback_range() {
        let node = resolve("http://127.0.0.1:9100", false).await.expect("loopback");
        assert_eq!(source_address(&node, 0, 250), Some(IpAddr::V4(Ipv4Addr::new(127, 0, 0, 1))));
        assert_eq!(source_address(&node, 251, 250), Some(IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2))));
        assert_eq!(source_address(&node, 5, 0), None);
    }
}
