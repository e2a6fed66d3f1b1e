//! Drives the browser through an OP: authorization requests (login and consent pages filled by
//! the generic HTML-form adapter), code exchange, and RP-initiated logout with its confirmation,
//! front-channel iframes and continuation to the post-logout redirect URI.

use anyhow::{bail, Context as _, Result};
use serde_json::Value;
use url::Url;

use crate::ctx::{Ctx, User};
use crate::html::{self, FormMethod};
use crate::http::{Browser, Page, Request};
use crate::jwt::Jws;
use crate::op::{self, Client, Op, Reply};
use crate::report::Checks;

/// How far the adapter may go on OP pages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Authorization: fill login (if `interactive`) and consent forms.
    Authorize { interactive: bool },
    /// End session: confirm a logout prompt, load front-channel iframes, follow continuations.
    Logout,
}

/// Where the browser ended up.
#[derive(Debug, Clone)]
pub enum Landing {
    /// Sent to one of the RP listener's URLs (not fetched; the modules read it).
    Rp(Url),
    /// Stayed on an OP page (error, logged-out page, or a login page when not interactive).
    Page(Page),
}

#[derive(Debug, Clone)]
pub struct Navigation {
    pub landing: Landing,
    pub logins: u32,
    pub consents: u32,
    pub confirmations: u32,
    /// Front-channel iframe URLs the OP's pages rendered (and that were loaded).
    pub iframes: Vec<Url>,
}

impl Navigation {
    pub fn rp_url(&self) -> Option<&Url> {
        match &self.landing {
            Landing::Rp(u) => Some(u),
            Landing::Page(_) => None,
        }
    }

    pub fn page(&self) -> Option<&Page> {
        match &self.landing {
            Landing::Page(p) => Some(p),
            Landing::Rp(_) => None,
        }
    }

    pub fn describe(&self) -> String {
        match &self.landing {
            Landing::Rp(u) => format!("redirect to {}", crate::http::strip_query(u)),
            Landing::Page(p) => p.describe(),
        }
    }
}

const MAX_STEPS: usize = 25;

fn form_request(form: &html::Form, fields: Vec<(String, String)>) -> Request {
    match form.method {
        FormMethod::Post => Request::post_form(form.action.clone(), fields),
        FormMethod::Get => {
            let mut u = form.action.clone();
            u.query_pairs_mut().clear().extend_pairs(fields.iter());
            Request::get(u)
        }
    }
}

/// Follows redirects and fills forms until the browser is sent to the RP or rests on a page.
pub async fn navigate(
    ctx: &Ctx,
    browser: &Browser,
    user: &User,
    first: Request,
    mode: Mode,
) -> Result<Navigation> {
    let mut nav = Navigation {
        landing: Landing::Rp(ctx.rp.base.clone()),
        logins: 0,
        consents: 0,
        confirmations: 0,
        iframes: Vec::new(),
    };
    let mut req = first;
    for _ in 0..MAX_STEPS {
        if ctx.rp.is_ours(&req.url) {
            nav.landing = Landing::Rp(req.url);
            return Ok(nav);
        }
        let page = browser.send(&req).await?;
        if page.is_redirect() {
            let next = page
                .location()
                .context("redirect without a usable Location")?;
            req = Request::get(next);
            continue;
        }
        if page.status == 200 && page.is_html() {
            if let Some(next) = next_step(ctx, browser, user, &page, mode, &mut nav).await? {
                req = next;
                continue;
            }
        }
        nav.landing = Landing::Page(page);
        return Ok(nav);
    }
    bail!("more than {MAX_STEPS} redirects/forms without reaching the RP")
}

/// Decides what a person would do on `page`; `None` means stop here.
async fn next_step(
    ctx: &Ctx,
    browser: &Browser,
    user: &User,
    page: &Page,
    mode: Mode,
    nav: &mut Navigation,
) -> Result<Option<Request>> {
    let body = &page.body;
    match mode {
        Mode::Authorize { interactive } => {
            if let Some(form) = html::login_form(body, &page.url) {
                if !interactive {
                    return Ok(None);
                }
                if nav.logins >= 2 {
                    bail!("the login form came back after submitting credentials (rejected?)");
                }
                nav.logins += 1;
                return Ok(Some(form_request(
                    &form,
                    form.login_submission(&user.username, &user.password),
                )));
            }
            if let Some((form, button)) = html::consent_form(body, &page.url) {
                if !interactive || nav.consents >= 3 {
                    return Ok(None);
                }
                nav.consents += 1;
                return Ok(Some(form_request(
                    &form,
                    form.submission_with(button.as_ref()),
                )));
            }
        }
        Mode::Logout => {
            // Front-channel logout (§2 of the spec): the browser loads every iframe.
            let frames = html::iframe_sources(body, &page.url);
            if !frames.is_empty() {
                for src in &frames {
                    let _ = browser.send(&Request::get(src.clone())).await;
                }
                nav.iframes.extend(frames);
                if let Some(next) = html::continuation(body, &page.url, &ctx.rp.base) {
                    return Ok(Some(Request::get(next)));
                }
                return Ok(None);
            }
            if let Some((form, button)) = html::logout_confirmation(body, &page.url) {
                if nav.confirmations >= 2 {
                    return Ok(None);
                }
                nav.confirmations += 1;
                return Ok(Some(form_request(
                    &form,
                    form.submission_with(button.as_ref()),
                )));
            }
            if let Some(next) = html::continuation(body, &page.url, &ctx.rp.base) {
                return Ok(Some(Request::get(next)));
            }
        }
    }
    Ok(None)
}

/// An authorization request under construction (OIDC Core §3.1.2.1).
#[derive(Debug, Clone)]
pub struct AuthRequest {
    pub params: Vec<(String, String)>,
    pub post: bool,
}

impl AuthRequest {
    /// `response_type=code`, `scope`, the RP's redirect URI, a fresh `state` and `nonce`.
    pub fn code(ctx: &Ctx, client: &Client, scope: &str) -> Self {
        let params = vec![
            ("client_id".to_owned(), client.id.clone()),
            ("redirect_uri".to_owned(), ctx.rp.callback().to_string()),
            ("response_type".to_owned(), "code".to_owned()),
            ("scope".to_owned(), scope.to_owned()),
            ("state".to_owned(), ctx.rng.token(16)),
            ("nonce".to_owned(), ctx.rng.token(16)),
        ];
        AuthRequest {
            params,
            post: false,
        }
    }

    pub fn get(&self, k: &str) -> Option<&str> {
        self.params
            .iter()
            .find(|(n, _)| n == k)
            .map(|(_, v)| v.as_str())
    }

    pub fn set(mut self, k: &str, v: impl Into<String>) -> Self {
        self.params.retain(|(n, _)| n != k);
        self.params.push((k.to_owned(), v.into()));
        self
    }

    pub fn remove(mut self, k: &str) -> Self {
        self.params.retain(|(n, _)| n != k);
        self
    }

    pub fn request(&self, op: &Op) -> Result<Request> {
        let ep = op.endpoint("authorization_endpoint")?;
        if self.post {
            return Ok(Request::post_form(ep, self.params.clone()));
        }
        let mut u = ep;
        u.query_pairs_mut().extend_pairs(self.params.iter());
        Ok(Request::get(u))
    }
}

/// Query (or fragment) parameters of a URL the OP redirected to.
pub fn response_params(u: &Url) -> Vec<(String, String)> {
    let mut p: Vec<(String, String)> = u.query_pairs().into_owned().collect();
    if let Some(f) = u.fragment() {
        p.extend(url::form_urlencoded::parse(f.as_bytes()).into_owned());
    }
    p
}

pub fn param<'a>(p: &'a [(String, String)], k: &str) -> Option<&'a str> {
    p.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str())
}

/// Outcome of an authorization request.
#[derive(Debug, Clone)]
pub struct AuthResult {
    pub nav: Navigation,
    /// Parameters of the redirect to the RP's redirect URI, if it came.
    pub response: Option<Vec<(String, String)>>,
}

impl AuthResult {
    pub fn code(&self) -> Option<&str> {
        self.response.as_deref().and_then(|p| param(p, "code"))
    }

    pub fn error(&self) -> Option<&str> {
        self.response.as_deref().and_then(|p| param(p, "error"))
    }
}

pub async fn authorize(
    ctx: &Ctx,
    browser: &Browser,
    req: &AuthRequest,
    interactive: bool,
) -> Result<AuthResult> {
    let nav = navigate(
        ctx,
        browser,
        &ctx.user,
        req.request(&ctx.op)?,
        Mode::Authorize { interactive },
    )
    .await?;
    let response = nav
        .rp_url()
        .filter(|u| u.path().trim_start_matches('/') == crate::listener::CALLBACK)
        .map(response_params);
    Ok(AuthResult { nav, response })
}

/// Tokens from a completed code flow.
#[derive(Debug, Clone)]
pub struct Tokens {
    pub reply: Reply,
    pub id_token_raw: String,
    pub id_token: Jws,
    pub access_token: String,
    pub refresh_token: Option<String>,
}

impl Tokens {
    pub fn sub(&self) -> Option<&str> {
        self.id_token.claim_str("sub")
    }

    pub fn sid(&self) -> Option<&str> {
        self.id_token.claim_str("sid")
    }
}

/// Checks the authorization response (state, iss per RFC 9207) and redeems the code.
pub async fn redeem(
    c: &mut Checks,
    ctx: &Ctx,
    client: &Client,
    req: &AuthRequest,
    res: &AuthResult,
) -> Result<Tokens> {
    let Some(p) = res.response.as_deref() else {
        bail!(
            "no authorization response at the redirect URI ({})",
            res.nav.describe()
        );
    };
    if let Some(err) = param(p, "error") {
        bail!(
            "authorization error {err}: {}",
            param(p, "error_description").unwrap_or("")
        );
    }
    let code = param(p, "code").context("authorization response has no code")?;
    c.require(
        param(p, "state") == req.get("state"),
        "authorization response state does not match",
    );
    if let Some(iss) = param(p, "iss") {
        c.require(
            iss == ctx.op.issuer,
            "authorization response iss is not the issuer (RFC 9207)",
        );
    } else if ctx
        .op
        .flag("authorization_response_iss_parameter_supported")
    {
        c.fail("iss missing from the authorization response although advertised (RFC 9207)");
    }
    exchange(c, ctx, client, req, code).await
}

/// Redeems `code` at the token endpoint and validates the response and ID token.
pub async fn exchange(
    c: &mut Checks,
    ctx: &Ctx,
    client: &Client,
    req: &AuthRequest,
    code: &str,
) -> Result<Tokens> {
    let redirect = req.get("redirect_uri").unwrap_or_default().to_owned();
    let mut params = vec![
        ("grant_type", "authorization_code"),
        ("code", code),
        ("redirect_uri", redirect.as_str()),
    ];
    if let Some(v) = req.get("code_verifier") {
        params.push(("code_verifier", v));
    }
    let reply = op::token_request(&ctx.http, &ctx.op, client, &params).await?;
    if reply.status != 200 {
        bail!(
            "token endpoint returned HTTP {} {}",
            reply.status,
            reply.json
        );
    }
    token_response_checks(c, &reply);
    let id_token_raw = reply
        .str("id_token")
        .context("token response has no id_token")?
        .to_owned();
    let access_token = reply
        .str("access_token")
        .context("token response has no access_token")?
        .to_owned();
    let refresh_token = reply.str("refresh_token").map(str::to_owned);
    let now = crate::clock::now_epoch();
    let id_token = op::check_id_token(c, &ctx.op, client, &id_token_raw, req.get("nonce"), now)
        .context("ID token unusable")?;
    if let Some(at_hash) = id_token.claim_str("at_hash") {
        c.require(
            at_hash == half_hash(&access_token, id_token.alg()),
            "at_hash does not match the access token",
        );
    }
    Ok(Tokens {
        reply,
        id_token_raw,
        id_token,
        access_token,
        refresh_token,
    })
}

/// RFC 6749 §5.1: JSON, `token_type` Bearer, `Cache-Control: no-store`.
pub fn token_response_checks(c: &mut Checks, reply: &Reply) {
    c.require(
        reply
            .header("content-type")
            .is_some_and(|v| v.contains("application/json")),
        "token response is not application/json",
    );
    c.require(
        reply
            .str("token_type")
            .is_some_and(|t| t.eq_ignore_ascii_case("bearer")),
        "token_type is not Bearer",
    );
    c.require(
        reply
            .header("cache-control")
            .is_some_and(|v| v.contains("no-store")),
        "token response lacks Cache-Control: no-store",
    );
    if let Some(e) = reply.json.get("expires_in") {
        c.require(e.is_number(), "expires_in is not a number");
    }
}

/// OIDC Core §3.1.3.6 at_hash / c_hash: left half of the hash matching the alg's size.
pub fn half_hash(value: &str, alg: Option<&str>) -> String {
    use base64::Engine as _;
    use sha2::Digest as _;
    let digest: Vec<u8> = match alg.unwrap_or("RS256") {
        a if a.ends_with("384") => sha2::Sha384::digest(value.as_bytes()).to_vec(),
        a if a.ends_with("512") || a == "EdDSA" => sha2::Sha512::digest(value.as_bytes()).to_vec(),
        _ => sha2::Sha256::digest(value.as_bytes()).to_vec(),
    };
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(&digest[..digest.len() / 2])
}

/// The common prologue: a fresh browser logs in with `scope` and redeems the code.
pub async fn login(
    c: &mut Checks,
    ctx: &Ctx,
    client: &Client,
    scope: &str,
) -> Result<(Browser, AuthRequest, Tokens)> {
    let browser = ctx.browser()?;
    let req = AuthRequest::code(ctx, client, scope);
    let res = authorize(ctx, &browser, &req, true).await?;
    let tokens = redeem(c, ctx, client, &req, &res).await?;
    Ok((browser, req, tokens))
}

/// The scope that gets a refresh token where the OP advertises `offline_access` (the official
/// refresh module adds `prompt=consent` then, OIDC Core §11).
pub fn offline_request(ctx: &Ctx, client: &Client) -> AuthRequest {
    if ctx.op.lists("scopes_supported", "offline_access") {
        AuthRequest::code(ctx, client, "openid offline_access").set("prompt", "consent")
    } else {
        AuthRequest::code(ctx, client, "openid")
    }
}

/// Sends the browser to `end_session_endpoint` with `params` (RP-Initiated Logout 1.0 §2).
pub async fn end_session(
    ctx: &Ctx,
    browser: &Browser,
    params: &[(&str, &str)],
) -> Result<Navigation> {
    let mut u = ctx.op.endpoint("end_session_endpoint")?;
    if !params.is_empty() {
        u.query_pairs_mut().extend_pairs(params.iter());
    }
    navigate(ctx, browser, &ctx.user, Request::get(u), Mode::Logout).await
}

/// After logout, `prompt=none` must come back with an error of the login_required family.
pub async fn check_logged_out(
    c: &mut Checks,
    ctx: &Ctx,
    browser: &Browser,
    client: &Client,
) -> Result<()> {
    let req = AuthRequest::code(ctx, client, "openid").set("prompt", "none");
    let res = authorize(ctx, browser, &req, false).await?;
    match res.error() {
        Some(e) if PROMPT_NONE_ERRORS.contains(&e) => {}
        Some(e) => c.fail(format!(
            "prompt=none after logout returned {e}, expected login_required or similar"
        )),
        None if res.code().is_some() => {
            c.fail("prompt=none after logout still issued a code: the session survived")
        }
        None => c.fail(format!(
            "prompt=none after logout gave no error redirect: {}",
            res.nav.describe()
        )),
    }
    Ok(())
}

pub const PROMPT_NONE_ERRORS: [&str; 4] = [
    "login_required",
    "interaction_required",
    "account_selection_required",
    "consent_required",
];

/// Does a JSON value carry a non-empty claim?
pub fn has_claim(v: &Value, name: &str) -> bool {
    match v.get(name) {
        None | Some(Value::Null) => false,
        Some(Value::String(s)) => !s.is_empty(),
        Some(_) => true,
    }
}

/// The happy path through a stock `openidconnect` RP: the code is redeemed by `CoreClient`
/// (built from the discovery metadata) and its ID token verified by the crate's own verifier,
/// so "an off-the-shelf RP library works with this OP" is checked, not only our raw client.
pub async fn redeem_with_openidconnect(
    ctx: &Ctx,
    client: &Client,
    req: &AuthRequest,
    res: &AuthResult,
) -> Result<String> {
    use openidconnect::core::{CoreClient, CoreProviderMetadata};
    use openidconnect::{
        AuthType, AuthorizationCode, ClientId, ClientSecret, Nonce, OAuth2TokenResponse as _,
        RedirectUrl,
    };
    let code = res
        .code()
        .context("no code in the authorization response")?;
    let metadata: CoreProviderMetadata = serde_json::from_value(ctx.op.doc.clone())
        .context("discovery does not parse as CoreProviderMetadata")?;
    let metadata = metadata.set_jwks(ctx.op.jwks.clone());
    let rp = CoreClient::from_provider_metadata(
        metadata,
        ClientId::new(client.id.clone()),
        Some(ClientSecret::new(client.secret.clone())),
    )
    .set_redirect_uri(RedirectUrl::new(
        req.get("redirect_uri").unwrap_or_default().to_owned(),
    )?)
    .set_auth_type(match client.auth {
        crate::op::ClientAuth::Basic => AuthType::BasicAuth,
        crate::op::ClientAuth::Post => AuthType::RequestBody,
    });
    let response = rp
        .exchange_code(AuthorizationCode::new(code.to_owned()))?
        .request_async(&ctx.http)
        .await
        .map_err(|e| anyhow::anyhow!("openidconnect code exchange: {e}"))?;
    let id_token = openidconnect::TokenResponse::id_token(&response)
        .context("no id_token in the token response")?;
    let nonce = Nonce::new(req.get("nonce").unwrap_or_default().to_owned());
    let claims = id_token
        .claims(&rp.id_token_verifier(), &nonce)
        .map_err(|e| anyhow::anyhow!("openidconnect rejected the ID token: {e}"))?;
    if response.access_token().secret().is_empty() {
        bail!("empty access token");
    }
    Ok(claims.subject().to_string())
}
