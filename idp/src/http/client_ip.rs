//! The client IP: the socket peer, or, only when that peer is a trusted proxy
//! (`LANYARD_TRUSTED_PROXIES`), the right-most address of `Forwarded` (RFC 7239 §4) or
//! `X-Forwarded-For` that is not itself a trusted proxy. PURE.
//!
//! Why right-most: each proxy appends the address it received the request from, so entries to
//! the right were written by proxies we trust and entries to the left by whoever sent the
//! request; the first untrusted entry from the right is the last address a trusted party vouches
//! for. A forwarded header from an untrusted peer is ignored entirely (anyone can send one).
//! Throttling, audit, binding and geo all use this one value.

use crate::session::cohort::normalise;
use ipnet::IpNet;
use std::net::{IpAddr, SocketAddr};

/// Parse `LANYARD_TRUSTED_PROXIES`: CIDRs or bare addresses, separated by commas or spaces.
pub fn parse_trusted(list: &str) -> Result<Vec<IpNet>, String> {
    list.split([',', ' '])
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| {
            s.parse::<IpNet>()
                .or_else(|_| s.parse::<IpAddr>().map(IpNet::from))
                .map_err(|_| format!("'{s}' is not an IP address or CIDR network"))
        })
        .collect()
}

fn trusted(addr: IpAddr, proxies: &[IpNet]) -> bool {
    let a = normalise(addr);
    proxies.iter().any(|n| n.contains(&a))
}

/// One `for=` node of RFC 7239 §6: `192.0.2.43`, `"[2001:db8::1]:4711"`, `"192.0.2.43:80"`.
/// Obfuscated identifiers and `unknown` give None.
fn parse_node(raw: &str) -> Option<IpAddr> {
    let v = raw.trim().trim_matches('"');
    if let Some(rest) = v.strip_prefix('[') {
        let (inside, _) = rest.split_once(']')?;
        return inside.parse().ok();
    }
    if let Ok(a) = v.parse::<IpAddr>() {
        return Some(a);
    }
    v.parse::<SocketAddr>().ok().map(|s| s.ip())
}

/// The `for=` values of a `Forwarded` header, left to right (None for unusable nodes).
fn forwarded_for(h: &str) -> Vec<Option<IpAddr>> {
    h.split(',')
        .filter_map(|element| {
            element.split(';').find_map(|pair| {
                let (k, v) = pair.split_once('=')?;
                k.trim().eq_ignore_ascii_case("for").then(|| parse_node(v))
            })
        })
        .collect()
}

fn x_forwarded_for(h: &str) -> Vec<Option<IpAddr>> {
    h.split(',').map(parse_node).collect()
}

/// Resolve the client IP. `forwarded` wins over `x_forwarded_for` when both are present (it is
/// the standard form). Walking from the right, trusted proxies are skipped; an unusable node
/// stops the walk at the last trusted hop (we cannot vouch for anything beyond it).
pub fn resolve_client_ip(
    peer: IpAddr,
    forwarded: Option<&str>,
    x_forwarded_for_header: Option<&str>,
    proxies: &[IpNet],
) -> IpAddr {
    let peer = normalise(peer);
    if !trusted(peer, proxies) {
        return peer;
    }
    let chain = match (forwarded, x_forwarded_for_header) {
        (Some(f), _) => forwarded_for(f),
        (None, Some(x)) => x_forwarded_for(x),
        (None, None) => return peer,
    };
    let mut last_trusted = peer;
    for node in chain.iter().rev() {
        match node {
            Some(a) if trusted(*a, proxies) => last_trusted = normalise(*a),
            Some(a) => return normalise(*a),
            None => return last_trusted,
        }
    }
    // Every hop was a trusted proxy: the left-most is as far as the chain goes.
    last_trusted
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }
    fn nets(s: &str) -> Vec<IpNet> {
        parse_trusted(s).unwrap()
    }

    #[test]
    fn without_trusted_proxies_the_peer_is_the_client() {
        assert_eq!(
            resolve_client_ip(ip("203.0.113.9"), None, Some("1.2.3.4"), &[]),
            ip("203.0.113.9")
        );
        assert_eq!(
            resolve_client_ip(ip("203.0.113.9"), Some("for=1.2.3.4"), None, &[]),
            ip("203.0.113.9")
        );
    }

    #[test]
    fn a_forwarded_header_from_an_untrusted_peer_is_ignored() {
        let t = nets("10.0.0.0/8");
        assert_eq!(
            resolve_client_ip(ip("198.51.100.7"), None, Some("1.2.3.4"), &t),
            ip("198.51.100.7")
        );
    }

    #[test]
    fn the_right_most_untrusted_address_is_the_client() {
        let t = nets("10.0.0.0/8, 192.168.1.1");
        // Spoofed left part, real client, then two of our proxies.
        let xff = "6.6.6.6, 203.0.113.50, 10.1.1.1, 192.168.1.1";
        assert_eq!(
            resolve_client_ip(ip("10.0.0.2"), None, Some(xff), &t),
            ip("203.0.113.50")
        );
        assert_eq!(
            resolve_client_ip(ip("10.0.0.2"), None, Some("203.0.113.50"), &t),
            ip("203.0.113.50")
        );
    }

    #[test]
    fn rfc7239_forwarded_wins_and_its_node_forms_parse() {
        let t = nets("10.0.0.0/8");
        let f =
            r#"for=6.6.6.6, for="[2001:db8:cafe::17]:4711";proto=https, for=10.2.3.4;by=10.0.0.1"#;
        assert_eq!(
            resolve_client_ip(ip("10.0.0.1"), Some(f), Some("9.9.9.9"), &t),
            ip("2001:db8:cafe::17")
        );
        assert_eq!(
            resolve_client_ip(ip("10.0.0.1"), Some("For=\"192.0.2.60:8080\""), None, &t),
            ip("192.0.2.60")
        );
    }

    #[test]
    fn unusable_nodes_stop_at_the_last_trusted_hop() {
        let t = nets("10.0.0.0/8");
        assert_eq!(
            resolve_client_ip(ip("10.0.0.1"), Some("for=unknown, for=10.9.9.9"), None, &t),
            ip("10.9.9.9")
        );
        assert_eq!(
            resolve_client_ip(ip("10.0.0.1"), None, Some("garbage"), &t),
            ip("10.0.0.1")
        );
        assert_eq!(
            resolve_client_ip(ip("10.0.0.1"), Some("for=_hidden"), None, &t),
            ip("10.0.0.1")
        );
    }

    #[test]
    fn all_trusted_gives_the_left_most_and_no_header_gives_the_peer() {
        let t = nets("10.0.0.0/8");
        assert_eq!(
            resolve_client_ip(ip("10.0.0.1"), None, Some("10.5.5.5, 10.6.6.6"), &t),
            ip("10.5.5.5")
        );
        assert_eq!(
            resolve_client_ip(ip("10.0.0.1"), None, None, &t),
            ip("10.0.0.1")
        );
    }

    #[test]
    fn mapped_addresses_compare_as_ipv4() {
        let t = nets("127.0.0.1");
        assert_eq!(
            resolve_client_ip(ip("::ffff:127.0.0.1"), None, Some("203.0.113.1"), &t),
            ip("203.0.113.1")
        );
    }

    #[test]
    fn the_setting_parses_or_names_the_bad_entry() {
        assert_eq!(nets("").len(), 0);
        assert_eq!(nets("10.0.0.0/8 ::1,192.168.0.1").len(), 3);
        assert!(parse_trusted("10.0.0.0/33")
            .unwrap_err()
            .contains("10.0.0.0/33"));
        assert!(parse_trusted("proxy.local").is_err());
    }
}
