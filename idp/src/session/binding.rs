//! Session binding: a session is bound at login to the client IP, the user agent and the device
//! cookie; later requests from the user's own browser or device are compared with that, field by
//! field, under the policy's mode for each field, and a mismatch runs the field's graded response.
//! PURE: the caller supplies what was bound and what is observed now.
//!
//! - IP: `off` | `exact` | `prefix` (same /24 for IPv4, /64 for IPv6 unless the policy says
//!   otherwise) | `country` (same country, when a geo source knows both).
//! - User agent: `off` | `family` (browser family and major version) | `exact`.
//! - Device: `off` | `required` (the request must carry the device cookie bound at login).
//!
//! A field whose observed value is unknown (no user agent sent by a server-side client, no
//! country for an address) is not evaluated: an unknown is never a mismatch. The graded response
//! of several mismatching fields is the strictest of theirs.

use super::cohort::normalise;
use serde::{Deserialize, Serialize};
use std::net::IpAddr;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum IpMode {
    Off,
    Exact,
    Prefix,
    Country,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum UaMode {
    Off,
    Family,
    Exact,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeviceMode {
    Off,
    Required,
}

/// What a mismatch does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Response {
    /// Audit (and notify) only.
    Alert,
    /// The session becomes read-only: new access tokens carry only the scopes the policy marks
    /// safe and `session_mode: "read_only"`.
    ReadOnly,
    /// The user must authenticate again; the same session continues afterwards.
    Reauth,
    /// The session ends through the termination path (reason `binding_mismatch`).
    Terminate,
}

macro_rules! text_enum {
    ($t:ty { $($v:ident = $s:literal),* }) => {
        impl $t {
            pub fn as_str(self) -> &'static str { match self { $(Self::$v => $s),* } }
            pub fn parse(s: &str) -> Option<Self> { match s { $($s => Some(Self::$v),)* _ => None } }
        }
    };
}
text_enum!(IpMode { Off = "off", Exact = "exact", Prefix = "prefix", Country = "country" });
text_enum!(UaMode { Off = "off", Family = "family", Exact = "exact" });
text_enum!(DeviceMode { Off = "off", Required = "required" });
text_enum!(Response { Alert = "alert", ReadOnly = "read_only", Reauth = "reauth", Terminate = "terminate" });

impl IpMode {
    /// Exact pins the most, then the prefix, then the country.
    pub fn strictness(self) -> u8 {
        match self {
            IpMode::Off => 0,
            IpMode::Country => 1,
            IpMode::Prefix => 2,
            IpMode::Exact => 3,
        }
    }
}
impl UaMode {
    pub fn strictness(self) -> u8 {
        match self {
            UaMode::Off => 0,
            UaMode::Family => 1,
            UaMode::Exact => 2,
        }
    }
}
impl DeviceMode {
    pub fn strictness(self) -> u8 {
        match self {
            DeviceMode::Off => 0,
            DeviceMode::Required => 1,
        }
    }
}
impl Response {
    /// Ending beats re-authenticating beats downgrading beats telling.
    pub fn strictness(self) -> u8 {
        match self {
            Response::Alert => 0,
            Response::ReadOnly => 1,
            Response::Reauth => 2,
            Response::Terminate => 3,
        }
    }
}

/// The binding rules of an effective policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct BindingRules {
    pub ip: IpMode,
    pub ip_v4_prefix: u8,
    pub ip_v6_prefix: u8,
    pub on_ip: Response,
    pub user_agent: UaMode,
    pub on_user_agent: Response,
    pub device: DeviceMode,
    pub on_device: Response,
}

impl Default for BindingRules {
    fn default() -> Self {
        Self {
            ip: IpMode::Off,
            ip_v4_prefix: 24,
            ip_v6_prefix: 64,
            on_ip: Response::Reauth,
            user_agent: UaMode::Off,
            on_user_agent: Response::Reauth,
            device: DeviceMode::Off,
            on_device: Response::Reauth,
        }
    }
}

/// Which bound field.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Field {
    Ip,
    Country,
    UserAgent,
    Device,
}

/// The context a session was bound to, or the one a request shows.
#[derive(Debug, Clone, Copy, Default)]
pub struct Context<'a> {
    pub ip: Option<&'a str>,
    pub country: Option<&'a str>,
    pub user_agent: Option<&'a str>,
    pub device_id: Option<&'a str>,
    /// Whether the request could show a device at all: a browser request to Lanyard carries
    /// its cookies; a relying party's server or a cross-origin token request does not, and then
    /// a missing device is unknown, not a mismatch.
    pub device_known: bool,
}

/// One field that does not match, with both values for the audit trail.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Mismatch {
    pub field: Field,
    pub response: Response,
    pub bound: String,
    pub observed: String,
}

/// `Some(addr)` masked to `bits`.
fn masked(a: IpAddr, v4: u8, v6: u8) -> Option<ipnet::IpNet> {
    match normalise(a) {
        IpAddr::V4(x) => ipnet::Ipv4Net::new(x, v4.min(32))
            .ok()
            .map(|n| n.trunc().into()),
        IpAddr::V6(x) => ipnet::Ipv6Net::new(x, v6.min(128))
            .ok()
            .map(|n| n.trunc().into()),
    }
}

/// Do two addresses match under the IP mode (country is decided separately)?
pub fn ip_matches(mode: IpMode, bound: &str, observed: &str, v4: u8, v6: u8) -> Option<bool> {
    let (Ok(b), Ok(o)) = (bound.parse::<IpAddr>(), observed.parse::<IpAddr>()) else {
        // An address we cannot read is unknown, not different.
        return None;
    };
    Some(match mode {
        IpMode::Off | IpMode::Country => true,
        IpMode::Exact => normalise(b) == normalise(o),
        IpMode::Prefix => masked(b, v4, v6) == masked(o, v4, v6),
    })
}

/// Browser family and major version, as `woothee` parses a user agent: `Chrome 120`.
pub fn ua_family(ua: &str) -> Option<String> {
    let r = woothee::parser::Parser::new().parse(ua)?;
    if r.name == "UNKNOWN" {
        return None;
    }
    let major = r.version.split('.').next().unwrap_or("");
    Some(format!("{} {major}", r.name).trim().to_string())
}

/// Compare a request's context with what the session was bound to.
pub fn evaluate_binding(
    rules: &BindingRules,
    bound: &Context<'_>,
    now: &Context<'_>,
) -> Vec<Mismatch> {
    let mut out = Vec::new();
    let mut push = |field, response, b: &str, o: &str| {
        out.push(Mismatch {
            field,
            response,
            bound: b.to_string(),
            observed: o.to_string(),
        })
    };
    if let (Some(b), Some(o)) = (bound.ip, now.ip) {
        match rules.ip {
            IpMode::Off => {}
            IpMode::Country => {
                if let (Some(bc), Some(oc)) = (bound.country, now.country) {
                    if !bc.eq_ignore_ascii_case(oc) {
                        push(Field::Country, rules.on_ip, bc, oc);
                    }
                }
            }
            mode => {
                if ip_matches(mode, b, o, rules.ip_v4_prefix, rules.ip_v6_prefix) == Some(false) {
                    push(Field::Ip, rules.on_ip, b, o);
                }
            }
        }
    }
    if let (Some(b), Some(o)) = (bound.user_agent, now.user_agent) {
        let differs = match rules.user_agent {
            UaMode::Off => false,
            UaMode::Exact => b != o,
            // Unparseable agents compare exactly (a family we cannot name is not a match).
            UaMode::Family => match (ua_family(b), ua_family(o)) {
                (Some(x), Some(y)) => x != y,
                _ => b != o,
            },
        };
        if differs {
            push(Field::UserAgent, rules.on_user_agent, b, o);
        }
    }
    if rules.device == DeviceMode::Required && now.device_known {
        if let Some(b) = bound.device_id {
            // A request without the device cookie is the classic replayed session cookie.
            let o = now.device_id.unwrap_or("(none)");
            if Some(b) != now.device_id {
                push(Field::Device, rules.on_device, b, o);
            }
        }
    }
    out
}

/// The response to a set of mismatches: the strictest.
pub fn decide_response(m: &[Mismatch]) -> Option<Response> {
    m.iter().map(|x| x.response).max_by_key(|r| r.strictness())
}

#[cfg(test)]
mod tests {
    use super::*;

    const CHROME_120: &str = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.6099.71 Safari/537.36";
    const CHROME_120B: &str = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.6099.200 Safari/537.36";
    const CHROME_121: &str = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/121.0.6167.85 Safari/537.36";
    const FIREFOX: &str = "Mozilla/5.0 (X11; Linux x86_64; rv:121.0) Gecko/20100101 Firefox/121.0";

    fn ctx<'a>(ip: &'a str, ua: &'a str, dev: Option<&'a str>) -> Context<'a> {
        Context {
            ip: Some(ip),
            country: None,
            user_agent: Some(ua),
            device_id: dev,
            device_known: true,
        }
    }

    fn rules(ip: IpMode, ua: UaMode, dev: DeviceMode) -> BindingRules {
        BindingRules {
            ip,
            user_agent: ua,
            device: dev,
            on_ip: Response::Terminate,
            on_user_agent: Response::Reauth,
            on_device: Response::ReadOnly,
            ..Default::default()
        }
    }

    #[test]
    fn everything_off_never_mismatches() {
        let r = BindingRules::default();
        let b = ctx("10.0.0.1", CHROME_120, Some("d1"));
        let o = ctx("203.0.113.9", FIREFOX, None);
        assert!(evaluate_binding(&r, &b, &o).is_empty());
    }

    #[test]
    fn ip_exact_prefix_and_their_v6_forms() {
        assert_eq!(
            ip_matches(IpMode::Exact, "10.0.0.1", "10.0.0.1", 24, 64),
            Some(true)
        );
        assert_eq!(
            ip_matches(IpMode::Exact, "10.0.0.1", "10.0.0.2", 24, 64),
            Some(false)
        );
        assert_eq!(
            ip_matches(IpMode::Exact, "10.0.0.1", "::ffff:10.0.0.1", 24, 64),
            Some(true)
        );
        assert_eq!(
            ip_matches(IpMode::Prefix, "10.0.0.1", "10.0.0.254", 24, 64),
            Some(true)
        );
        assert_eq!(
            ip_matches(IpMode::Prefix, "10.0.0.1", "10.0.1.1", 24, 64),
            Some(false)
        );
        assert_eq!(
            ip_matches(IpMode::Prefix, "10.0.0.1", "10.0.1.1", 16, 64),
            Some(true)
        );
        assert_eq!(
            ip_matches(
                IpMode::Prefix,
                "2001:db8:1:2::1",
                "2001:db8:1:2:ffff::9",
                24,
                64
            ),
            Some(true)
        );
        assert_eq!(
            ip_matches(IpMode::Prefix, "2001:db8:1:2::1", "2001:db8:1:3::1", 24, 64),
            Some(false)
        );
        assert_eq!(
            ip_matches(IpMode::Prefix, "10.0.0.1", "2001:db8::1", 24, 64),
            Some(false)
        );
        assert_eq!(
            ip_matches(IpMode::Exact, "unknown", "10.0.0.1", 24, 64),
            None
        );
    }

    #[test]
    fn a_replayed_cookie_from_another_network_and_browser_mismatches_on_every_field() {
        let r = rules(IpMode::Prefix, UaMode::Family, DeviceMode::Required);
        let b = ctx("10.0.0.1", CHROME_120, Some("d1"));
        let o = ctx("203.0.113.9", FIREFOX, None);
        let m = evaluate_binding(&r, &b, &o);
        let fields: Vec<Field> = m.iter().map(|x| x.field).collect();
        assert_eq!(fields, vec![Field::Ip, Field::UserAgent, Field::Device]);
        assert_eq!(m[0].bound, "10.0.0.1");
        assert_eq!(m[0].observed, "203.0.113.9");
        assert_eq!(m[2].observed, "(none)");
        assert_eq!(decide_response(&m), Some(Response::Terminate));
    }

    #[test]
    fn the_same_browser_family_survives_a_minor_update_but_not_a_major_one() {
        let r = rules(IpMode::Off, UaMode::Family, DeviceMode::Off);
        let b = ctx("10.0.0.1", CHROME_120, None);
        assert!(evaluate_binding(&r, &b, &ctx("10.0.0.1", CHROME_120B, None)).is_empty());
        assert_eq!(
            evaluate_binding(&r, &b, &ctx("10.0.0.1", CHROME_121, None)).len(),
            1
        );
        assert_eq!(ua_family(CHROME_120).as_deref(), Some("Chrome 120"));
        let exact = rules(IpMode::Off, UaMode::Exact, DeviceMode::Off);
        assert_eq!(
            evaluate_binding(&exact, &b, &ctx("10.0.0.1", CHROME_120B, None)).len(),
            1
        );
        // Unknown agents compare exactly in family mode.
        let odd = ctx("10.0.0.1", "zorp-agent", None);
        assert_eq!(ua_family("zorp-agent"), None);
        assert!(evaluate_binding(&r, &odd, &odd).is_empty());
        assert_eq!(
            evaluate_binding(&r, &odd, &ctx("10.0.0.1", "zorp-agent 2", None)).len(),
            1
        );
    }

    #[test]
    fn country_mode_compares_countries_when_both_are_known() {
        let r = rules(IpMode::Country, UaMode::Off, DeviceMode::Off);
        let mut b = ctx("10.0.0.1", "", None);
        let mut o = ctx("10.9.9.9", "", None);
        assert!(
            evaluate_binding(&r, &b, &o).is_empty(),
            "no geo: not evaluated"
        );
        b.country = Some("DE");
        o.country = Some("de");
        assert!(evaluate_binding(&r, &b, &o).is_empty());
        o.country = Some("FR");
        let m = evaluate_binding(&r, &b, &o);
        assert_eq!(m[0].field, Field::Country);
        assert_eq!((m[0].bound.as_str(), m[0].observed.as_str()), ("DE", "FR"));
    }

    #[test]
    fn unknown_observations_are_never_mismatches() {
        let r = rules(IpMode::Exact, UaMode::Exact, DeviceMode::Off);
        let b = ctx("10.0.0.1", CHROME_120, None);
        let o = Context::default();
        assert!(evaluate_binding(&r, &b, &o).is_empty());
        // A session bound without a device is not evaluated for the device.
        let r = rules(IpMode::Off, UaMode::Off, DeviceMode::Required);
        assert!(
            evaluate_binding(&r, &ctx("1.1.1.1", "", None), &ctx("1.1.1.1", "", None)).is_empty()
        );
    }

    #[test]
    fn the_device_cookie_must_be_the_bound_one() {
        let r = rules(IpMode::Off, UaMode::Off, DeviceMode::Required);
        let b = ctx("1.1.1.1", "", Some("d1"));
        assert!(evaluate_binding(&r, &b, &ctx("2.2.2.2", "", Some("d1"))).is_empty());
        assert_eq!(
            evaluate_binding(&r, &b, &ctx("1.1.1.1", "", Some("d2")))[0].observed,
            "d2"
        );
    }

    #[test]
    fn a_request_that_cannot_show_a_device_is_not_a_device_mismatch() {
        let r = rules(IpMode::Off, UaMode::Off, DeviceMode::Required);
        let b = ctx("1.1.1.1", "", Some("d1"));
        let mut o = ctx("1.1.1.1", "", None);
        o.device_known = false;
        assert!(evaluate_binding(&r, &b, &o).is_empty());
    }

    #[test]
    fn the_strictest_response_wins() {
        let m = |r| Mismatch {
            field: Field::Ip,
            response: r,
            bound: String::new(),
            observed: String::new(),
        };
        assert_eq!(decide_response(&[]), None);
        assert_eq!(
            decide_response(&[m(Response::Alert)]),
            Some(Response::Alert)
        );
        assert_eq!(
            decide_response(&[m(Response::Alert), m(Response::ReadOnly)]),
            Some(Response::ReadOnly)
        );
        assert_eq!(
            decide_response(&[m(Response::Reauth), m(Response::ReadOnly)]),
            Some(Response::Reauth)
        );
        assert_eq!(
            decide_response(&[
                m(Response::Reauth),
                m(Response::Terminate),
                m(Response::Alert)
            ]),
            Some(Response::Terminate)
        );
    }

    #[test]
    fn modes_parse_and_rank() {
        for m in [IpMode::Off, IpMode::Exact, IpMode::Prefix, IpMode::Country] {
            assert_eq!(IpMode::parse(m.as_str()), Some(m));
        }
        for r in [
            Response::Alert,
            Response::ReadOnly,
            Response::Reauth,
            Response::Terminate,
        ] {
            assert_eq!(Response::parse(r.as_str()), Some(r));
        }
        assert!(IpMode::Exact.strictness() > IpMode::Prefix.strictness());
        assert!(IpMode::Prefix.strictness() > IpMode::Country.strictness());
        assert!(UaMode::Exact.strictness() > UaMode::Family.strictness());
        assert_eq!(Response::parse("shrug"), None);
    }
}
