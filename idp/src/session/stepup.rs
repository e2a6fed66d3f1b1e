//! Authentication levels and step-up. PURE.
//!
//! Lanyard publishes two `acr` values (OIDC Core §2, `acr_values_supported` in discovery):
//! `urn:lanyard:acr:pwd` (a password) and `urn:lanyard:acr:mfa` (a password and a second factor,
//! TOTP). What a request needs comes from the policy (`require_mfa`, essential), the `claims`
//! parameter (OIDC Core §5.5.1.1: an essential `acr` with `values`), and `acr_values` (§3.1.2.1:
//! voluntary, in order of preference). What a session holds decays: with `mfa_max_age_secs`, the
//! second factor counts that long after it was proved, then a sensitive RP asks again.

use crate::clock::UnixTime;
use serde_json::Value;

pub const ACR_PWD: &str = "urn:lanyard:acr:pwd";
pub const ACR_MFA: &str = "urn:lanyard:acr:mfa";
/// The URNs, and the numeric levels `1` (password) and `2` (second factor) that many relying
/// parties (and the OpenID Foundation's test suite) ask for: the same levels by other names.
pub const ACR_VALUES_SUPPORTED: [&str; 4] = [ACR_PWD, ACR_MFA, "1", "2"];

/// How strongly the user authenticated (ordered).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    Pwd,
    Mfa,
}

impl Level {
    pub fn acr(self) -> &'static str {
        match self {
            Level::Pwd => ACR_PWD,
            Level::Mfa => ACR_MFA,
        }
    }
    /// An `acr` value we know.
    pub fn from_acr(s: &str) -> Option<Self> {
        match s {
            ACR_PWD | "1" => Some(Level::Pwd),
            ACR_MFA | "2" => Some(Level::Mfa),
            _ => None,
        }
    }

    /// The `acr` in the naming the relying party used: numeric when it asked in numbers.
    pub fn acr_as(self, numeric: bool) -> &'static str {
        match (self, numeric) {
            (Level::Pwd, true) => "1",
            (Level::Mfa, true) => "2",
            (l, false) => l.acr(),
        }
    }
}

/// Did the request name levels by number (`acr_values=1 2`, or numeric `claims` values)?
pub fn asks_numeric(acr_values: Option<&str>, claims: Option<&ClaimsAcr>) -> bool {
    let mut named = acr_values
        .into_iter()
        .flat_map(|v| v.split(' '))
        .chain(
            claims
                .into_iter()
                .flat_map(|c| c.values.iter().map(String::as_str)),
        )
        .filter(|v| Level::from_acr(v).is_some())
        .peekable();
    named.peek().is_some() && named.all(|v| v == "1" || v == "2")
}

/// The level a session holds at `now`.
pub fn effective_level(mfa_at: Option<UnixTime>, mfa_max_age: Option<i64>, now: UnixTime) -> Level {
    match (mfa_at, mfa_max_age) {
        (Some(t), Some(max)) if now - t < max => Level::Mfa,
        (Some(_), Some(_)) => Level::Pwd,
        (Some(_), None) => Level::Mfa,
        (None, _) => Level::Pwd,
    }
}

/// What a request needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Requirement {
    pub level: Level,
    /// Essential: an RP's essential claim or the policy; the request fails rather than issue less.
    pub essential: bool,
}

/// The `acr` part of a `claims` request parameter (OIDC Core §5.5): `{"id_token": {"acr":
/// {"essential": true, "values": [...]}}}` (also accepted under `userinfo`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ClaimsAcr {
    pub essential: bool,
    pub values: Vec<String>,
}

/// Parse the `acr` member of a `claims` parameter. `Err` when the parameter is not valid JSON of
/// the §5.5 shape (the request is then `invalid_request`); `Ok(None)` when it asks nothing of acr.
pub fn parse_claims_acr(claims: &str) -> Result<Option<ClaimsAcr>, &'static str> {
    let v: Value = serde_json::from_str(claims).map_err(|_| "claims is not JSON")?;
    let obj = v.as_object().ok_or("claims is not a JSON object")?;
    let mut out: Option<ClaimsAcr> = None;
    for (member, requested) in obj {
        if member != "id_token" && member != "userinfo" {
            continue;
        }
        let requested = requested
            .as_object()
            .ok_or("claims members are JSON objects")?;
        let Some(acr) = requested.get("acr") else {
            continue;
        };
        let mut c = out.take().unwrap_or_default();
        match acr {
            Value::Null => {}
            Value::Object(spec) => {
                if spec.get("essential").and_then(Value::as_bool) == Some(true) {
                    c.essential = true;
                }
                if let Some(v) = spec.get("value").and_then(Value::as_str) {
                    c.values.push(v.to_string());
                }
                if let Some(list) = spec.get("values") {
                    let list = list.as_array().ok_or("acr values is an array")?;
                    for v in list {
                        c.values
                            .push(v.as_str().ok_or("acr values are strings")?.to_string());
                    }
                }
            }
            _ => return Err("a requested claim is null or an object"),
        }
        out = Some(c);
    }
    Ok(out)
}

/// Why a request cannot be met at all.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Unsupported;

/// What a request needs, from the policy, the claims parameter and `acr_values`.
pub fn decide_requirement(
    policy_requires_mfa: bool,
    claims: Option<&ClaimsAcr>,
    acr_values: Option<&str>,
) -> Result<Requirement, Unsupported> {
    let mut req = Requirement {
        level: Level::Pwd,
        essential: false,
    };
    if let Some(c) = claims {
        // The weakest listed value we support satisfies the RP (it listed them all as fine).
        let known: Vec<Level> = c.values.iter().filter_map(|v| Level::from_acr(v)).collect();
        match known.iter().min() {
            Some(l) => {
                req.level = req.level.max(*l);
                req.essential |= c.essential;
            }
            None if c.essential && !c.values.is_empty() => return Err(Unsupported),
            None => req.essential |= c.essential,
        }
    }
    if let Some(values) = acr_values {
        // Voluntary: the first value we support, in the RP's order of preference.
        if let Some(l) = values.split(' ').find_map(Level::from_acr) {
            req.level = req.level.max(l);
        }
    }
    if policy_requires_mfa {
        req = Requirement {
            level: Level::Mfa,
            essential: true,
        };
    }
    Ok(req)
}

/// What the authorization must do about the session's level.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StepDecision {
    Satisfied,
    /// Ask for the second factor (the same session continues).
    StepUp,
    /// The user has no second factor and the requirement is essential: enrol one when the
    /// policy requires it (`enrol = true`), otherwise the RP is told the requirement is unmet.
    Unmet {
        enrol: bool,
    },
}

pub fn decide_step_up(
    held: Level,
    req: Requirement,
    has_factor: bool,
    policy_requires_mfa: bool,
) -> StepDecision {
    if held >= req.level {
        StepDecision::Satisfied
    } else if has_factor {
        StepDecision::StepUp
    } else if req.essential {
        StepDecision::Unmet {
            enrol: policy_requires_mfa,
        }
    } else {
        // A voluntary request the user cannot meet: issue what the session holds (its `acr`
        // says so, and the RP decides).
        StepDecision::Satisfied
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn levels_round_trip_and_legacy_acr_is_a_password() {
        assert_eq!(Level::from_acr(ACR_MFA), Some(Level::Mfa));
        assert_eq!(Level::from_acr(ACR_PWD), Some(Level::Pwd));
        assert_eq!(Level::from_acr("1"), Some(Level::Pwd));
        assert_eq!(Level::from_acr("2"), Some(Level::Mfa));
        assert_eq!(Level::from_acr("urn:other"), None);
        assert_eq!(Level::Mfa.acr_as(true), "2");
        assert_eq!(Level::Pwd.acr_as(false), ACR_PWD);
        assert!(asks_numeric(Some("1 2"), None));
        assert!(!asks_numeric(Some("urn:lanyard:acr:mfa 2"), None));
        assert!(!asks_numeric(None, None));
        assert!(!asks_numeric(Some("urn:other"), None));
        assert!(Level::Mfa > Level::Pwd);
    }

    #[test]
    fn mfa_decays_after_its_max_age() {
        assert_eq!(effective_level(None, None, 100), Level::Pwd);
        assert_eq!(effective_level(Some(50), None, 10_000), Level::Mfa);
        assert_eq!(effective_level(Some(100), Some(60), 159), Level::Mfa);
        assert_eq!(effective_level(Some(100), Some(60), 160), Level::Pwd);
        assert_eq!(effective_level(None, Some(60), 0), Level::Pwd);
    }

    #[test]
    fn claims_parameter_acr_is_parsed() {
        let c = parse_claims_acr(
            r#"{"id_token":{"acr":{"essential":true,"values":["urn:lanyard:acr:mfa"]}}}"#,
        )
        .unwrap()
        .unwrap();
        assert!(c.essential);
        assert_eq!(c.values, vec![ACR_MFA]);
        let c = parse_claims_acr(
            r#"{"userinfo":{"acr":{"value":"urn:lanyard:acr:pwd"}},"id_token":{"email":null}}"#,
        )
        .unwrap()
        .unwrap();
        assert!(!c.essential);
        assert_eq!(c.values, vec![ACR_PWD]);
        assert_eq!(
            parse_claims_acr(r#"{"id_token":{"email":{"essential":true}}}"#).unwrap(),
            None
        );
        assert_eq!(
            parse_claims_acr(r#"{"id_token":{"acr":null}}"#).unwrap(),
            Some(ClaimsAcr::default())
        );
        for bad in [
            "nope",
            "[]",
            r#"{"id_token":5}"#,
            r#"{"id_token":{"acr":7}}"#,
            r#"{"id_token":{"acr":{"values":"x"}}}"#,
        ] {
            assert!(parse_claims_acr(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn requirements_combine_policy_claims_and_acr_values() {
        let r = decide_requirement(false, None, None).unwrap();
        assert_eq!(
            r,
            Requirement {
                level: Level::Pwd,
                essential: false
            }
        );
        let r = decide_requirement(false, None, Some("urn:x urn:lanyard:acr:mfa")).unwrap();
        assert_eq!(
            r,
            Requirement {
                level: Level::Mfa,
                essential: false
            }
        );
        let essential_mfa = ClaimsAcr {
            essential: true,
            values: vec![ACR_MFA.into()],
        };
        let r = decide_requirement(false, Some(&essential_mfa), None).unwrap();
        assert_eq!(
            r,
            Requirement {
                level: Level::Mfa,
                essential: true
            }
        );
        // The RP accepts either: a password is enough.
        let either = ClaimsAcr {
            essential: true,
            values: vec![ACR_MFA.into(), ACR_PWD.into()],
        };
        assert_eq!(
            decide_requirement(false, Some(&either), None)
                .unwrap()
                .level,
            Level::Pwd
        );
        let unknown = ClaimsAcr {
            essential: true,
            values: vec!["urn:gold".into()],
        };
        assert_eq!(
            decide_requirement(false, Some(&unknown), None),
            Err(Unsupported)
        );
        // A voluntary unknown value is no error.
        let voluntary = ClaimsAcr {
            essential: false,
            values: vec!["urn:gold".into()],
        };
        assert!(decide_requirement(false, Some(&voluntary), None).is_ok());
        // The policy overrides everything.
        assert_eq!(
            decide_requirement(true, None, Some(ACR_PWD)).unwrap(),
            Requirement {
                level: Level::Mfa,
                essential: true
            }
        );
    }

    #[test]
    fn step_up_decisions() {
        let mfa = Requirement {
            level: Level::Mfa,
            essential: false,
        };
        let mfa_essential = Requirement {
            level: Level::Mfa,
            essential: true,
        };
        assert_eq!(
            decide_step_up(Level::Mfa, mfa, false, false),
            StepDecision::Satisfied
        );
        assert_eq!(
            decide_step_up(Level::Pwd, mfa, true, false),
            StepDecision::StepUp
        );
        assert_eq!(
            decide_step_up(Level::Pwd, mfa, false, false),
            StepDecision::Satisfied
        );
        assert_eq!(
            decide_step_up(Level::Pwd, mfa_essential, false, false),
            StepDecision::Unmet { enrol: false }
        );
        assert_eq!(
            decide_step_up(Level::Pwd, mfa_essential, false, true),
            StepDecision::Unmet { enrol: true }
        );
        assert_eq!(
            decide_step_up(Level::Pwd, mfa_essential, true, true),
            StepDecision::StepUp
        );
    }
}
