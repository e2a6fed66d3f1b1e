//! The provider under test: discovery of its endpoints, the loopback-only guard, and the
//! shared state (pooled HTTP client, clients, user) every worker reads.

use std::net::IpAddr;
use std::path::Path;
use std::time::Duration;

use anyhow::{bail, Context};
use serde::Deserialize;
use url::{Host, Url};

use crate::oauth::ClientCredentials;
use crate::stats::Failure;

/// The end user the login scenarios sign in as. `Debug` hides the password.
#[derive(Clone)]
pub struct User {
    pub username: String,
    pub password: String,
}

impl std::fmt::Debug for User {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("User")
            .field("username", &self.username)
            .field("password", &"***")
            .finish()
    }
}

/// The endpoints the bench uses, taken from the provider's discovery document.
#[derive(Debug, Clone)]
pub struct Endpoints {
    pub issuer: String,
    pub authorization: Url,
    pub token: Url,
    pub userinfo: Option<Url>,
    pub introspection: Option<Url>,
    pub scopes_supported: Vec<String>,
}

/// Everything a worker needs to talk to the provider.
#[derive(Debug)]
pub struct Target {
    pub http: reqwest::Client,
    pub endpoints: Endpoints,
    pub redirect_uri: String,
    pub user: User,
    pub confidential: ClientCredentials,
    pub public: Option<ClientCredentials>,
    pub allow_remote: bool,
}

impl Target {
    /// The scope for logins that must yield a refresh token: `offline_access` only when the
    /// provider advertises it (OIDC Core §11).
    pub fn refresh_scope(&self) -> &'static str {
        if self
            .endpoints
            .scopes_supported
            .iter()
            .any(|s| s == "offline_access")
        {
            "openid offline_access"
        } else {
            "openid"
        }
    }

    /// Refuses to send anything to a non-loopback host unless `--allow-remote` was given.
    pub fn check_host(&self, url: &Url) -> Result<(), Failure> {
        if self.allow_remote || is_loopback(url) {
            Ok(())
        } else {
            Err(Failure::with_detail(
                "refused: non-loopback host",
                format!("refused to contact non-loopback host in {url}"),
            ))
        }
    }
}

/// Whether `url` names this machine: `localhost` or a loopback IP. No DNS lookup is made,
/// so a name that merely resolves to 127.0.0.1 does not count.
pub fn is_loopback(url: &Url) -> bool {
    match url.host() {
        Some(Host::Domain(d)) => {
            let d = d.trim_end_matches('.').to_ascii_lowercase();
            d == "localhost" || d.ends_with(".localhost")
        }
        Some(Host::Ipv4(ip)) => IpAddr::V4(ip).is_loopback(),
        Some(Host::Ipv6(ip)) => IpAddr::V6(ip).is_loopback(),
        None => false,
    }
}

/// Where the discovery document of `issuer` lives (OIDC Discovery §4).
pub fn discovery_url(issuer: &Url) -> anyhow::Result<Url> {
    let base = issuer.as_str().trim_end_matches('/');
    Url::parse(&format!("{base}/.well-known/openid-configuration"))
        .context("building the discovery URL")
}

/// The one pooled HTTP client: no automatic redirects (the login driver follows them itself,
/// carrying a per-login cookie jar), no proxy (loopback only), optional extra CA roots.
pub fn build_http_client(
    pool_size: usize,
    ca_file: Option<&Path>,
) -> anyhow::Result<reqwest::Client> {
    let mut builder = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .no_proxy()
        .pool_max_idle_per_host(pool_size.max(1))
        .connect_timeout(Duration::from_secs(5))
        .timeout(Duration::from_secs(30))
        .user_agent(concat!("lanyard-load/", env!("CARGO_PKG_VERSION")));
    if let Some(path) = ca_file {
        let pem = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
        for cert in reqwest::Certificate::from_pem_bundle(&pem)
            .with_context(|| format!("parsing {}", path.display()))?
        {
            builder = builder.add_root_certificate(cert);
        }
    }
    builder.build().context("building the HTTP client")
}

#[derive(Deserialize)]
struct DiscoveryDocument {
    issuer: String,
    authorization_endpoint: String,
    token_endpoint: String,
    userinfo_endpoint: Option<String>,
    introspection_endpoint: Option<String>,
    #[serde(default)]
    scopes_supported: Vec<String>,
    #[serde(default)]
    code_challenge_methods_supported: Vec<String>,
}

/// Fetches and checks the discovery document of `issuer`.
pub async fn discover(
    http: &reqwest::Client,
    issuer: &Url,
    allow_remote: bool,
) -> anyhow::Result<Endpoints> {
    let url = discovery_url(issuer)?;
    let response = http
        .get(url.clone())
        .send()
        .await
        .with_context(|| format!("fetching {url}"))?;
    if !response.status().is_success() {
        bail!("{url} answered HTTP {}", response.status());
    }
    let doc: DiscoveryDocument = response
        .json()
        .await
        .with_context(|| format!("decoding {url}"))?;
    endpoints_from(doc, issuer, allow_remote)
}

fn endpoints_from(
    doc: DiscoveryDocument,
    issuer: &Url,
    allow_remote: bool,
) -> anyhow::Result<Endpoints> {
    // OIDC Discovery §4.3: the issuer in the document must be the one we asked for.
    if doc.issuer.trim_end_matches('/') != issuer.as_str().trim_end_matches('/') {
        bail!("discovery names issuer {:?}, expected {issuer}", doc.issuer);
    }
    if !doc.code_challenge_methods_supported.is_empty()
        && !doc
            .code_challenge_methods_supported
            .iter()
            .any(|m| m == "S256")
    {
        bail!("provider does not advertise PKCE S256");
    }
    let parse = |name: &str, value: &str| -> anyhow::Result<Url> {
        let url = Url::parse(value).with_context(|| format!("{name} {value:?}"))?;
        if !allow_remote && !is_loopback(&url) {
            bail!("{name} {url} is not on a loopback address (pass --allow-remote to permit)");
        }
        Ok(url)
    };
    Ok(Endpoints {
        authorization: parse("authorization_endpoint", &doc.authorization_endpoint)?,
        token: parse("token_endpoint", &doc.token_endpoint)?,
        userinfo: doc
            .userinfo_endpoint
            .as_deref()
            .map(|u| parse("userinfo_endpoint", u))
            .transpose()?,
        introspection: doc
            .introspection_endpoint
            .as_deref()
            .map(|u| parse("introspection_endpoint", u))
            .transpose()?,
        scopes_supported: doc.scopes_supported,
        issuer: doc.issuer,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn url(s: &str) -> Url {
        Url::parse(s).unwrap()
    }

    #[test]
    fn loopback_hosts() {
        assert!(is_loopback(&url("http://127.0.0.1:18081/t/demo")));
        assert!(is_loopback(&url("http://127.8.9.10/")));
        assert!(is_loopback(&url("http://[::1]:3000/")));
        assert!(is_loopback(&url("http://localhost:3000/")));
        assert!(is_loopback(&url("http://LOCALHOST./")));
        assert!(is_loopback(&url("http://idp.localhost/")));
        assert!(!is_loopback(&url("http://10.0.0.1/")));
        assert!(!is_loopback(&url("https://example.com/")));
        assert!(!is_loopback(&url("http://localhost.example.com/")));
        assert!(!is_loopback(&url("http://[::2]/")));
    }

    #[test]
    fn discovery_url_handles_trailing_slash_and_path() {
        assert_eq!(
            discovery_url(&url("http://127.0.0.1:18081/t/demo"))
                .unwrap()
                .as_str(),
            "http://127.0.0.1:18081/t/demo/.well-known/openid-configuration"
        );
        assert_eq!(
            discovery_url(&url("http://localhost:3000/"))
                .unwrap()
                .as_str(),
            "http://localhost:3000/.well-known/openid-configuration"
        );
    }

    fn doc(issuer: &str, token: &str) -> DiscoveryDocument {
        DiscoveryDocument {
            issuer: issuer.to_owned(),
            authorization_endpoint: format!("{issuer}/auth"),
            token_endpoint: token.to_owned(),
            userinfo_endpoint: None,
            introspection_endpoint: None,
            scopes_supported: vec!["openid".into()],
            code_challenge_methods_supported: vec!["S256".into()],
        }
    }

    #[test]
    fn discovery_checks_issuer_and_loopback_endpoints() {
        let issuer = url("http://127.0.0.1:3000");
        let ok = endpoints_from(
            doc("http://127.0.0.1:3000", "http://127.0.0.1:3000/token"),
            &issuer,
            false,
        );
        assert_eq!(ok.unwrap().token.path(), "/token");
        assert!(endpoints_from(
            doc("http://other:3000", "http://127.0.0.1:3000/token"),
            &issuer,
            false
        )
        .is_err());
        assert!(endpoints_from(
            doc("http://127.0.0.1:3000", "http://203.0.113.9/token"),
            &issuer,
            false
        )
        .is_err());
        assert!(endpoints_from(
            doc("http://127.0.0.1:3000", "http://203.0.113.9/token"),
            &issuer,
            true
        )
        .is_ok());
    }
}
