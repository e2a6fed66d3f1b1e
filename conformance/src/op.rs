//! The OP as the RP sees it: discovery document, JWKS, registered clients, and the back-end
//! calls (token, userinfo, revocation, introspection) with raw responses kept for the checks.

use anyhow::{bail, Context as _, Result};
use base64::Engine as _;
use openidconnect::core::{CoreIdToken, CoreIdTokenVerifier, CoreJsonWebKeySet};
use openidconnect::{ClientId, ClientSecret, IssuerUrl, Nonce};
use reqwest::header::HeaderMap;
use serde_json::Value;
use std::str::FromStr as _;
use url::Url;

use crate::jwt::Jws;
use crate::report::Checks;

/// How a client authenticates at the token endpoint (RFC 6749 §2.3.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientAuth {
    Basic,
    Post,
}

/// A client registered at the OP. The secret never reaches `Debug` (STYLE.md rule 12).
#[derive(Clone)]
pub struct Client {
    pub id: String,
    pub secret: String,
    pub auth: ClientAuth,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("id", &self.id)
            .field("secret", &"***")
            .field("auth", &self.auth)
            .finish()
    }
}

impl Client {
    pub fn with_auth(&self, auth: ClientAuth) -> Client {
        Client {
            auth,
            ..self.clone()
        }
    }
}

/// Discovery metadata and keys, fetched once per issuer.
#[derive(Debug, Clone)]
pub struct Op {
    pub issuer: String,
    pub doc: Value,
    pub jwks_raw: Value,
    pub jwks: CoreJsonWebKeySet,
}

pub fn discovery_url(issuer: &str) -> String {
    format!(
        "{}/.well-known/openid-configuration",
        issuer.trim_end_matches('/')
    )
}

impl Op {
    pub async fn discover(http: &reqwest::Client, issuer: &str) -> Result<Op> {
        let url = discovery_url(issuer);
        let resp = http
            .get(&url)
            .send()
            .await
            .with_context(|| format!("GET {url}"))?;
        if !resp.status().is_success() {
            bail!("discovery returned HTTP {}", resp.status());
        }
        let doc: Value = resp.json().await.context("discovery is not JSON")?;
        let jwks_uri = doc
            .get("jwks_uri")
            .and_then(Value::as_str)
            .context("discovery has no jwks_uri")?;
        let jwks_raw: Value = http
            .get(jwks_uri)
            .send()
            .await?
            .json()
            .await
            .context("JWKS is not JSON")?;
        let jwks: CoreJsonWebKeySet =
            serde_json::from_value(jwks_raw.clone()).context("JWKS is not a JWK set")?;
        Ok(Op {
            issuer: issuer.to_owned(),
            doc,
            jwks_raw,
            jwks,
        })
    }

    pub fn str(&self, key: &str) -> Option<&str> {
        self.doc.get(key).and_then(Value::as_str)
    }

    pub fn endpoint(&self, key: &str) -> Result<Url> {
        let raw = self
            .str(key)
            .with_context(|| format!("discovery has no {key}"))?;
        Url::parse(raw).with_context(|| format!("{key} is not a URL"))
    }

    pub fn flag(&self, key: &str) -> bool {
        self.doc.get(key).and_then(Value::as_bool).unwrap_or(false)
    }

    pub fn lists(&self, key: &str, value: &str) -> bool {
        self.doc
            .get(key)
            .and_then(Value::as_array)
            .is_some_and(|a| a.iter().any(|v| v.as_str() == Some(value)))
    }
}

/// A token-endpoint (or similar) response with status and headers, for the checks.
#[derive(Debug, Clone)]
pub struct Reply {
    pub status: u16,
    pub headers: HeaderMap,
    pub json: Value,
}

impl Reply {
    pub fn str(&self, key: &str) -> Option<&str> {
        self.json.get(key).and_then(Value::as_str)
    }

    pub fn error(&self) -> Option<&str> {
        self.str("error")
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

/// RFC 6749 §2.3.1: client id and secret are form-urlencoded before Basic encoding.
fn basic_header(client: &Client) -> String {
    let enc = |s: &str| url::form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
    let raw = format!("{}:{}", enc(&client.id), enc(&client.secret));
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(raw)
    )
}

async fn reply(resp: reqwest::Response) -> Result<Reply> {
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    let text = resp.text().await?;
    let json = serde_json::from_str(&text).unwrap_or(Value::Null);
    Ok(Reply {
        status,
        headers,
        json,
    })
}

/// POSTs a form to an endpoint with client authentication.
pub async fn client_post(
    http: &reqwest::Client,
    endpoint: &Url,
    client: &Client,
    params: &[(&str, &str)],
) -> Result<Reply> {
    let mut form: Vec<(&str, &str)> = params.to_vec();
    let mut rb = http.post(endpoint.clone());
    match client.auth {
        ClientAuth::Basic => rb = rb.header("Authorization", basic_header(client)),
        ClientAuth::Post => {
            form.push(("client_id", &client.id));
            form.push(("client_secret", &client.secret));
        }
    }
    reply(
        rb.form(&form)
            .send()
            .await
            .with_context(|| format!("POST {endpoint}"))?,
    )
    .await
}

pub async fn token_request(
    http: &reqwest::Client,
    op: &Op,
    client: &Client,
    params: &[(&str, &str)],
) -> Result<Reply> {
    client_post(http, &op.endpoint("token_endpoint")?, client, params).await
}

/// How userinfo is called (the three userinfo modules).
#[derive(Debug, Clone, Copy)]
pub enum UserinfoCall {
    GetHeader,
    PostHeader,
    PostBody,
}

pub async fn userinfo(
    http: &reqwest::Client,
    op: &Op,
    access_token: &str,
    how: UserinfoCall,
) -> Result<Reply> {
    let ep = op.endpoint("userinfo_endpoint")?;
    let bearer = format!("Bearer {access_token}");
    let rb = match how {
        UserinfoCall::GetHeader => http.get(ep).header("Authorization", bearer),
        UserinfoCall::PostHeader => http.post(ep).header("Authorization", bearer),
        UserinfoCall::PostBody => http.post(ep).form(&[("access_token", access_token)]),
    };
    reply(rb.send().await?).await
}

/// Validates an ID token as the official suite's `ValidateIdToken*` conditions do: signature
/// against the JWKS, `iss`, `aud`, `exp`, `iat`, `nonce` (openidconnect's verifier), then `sub`,
/// the alg being advertised, and `auth_time` being a number. Returns the parsed token.
pub fn check_id_token(
    c: &mut Checks,
    op: &Op,
    client: &Client,
    raw: &str,
    nonce: Option<&str>,
    now: i64,
) -> Option<Jws> {
    let jws = match Jws::parse(raw) {
        Ok(j) => j,
        Err(e) => {
            c.fail(format!("ID token: {e}"));
            return None;
        }
    };
    let verified = (|| -> Result<()> {
        let token = CoreIdToken::from_str(raw).context("ID token does not parse")?;
        let time = chrono::DateTime::from_timestamp(now, 0).context("clock out of range")?;
        let verifier = CoreIdTokenVerifier::new_confidential_client(
            ClientId::new(client.id.clone()),
            ClientSecret::new(client.secret.clone()),
            IssuerUrl::new(op.issuer.clone())?,
            op.jwks.clone(),
        )
        .allow_any_alg()
        .set_time_fn(move || time);
        match nonce {
            Some(n) => token
                .claims(&verifier, &Nonce::new(n.to_owned()))
                .map(|_| ()),
            None => token
                .claims(&verifier, |_: Option<&Nonce>| Ok::<(), String>(()))
                .map(|_| ()),
        }
        .map_err(|e| anyhow::anyhow!("{e}"))
    })();
    if let Err(e) = verified {
        c.fail(format!("ID token invalid: {e:#}"));
    }
    if let Err(e) = jws.verify(&op.jwks) {
        c.fail(format!("ID token: {e}"));
    }
    let alg = jws.alg().unwrap_or("");
    c.require(
        op.lists("id_token_signing_alg_values_supported", alg),
        format!("ID token alg {alg} is not in id_token_signing_alg_values_supported"),
    );
    c.require(
        jws.claim_str("sub").is_some_and(|s| !s.is_empty()),
        "ID token has no sub",
    );
    c.require(jws.claim_i64("iat").is_some(), "ID token has no iat");
    if let Some(v) = jws.claims.get("auth_time") {
        c.require(v.is_number(), "ID token auth_time is not a number");
    }
    if let Some(v) = jws.claims.get("updated_at") {
        c.require(v.is_number(), "ID token updated_at is not a number");
    }
    if let Some(Value::Array(aud)) = jws.claims.get("aud") {
        if aud.len() > 1 {
            c.require(
                jws.claim_str("azp") == Some(client.id.as_str()),
                "multiple aud but azp is not the client",
            );
        }
    }
    if nonce.is_none() && jws.claims.get("nonce").is_some() {
        c.fail("ID token has a nonce although none was requested");
    }
    Some(jws)
}

/// The official suite's JWKS check: every key has a distinct `kid` (or there is a single key).
pub fn check_jwks_kids(c: &mut Checks, op: &Op) {
    let keys = op
        .jwks_raw
        .get("keys")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    c.require(!keys.is_empty(), "JWKS has no keys");
    let mut kids: Vec<&str> = keys
        .iter()
        .filter_map(|k| k.get("kid").and_then(Value::as_str))
        .collect();
    if keys.len() > 1 {
        c.require(
            kids.len() == keys.len(),
            "JWKS has several keys and some lack a kid",
        );
    }
    let n = kids.len();
    kids.sort_unstable();
    kids.dedup();
    c.require(kids.len() == n, "JWKS kid values are not unique");
    for k in &keys {
        if k.get("d").is_some() || k.get("p").is_some() || k.get("k").is_some() {
            c.fail("JWKS publishes private or symmetric key material");
        }
    }
}
