//! Cohort revocation: which sessions a selector covers ("every session of group `contractors`
//! in client `payroll` authenticated before 09:00 from 10.0.0.0/8"). Selectors combine with AND;
//! the service turns what SQL can express into a query and checks the rest here. PURE.

use crate::clock::UnixTime;
use ipnet::IpNet;
use serde::Serialize;
use std::net::IpAddr;

/// A cohort of sessions. Every field that is set must match.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Selector {
    /// Username.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub group: Option<String>,
    /// Public `client_id`: sessions in which this client took part.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client: Option<String>,
    /// Device id.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub device: Option<String>,
    /// The session's login IP lies in this network.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ip_range: Option<IpNet>,
    /// `key=value` user attribute.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub attribute: Option<(String, String)>,
    /// Authenticated strictly before this instant.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub auth_before: Option<UnixTime>,
}

/// A selector that selects nothing in particular is refused: ending every session of a tenant
/// has its own, explicit command.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("a cohort needs at least one selector")]
pub struct EmptySelector;

impl Selector {
    pub fn validate(&self) -> Result<(), EmptySelector> {
        if *self == Selector::default() {
            Err(EmptySelector)
        } else {
            Ok(())
        }
    }

    /// The part SQL cannot express: does a stored login IP fall in the range?
    /// An IP that does not parse never matches a range.
    pub fn matches_ip(&self, ip: &str) -> bool {
        match &self.ip_range {
            None => true,
            Some(net) => ip
                .parse::<IpAddr>()
                .is_ok_and(|a| net.contains(&normalise(a))),
        }
    }
}

/// IPv4-mapped IPv6 addresses (`::ffff:10.0.0.1`) compare as IPv4.
pub fn normalise(a: IpAddr) -> IpAddr {
    match a {
        IpAddr::V6(v6) => v6
            .to_ipv4_mapped()
            .map(IpAddr::V4)
            .unwrap_or(IpAddr::V6(v6)),
        v4 => v4,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_empty_selector_is_refused() {
        assert_eq!(Selector::default().validate(), Err(EmptySelector));
        let s = Selector {
            auth_before: Some(5),
            ..Default::default()
        };
        assert_eq!(s.validate(), Ok(()));
    }

    #[test]
    fn ip_ranges_match_v4_v6_and_mapped_addresses() {
        let s = Selector {
            ip_range: Some("10.0.0.0/8".parse().unwrap()),
            ..Default::default()
        };
        assert!(s.matches_ip("10.1.2.3"));
        assert!(s.matches_ip("::ffff:10.1.2.3"));
        assert!(!s.matches_ip("11.0.0.1"));
        assert!(!s.matches_ip("unknown"));
        let s = Selector {
            ip_range: Some("2001:db8::/32".parse().unwrap()),
            ..Default::default()
        };
        assert!(s.matches_ip("2001:db8::1"));
        assert!(!s.matches_ip("2001:db9::1"));
        assert!(!s.matches_ip("10.0.0.1"));
        assert!(Selector::default().matches_ip("anything"));
    }

    #[test]
    fn the_selector_describes_itself_for_the_audit_trail() {
        let s = Selector {
            group: Some("contractors".into()),
            ip_range: Some("10.0.0.0/8".parse().unwrap()),
            ..Default::default()
        };
        assert_eq!(
            serde_json::to_value(&s).unwrap(),
            serde_json::json!({"group": "contractors", "ip_range": "10.0.0.0/8"})
        );
    }
}
