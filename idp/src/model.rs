//! Domain views of stored rows: a tenant with its issuer, a client with parsed lists.

use crate::store::clients::ClientRow;
use crate::store::tenants::Tenant as TenantRow;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone)]
pub struct Tenant {
    pub id: String,
    pub slug: String,
    pub name: String,
    pub issuer: String,
}

impl Tenant {
    pub fn from_row(row: TenantRow, public_url: &str) -> Self {
        Self {
            issuer: format!("{public_url}/t/{}", row.slug),
            id: row.id,
            slug: row.slug,
            name: row.name,
        }
    }
}

/// Token lifetimes registered per client (seconds).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Lifetimes {
    pub access_token_secs: i64,
    pub id_token_secs: i64,
    pub refresh_absolute_secs: i64,
    pub refresh_idle_secs: i64,
    /// Seconds during which a rotated refresh token may be presented again while its successor is
    /// unused (a client retrying a lost response). 0 = never.
    pub refresh_reuse_grace_secs: i64,
}

impl Default for Lifetimes {
    fn default() -> Self {
        Self {
            access_token_secs: 300,
            id_token_secs: 300,
            refresh_absolute_secs: 30 * 24 * 3600,
            refresh_idle_secs: 7 * 24 * 3600,
            refresh_reuse_grace_secs: 0,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthMethod {
    ClientSecretBasic,
    ClientSecretPost,
    PrivateKeyJwt,
    None,
}

impl AuthMethod {
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "client_secret_basic" => Self::ClientSecretBasic,
            "client_secret_post" => Self::ClientSecretPost,
            "private_key_jwt" => Self::PrivateKeyJwt,
            "none" => Self::None,
            _ => return None,
        })
    }
    pub fn as_str(self) -> &'static str {
        match self {
            Self::ClientSecretBasic => "client_secret_basic",
            Self::ClientSecretPost => "client_secret_post",
            Self::PrivateKeyJwt => "private_key_jwt",
            Self::None => "none",
        }
    }
}

#[derive(Debug, Clone)]
pub struct Client {
    /// Internal row id.
    pub id: String,
    pub client_id: String,
    pub secret_hash: Option<String>,
    pub auth_method: AuthMethod,
    pub redirect_uris: Vec<String>,
    pub post_logout_redirect_uris: Vec<String>,
    pub grant_types: Vec<String>,
    pub backchannel_logout_uri: Option<String>,
    pub frontchannel_logout_uri: Option<String>,
    pub id_token_alg: String,
    pub jwks: Option<String>,
    pub first_party: bool,
    pub lifetimes: Lifetimes,
    /// Disabled by an operator: refused at the token endpoint, and its tokens are inactive.
    pub disabled: bool,
    /// The secret replaced by the last rotation and the Unix second it stops working at.
    pub previous_secret: Option<PreviousSecret>,
    /// RFC 9449 §5.2: every token request must carry a DPoP proof.
    pub dpop_bound_access_tokens: bool,
}

/// A rotated-out client secret that still works until `until` (the rotation's overlap).
#[derive(Clone)]
pub struct PreviousSecret {
    pub hash: String,
    pub until: i64,
}

impl std::fmt::Debug for PreviousSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "PreviousSecret(***, until {})", self.until)
    }
}

/// The `client_id` the account portal signs in as. It contains a character registered client ids
/// cannot (`manage::client_metadata::validate_client_id`), so no relying party can be it.
pub const PORTAL_CLIENT_ID: &str = "lanyard:account";

/// The `client_id` the tenant admin area signs in as (like [`PORTAL_CLIENT_ID`], no registered
/// client can be it). A client-layer policy on it governs admins: `client:lanyard:admin
/// require_mfa=true` makes the admin area ask for the second factor.
pub const ADMIN_CLIENT_ID: &str = "lanyard:admin";

/// Whether a presented `redirect_uri` matches a registered one: exactly (OIDC Core §3.1.2.1,
/// simple string comparison), or, for a native app's loopback redirect, with any port (RFC 8252
/// §7.3: "MUST allow any port to be specified at the time of the request for loopback IP
/// redirect URIs"). Loopback means `http` and the literal `127.0.0.1` or `[::1]`; `localhost`
/// is not (RFC 8252 §8.3). Everything but the port must still be identical.
pub fn redirect_uri_matches(registered: &str, presented: &str) -> bool {
    if registered == presented {
        return true;
    }
    let (Ok(mut r), Ok(mut p)) = (url::Url::parse(registered), url::Url::parse(presented)) else {
        return false;
    };
    let loopback = |u: &url::Url| {
        u.scheme() == "http"
            && matches!(u.host_str(), Some("127.0.0.1") | Some("[::1]"))
            && u.username().is_empty()
            && u.password().is_none()
    };
    if !loopback(&r) || !loopback(&p) {
        return false;
    }
    // Compare the serialisations without ports (set_port only fails for cannot-be-a-base URLs).
    if r.set_port(None).is_err() || p.set_port(None).is_err() {
        return false;
    }
    r.as_str() == p.as_str()
}

impl Client {
    /// RFC 8252 §7.3 / OIDC Core §3.1.2.1: see [`redirect_uri_matches`].
    pub fn accepts_redirect_uri(&self, presented: &str) -> bool {
        self.redirect_uris
            .iter()
            .any(|r| redirect_uri_matches(r, presented))
    }

    /// The account portal, a built-in first-party client of every tenant: it is never stored, has
    /// no redirect URIs and takes part in no session (it is not an OAuth client; it only lets the
    /// sign-in pages run for the portal).
    pub fn portal(tenant: &Tenant) -> Self {
        Self {
            id: format!("portal:{}", tenant.id),
            client_id: PORTAL_CLIENT_ID.into(),
            secret_hash: None,
            auth_method: AuthMethod::None,
            redirect_uris: Vec::new(),
            post_logout_redirect_uris: Vec::new(),
            grant_types: Vec::new(),
            backchannel_logout_uri: None,
            frontchannel_logout_uri: None,
            id_token_alg: "RS256".into(),
            jwks: None,
            first_party: true,
            lifetimes: Lifetimes::default(),
            disabled: false,
            previous_secret: None,
            dpop_bound_access_tokens: false,
        }
    }

    /// The tenant admin area: built in like [`Client::portal`], under [`ADMIN_CLIENT_ID`].
    pub fn admin_area(tenant: &Tenant) -> Self {
        Self {
            id: format!("admin:{}", tenant.id),
            client_id: ADMIN_CLIENT_ID.into(),
            ..Self::portal(tenant)
        }
    }

    /// The client a stored row describes. A stored value that does not parse is an error naming
    /// the client and the field, never a silent default: a corrupt `auth_method` must not become
    /// `client_secret_basic`, nor corrupt lifetimes the defaults.
    pub fn from_row(r: ClientRow) -> Result<Self, crate::error::Error> {
        let corrupt = |field: &str| {
            crate::error::internal(format!(
                "client '{}' (tenant {}): stored {field} does not parse",
                r.client_id, r.tenant_id
            ))
        };
        let list = |field: &str, raw: &str| {
            serde_json::from_str::<Vec<String>>(raw).map_err(|_| corrupt(field))
        };
        let auth_method =
            AuthMethod::parse(&r.auth_method).ok_or_else(|| corrupt("auth_method"))?;
        let redirect_uris = list("redirect_uris", &r.redirect_uris)?;
        let post_logout_redirect_uris =
            list("post_logout_redirect_uris", &r.post_logout_redirect_uris)?;
        let grant_types = list("grant_types", &r.grant_types)?;
        // Fields missing from older rows take their defaults (`#[serde(default)]`); a value
        // that is not a lifetimes object is an error.
        let lifetimes: Lifetimes =
            serde_json::from_str(&r.lifetimes).map_err(|_| corrupt("lifetimes"))?;
        Ok(Self {
            auth_method,
            redirect_uris,
            post_logout_redirect_uris,
            grant_types,
            lifetimes,
            id: r.id,
            client_id: r.client_id,
            secret_hash: r.secret_hash,
            backchannel_logout_uri: r.backchannel_logout_uri,
            frontchannel_logout_uri: r.frontchannel_logout_uri,
            id_token_alg: r.id_token_alg,
            jwks: r.jwks,
            first_party: r.first_party,
            disabled: r.disabled,
            dpop_bound_access_tokens: r.dpop_bound_access_tokens,
            previous_secret: match (r.previous_secret_hash, r.previous_secret_until) {
                (Some(hash), Some(until)) => Some(PreviousSecret { hash, until }),
                _ => None,
            },
        })
    }

    pub fn is_public(&self) -> bool {
        self.auth_method == AuthMethod::None
    }

    pub fn allows_grant(&self, grant: &str) -> bool {
        self.grant_types.iter().any(|g| g == grant)
    }
}

#[cfg(test)]
mod redirect_tests {
    use super::redirect_uri_matches as m;

    #[test]
    fn exact_match_is_required_except_for_loopback_ports() {
        assert!(m("https://rp.example/cb", "https://rp.example/cb"));
        assert!(!m("https://rp.example/cb", "https://rp.example/cb/"));
        assert!(!m("https://rp.example/cb", "https://rp.example:8443/cb"));
        assert!(!m("https://rp.example/cb", "https://RP.example/cb"));
        // RFC 8252 §7.3: any port on loopback IP literals.
        assert!(m("http://127.0.0.1/cb", "http://127.0.0.1:51004/cb"));
        assert!(m("http://127.0.0.1:8080/cb", "http://127.0.0.1:9/cb"));
        assert!(m("http://[::1]/cb", "http://[::1]:61000/cb"));
        // ... but nothing else may differ.
        assert!(!m("http://127.0.0.1/cb", "http://127.0.0.1:5000/other"));
        assert!(!m("http://127.0.0.1/cb", "http://127.0.0.1:5000/cb?x=1"));
        assert!(!m("http://127.0.0.1/cb", "https://127.0.0.1:5000/cb"));
        assert!(!m("http://127.0.0.1/cb", "http://[::1]:5000/cb"));
        assert!(!m("http://127.0.0.1/cb", "http://u:p@127.0.0.1:5000/cb"));
        // localhost is not a loopback IP literal (§8.3); other hosts never port-float.
        assert!(!m("http://localhost/cb", "http://localhost:5000/cb"));
        assert!(!m("http://127.0.0.2/cb", "http://127.0.0.2:5000/cb"));
        assert!(!m("http://127.0.0.1/cb", "not a url"));
    }
}

#[cfg(test)]
mod client_row_tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn row() -> ClientRow {
        ClientRow {
            id: "id1".into(),
            tenant_id: "t1".into(),
            client_id: "web".into(),
            secret_hash: None,
            auth_method: "client_secret_post".into(),
            redirect_uris: r#"["https://rp.example/cb"]"#.into(),
            post_logout_redirect_uris: "[]".into(),
            grant_types: r#"["authorization_code"]"#.into(),
            backchannel_logout_uri: None,
            frontchannel_logout_uri: None,
            id_token_alg: "RS256".into(),
            jwks: None,
            first_party: false,
            lifetimes: r#"{"access_token_secs":60}"#.into(),
            created_at: 0,
            disabled: false,
            previous_secret_hash: None,
            previous_secret_until: None,
            dpop_bound_access_tokens: false,
        }
    }

    #[test]
    fn a_sound_row_parses_and_missing_lifetimes_take_defaults() {
        let c = Client::from_row(row()).unwrap();
        assert_eq!(c.auth_method, AuthMethod::ClientSecretPost);
        assert_eq!(c.redirect_uris, vec!["https://rp.example/cb".to_string()]);
        assert_eq!(c.lifetimes.access_token_secs, 60);
        assert_eq!(
            c.lifetimes.id_token_secs,
            Lifetimes::default().id_token_secs
        );
    }

    #[test]
    fn every_unparsable_stored_value_is_an_error_naming_client_and_field() {
        type Corrupt = fn(&mut ClientRow);
        let cases: [(&str, Corrupt); 5] = [
            ("auth_method", |r| {
                r.auth_method = "client_secret_jwt_typo".into()
            }),
            ("redirect_uris", |r| r.redirect_uris = "not json".into()),
            ("post_logout_redirect_uris", |r| {
                r.post_logout_redirect_uris = r#"{"a":1}"#.into()
            }),
            ("grant_types", |r| r.grant_types = "".into()),
            ("lifetimes", |r| {
                r.lifetimes = r#"{"access_token_secs":"soon"}"#.into()
            }),
        ];
        for (field, corrupt) in cases {
            let mut r = row();
            corrupt(&mut r);
            let e = Client::from_row(r).unwrap_err().to_string();
            assert!(
                e.contains("client 'web'") && e.contains(&format!("stored {field} ")),
                "{field}: {e}"
            );
        }
    }
}
