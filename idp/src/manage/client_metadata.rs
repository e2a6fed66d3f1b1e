//! The one place client metadata is validated, for registration and for updates alike, whether
//! it comes from the CLI, the admin API or demo seeding. Pure functions: no storage, no clock.
//!
//! Rules: `client_id` is 1-128 visible ASCII characters without ':' (it is the user part of HTTP
//! Basic credentials, RFC 6749 §2.3.1); every URI is an absolute http(s) URI without fragment
//! (redirect URIs are compared exactly, RFC 6749 §3.1.2 and OIDC Core §3.1.2.1; logout URIs per
//! OIDC Back-Channel Logout §2.2 and Front-Channel Logout §2); lifetimes are positive and the
//! refresh reuse grace is not negative; public clients authenticate with `none` and cannot use
//! `client_credentials` (RFC 6749 §4.4 needs a confidential client).

use crate::http::destination::DestinationPolicy;
use crate::keys::SUPPORTED_ALGS;
use crate::model::{AuthMethod, Lifetimes};

/// The grant types Lanyard implements.
pub const GRANT_TYPES: &[&str] = &["authorization_code", "refresh_token", "client_credentials"];

/// Shortest client secret accepted (characters).
pub const MIN_SECRET_LEN: usize = 16;

pub fn validate_client_id(client_id: &str) -> Result<(), String> {
    if client_id.is_empty()
        || client_id.len() > 128
        || !client_id.bytes().all(|b| b.is_ascii_graphic() && b != b':')
    {
        return Err("client_id must be 1-128 visible ASCII characters without ':'".into());
    }
    Ok(())
}

pub fn validate_uri(uri: &str) -> Result<(), String> {
    let ok = url::Url::parse(uri)
        .is_ok_and(|p| matches!(p.scheme(), "http" | "https") && p.fragment().is_none());
    if ok {
        Ok(())
    } else {
        Err(format!(
            "'{uri}' is not an absolute http(s) URI without fragment"
        ))
    }
}

pub fn validate_uris<'a>(uris: impl IntoIterator<Item = &'a String>) -> Result<(), String> {
    uris.into_iter().try_for_each(|u| validate_uri(u))
}

/// The logout URIs against the rest of the registration:
///
/// - the back-channel logout URI is a destination Lanyard itself POSTs to, so it must not name
///   this machine, a private network or a metadata service (`http::destination`; checked again
///   after DNS resolution when used);
/// - the front-channel logout URI must have the scheme, host and port of a registered redirect
///   URI (OIDC Front-Channel Logout 1.0 §2), so a client cannot frame another origin.
pub fn validate_logout_uris(
    redirect_uris: &[String],
    backchannel: Option<&str>,
    frontchannel: Option<&str>,
    destinations: &DestinationPolicy,
) -> Result<(), String> {
    if let Some(bc) = backchannel {
        destinations
            .evaluate_uri_str(bc)
            .map_err(|e| format!("backchannel_logout_uri {e}"))?;
    }
    if let Some(fc) = frontchannel {
        let origin = |u: &str| {
            url::Url::parse(u).ok().map(|p| {
                (
                    p.scheme().to_string(),
                    p.host_str().map(str::to_ascii_lowercase),
                    p.port_or_known_default(),
                )
            })
        };
        let want = origin(fc);
        if want.is_none() || !redirect_uris.iter().any(|r| origin(r) == want) {
            return Err(format!(
                "frontchannel_logout_uri '{fc}' must have the scheme, host and port of a registered redirect URI (OIDC Front-Channel Logout 1.0 §2)"
            ));
        }
    }
    Ok(())
}

pub fn validate_lifetimes(l: &Lifetimes) -> Result<(), String> {
    let named = [
        ("access token lifetime", l.access_token_secs),
        ("ID token lifetime", l.id_token_secs),
        ("refresh token absolute lifetime", l.refresh_absolute_secs),
        ("refresh token idle lifetime", l.refresh_idle_secs),
    ];
    if let Some((name, v)) = named.iter().find(|(_, v)| *v <= 0) {
        return Err(format!(
            "{name} must be a positive number of seconds, not {v}"
        ));
    }
    if l.refresh_reuse_grace_secs < 0 {
        return Err("refresh reuse grace must be 0 or more seconds".into());
    }
    Ok(())
}

pub fn validate_secret(secret: &str) -> Result<(), String> {
    if secret.len() < MIN_SECRET_LEN {
        return Err(format!(
            "client secrets must be at least {MIN_SECRET_LEN} characters"
        ));
    }
    Ok(())
}

/// The auth method a registration asks for: explicit, or implied by public / confidential.
pub fn resolve_auth_method(requested: Option<&str>, public: bool) -> Result<AuthMethod, String> {
    let method = match (requested, public) {
        (Some(m), _) => AuthMethod::parse(m).ok_or_else(|| {
            format!("unknown auth method '{m}' (client_secret_basic, client_secret_post, private_key_jwt, none)")
        })?,
        (None, true) => AuthMethod::None,
        (None, false) => AuthMethod::ClientSecretBasic,
    };
    if public && method != AuthMethod::None {
        return Err("public clients use token_endpoint_auth_method none".into());
    }
    Ok(method)
}

/// The grant types to register: the requested ones (deduplicated, in order) or the default pair.
pub fn resolve_grant_types(requested: &[String], public: bool) -> Result<Vec<String>, String> {
    let mut grants: Vec<String> = Vec::new();
    let requested: Vec<String> = if requested.is_empty() {
        vec!["authorization_code".into(), "refresh_token".into()]
    } else {
        requested.to_vec()
    };
    for g in requested {
        if !GRANT_TYPES.contains(&g.as_str()) {
            return Err(format!("unsupported grant type '{g}'"));
        }
        if !grants.contains(&g) {
            grants.push(g);
        }
    }
    if public && grants.iter().any(|g| g == "client_credentials") {
        return Err("public clients cannot use client_credentials".into());
    }
    Ok(grants)
}

pub fn resolve_id_token_alg(requested: Option<&str>) -> Result<String, String> {
    let alg = requested.unwrap_or("RS256");
    if !SUPPORTED_ALGS.contains(&alg) {
        return Err(format!(
            "id_token_signed_response_alg must be one of {}",
            SUPPORTED_ALGS.join(", ")
        ));
    }
    Ok(alg.to_string())
}

/// Lifetimes to change; `None` keeps the current (or, at registration, the default) value.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Deserialize)]
pub struct LifetimeChanges {
    pub access_token_secs: Option<i64>,
    pub id_token_secs: Option<i64>,
    pub refresh_absolute_secs: Option<i64>,
    pub refresh_idle_secs: Option<i64>,
    pub refresh_reuse_grace_secs: Option<i64>,
}

impl LifetimeChanges {
    pub fn is_empty(&self) -> bool {
        *self == Self::default()
    }

    /// `base` with these changes applied.
    pub fn apply(&self, base: &Lifetimes) -> Lifetimes {
        Lifetimes {
            access_token_secs: self.access_token_secs.unwrap_or(base.access_token_secs),
            id_token_secs: self.id_token_secs.unwrap_or(base.id_token_secs),
            refresh_absolute_secs: self
                .refresh_absolute_secs
                .unwrap_or(base.refresh_absolute_secs),
            refresh_idle_secs: self.refresh_idle_secs.unwrap_or(base.refresh_idle_secs),
            refresh_reuse_grace_secs: self
                .refresh_reuse_grace_secs
                .unwrap_or(base.refresh_reuse_grace_secs),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_ids_are_visible_ascii_without_colon() {
        assert!(validate_client_id("web-app_1").is_ok());
        for bad in ["", "a:b", "with space", "é", &"x".repeat(129)] {
            assert!(validate_client_id(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn backchannel_logout_uris_must_not_name_private_destinations() {
        let strict = DestinationPolicy::default();
        let rp = ["https://rp.example/cb".to_string()];
        for bad in [
            "http://127.0.0.1:9/bc",
            "http://[::1]/bc",
            "http://169.254.169.254/latest/meta-data/",
            "http://10.0.0.1/bc",
            "http://localhost/bc",
        ] {
            let e = validate_logout_uris(&rp, Some(bad), None, &strict).unwrap_err();
            assert!(e.starts_with("backchannel_logout_uri"), "{e}");
        }
        assert!(validate_logout_uris(&rp, Some("https://rp.example/bc"), None, &strict).is_ok());
        let dev = DestinationPolicy::parse("loopback").unwrap();
        assert!(validate_logout_uris(&rp, Some("http://127.0.0.1:9/bc"), None, &dev).is_ok());
    }

    #[test]
    fn frontchannel_logout_uris_share_the_origin_of_a_redirect_uri() {
        let p = DestinationPolicy::default();
        let rp = [
            "https://rp.example/cb".to_string(),
            "https://app.example:8443/cb".to_string(),
        ];
        for ok in [
            "https://rp.example/logout",
            "https://RP.example:443/fc?x=1",
            "https://app.example:8443/fc",
        ] {
            assert!(
                validate_logout_uris(&rp, None, Some(ok), &p).is_ok(),
                "{ok}"
            );
        }
        for bad in [
            "https://evil.example/fc",
            "http://rp.example/fc",
            "https://rp.example:8443/fc",
            "https://app.example/fc",
            "https://sub.rp.example/fc",
        ] {
            let e = validate_logout_uris(&rp, None, Some(bad), &p).unwrap_err();
            assert!(e.contains("Front-Channel Logout 1.0 §2"), "{bad}: {e}");
        }
        assert!(validate_logout_uris(&[], None, Some("https://rp.example/fc"), &p).is_err());
    }

    #[test]
    fn uris_are_absolute_http_without_fragment() {
        assert!(validate_uri("https://app.example/cb?x=1").is_ok());
        assert!(validate_uri("http://127.0.0.1:9000/callback").is_ok());
        for bad in [
            "/cb",
            "ftp://x/",
            "https://app.example/cb#frag",
            "not a uri",
        ] {
            let e = validate_uri(bad).unwrap_err();
            assert!(e.contains(bad), "{e}");
        }
    }

    #[test]
    fn lifetimes_must_be_positive_and_grace_not_negative() {
        assert!(validate_lifetimes(&Lifetimes::default()).is_ok());
        let zero_access = Lifetimes {
            access_token_secs: 0,
            ..Default::default()
        };
        assert!(validate_lifetimes(&zero_access)
            .unwrap_err()
            .contains("access token"));
        let negative_idle = Lifetimes {
            refresh_idle_secs: -5,
            ..Default::default()
        };
        assert!(validate_lifetimes(&negative_idle)
            .unwrap_err()
            .contains("idle"));
        let grace = Lifetimes {
            refresh_reuse_grace_secs: 0,
            ..Default::default()
        };
        assert!(validate_lifetimes(&grace).is_ok());
        let negative_grace = Lifetimes {
            refresh_reuse_grace_secs: -1,
            ..Default::default()
        };
        assert!(validate_lifetimes(&negative_grace).is_err());
    }

    #[test]
    fn auth_method_follows_public_flag() {
        assert_eq!(resolve_auth_method(None, true), Ok(AuthMethod::None));
        assert_eq!(
            resolve_auth_method(None, false),
            Ok(AuthMethod::ClientSecretBasic)
        );
        assert_eq!(
            resolve_auth_method(Some("private_key_jwt"), false),
            Ok(AuthMethod::PrivateKeyJwt)
        );
        assert!(resolve_auth_method(Some("client_secret_basic"), true).is_err());
        assert!(resolve_auth_method(Some("magic"), false).is_err());
    }

    #[test]
    fn grant_types_default_dedupe_and_refuse_unknown() {
        assert_eq!(
            resolve_grant_types(&[], false).unwrap(),
            ["authorization_code", "refresh_token"]
        );
        let twice = vec![
            "refresh_token".to_string(),
            "authorization_code".into(),
            "refresh_token".into(),
        ];
        assert_eq!(
            resolve_grant_types(&twice, false).unwrap(),
            ["refresh_token", "authorization_code"]
        );
        assert!(resolve_grant_types(&["implicit".into()], false).is_err());
        assert!(resolve_grant_types(&["client_credentials".into()], true).is_err());
    }

    #[test]
    fn id_token_alg_defaults_to_rs256() {
        assert_eq!(resolve_id_token_alg(None).unwrap(), "RS256");
        assert_eq!(resolve_id_token_alg(Some("ES256")).unwrap(), "ES256");
        assert!(resolve_id_token_alg(Some("none")).is_err());
    }

    #[test]
    fn secrets_have_a_minimum_length() {
        assert!(validate_secret("short").is_err());
        assert!(validate_secret(&"s".repeat(MIN_SECRET_LEN)).is_ok());
    }

    #[test]
    fn lifetime_changes_apply_over_a_base() {
        let base = Lifetimes::default();
        let c = LifetimeChanges {
            access_token_secs: Some(60),
            refresh_reuse_grace_secs: Some(5),
            ..Default::default()
        };
        let l = c.apply(&base);
        assert_eq!(l.access_token_secs, 60);
        assert_eq!(l.refresh_reuse_grace_secs, 5);
        assert_eq!(l.id_token_secs, base.id_token_secs);
        assert!(LifetimeChanges::default().is_empty());
        assert!(!c.is_empty());
    }
}
