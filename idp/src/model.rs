//! Domain views of stored rows: a tenant with its issuer, a client with parsed lists.

use crate::store::clients::ClientRow;
use crate::store::from_json_list;
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

    pub fn from_row(r: ClientRow) -> Self {
        Self {
            auth_method: AuthMethod::parse(&r.auth_method).unwrap_or(AuthMethod::ClientSecretBasic),
            redirect_uris: from_json_list(&r.redirect_uris),
            post_logout_redirect_uris: from_json_list(&r.post_logout_redirect_uris),
            grant_types: from_json_list(&r.grant_types),
            lifetimes: serde_json::from_str(&r.lifetimes).unwrap_or_default(),
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
        }
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
