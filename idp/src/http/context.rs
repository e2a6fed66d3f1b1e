//! The request context: who is calling from where (client IP behind trusted proxies, user agent,
//! cookies, Origin and Fetch Metadata), and the one clock reading for this request (STYLE.md
//! rule 2). Handlers build it; nothing below a handler sees the raw HTTP request.

use crate::clock::{Clock, UnixTime};
use ipnet::IpNet;
use poem::Request;

/// The request's cookies, parsed once.
#[derive(Debug, Clone, Default)]
pub struct Cookies {
    pairs: Vec<(String, String)>,
}

/// One cookie name's value in a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CookieValue<'a> {
    Absent,
    One(&'a str),
    /// Sent more than once (with different values): which one the browser meant is unknowable,
    /// so a security cookie sent twice is not trusted.
    Ambiguous,
}

/// Longest cookie value read (our tokens are far shorter; the demo RP's state is the longest).
const MAX_VALUE: usize = 256;

impl Cookies {
    pub fn parse<'a>(headers: impl IntoIterator<Item = &'a str>) -> Self {
        let mut pairs = Vec::new();
        for h in headers {
            for pair in h.split(';') {
                let mut it = pair.trim().splitn(2, '=');
                let (Some(k), Some(v)) = (it.next(), it.next()) else {
                    continue;
                };
                if pairs.len() < 64 {
                    pairs.push((k.to_string(), v.to_string()));
                }
            }
        }
        Self { pairs }
    }

    /// The value of `name`, accepting only the characters Lanyard's own values use.
    pub fn value(&self, name: &str) -> CookieValue<'_> {
        let mut found: Option<&str> = None;
        for (k, v) in &self.pairs {
            if k != name {
                continue;
            }
            match found {
                Some(prev) if prev != v => return CookieValue::Ambiguous,
                _ => found = Some(v),
            }
        }
        match found {
            Some(v)
                if !v.is_empty()
                    && v.len() <= MAX_VALUE
                    && v.bytes()
                        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.')) =>
            {
                CookieValue::One(v)
            }
            _ => CookieValue::Absent,
        }
    }

    /// The value when sent exactly once.
    pub fn get(&self, name: &str) -> Option<&str> {
        match self.value(name) {
            CookieValue::One(v) => Some(v),
            _ => None,
        }
    }
}

#[derive(Debug, Clone)]
pub struct RequestContext {
    /// The client IP (see `http::client_ip`), as text.
    pub ip: String,
    pub user_agent: String,
    pub origin: Option<String>,
    /// Fetch Metadata `Sec-Fetch-Site`, set only by browsers.
    pub fetch_site: Option<String>,
    pub cookies: Cookies,
    /// ISO 3166 country of the client IP, when a geo source knows it (trusted proxy header or
    /// the GeoIP database).
    pub country: Option<String>,
    /// Where the client IP is, when a geo source knows it (see `http::geo`).
    pub location: Option<crate::session::travel::GeoPoint>,
    /// The device posture a trusted proxy reported (`session::trust::parse_posture`).
    pub posture: Option<String>,
    pub now: UnixTime,
    pub now_ms: i64,
    /// Committed policy inputs this request has read (`session::service::policy::ReadMemo`).
    pub reads: crate::session::service::policy::ReadMemo,
}

fn header<'a>(req: &'a Request, name: &str) -> Option<&'a str> {
    req.headers().get(name).and_then(|v| v.to_str().ok())
}

/// What trusted proxies tell about a request (geo, see `http::geo`; device posture), and the
/// GeoIP database for what they leave out.
#[derive(Debug, Clone, Copy, Default)]
pub struct ProxyFacts<'a> {
    /// A header a trusted proxy sets to the client's ISO 3166 country (e.g. `CF-IPCountry`).
    pub country_header: Option<&'a str>,
    /// Headers a trusted proxy sets to the client's latitude and longitude.
    pub point_headers: Option<(&'a str, &'a str)>,
    /// The GeoIP database, for what the headers leave out.
    pub db: Option<&'a super::geo::GeoIpDb>,
    /// A header a trusted proxy sets to the device's posture (`disk_encryption=off,...`).
    pub posture_header: Option<&'a str>,
}

impl RequestContext {
    /// Geo headers are read only when the socket peer is a trusted proxy; the database fills in
    /// what they leave out.
    pub fn from_request(
        req: &Request,
        clock: &dyn Clock,
        trusted_proxies: &[IpNet],
        geo: ProxyFacts<'_>,
    ) -> Self {
        let now_ms = clock.now_ms();
        let peer = req.remote_addr().as_socket_addr().map(|p| p.ip());
        let ip = match peer {
            Some(peer) => super::client_ip::resolve_client_ip(
                peer,
                header(req, "forwarded"),
                header(req, "x-forwarded-for"),
                trusted_proxies,
            )
            .to_string(),
            None => "unknown".into(),
        };
        let from_trusted = peer.is_some_and(|p| {
            let p = crate::session::cohort::normalise(p);
            trusted_proxies.iter().any(|n| n.contains(&p))
        });
        let mut country = geo
            .country_header
            .filter(|_| from_trusted)
            .and_then(|h| header(req, h))
            .and_then(super::geo::parse_country);
        let mut location = geo
            .point_headers
            .filter(|_| from_trusted)
            .and_then(|(la, lo)| super::geo::parse_point(header(req, la)?, header(req, lo)?));
        if let (Some(db), Ok(addr), true) = (
            geo.db,
            ip.parse::<std::net::IpAddr>(),
            country.is_none() || location.is_none(),
        ) {
            let fix = db.lookup(addr);
            country = country.or(fix.country);
            location = location.or(fix.point);
        }
        let posture = geo
            .posture_header
            .filter(|_| from_trusted)
            .and_then(|h| header(req, h))
            .map(|v| v.chars().take(512).collect());
        let user_agent = header(req, "user-agent")
            .unwrap_or("")
            .chars()
            .take(512)
            .collect();
        let cookies = Cookies::parse(
            req.headers()
                .get_all("cookie")
                .iter()
                .filter_map(|v| v.to_str().ok()),
        );
        Self {
            ip,
            user_agent,
            origin: header(req, "origin").map(str::to_string),
            fetch_site: header(req, "sec-fetch-site").map(str::to_ascii_lowercase),
            cookies,
            country,
            location,
            posture,
            now: now_ms.div_euclid(1000),
            now_ms,
            reads: Default::default(),
        }
    }

    /// A context for work not caused by an HTTP request (CLI, sweeper, tests).
    pub fn system(now_ms: i64) -> Self {
        Self {
            ip: String::new(),
            user_agent: String::new(),
            origin: None,
            fetch_site: None,
            cookies: Cookies::default(),
            country: None,
            location: None,
            posture: None,
            now: now_ms.div_euclid(1000),
            now_ms,
            reads: Default::default(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cookies_are_read_once_and_ambiguity_is_visible() {
        let c = Cookies::parse(["a=1; b=two", "c=x.y_z-0; a=1"]);
        assert_eq!(
            c.get("a"),
            Some("1"),
            "the same value twice is not ambiguous"
        );
        assert_eq!(c.get("b"), Some("two"));
        assert_eq!(c.get("c"), Some("x.y_z-0"));
        assert_eq!(c.value("zz"), CookieValue::Absent);
        let c = Cookies::parse(["s=one; s=two"]);
        assert_eq!(c.value("s"), CookieValue::Ambiguous);
        assert_eq!(c.get("s"), None);
    }

    #[test]
    fn foreign_characters_and_oversized_values_are_absent() {
        let long = format!("a={}", "x".repeat(MAX_VALUE + 1));
        let c = Cookies::parse(["q=a%20b; e=", long.as_str()]);
        assert_eq!(c.get("q"), None);
        assert_eq!(c.get("e"), None);
        assert_eq!(c.get("a"), None);
    }
}
