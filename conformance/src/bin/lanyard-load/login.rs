//! One interactive login: an authorization request with PKCE S256 (RFC 7636), driven through
//! the provider's own HTML login and consent forms with a fresh cookie jar, redirects followed
//! by hand until the redirect URI, then the code exchange at the token endpoint.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use rand::rngs::OsRng;
use rand::RngCore as _;
use reqwest::cookie::{CookieStore as _, Jar};
use reqwest::header::{HeaderValue, ACCEPT, COOKIE, LOCATION, ORIGIN, REFERER, SET_COOKIE};
use reqwest::{Method, StatusCode};
use sha2::{Digest as _, Sha256};
use url::Url;

use crate::form::{self, FormMethod, PageForm, Typed};
use crate::oauth::{self, ClientCredentials, TokenResponse};
use crate::stats::Failure;
use crate::target::Target;

/// Requests one login may take (authorize, redirects, login, consent) before giving up.
const MAX_HOPS: usize = 20;
/// Consent pages one login may pass through.
const MAX_CONSENTS: usize = 3;

/// What to ask for in one login.
#[derive(Debug, Clone, Copy)]
pub struct LoginRequest<'a> {
    pub client: &'a ClientCredentials,
    pub scope: &'a str,
}

/// Signs the user in once, with a fresh cookie jar (a new session), and exchanges the code; the
/// returned tokens include an ID token.
pub async fn login(target: &Target, request: LoginRequest<'_>) -> Result<TokenResponse, Failure> {
    exchange(target, &Jar::default(), request, Sign::In).await
}

/// Whether the walk may sign in with the login form.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Sign {
    In,
    /// Single sign-on: the session cookie must be enough; a login form is a failure.
    OnAlready,
}

/// A login through the cookies of `jar`, which keeps what the provider sets (its session).
pub async fn login_with(
    target: &Target,
    jar: &Jar,
    request: LoginRequest<'_>,
) -> Result<TokenResponse, Failure> {
    exchange(target, jar, request, Sign::In).await
}

/// Single sign-on: an authorization request answered from the session cookie in `jar` (no login
/// form: one is a failure, so a provider that forgot the session is not measured as SSO), then
/// the code exchange.
pub async fn sso(
    target: &Target,
    jar: &Jar,
    request: LoginRequest<'_>,
) -> Result<TokenResponse, Failure> {
    exchange(target, jar, request, Sign::OnAlready).await
}

async fn exchange(
    target: &Target,
    jar: &Jar,
    request: LoginRequest<'_>,
    sign: Sign,
) -> Result<TokenResponse, Failure> {
    let verifier = random_token();
    let state = random_token();
    let nonce = random_token();
    let start = authorization_url(target, request, &state, &nonce, &pkce_challenge(&verifier));
    let code = drive_to_redirect(target, jar, start, &state, sign).await?;
    let form = vec![
        ("grant_type", "authorization_code".to_owned()),
        ("code", code),
        ("redirect_uri", target.redirect_uri.clone()),
        ("code_verifier", verifier),
    ];
    let tokens = oauth::token_request(target, request.client, form, "code exchange").await?;
    if tokens.id_token.is_none() {
        return Err(Failure::new("code exchange: no id_token"));
    }
    Ok(tokens)
}

/// The authorization request (OIDC Core §3.1.2.1). `offline_access` is only granted after
/// consent was asked for (§11), so it brings `prompt=consent` along.
fn authorization_url(
    target: &Target,
    request: LoginRequest<'_>,
    state: &str,
    nonce: &str,
    challenge: &str,
) -> Url {
    let mut url = target.endpoints.authorization.clone();
    {
        let mut query = url.query_pairs_mut();
        query
            .append_pair("response_type", "code")
            .append_pair("client_id", &request.client.client_id)
            .append_pair("redirect_uri", &target.redirect_uri)
            .append_pair("scope", request.scope)
            .append_pair("state", state)
            .append_pair("nonce", nonce)
            .append_pair("code_challenge", challenge)
            .append_pair("code_challenge_method", "S256");
        if request.scope.split(' ').any(|s| s == "offline_access") {
            query.append_pair("prompt", "consent");
        }
    }
    url
}

/// One request of the browser-like walk.
struct Hop {
    stage: &'static str,
    method: Method,
    url: Url,
    form: Option<Vec<(String, String)>>,
    /// The page a form was submitted from: sent as `Origin` and `Referer`, as browsers do.
    from: Option<Url>,
}

impl Hop {
    fn get(stage: &'static str, url: Url) -> Self {
        Self {
            stage,
            method: Method::GET,
            url,
            form: None,
            from: None,
        }
    }

    fn submit(stage: &'static str, submission: form::Submission, page: Url) -> Self {
        match submission.method {
            FormMethod::Post => Self {
                stage,
                method: Method::POST,
                url: submission.action,
                form: Some(submission.fields),
                from: Some(page),
            },
            FormMethod::Get => {
                let mut url = submission.action;
                url.query_pairs_mut()
                    .clear()
                    .extend_pairs(&submission.fields);
                Self {
                    stage,
                    method: Method::GET,
                    url,
                    form: None,
                    from: Some(page),
                }
            }
        }
    }
}

/// Walks from the authorization request through login (and consent) until the provider
/// redirects to the redirect URI; returns the authorization code.
async fn drive_to_redirect(
    target: &Target,
    jar: &Jar,
    start: Url,
    state: &str,
    sign: Sign,
) -> Result<String, Failure> {
    let typed = Typed {
        username: &target.user.username,
        password: &target.user.password,
    };
    let mut hop = Hop::get("authorize", start);
    let mut logged_in = false;
    let mut consents = 0;
    for _ in 0..MAX_HOPS {
        target.check_host(&hop.url)?;
        let response = send(target, jar, &hop).await?;
        let status = response.status();
        if status.is_redirection() {
            let location = response
                .headers()
                .get(LOCATION)
                .and_then(|v| v.to_str().ok())
                .ok_or_else(|| Failure::new(format!("{}: redirect without Location", hop.stage)))?;
            let next = hop
                .url
                .join(location)
                .map_err(|_| Failure::new(format!("{}: unparsable Location", hop.stage)))?;
            if next.as_str().starts_with(&target.redirect_uri) {
                return parse_callback(&next, state, &target.endpoints.issuer);
            }
            hop = match status {
                // RFC 9110 §15.4.8/§15.4.9: 307 and 308 repeat the method and body.
                StatusCode::TEMPORARY_REDIRECT | StatusCode::PERMANENT_REDIRECT => {
                    Hop { url: next, ..hop }
                }
                _ => Hop::get("redirect", next),
            };
            continue;
        }
        if !status.is_success() {
            return Err(oauth::failure_from_response(hop.stage, response).await);
        }
        let page = response.url().clone();
        let html = response
            .text()
            .await
            .map_err(|e| oauth::transport_failure(hop.stage, &e))?;
        let found = form::resolve_page_form(&html, &page, typed)
            .map_err(|e| Failure::with_detail("unreadable page", e.to_string()))?;
        hop = match found {
            PageForm::Login(_) if logged_in => {
                return Err(Failure::with_detail(
                    "login form shown again (credentials refused?)",
                    format!("login form shown again at {}", page.path()),
                ));
            }
            PageForm::Login(_) if sign == Sign::OnAlready => {
                return Err(Failure::new(
                    "sso: the provider asked for the password again (session not reused)",
                ));
            }
            PageForm::Login(submission) => {
                logged_in = true;
                Hop::submit("login", submission, page)
            }
            PageForm::Consent(_) if consents >= MAX_CONSENTS => {
                return Err(Failure::new("consent asked too many times"));
            }
            PageForm::Consent(submission) => {
                consents += 1;
                Hop::submit("consent", submission, page)
            }
            PageForm::Nothing => {
                let excerpt: String = form::visible_text(&html).chars().take(300).collect();
                return Err(Failure::with_detail(
                    format!("{}: page without login or consent form", hop.stage),
                    format!("no form at {}: {excerpt}", page.path()),
                ));
            }
        };
    }
    Err(Failure::new("too many hops before the redirect URI"))
}

/// Sends one hop with the cookies of this login's jar and stores the cookies it sets.
async fn send(target: &Target, jar: &Jar, hop: &Hop) -> Result<reqwest::Response, Failure> {
    let mut request = target
        .http
        .request(hop.method.clone(), hop.url.clone())
        .header(
            ACCEPT,
            HeaderValue::from_static("text/html,application/xhtml+xml"),
        );
    if let Some(cookies) = jar.cookies(&hop.url) {
        request = request.header(COOKIE, cookies);
    }
    if let Some(from) = &hop.from {
        request = request
            .header(ORIGIN, from.origin().ascii_serialization())
            .header(REFERER, from.as_str());
    }
    if let Some(fields) = &hop.form {
        request = request.form(fields);
    }
    let response = request
        .send()
        .await
        .map_err(|e| oauth::transport_failure(hop.stage, &e))?;
    let mut set = response.headers().get_all(SET_COOKIE).iter();
    jar.set_cookies(&mut set, &hop.url);
    Ok(response)
}

/// Reads the authorization response (RFC 6749 §4.1.2): checks `state`, the RFC 9207 `iss`
/// when present, and returns the code.
fn parse_callback(url: &Url, state: &str, issuer: &str) -> Result<String, Failure> {
    let mut code = None;
    let mut got_state = None;
    let mut iss = None;
    let mut error = None;
    for (key, value) in url.query_pairs() {
        match key.as_ref() {
            "code" => code = Some(value.into_owned()),
            "state" => got_state = Some(value.into_owned()),
            "iss" => iss = Some(value.into_owned()),
            "error" => error = Some(value.into_owned()),
            _ => {}
        }
    }
    if let Some(error) = error {
        let error: String = error
            .chars()
            .filter(char::is_ascii_graphic)
            .take(64)
            .collect();
        return Err(Failure::new(format!("authorization error: {error}")));
    }
    if got_state.as_deref() != Some(state) {
        return Err(Failure::new("authorization response: state mismatch"));
    }
    if iss.is_some_and(|iss| iss != issuer) {
        return Err(Failure::new("authorization response: iss mismatch"));
    }
    code.filter(|c| !c.is_empty())
        .ok_or_else(|| Failure::new("authorization response: no code"))
}

/// 256 random bits, base64url: used for the PKCE verifier, `state` and `nonce`.
fn random_token() -> String {
    let mut bytes = [0u8; 32];
    OsRng.fill_bytes(&mut bytes);
    URL_SAFE_NO_PAD.encode(bytes)
}

/// `code_challenge = BASE64URL(SHA256(code_verifier))` (RFC 7636 §4.2).
fn pkce_challenge(verifier: &str) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pkce_matches_rfc7636_appendix_b() {
        assert_eq!(
            pkce_challenge("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"),
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
        );
    }

    #[test]
    fn random_tokens_are_43_chars_and_differ() {
        let (a, b) = (random_token(), random_token());
        assert_eq!(a.len(), 43);
        assert_ne!(a, b);
    }

    fn cb(query: &str) -> Url {
        Url::parse(&format!("http://127.0.0.1:9/cb?{query}")).unwrap()
    }

    const ISS: &str = "http://127.0.0.1:3000";

    #[test]
    fn callback_returns_code_and_checks_state_and_iss() {
        assert_eq!(
            parse_callback(
                &cb("code=abc&state=s1&iss=http%3A%2F%2F127.0.0.1%3A3000"),
                "s1",
                ISS
            )
            .unwrap(),
            "abc"
        );
        assert_eq!(
            parse_callback(&cb("code=abc&state=s1"), "s1", ISS).unwrap(),
            "abc"
        );
        let wrong_state = parse_callback(&cb("code=abc&state=s2"), "s1", ISS).unwrap_err();
        assert_eq!(wrong_state.kind, "authorization response: state mismatch");
        let wrong_iss = parse_callback(&cb("code=abc&state=s1&iss=http://evil"), "s1", ISS);
        assert_eq!(
            wrong_iss.unwrap_err().kind,
            "authorization response: iss mismatch"
        );
        let err = parse_callback(&cb("error=access_denied&state=s1"), "s1", ISS).unwrap_err();
        assert_eq!(err.kind, "authorization error: access_denied");
        let none = parse_callback(&cb("state=s1"), "s1", ISS).unwrap_err();
        assert_eq!(none.kind, "authorization response: no code");
    }

    #[test]
    fn get_form_submission_replaces_the_query() {
        let submission = form::Submission {
            method: FormMethod::Get,
            action: Url::parse("http://127.0.0.1/x?old=1").unwrap(),
            fields: vec![("a".into(), "b c".into())],
        };
        let page = Url::parse("http://127.0.0.1/page").unwrap();
        let hop = Hop::submit("consent", submission, page);
        assert_eq!(hop.url.as_str(), "http://127.0.0.1/x?a=b+c");
        assert_eq!(hop.method, Method::GET);
        assert!(hop.form.is_none());
    }
}
