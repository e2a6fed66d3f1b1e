//! Policy fields as text: the one parser shared by stored rows, the CLI and the API, and the
//! canonical form they are stored in. A key or value it does not know is an error naming the field.

use super::{PolicyFieldError, PolicyLayer};
use crate::session::admission::LimitAction;
use crate::session::binding::{DeviceMode, IpMode, Response, UaMode};
use crate::session::schedule::Schedule;
use crate::session::trust::LowTrustResponse;

fn field_err(field: &str, reason: impl Into<String>) -> PolicyFieldError {
    PolicyFieldError {
        field: field.into(),
        reason: reason.into(),
    }
}

/// Every field a layer may set, with its help text (the CLI lists these).
pub const FIELDS: &[(&str, &str)] = &[
    (
        "idle_timeout_secs",
        "seconds without activity before a session ends (30m, 8h accepted)",
    ),
    (
        "absolute_timeout_secs",
        "seconds after login when a session ends whatever happens",
    ),
    (
        "max_sessions",
        "concurrent sessions per user (per user and client on a client rule)",
    ),
    ("limit_action", "at the limit: evict_oldest | refuse | ask"),
    (
        "refresh_reuse_ends_session",
        "true | false: a replayed refresh token ends the session",
    ),
    (
        "schedule",
        "fixed end times and IANA zone, e.g. \"07:00,19:00 Europe/Berlin\"",
    ),
    (
        "end_sessions_on_membership_change",
        "true | false: entering or leaving this group or attribute ends the user's sessions",
    ),
    (
        "bind_ip",
        "off | exact | prefix | country: the session is bound to the login IP",
    ),
    (
        "bind_ip_v4_prefix",
        "prefix length for bind_ip=prefix on IPv4 (default 24)",
    ),
    (
        "bind_ip_v6_prefix",
        "prefix length for bind_ip=prefix on IPv6 (default 64)",
    ),
    (
        "on_ip_mismatch",
        "alert | read_only | reauth | terminate (default reauth)",
    ),
    (
        "bind_user_agent",
        "off | family | exact: the session is bound to the browser",
    ),
    (
        "on_user_agent_mismatch",
        "alert | read_only | reauth | terminate (default reauth)",
    ),
    (
        "bind_device",
        "off | required: requests must carry the login's device cookie",
    ),
    (
        "on_device_mismatch",
        "alert | read_only | reauth | terminate (default reauth)",
    ),
    (
        "read_only_scopes",
        "space-separated scopes a read-only session keeps (default \"openid\")",
    ),
    ("require_mfa", "true | false: a second factor is required"),
    (
        "mfa_max_age_secs",
        "the second factor counts this long, then a sensitive RP asks again",
    ),
    (
        "credential_change_ends_offline",
        "true | false: a password or factor change also ends offline_access grants (default true)",
    ),
    (
        "travel_max_speed_kmh",
        "impossible travel: a session seen moving faster than this (km/h, 1-20000) is flagged (default off)",
    ),
    (
        "on_impossible_travel",
        "alert | read_only | reauth | terminate (default reauth)",
    ),
    (
        "duplicate_window_secs",
        "duplicate sessions: the session cookie used from another IP or browser within this long is flagged (default off)",
    ),
    (
        "on_duplicate_session",
        "alert | read_only | reauth | terminate (default reauth)",
    ),
    (
        "min_device_trust",
        "0-100: a login from a device whose trust score is lower gets on_low_device_trust (default off)",
    ),
    (
        "on_low_device_trust",
        "step_up (a second factor is required) | read_only (default step_up)",
    ),
];

fn parse_prefix(field: &str, v: &str, max: u8) -> Result<u8, PolicyFieldError> {
    v.parse::<u8>()
        .ok()
        .filter(|n| (8..=max).contains(n))
        .ok_or_else(|| {
            field_err(
                field,
                format!("'{v}' is not a prefix length from 8 to {max}"),
            )
        })
}

fn parse_response(field: &str, v: &str) -> Result<Response, PolicyFieldError> {
    Response::parse(v).ok_or_else(|| {
        field_err(
            field,
            format!("'{v}' is not alert, read_only, reauth or terminate"),
        )
    })
}

fn parse_scopes(field: &str, v: &str) -> Result<Vec<String>, PolicyFieldError> {
    let mut list: Vec<String> = v
        .split(' ')
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect();
    if list.iter().any(|s| {
        !s.bytes()
            .all(|b| b.is_ascii_graphic() && b != b'"' && b != b'\\')
    }) {
        return Err(field_err(field, "scopes are space-separated visible ASCII"));
    }
    list.sort();
    list.dedup();
    Ok(list)
}

/// `90`, `90s`, `15m`, `8h`, `2d`: a positive number of seconds.
pub fn parse_duration_secs(field: &str, v: &str) -> Result<i64, PolicyFieldError> {
    let v = v.trim();
    let (num, mult) = match v.char_indices().last() {
        Some((i, 's')) => (&v[..i], 1),
        Some((i, 'm')) => (&v[..i], 60),
        Some((i, 'h')) => (&v[..i], 3600),
        Some((i, 'd')) => (&v[..i], 86_400),
        _ => (v, 1),
    };
    num.parse::<i64>()
        .ok()
        .filter(|n| *n > 0)
        .and_then(|n| n.checked_mul(mult))
        .filter(|n| *n <= 366 * 86_400)
        .ok_or_else(|| {
            field_err(
                field,
                format!("'{v}' is not a duration between 1 second and 366 days"),
            )
        })
}

fn parse_bool(field: &str, v: &str) -> Result<bool, PolicyFieldError> {
    match v {
        "true" => Ok(true),
        "false" => Ok(false),
        _ => Err(field_err(field, format!("'{v}' is not true or false"))),
    }
}

impl PolicyLayer {
    /// Set one field from its textual form (CLI, API and stored rows share this parser).
    pub fn set(&mut self, key: &str, value: &str) -> Result<(), PolicyFieldError> {
        match key {
            "idle_timeout_secs" => self.idle_timeout_secs = Some(parse_duration_secs(key, value)?),
            "absolute_timeout_secs" => {
                self.absolute_timeout_secs = Some(parse_duration_secs(key, value)?)
            }
            "max_sessions" => {
                self.max_sessions = Some(
                    value
                        .parse::<u32>()
                        .ok()
                        .filter(|n| (1..=10_000).contains(n))
                        .ok_or_else(|| {
                            field_err(key, format!("'{value}' is not a number from 1 to 10000"))
                        })?,
                )
            }
            "limit_action" => {
                self.limit_action = Some(LimitAction::parse(value).ok_or_else(|| {
                    field_err(key, format!("'{value}' is not evict_oldest, refuse or ask"))
                })?)
            }
            "refresh_reuse_ends_session" => {
                self.refresh_reuse_ends_session = Some(parse_bool(key, value)?)
            }
            "schedule" => {
                self.schedule = Some(value.parse::<Schedule>().map_err(|e| field_err(key, e))?)
            }
            "end_sessions_on_membership_change" => {
                self.end_sessions_on_membership_change = Some(parse_bool(key, value)?)
            }
            "bind_ip" => {
                self.bind_ip = Some(IpMode::parse(value).ok_or_else(|| {
                    field_err(
                        key,
                        format!("'{value}' is not off, exact, prefix or country"),
                    )
                })?)
            }
            "bind_ip_v4_prefix" => self.bind_ip_v4_prefix = Some(parse_prefix(key, value, 32)?),
            "bind_ip_v6_prefix" => self.bind_ip_v6_prefix = Some(parse_prefix(key, value, 128)?),
            "on_ip_mismatch" => self.on_ip_mismatch = Some(parse_response(key, value)?),
            "bind_user_agent" => {
                self.bind_user_agent = Some(UaMode::parse(value).ok_or_else(|| {
                    field_err(key, format!("'{value}' is not off, family or exact"))
                })?)
            }
            "on_user_agent_mismatch" => {
                self.on_user_agent_mismatch = Some(parse_response(key, value)?)
            }
            "bind_device" => {
                self.bind_device =
                    Some(DeviceMode::parse(value).ok_or_else(|| {
                        field_err(key, format!("'{value}' is not off or required"))
                    })?)
            }
            "on_device_mismatch" => self.on_device_mismatch = Some(parse_response(key, value)?),
            "read_only_scopes" => self.read_only_scopes = Some(parse_scopes(key, value)?),
            "require_mfa" => self.require_mfa = Some(parse_bool(key, value)?),
            "mfa_max_age_secs" => self.mfa_max_age_secs = Some(parse_duration_secs(key, value)?),
            "credential_change_ends_offline" => {
                self.credential_change_ends_offline = Some(parse_bool(key, value)?)
            }
            "travel_max_speed_kmh" => {
                self.travel_max_speed_kmh = Some(
                    value
                        .parse::<u32>()
                        .ok()
                        .filter(|n| (1..=20_000).contains(n))
                        .ok_or_else(|| {
                            field_err(
                                key,
                                format!("'{value}' is not a speed from 1 to 20000 km/h"),
                            )
                        })?,
                )
            }
            "on_impossible_travel" => self.on_impossible_travel = Some(parse_response(key, value)?),
            "duplicate_window_secs" => {
                self.duplicate_window_secs = Some(parse_duration_secs(key, value)?)
            }
            "on_duplicate_session" => self.on_duplicate_session = Some(parse_response(key, value)?),
            "min_device_trust" => {
                self.min_device_trust = Some(
                    value
                        .parse::<u8>()
                        .ok()
                        .filter(|n| *n <= 100)
                        .ok_or_else(|| {
                            field_err(key, format!("'{value}' is not a score from 0 to 100"))
                        })?,
                )
            }
            "on_low_device_trust" => {
                self.on_low_device_trust =
                    Some(LowTrustResponse::parse(value).ok_or_else(|| {
                        field_err(key, format!("'{value}' is not step_up or read_only"))
                    })?)
            }
            _ => return Err(field_err(key, "unknown field")),
        }
        Ok(())
    }

    /// Clear one field. Unknown keys are an error.
    pub fn unset(&mut self, key: &str) -> Result<(), PolicyFieldError> {
        match key {
            "idle_timeout_secs" => self.idle_timeout_secs = None,
            "absolute_timeout_secs" => self.absolute_timeout_secs = None,
            "max_sessions" => self.max_sessions = None,
            "limit_action" => self.limit_action = None,
            "refresh_reuse_ends_session" => self.refresh_reuse_ends_session = None,
            "schedule" => self.schedule = None,
            "end_sessions_on_membership_change" => self.end_sessions_on_membership_change = None,
            "bind_ip" => self.bind_ip = None,
            "bind_ip_v4_prefix" => self.bind_ip_v4_prefix = None,
            "bind_ip_v6_prefix" => self.bind_ip_v6_prefix = None,
            "on_ip_mismatch" => self.on_ip_mismatch = None,
            "bind_user_agent" => self.bind_user_agent = None,
            "on_user_agent_mismatch" => self.on_user_agent_mismatch = None,
            "bind_device" => self.bind_device = None,
            "on_device_mismatch" => self.on_device_mismatch = None,
            "read_only_scopes" => self.read_only_scopes = None,
            "require_mfa" => self.require_mfa = None,
            "mfa_max_age_secs" => self.mfa_max_age_secs = None,
            "credential_change_ends_offline" => self.credential_change_ends_offline = None,
            "travel_max_speed_kmh" => self.travel_max_speed_kmh = None,
            "on_impossible_travel" => self.on_impossible_travel = None,
            "duplicate_window_secs" => self.duplicate_window_secs = None,
            "on_duplicate_session" => self.on_duplicate_session = None,
            "min_device_trust" => self.min_device_trust = None,
            "on_low_device_trust" => self.on_low_device_trust = None,
            _ => return Err(field_err(key, "unknown field")),
        }
        Ok(())
    }

    /// Parse stored rows.
    pub fn from_settings<'a>(
        rows: impl IntoIterator<Item = (&'a str, &'a str)>,
    ) -> Result<Self, PolicyFieldError> {
        let mut l = PolicyLayer::default();
        for (k, v) in rows {
            l.set(k, v)?;
        }
        Ok(l)
    }

    /// The rows that store this layer, in canonical form.
    pub fn to_settings(&self) -> Vec<(&'static str, String)> {
        let mut out = Vec::new();
        if let Some(v) = self.idle_timeout_secs {
            out.push(("idle_timeout_secs", v.to_string()));
        }
        if let Some(v) = self.absolute_timeout_secs {
            out.push(("absolute_timeout_secs", v.to_string()));
        }
        if let Some(v) = self.max_sessions {
            out.push(("max_sessions", v.to_string()));
        }
        if let Some(v) = self.limit_action {
            out.push(("limit_action", v.as_str().to_string()));
        }
        if let Some(v) = self.refresh_reuse_ends_session {
            out.push(("refresh_reuse_ends_session", v.to_string()));
        }
        if let Some(v) = &self.schedule {
            out.push(("schedule", v.to_string()));
        }
        if let Some(v) = self.end_sessions_on_membership_change {
            out.push(("end_sessions_on_membership_change", v.to_string()));
        }
        if let Some(v) = self.bind_ip {
            out.push(("bind_ip", v.as_str().to_string()));
        }
        if let Some(v) = self.bind_ip_v4_prefix {
            out.push(("bind_ip_v4_prefix", v.to_string()));
        }
        if let Some(v) = self.bind_ip_v6_prefix {
            out.push(("bind_ip_v6_prefix", v.to_string()));
        }
        if let Some(v) = self.on_ip_mismatch {
            out.push(("on_ip_mismatch", v.as_str().to_string()));
        }
        if let Some(v) = self.bind_user_agent {
            out.push(("bind_user_agent", v.as_str().to_string()));
        }
        if let Some(v) = self.on_user_agent_mismatch {
            out.push(("on_user_agent_mismatch", v.as_str().to_string()));
        }
        if let Some(v) = self.bind_device {
            out.push(("bind_device", v.as_str().to_string()));
        }
        if let Some(v) = self.on_device_mismatch {
            out.push(("on_device_mismatch", v.as_str().to_string()));
        }
        if let Some(v) = &self.read_only_scopes {
            out.push(("read_only_scopes", v.join(" ")));
        }
        if let Some(v) = self.require_mfa {
            out.push(("require_mfa", v.to_string()));
        }
        if let Some(v) = self.mfa_max_age_secs {
            out.push(("mfa_max_age_secs", v.to_string()));
        }
        if let Some(v) = self.credential_change_ends_offline {
            out.push(("credential_change_ends_offline", v.to_string()));
        }
        if let Some(v) = self.travel_max_speed_kmh {
            out.push(("travel_max_speed_kmh", v.to_string()));
        }
        if let Some(v) = self.on_impossible_travel {
            out.push(("on_impossible_travel", v.as_str().to_string()));
        }
        if let Some(v) = self.duplicate_window_secs {
            out.push(("duplicate_window_secs", v.to_string()));
        }
        if let Some(v) = self.on_duplicate_session {
            out.push(("on_duplicate_session", v.as_str().to_string()));
        }
        if let Some(v) = self.min_device_trust {
            out.push(("min_device_trust", v.to_string()));
        }
        if let Some(v) = self.on_low_device_trust {
            out.push(("on_low_device_trust", v.as_str().to_string()));
        }
        out
    }

    pub fn is_empty(&self) -> bool {
        self.to_settings().is_empty()
    }
}
