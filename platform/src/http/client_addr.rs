//! The client's address, for rate limits and logs.
//!
//! `X-Forwarded-For` is a list every proxy appends its peer to; only the entries appended by
//! proxies we run can be believed, the rest is whatever the client wrote. With
//! `TRUSTED_PROXY_HOPS=N` the N-th entry from the right is the address the outermost trusted
//! proxy saw. With N = 0 (the default) the header is ignored and the socket's peer is used.
//!
//! When the header has fewer than N entries, or the N-th is not an address, the request did
//! not come through the proxies as configured (or they are misconfigured): the socket's peer
//! is used, never an entry the client could have written.
//!
//! Lines and entries are split as bytes: a line holding non-ASCII bytes still counts, its
//! unreadable entries as entries that are not addresses. Skipping such a line would shift
//! the count from the right, so that a client who sends a line of its own and an unreadable
//! start of the line the proxy appends to would pick its own throttle key.

use std::net::{IpAddr, SocketAddr};

use poem::Request;

use crate::http::deadlines::RequestContext;

/// The client address of `req`, under the trusted-proxy setting of the server it came in on.
pub fn client_ip(req: &Request) -> Option<IpAddr> {
    let hops = req
        .extensions()
        .get::<RequestContext>()
        .map_or(0, |c| c.trusted_proxy_hops);
    let forwarded: Vec<&[u8]> = req
        .headers()
        .get_all("x-forwarded-for")
        .iter()
        .map(|v| v.as_bytes())
        .collect();
    let peer = req.remote_addr().as_socket_addr().map(|a| a.ip());
    resolve(hops, &forwarded, peer)
}

/// `forwarded` holds the `X-Forwarded-For` header lines in the order received (several lines
/// form one list).
pub fn resolve(hops: usize, forwarded: &[&[u8]], peer: Option<IpAddr>) -> Option<IpAddr> {
    if hops == 0 {
        return peer;
    }
    forwarded
        .iter()
        .flat_map(|line| line.split(|b| *b == b','))
        .rev()
        .nth(hops - 1)
        .and_then(parse_entry)
        .or(peer)
}

/// An address as proxies write it: `203.0.113.7`, `2001:db8::1`, or with a port.
fn parse_entry(entry: &[u8]) -> Option<IpAddr> {
    let entry = std::str::from_utf8(entry).ok()?.trim();
    entry
        .parse::<IpAddr>()
        .ok()
        .or_else(|| entry.parse::<SocketAddr>().ok().map(|a| a.ip()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> Option<IpAddr> {
        Some(s.parse().unwrap())
    }

    fn resolve(hops: usize, lines: &[&str], peer: Option<IpAddr>) -> Option<IpAddr> {
        let lines: Vec<&[u8]> = lines.iter().map(|l| l.as_bytes()).collect();
        super::resolve(hops, &lines, peer)
    }

    const PEER: &str = "10.0.0.9";

    #[test]
    fn without_trusted_proxies_the_header_is_ignored() {
        assert_eq!(resolve(0, &["1.2.3.4"], ip(PEER)), ip(PEER));
    }

    #[test]
    fn one_hop_takes_the_entry_the_load_balancer_appended() {
        assert_eq!(resolve(1, &["6.6.6.6, 1.2.3.4"], ip(PEER)), ip("1.2.3.4"));
        assert_eq!(resolve(1, &["1.2.3.4"], ip(PEER)), ip("1.2.3.4"));
    }

    #[test]
    fn two_hops_count_from_the_right_across_header_lines() {
        assert_eq!(
            resolve(2, &["6.6.6.6, 1.2.3.4", "10.1.1.1"], ip(PEER)),
            ip("1.2.3.4")
        );
    }

    #[test]
    fn too_few_entries_or_garbage_fall_back_to_the_peer() {
        assert_eq!(resolve(2, &["1.2.3.4"], ip(PEER)), ip(PEER));
        assert_eq!(resolve(1, &[], ip(PEER)), ip(PEER));
        assert_eq!(resolve(1, &["6.6.6.6, nonsense"], ip(PEER)), ip(PEER));
    }

    #[test]
    fn an_unreadable_line_still_counts() {
        let lines: [&[u8]; 2] = [b"6.6.6.6", b"caf\xc3\xa9, 1.2.3.4"];
        assert_eq!(super::resolve(1, &lines, ip(PEER)), ip("1.2.3.4"));
        assert_eq!(super::resolve(2, &lines, ip(PEER)), ip(PEER));
        assert_eq!(super::resolve(1, &[b"\xff"], ip(PEER)), ip(PEER));
    }

    #[test]
    fn entries_with_ports_and_ipv6_parse() {
        assert_eq!(resolve(1, &["1.2.3.4:5555"], None), ip("1.2.3.4"));
        assert_eq!(resolve(1, &[" 2001:db8::1 "], None), ip("2001:db8::1"));
        assert_eq!(resolve(1, &["[2001:db8::1]:443"], None), ip("2001:db8::1"));
    }
}
