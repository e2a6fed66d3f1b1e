//! Where Lanyard itself may send requests (back-channel logout tokens): never to the machine it
//! runs on, its private network or a cloud metadata service, unless the operator allows a range
//! (`LANYARD_ALLOW_PRIVATE_DESTINATIONS`). Server-side request forgery is refused twice: when a
//! URI is registered (a literal address or `localhost`) and when it is used, after DNS
//! resolution, where every resolved address is checked and only checked addresses are connected
//! to (a name that resolves to one refused address is refused whole, so a DNS answer cannot
//! mix a private address in; the resolver below is the client's only resolver, so there is no
//! second lookup to rebind).
//!
//! The refused ranges are the special-purpose registries' non-global entries (RFC 6890, and
//! for IPv6 RFC 4291 §2.5, RFC 4193, RFC 6598 for CGNAT, RFC 3927 for link-local, which holds the
//! 169.254.169.254 metadata address). IPv4-mapped and NAT64 IPv6 addresses are judged by the IPv4
//! address inside them.

use ipnet::IpNet;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;

/// One refused range and the name an error shows for it.
struct Range {
    net: &'static str,
    name: &'static str,
}

const REFUSED: &[Range] = &[
    Range {
        net: "0.0.0.0/8",
        name: "this-network",
    },
    Range {
        net: "10.0.0.0/8",
        name: "private",
    },
    Range {
        net: "100.64.0.0/10",
        name: "cgnat",
    },
    Range {
        net: "127.0.0.0/8",
        name: "loopback",
    },
    Range {
        net: "169.254.0.0/16",
        name: "link-local",
    },
    Range {
        net: "172.16.0.0/12",
        name: "private",
    },
    Range {
        net: "192.0.0.0/24",
        name: "ietf-protocol",
    },
    Range {
        net: "192.0.2.0/24",
        name: "documentation",
    },
    Range {
        net: "192.168.0.0/16",
        name: "private",
    },
    Range {
        net: "198.18.0.0/15",
        name: "benchmarking",
    },
    Range {
        net: "198.51.100.0/24",
        name: "documentation",
    },
    Range {
        net: "203.0.113.0/24",
        name: "documentation",
    },
    Range {
        net: "224.0.0.0/4",
        name: "multicast",
    },
    Range {
        net: "240.0.0.0/4",
        name: "reserved",
    },
    Range {
        net: "::/128",
        name: "unspecified",
    },
    Range {
        net: "::1/128",
        name: "loopback",
    },
    Range {
        net: "100::/64",
        name: "discard",
    },
    Range {
        net: "2001:db8::/32",
        name: "documentation",
    },
    Range {
        net: "fc00::/7",
        name: "unique-local",
    },
    Range {
        net: "fe80::/10",
        name: "link-local",
    },
    Range {
        net: "fec0::/10",
        name: "site-local",
    },
    Range {
        net: "ff00::/8",
        name: "multicast",
    },
];

/// The named ranges an operator may allow by name.
const NAMED: &[(&str, &[&str])] = &[
    ("loopback", &["127.0.0.0/8", "::1/128"]),
    (
        "private",
        &["10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16"],
    ),
    ("link-local", &["169.254.0.0/16", "fe80::/10"]),
    ("cgnat", &["100.64.0.0/10"]),
    ("unique-local", &["fc00::/7"]),
];

/// Why a destination is refused. Shown to operators (registration error, dead delivery).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DestinationRejection {
    #[error("{addr} is a {range} address, which Lanyard does not send to (allow it with LANYARD_ALLOW_PRIVATE_DESTINATIONS)")]
    Refused { addr: IpAddr, range: &'static str },
    #[error("'{0}' names this machine (RFC 6761 §6.3), which Lanyard does not send to (allow loopback with LANYARD_ALLOW_PRIVATE_DESTINATIONS)")]
    Localhost(String),
    #[error("the URI has no host")]
    NoHost,
}

/// The operator's allowances over the refused ranges; the default allows none.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DestinationPolicy {
    allowed: Vec<IpNet>,
}

impl DestinationPolicy {
    /// `127.0.0.0/8,::1/128`, single addresses, or the names `loopback`, `private`,
    /// `link-local`, `cgnat`, `unique-local`, separated by commas or spaces.
    pub fn parse(list: &str) -> Result<Self, String> {
        let mut allowed = Vec::new();
        for item in list
            .split([',', ' '])
            .map(str::trim)
            .filter(|s| !s.is_empty())
        {
            if let Some((_, nets)) = NAMED.iter().find(|(n, _)| *n == item) {
                allowed.extend(nets.iter().filter_map(|n| n.parse::<IpNet>().ok()));
                continue;
            }
            let net = item
                .parse::<IpNet>()
                .or_else(|_| item.parse::<IpAddr>().map(IpNet::from))
                .map_err(|_| {
                    format!(
                        "'{item}' is not a CIDR network, an address, or one of loopback, private, link-local, cgnat, unique-local"
                    )
                })?;
            allowed.push(net);
        }
        Ok(Self { allowed })
    }

    /// Allow these networks (tests and the composition root).
    pub fn allowing(allowed: Vec<IpNet>) -> Self {
        Self { allowed }
    }

    /// May Lanyard connect to this address?
    pub fn evaluate_address(&self, addr: IpAddr) -> Result<(), DestinationRejection> {
        let judged = embedded_v4(addr).map(IpAddr::V4).unwrap_or(addr);
        let Some(range) = refused_range(judged) else {
            return Ok(());
        };
        if self
            .allowed
            .iter()
            .any(|n| n.contains(&judged) || n.contains(&addr))
        {
            return Ok(());
        }
        Err(DestinationRejection::Refused { addr, range })
    }

    /// The registration-time check of a URI's host: a literal address is judged as above, and
    /// `localhost` (and names under it) as loopback. Other names are judged when resolved.
    pub fn evaluate_uri(&self, uri: &url::Url) -> Result<(), DestinationRejection> {
        match uri.host() {
            None => Err(DestinationRejection::NoHost),
            Some(url::Host::Ipv4(a)) => self.evaluate_address(IpAddr::V4(a)),
            Some(url::Host::Ipv6(a)) => self.evaluate_address(IpAddr::V6(a)),
            Some(url::Host::Domain(d)) => {
                let d = d.trim_end_matches('.').to_ascii_lowercase();
                if d == "localhost" || d.ends_with(".localhost") {
                    let loopback_allowed = self
                        .evaluate_address(IpAddr::V4(Ipv4Addr::LOCALHOST))
                        .is_ok()
                        || self
                            .evaluate_address(IpAddr::V6(Ipv6Addr::LOCALHOST))
                            .is_ok();
                    if !loopback_allowed {
                        return Err(DestinationRejection::Localhost(d));
                    }
                }
                Ok(())
            }
        }
    }

    /// [`evaluate_uri`](Self::evaluate_uri) on a URI string (registration input).
    pub fn evaluate_uri_str(&self, uri: &str) -> Result<(), String> {
        let parsed = url::Url::parse(uri).map_err(|_| format!("'{uri}' is not a URI"))?;
        self.evaluate_uri(&parsed)
            .map_err(|e| format!("'{uri}' is refused: {e}"))
    }

    /// Every resolved address must pass; then all of them are returned to connect to.
    pub fn evaluate_resolved(
        &self,
        addrs: Vec<SocketAddr>,
    ) -> Result<Vec<SocketAddr>, DestinationRejection> {
        for a in &addrs {
            self.evaluate_address(a.ip())?;
        }
        Ok(addrs)
    }
}

fn refused_range(addr: IpAddr) -> Option<&'static str> {
    REFUSED.iter().find_map(|r| {
        r.net
            .parse::<IpNet>()
            .ok()
            .filter(|n| n.contains(&addr))
            .map(|_| r.name)
    })
}

/// The IPv4 address an IPv6 address carries: IPv4-mapped `::ffff:a.b.c.d` (RFC 4291 §2.5.5.2),
/// IPv4-compatible `::a.b.c.d` (deprecated, §2.5.5.1) and NAT64 `64:ff9b::a.b.c.d` (RFC 6052).
fn embedded_v4(addr: IpAddr) -> Option<Ipv4Addr> {
    let IpAddr::V6(v6) = addr else {
        return None;
    };
    let s = v6.segments();
    let tail = Ipv4Addr::new(
        (s[6] >> 8) as u8,
        (s[6] & 0xff) as u8,
        (s[7] >> 8) as u8,
        (s[7] & 0xff) as u8,
    );
    match s {
        [0, 0, 0, 0, 0, 0xffff, _, _] => Some(tail),
        // `::` and `::1` stay IPv6 (unspecified, loopback).
        [0, 0, 0, 0, 0, 0, hi, _] if hi != 0 => Some(tail),
        [0x64, 0xff9b, 0, 0, 0, 0, _, _] => Some(tail),
        _ => None,
    }
}

/// The delivery client's resolver: resolve, refuse the whole name if any address is refused,
/// and hand the client only the checked addresses. Its refusal is found again in the error's
/// source chain by [`find_rejection`].
#[derive(Debug, Clone)]
pub struct CheckedResolver {
    policy: Arc<DestinationPolicy>,
}

impl CheckedResolver {
    pub fn new(policy: DestinationPolicy) -> Self {
        Self {
            policy: Arc::new(policy),
        }
    }
}

impl reqwest::dns::Resolve for CheckedResolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let policy = self.policy.clone();
        Box::pin(async move {
            let host = name.as_str().to_string();
            // Port 0: reqwest puts the URI's port on the addresses it is given.
            let addrs: Vec<SocketAddr> =
                tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            let checked = policy.evaluate_resolved(addrs)?;
            let addrs: reqwest::dns::Addrs = Box::new(checked.into_iter());
            Ok(addrs)
        })
    }
}

/// The destination refusal inside a client error, if that is what it was.
pub fn find_rejection<'a>(
    e: &'a (dyn std::error::Error + 'static),
) -> Option<&'a DestinationRejection> {
    let mut cur: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(err) = cur {
        if let Some(r) = err.downcast_ref::<DestinationRejection>() {
            return Some(r);
        }
        cur = err.source();
    }
    None
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn refused(p: &DestinationPolicy, s: &str) -> bool {
        p.evaluate_address(ip(s)).is_err()
    }

    #[test]
    fn non_global_addresses_are_refused_by_default() {
        let p = DestinationPolicy::default();
        for a in [
            "127.0.0.1",
            "127.8.9.10",
            "10.1.2.3",
            "172.16.0.1",
            "172.31.255.255",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "224.0.0.1",
            "255.255.255.255",
            "::1",
            "::",
            "fc00::1",
            "fd00:ec2::254",
            "fe80::1",
            "ff02::1",
            "::ffff:127.0.0.1",
            "::ffff:169.254.169.254",
            "64:ff9b::a00:1",
        ] {
            assert!(refused(&p, a), "{a}");
        }
    }

    #[test]
    fn global_addresses_pass() {
        let p = DestinationPolicy::default();
        for a in [
            "93.184.216.34",
            "8.8.8.8",
            "172.32.0.1",
            "100.128.0.1",
            "2606:4700::1111",
            "::ffff:8.8.8.8",
        ] {
            assert!(!refused(&p, a), "{a}");
        }
    }

    #[test]
    fn the_error_names_the_range() {
        let e = DestinationPolicy::default()
            .evaluate_address(ip("169.254.169.254"))
            .unwrap_err();
        assert_eq!(
            e,
            DestinationRejection::Refused {
                addr: ip("169.254.169.254"),
                range: "link-local"
            }
        );
        assert!(e.to_string().contains("LANYARD_ALLOW_PRIVATE_DESTINATIONS"));
    }

    #[test]
    fn an_operator_allows_ranges_by_cidr_or_name() {
        let p = DestinationPolicy::parse("127.0.0.0/8, ::1/128").unwrap();
        assert!(!refused(&p, "127.0.0.1"));
        assert!(!refused(&p, "::1"));
        assert!(!refused(&p, "::ffff:127.0.0.1"));
        assert!(refused(&p, "10.0.0.1"));
        let p = DestinationPolicy::parse("private").unwrap();
        assert!(!refused(&p, "10.0.0.1"));
        assert!(!refused(&p, "192.168.0.1"));
        assert!(refused(&p, "127.0.0.1"));
        assert!(refused(&p, "169.254.169.254"));
        let p = DestinationPolicy::parse("10.0.0.5").unwrap();
        assert!(!refused(&p, "10.0.0.5"));
        assert!(refused(&p, "10.0.0.6"));
        assert!(DestinationPolicy::parse("intranet").is_err());
        assert!(DestinationPolicy::parse("10.0.0.0/99").is_err());
        assert_eq!(
            DestinationPolicy::parse("").unwrap(),
            DestinationPolicy::default()
        );
    }

    #[test]
    fn registration_judges_literal_hosts_and_localhost() {
        let p = DestinationPolicy::default();
        for u in [
            "http://127.0.0.1:9000/bc",
            "http://[::1]/bc",
            "http://169.254.169.254/latest/meta-data",
            "http://10.0.0.8/bc",
            "http://localhost:8080/bc",
            "http://LOCALHOST./bc",
            "http://rp.localhost/bc",
            "http://[::ffff:7f00:1]/bc",
            // The URL parser reads these as IPv4 literals (WHATWG URL §4.4).
            "http://2130706433/bc",
            "http://0x7f.1/bc",
        ] {
            assert!(p.evaluate_uri_str(u).is_err(), "{u}");
        }
        for u in ["https://rp.example/bc", "https://93.184.216.34/bc"] {
            assert!(p.evaluate_uri_str(u).is_ok(), "{u}");
        }
        let dev = DestinationPolicy::parse("loopback").unwrap();
        assert!(dev.evaluate_uri_str("http://localhost:8080/bc").is_ok());
        assert!(dev.evaluate_uri_str("http://127.0.0.1:8080/bc").is_ok());
        assert!(dev.evaluate_uri_str("http://10.0.0.8/bc").is_err());
    }

    #[test]
    fn one_refused_resolved_address_refuses_the_name() {
        let p = DestinationPolicy::default();
        let good: SocketAddr = "93.184.216.34:443".parse().unwrap();
        let bad: SocketAddr = "10.0.0.1:443".parse().unwrap();
        assert_eq!(p.evaluate_resolved(vec![good]).unwrap(), vec![good]);
        assert!(p.evaluate_resolved(vec![good, bad]).is_err());
    }

    #[tokio::test]
    async fn the_client_resolver_refuses_a_name_that_resolves_to_loopback() {
        // `localhost` resolves to loopback everywhere; the request is refused before any
        // connection, and the refusal is found in the client's error.
        let client = reqwest::Client::builder()
            .dns_resolver(Arc::new(CheckedResolver::new(DestinationPolicy::default())))
            .no_proxy()
            .build()
            .unwrap();
        let e = client.get("http://localhost:9/").send().await.unwrap_err();
        assert!(
            matches!(
                find_rejection(&e),
                Some(DestinationRejection::Refused {
                    range: "loopback",
                    ..
                })
            ),
            "{e:?}"
        );
        // Allowed by the operator: resolution passes and the connection is attempted (port 9
        // on loopback refuses it, which is a connection error, not a refusal).
        let client = reqwest::Client::builder()
            .dns_resolver(Arc::new(CheckedResolver::new(
                DestinationPolicy::parse("loopback").unwrap(),
            )))
            .no_proxy()
            .build()
            .unwrap();
        let e = client.get("http://localhost:9/").send().await.unwrap_err();
        assert_eq!(find_rejection(&e), None, "{e:?}");
    }

    #[test]
    fn a_rejection_is_found_in_an_error_chain() {
        #[derive(Debug)]
        struct Outer(DestinationRejection);
        impl std::fmt::Display for Outer {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("outer")
            }
        }
        impl std::error::Error for Outer {
            fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
                Some(&self.0)
            }
        }
        let e = Outer(DestinationRejection::NoHost);
        assert_eq!(find_rejection(&e), Some(&DestinationRejection::NoHost));
        let io = std::io::Error::other("x");
        assert_eq!(find_rejection(&io), None);
    }
}
