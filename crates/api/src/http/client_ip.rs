//! The client's IP address: the TCP peer, or, when the peer is a configured trusted proxy, the
//! nearest untrusted address in `X-Forwarded-For`. Audit events and per-IP rate limits use it.

use std::net::{IpAddr, SocketAddr};

use axum::extract::{ConnectInfo, Request};
use ipnet::IpNet;

/// The resolved client address, in request extensions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientIp(pub IpAddr);

/// Resolves [`ClientIp`] once per request into its extensions (by `http::front::Front`).
pub fn resolve(request: &mut Request, trusted: &[IpNet]) {
    let peer = request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip());
    if let Some(peer) = peer {
        let forwarded = request
            .headers()
            .get_all("x-forwarded-for")
            .iter()
            .filter_map(|v| v.to_str().ok());
        let ip = client_ip(peer, forwarded, trusted);
        request.extensions_mut().insert(ClientIp(ip));
    }
}

/// Walks `X-Forwarded-For` from the right (the entry our proxy appended) towards the left,
/// skipping trusted proxies; the first untrusted address is the client. Entries to its left were
/// written by the client and cannot be believed. A peer that is not trusted is the client.
pub fn client_ip<'a>(
    peer: IpAddr,
    forwarded: impl Iterator<Item = &'a str>,
    trusted: &[IpNet],
) -> IpAddr {
    let is_trusted = |ip: &IpAddr| trusted.iter().any(|net| net.contains(ip));
    if !is_trusted(&peer) {
        return peer;
    }
    let entries: Vec<&str> = forwarded
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .collect();
    let mut nearest = peer;
    for entry in entries.iter().rev() {
        match entry.parse::<IpAddr>() {
            Ok(ip) if is_trusted(&ip) => nearest = ip,
            Ok(ip) => return ip,
            // A malformed hop: stop believing the header beyond it.
            Err(_) => return nearest,
        }
    }
    nearest
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nets(list: &[&str]) -> Vec<IpNet> {
        list.iter().map(|n| n.parse().unwrap()).collect()
    }

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    #[test]
    fn an_untrusted_peer_is_the_client_whatever_the_header_says() {
        let trusted = nets(&["10.0.0.0/8"]);
        assert_eq!(
            client_ip(ip("203.0.113.9"), ["1.2.3.4"].into_iter(), &trusted),
            ip("203.0.113.9")
        );
    }

    #[test]
    fn behind_trusted_proxies_the_nearest_untrusted_hop_is_the_client() {
        let trusted = nets(&["10.0.0.0/8", "fd00::/8"]);
        let header = ["6.6.6.6, 198.51.100.7, 10.1.2.3"];
        assert_eq!(
            client_ip(ip("10.0.0.1"), header.into_iter(), &trusted),
            ip("198.51.100.7")
        );
        assert_eq!(
            client_ip(ip("fd00::1"), ["198.51.100.8"].into_iter(), &trusted),
            ip("198.51.100.8")
        );
    }

    #[test]
    fn a_spoofed_or_malformed_header_cannot_move_the_client_beyond_our_proxies() {
        let trusted = nets(&["10.0.0.0/8"]);
        assert_eq!(
            client_ip(
                ip("10.0.0.1"),
                ["not-an-ip, 10.9.9.9"].into_iter(),
                &trusted
            ),
            ip("10.9.9.9")
        );
        assert_eq!(
            client_ip(ip("10.0.0.1"), std::iter::empty(), &trusted),
            ip("10.0.0.1")
        );
    }
}
