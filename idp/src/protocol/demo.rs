//! A tiny built-in relying party for the `demo` tenant, so a newcomer can click through a real
//! login (code + PKCE with the public client `demo-spa`), see the decoded ID token and the
//! session, and log out, with nothing else installed. It talks to Lanyard over HTTP like any RP.

use super::{error_page, tenant_json, tenant_not_found};
use crate::app::{AppState, State};
use crate::http::{cookies, respond};
use crate::model::Tenant;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use poem::http::StatusCode;
use poem::web::{Data, Path, Query};
use poem::{handler, Request, Response};
use serde::Deserialize;
use serde_json::{json, Value};

pub const DEMO_CLIENT: &str = "demo-spa";

fn cookie_name(slug: &str) -> String {
    format!("lanyard-demo-rp-{slug}")
}

fn redirect_uri(t: &Tenant) -> String {
    format!("{}/demo/callback", t.issuer)
}

#[handler]
pub async fn home(state: Data<&State>, Path(slug): Path<String>) -> Response {
    let tenant = match super::tenant_page(&state, &slug).await {
        Ok(t) => t,
        Err(page) => return page,
    };
    let st = crate::crypto::random_token();
    let verifier = crate::crypto::random_token();
    let nonce = crate::crypto::random_token();
    let challenge = crate::crypto::sha256_b64url(verifier.as_bytes());
    let mut login = match url::Url::parse(&format!("{}/authorize", tenant.issuer)) {
        Ok(u) => u,
        Err(_) => return tenant_not_found(&state),
    };
    login
        .query_pairs_mut()
        .append_pair("response_type", "code")
        .append_pair("client_id", DEMO_CLIENT)
        .append_pair("redirect_uri", &redirect_uri(&tenant))
        .append_pair("scope", "openid profile email")
        .append_pair("state", &st)
        .append_pair("nonce", &nonce)
        .append_pair("code_challenge", &challenge)
        .append_pair("code_challenge_method", "S256");
    let body = state
        .templates
        .render("demo.html", json!({ "tenant": tenant_json(&tenant), "issuer": tenant.issuer, "rp": {"client_id": DEMO_CLIENT}, "login_url": login.as_str() }))
        .unwrap_or_default();
    let mut r = respond::html(StatusCode::OK, body);
    cookies::append(
        &mut r,
        state.cookies.set(
            &cookie_name(&slug),
            &format!("{st}.{verifier}.{nonce}"),
            Some(600),
        ),
    );
    r
}

#[derive(Debug, Deserialize)]
pub struct Callback {
    code: Option<String>,
    state: Option<String>,
    error: Option<String>,
}

#[handler]
pub async fn callback(
    state: Data<&State>,
    Path(slug): Path<String>,
    Query(cb): Query<Callback>,
    req: &Request,
) -> Response {
    let tenant = match super::tenant_page(&state, &slug).await {
        Ok(t) => t,
        Err(page) => return page,
    };
    let fail = |m: &str| {
        error_page(
            &state,
            Some(&tenant),
            StatusCode::BAD_REQUEST,
            "Demo sign-in failed",
            m,
        )
    };
    if let Some(e) = cb.error {
        return fail(&format!("The provider answered: {e}"));
    }
    let Some(saved) = cookies::read(req, &cookie_name(&slug)) else {
        return fail("The demo's state cookie is missing; start again.");
    };
    let parts: Vec<&str> = saved.split('.').collect();
    let [st, verifier, nonce] = parts[..] else {
        return fail("Bad state cookie.");
    };
    if cb.state.as_deref() != Some(st) {
        return fail("The state does not match.");
    }
    let Some(code) = cb.code else {
        return fail("No code.");
    };
    match exchange(&state, &tenant, &code, verifier, nonce).await {
        Ok((claims, userinfo, id_token)) => {
            let logout = format!(
                "{}/end_session?id_token_hint={}&post_logout_redirect_uri={}&state={}",
                tenant.issuer,
                id_token,
                urlencode(&format!("{}/demo/logged-out", tenant.issuer)),
                st
            );
            let body = state
                .templates
                .render("demo_result.html", json!({
                    "tenant": tenant_json(&tenant),
                    "id_token_claims": serde_json::to_string_pretty(&claims).unwrap_or_default(),
                    "userinfo": serde_json::to_string_pretty(&userinfo).unwrap_or_default(),
                    "session": {"sid": claims.get("sid")},
                    "logout_url": logout,
                }))
                .unwrap_or_default();
            respond::html(StatusCode::OK, body)
        }
        Err(m) => fail(&m),
    }
}

fn urlencode(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

async fn exchange(
    state: &AppState,
    tenant: &Tenant,
    code: &str,
    verifier: &str,
    nonce: &str,
) -> Result<(Value, Value, String), String> {
    let form = [
        ("grant_type", "authorization_code"),
        ("code", code),
        ("redirect_uri", &redirect_uri(tenant)),
        ("client_id", DEMO_CLIENT),
        ("code_verifier", verifier),
    ];
    let body = serde_urlencoded::to_string(form).map_err(|e| e.to_string())?;
    let tok: Value = state
        .http
        .post(format!("{}/token", tenant.issuer))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(body)
        .send()
        .await
        .map_err(|e| format!("token request failed: {e}"))?
        .json()
        .await
        .map_err(|e| format!("token response unreadable: {e}"))?;
    let id_token = tok
        .get("id_token")
        .and_then(Value::as_str)
        .ok_or_else(|| format!("no id_token: {tok}"))?;
    let access = tok
        .get("access_token")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let payload = id_token.split('.').nth(1).unwrap_or_default();
    let claims: Value = URL_SAFE_NO_PAD
        .decode(payload)
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .ok_or("ID token payload unreadable")?;
    if claims.get("nonce").and_then(Value::as_str) != Some(nonce) {
        return Err("nonce mismatch".into());
    }
    let userinfo: Value = state
        .http
        .get(format!("{}/userinfo", tenant.issuer))
        .bearer_auth(access)
        .send()
        .await
        .map_err(|e| format!("userinfo failed: {e}"))?
        .json()
        .await
        .map_err(|e| format!("userinfo unreadable: {e}"))?;
    Ok((claims, userinfo, id_token.to_string()))
}

#[handler]
pub async fn logged_out(state: Data<&State>, Path(slug): Path<String>) -> Response {
    let tenant = match super::tenant_page(&state, &slug).await {
        Ok(t) => t,
        Err(page) => return page,
    };
    error_page(
        &state,
        Some(&tenant),
        StatusCode::OK,
        "Signed out",
        "The demo app received the post-logout redirect. You are logged out.",
    )
}
