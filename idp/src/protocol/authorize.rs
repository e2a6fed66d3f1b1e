//! Authorization endpoint (OIDC Core §3.1.2, RFC 6749 §4.1.1, RFC 7636, RFC 9207).
//!
//! Pipeline: tenant -> parameters -> client and redirect URI (errors rendered, never redirected)
//! -> request rules (errors redirected with `iss`) -> remember the request -> decide interaction
//! (login / consent / issue) with the browser's session -> respond.

use super::{current_session, error_page, load_client, load_tenant, read_params, tenant_not_found};
use crate::app::{AppState, State};
use crate::clock::UnixTime;
use crate::error::{Rejection, Result};
use crate::http::{respond, Params, RequestContext};
use crate::model::{Client, Tenant};
use crate::store;
use crate::store::sessions::SessionRow;
use crate::tokens::{self, code::CODE_TTL_SECS, pkce};
use poem::http::StatusCode;
use poem::web::{Data, Path};
use poem::{handler, Body, Request, Response};
use serde::{Deserialize, Serialize};

/// Pending authorization requests expire if the user does not finish within this time.
pub const REQUEST_TTL_SECS: i64 = 30 * 60;

/// A validated authorization request, remembered while the user logs in or consents.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct AuthRequest {
    pub client_id: String,
    pub redirect_uri: String,
    pub scope: String,
    pub state: Option<String>,
    pub nonce: Option<String>,
    pub code_challenge: Option<String>,
    pub prompt: Vec<String>,
    pub max_age: Option<i64>,
    pub login_hint: Option<String>,
    /// `sub` of a valid `id_token_hint`.
    pub hint_sub: Option<String>,
    pub acr_values: Option<String>,
}

/// Scopes Lanyard knows; others are ignored (RFC 6749 §3.3 lets the server narrow the scope).
const KNOWN_SCOPES: &[&str] = &["openid", "profile", "email", "offline_access", "groups"];

#[handler]
pub async fn handle(
    state: Data<&State>,
    Path(slug): Path<String>,
    req: &Request,
    body: Body,
) -> Response {
    let ctx = RequestContext::from_request(req, state.clock.as_ref());
    let tenant = match load_tenant(&state, &slug).await {
        Ok(Some(t)) => t,
        Ok(None) => return tenant_not_found(&state),
        Err(e) => return super::page_error(&state, None, e),
    };
    let params = match read_params(req, body).await {
        Ok(p) => p,
        Err(r) => return super::page_error(&state, Some(&tenant), r.into()),
    };
    let (client, redirect_uri) = match validate_client_and_redirect(&state, &tenant, &params).await
    {
        Ok(Ok(v)) => v,
        Ok(Err(message)) => {
            return error_page(
                &state,
                Some(&tenant),
                StatusCode::BAD_REQUEST,
                "Invalid request",
                message,
            )
        }
        Err(e) => return super::page_error(&state, Some(&tenant), e),
    };
    let state_param = params.get("state").map(str::to_string);
    let request = match parse_request(&state, &tenant, &params, &client, &redirect_uri, ctx.now_ms)
        .await
    {
        Ok(r) => r,
        Err(rej) => return redirect_error(&tenant, &redirect_uri, state_param.as_deref(), &rej),
    };
    let session = match current_session(&state, &tenant, req, &ctx).await {
        Ok(s) => s,
        Err(e) => return super::page_error(&state, Some(&tenant), e),
    };
    match remember(&state, &tenant, &request, ctx.now).await {
        Ok(id) => {
            continue_authorization(
                &state,
                &tenant,
                &client,
                &id,
                request,
                session.as_ref(),
                Fresh::default(),
                &ctx,
            )
            .await
        }
        Err(e) => super::page_error(&state, Some(&tenant), e),
    }
}

/// Step 1: the client must exist and the redirect URI must exactly match a registered one
/// (OAuth 2.0 Security BCP §4.1.3). Failures here are rendered: redirecting would make Lanyard
/// an open redirector (RFC 6749 §4.1.2.1).
async fn validate_client_and_redirect(
    state: &AppState,
    tenant: &Tenant,
    p: &Params,
) -> Result<std::result::Result<(Client, String), &'static str>> {
    if matches!(p.duplicate(), Some("client_id" | "redirect_uri")) {
        return Ok(Err("The client_id or redirect_uri parameter was repeated."));
    }
    let Some(client_id) = p.get("client_id") else {
        return Ok(Err("The request has no client_id."));
    };
    let Some(client) = load_client(state, tenant, client_id).await? else {
        return Ok(Err("The client is not registered."));
    };
    let Some(redirect_uri) = p.get("redirect_uri") else {
        return Ok(Err("The request has no redirect_uri."));
    };
    if !client.redirect_uris.iter().any(|u| u == redirect_uri) {
        return Ok(Err("The redirect_uri is not registered for this client."));
    }
    if !client.allows_grant("authorization_code") {
        return Ok(Err("This client may not use the authorization code flow."));
    }
    Ok(Ok((client, redirect_uri.to_string())))
}

/// Step 2: the request's own rules. Errors are returned to the validated redirect URI.
async fn parse_request(
    state: &AppState,
    tenant: &Tenant,
    p: &Params,
    client: &Client,
    redirect_uri: &str,
    now_ms: i64,
) -> std::result::Result<AuthRequest, Rejection> {
    p.reject_duplicates()?;
    match p.get("response_type") {
        None => return Err(Rejection::Malformed("response_type")),
        Some("code") => {}
        Some(_) => return Err(Rejection::UnsupportedResponseType),
    }
    if p.get("response_mode").is_some_and(|m| m != "query") {
        return Err(Rejection::Malformed("response_mode"));
    }
    // OIDC Core §6: we do not support request objects; say so rather than ignore them.
    if p.get("request").is_some() {
        return Err(Rejection::RequestNotSupported);
    }
    if p.get("request_uri").is_some() {
        return Err(Rejection::RequestUriNotSupported);
    }
    if p.get("registration").is_some() {
        return Err(Rejection::RegistrationNotSupported);
    }
    let requested: Vec<&str> = p
        .get("scope")
        .unwrap_or("")
        .split(' ')
        .filter(|s| !s.is_empty())
        .collect();
    if !requested.contains(&"openid") {
        return Err(Rejection::InvalidScope);
    }
    let scope = KNOWN_SCOPES
        .iter()
        .filter(|s| requested.contains(s))
        .copied()
        .collect::<Vec<_>>()
        .join(" ");
    let prompt: Vec<String> = p
        .get("prompt")
        .unwrap_or("")
        .split(' ')
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect();
    if prompt
        .iter()
        .any(|v| !matches!(v.as_str(), "none" | "login" | "consent" | "select_account"))
    {
        return Err(Rejection::Malformed("prompt"));
    }
    // OIDC Core §3.1.2.1: none with any other value is an error.
    if prompt.len() > 1 && prompt.iter().any(|v| v == "none") {
        return Err(Rejection::Malformed("prompt"));
    }
    let max_age = match p.get("max_age") {
        None => None,
        Some(v) => Some(
            v.parse::<i64>()
                .ok()
                .filter(|v| *v >= 0)
                .ok_or(Rejection::Malformed("max_age"))?,
        ),
    };
    let code_challenge = pkce::decide_challenge(
        p.get("code_challenge"),
        p.get("code_challenge_method"),
        client.is_public(),
    )
    .map_err(|_| {
        if client.is_public() && p.get("code_challenge").is_none() {
            Rejection::PkceRequired
        } else {
            Rejection::Malformed("code_challenge")
        }
    })?;
    let hint_sub = match p.get("id_token_hint") {
        None => None,
        Some(h) => Some(verify_id_token_hint(state, tenant, h, now_ms).await?),
    };
    Ok(AuthRequest {
        client_id: client.client_id.clone(),
        redirect_uri: redirect_uri.to_string(),
        scope,
        state: p.get("state").map(str::to_string),
        nonce: p.get("nonce").map(str::to_string),
        code_challenge,
        prompt,
        max_age,
        login_hint: p.get("login_hint").map(str::to_string),
        hint_sub,
        acr_values: p.get("acr_values").map(str::to_string),
    })
}

/// An `id_token_hint` must be an ID token we issued (expired is fine: OIDC Core §3.1.2.1).
async fn verify_id_token_hint(
    state: &AppState,
    tenant: &Tenant,
    hint: &str,
    now_ms: i64,
) -> std::result::Result<String, Rejection> {
    let keys = state
        .keys
        .get(&state.read, &tenant.id, now_ms)
        .await
        .map_err(|_| Rejection::Unavailable)?;
    let v = tokens::verify(&keys, hint, now_ms / 1000)
        .map_err(|_| Rejection::Malformed("id_token_hint"))?;
    if tokens::claim_str(&v.claims, "iss") != Some(tenant.issuer.as_str()) {
        return Err(Rejection::Malformed("id_token_hint"));
    }
    tokens::claim_str(&v.claims, "sub")
        .map(str::to_string)
        .ok_or(Rejection::Malformed("id_token_hint"))
}

async fn remember(
    state: &AppState,
    tenant: &Tenant,
    r: &AuthRequest,
    now: UnixTime,
) -> Result<String> {
    let id = crate::crypto::random_token();
    store::grants::insert_request(
        &state.db,
        store::grants::AuthRequestRow {
            id: id.clone(),
            tenant_id: tenant.id.clone(),
            params: serde_json::to_string(r)?,
            created_at: now,
            expires_at: now + REQUEST_TTL_SECS,
        },
    )
    .await?;
    Ok(id)
}

/// What the user has just done in this flow (so `prompt=login` / `prompt=consent` are satisfied).
#[derive(Debug, Clone, Copy, Default)]
pub struct Fresh {
    pub authenticated: bool,
    pub consented: bool,
}

/// What must happen next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Interaction {
    Login,
    Consent,
    Issue,
    Fail(Rejection),
}

/// The session facts the decision needs.
#[derive(Debug, Clone)]
pub struct SessionFacts<'a> {
    pub user_id: &'a str,
    pub auth_time: UnixTime,
}

/// Decide the interaction (OIDC Core §3.1.2.1 prompt and max_age, §3.1.2.3).
pub fn decide_interaction(
    session: Option<&SessionFacts<'_>>,
    r: &AuthRequest,
    first_party: bool,
    consented_before: bool,
    fresh: Fresh,
    now: UnixTime,
) -> Interaction {
    let prompt_none = r.prompt.iter().any(|p| p == "none");
    let need_login = match session {
        None => true,
        Some(s) if fresh.authenticated => r.hint_sub.as_deref().is_some_and(|h| h != s.user_id),
        Some(s) => {
            r.prompt
                .iter()
                .any(|p| p == "login" || p == "select_account")
                || r.max_age.is_some_and(|m| now - s.auth_time > m)
                || r.hint_sub.as_deref().is_some_and(|h| h != s.user_id)
        }
    };
    if need_login {
        return if prompt_none {
            Interaction::Fail(Rejection::LoginRequired)
        } else {
            Interaction::Login
        };
    }
    let need_consent = !first_party
        && !fresh.consented
        && (!consented_before || r.prompt.iter().any(|p| p == "consent"));
    if need_consent {
        return if prompt_none {
            Interaction::Fail(Rejection::ConsentRequired)
        } else {
            Interaction::Consent
        };
    }
    Interaction::Issue
}

/// Decide and carry out the next step of a remembered request.
#[allow(clippy::too_many_arguments)]
pub async fn continue_authorization(
    state: &AppState,
    tenant: &Tenant,
    client: &Client,
    request_id: &str,
    r: AuthRequest,
    session: Option<&SessionRow>,
    fresh: Fresh,
    ctx: &RequestContext,
) -> Response {
    let consented_before = match session {
        Some(s) => match store::sessions::list_participants(&state.db, &tenant.id, &s.id).await {
            Ok(p) => p.contains(&client.id),
            Err(e) => return super::page_error(state, Some(tenant), e.into()),
        },
        None => false,
    };
    let facts = session.map(|s| SessionFacts {
        user_id: &s.user_id,
        auth_time: s.auth_time,
    });
    match decide_interaction(
        facts.as_ref(),
        &r,
        client.first_party,
        consented_before,
        fresh,
        ctx.now,
    ) {
        Interaction::Fail(rej) => {
            let _ = store::grants::delete_request(&state.db, &tenant.id, request_id).await;
            redirect_error(tenant, &r.redirect_uri, r.state.as_deref(), &rej)
        }
        Interaction::Login => {
            respond::redirect(&format!("{}/login?req={request_id}", tenant_path(tenant)))
        }
        Interaction::Consent => super::consent::page(state, tenant, client, request_id, &r, ctx),
        Interaction::Issue => match session {
            Some(s) => match issue_code(state, tenant, client, request_id, &r, s, ctx).await {
                Ok(resp) => resp,
                Err(e) => super::page_error(state, Some(tenant), e),
            },
            None => redirect_error(
                tenant,
                &r.redirect_uri,
                r.state.as_deref(),
                &Rejection::LoginRequired,
            ),
        },
    }
}

pub fn tenant_path(t: &Tenant) -> String {
    format!("/t/{}", t.slug)
}

/// Issue a code bound to client, redirect URI, PKCE challenge and session (RFC 6749 §4.1.2).
async fn issue_code(
    state: &AppState,
    tenant: &Tenant,
    client: &Client,
    request_id: &str,
    r: &AuthRequest,
    s: &SessionRow,
    ctx: &RequestContext,
) -> Result<Response> {
    use crate::store::TransactionTrait;
    let code = crate::crypto::random_token();
    let policy = tenant.policy();
    let txn = state.db.begin().await?;
    store::grants::insert_code(
        &txn,
        store::grants::CodeRow {
            code_hash: state.hasher.hash("code", &code),
            tenant_id: tenant.id.clone(),
            client_id: client.id.clone(),
            session_id: s.id.clone(),
            user_id: s.user_id.clone(),
            redirect_uri: r.redirect_uri.clone(),
            scope: r.scope.clone(),
            nonce: r.nonce.clone(),
            code_challenge: r.code_challenge.clone(),
            auth_time: s.auth_time,
            acr: s.acr.clone(),
            amr: s.amr.clone(),
            created_at: ctx.now,
            expires_at: ctx.now + CODE_TTL_SECS,
            state: store::grants::CODE_ISSUED.into(),
            family_id: None,
            access_jti: None,
        },
    )
    .await?;
    store::sessions::upsert_participant(&txn, &tenant.id, &s.id, &client.id, ctx.now).await?;
    let idle = crate::session::touched_idle_deadline(&policy, s.absolute_deadline, ctx.now);
    store::sessions::mark_active(&txn, &tenant.id, &s.id, ctx.now, idle).await?;
    store::grants::delete_request(&txn, &tenant.id, request_id).await?;
    txn.commit().await?;
    let mut params = vec![("code", code.as_str())];
    if let Some(st) = r.state.as_deref() {
        params.push(("state", st));
    }
    params.push(("iss", tenant.issuer.as_str()));
    Ok(respond::redirect_with(&r.redirect_uri, &params))
}

/// An error redirected to the validated redirect URI with `state` and RFC 9207 `iss`.
pub fn redirect_error(
    tenant: &Tenant,
    redirect_uri: &str,
    state: Option<&str>,
    rej: &Rejection,
) -> Response {
    let e = rej.oauth();
    let mut params = vec![("error", e.error), ("error_description", e.description)];
    if let Some(s) = state {
        params.push(("state", s));
    }
    params.push(("iss", tenant.issuer.as_str()));
    respond::redirect_with(redirect_uri, &params)
}

/// Load a remembered request.
pub async fn load_request(
    state: &AppState,
    tenant: &Tenant,
    id: &str,
    now: UnixTime,
) -> Result<Option<AuthRequest>> {
    let Some(row) = store::grants::find_request(&state.db, &tenant.id, id, now).await? else {
        return Ok(None);
    };
    Ok(Some(serde_json::from_str(&row.params)?))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(prompt: &[&str], max_age: Option<i64>) -> AuthRequest {
        AuthRequest {
            client_id: "c".into(),
            redirect_uri: "https://rp/cb".into(),
            scope: "openid".into(),
            state: None,
            nonce: None,
            code_challenge: None,
            prompt: prompt.iter().map(|s| s.to_string()).collect(),
            max_age,
            login_hint: None,
            hint_sub: None,
            acr_values: None,
        }
    }
    const S: SessionFacts<'static> = SessionFacts {
        user_id: "u1",
        auth_time: 100,
    };
    const NOW: i64 = 200;
    fn none() -> Fresh {
        Fresh::default()
    }

    #[test]
    fn no_session_needs_login_or_fails_with_prompt_none() {
        assert_eq!(
            decide_interaction(None, &req(&[], None), true, false, none(), NOW),
            Interaction::Login
        );
        assert_eq!(
            decide_interaction(None, &req(&["none"], None), true, false, none(), NOW),
            Interaction::Fail(Rejection::LoginRequired)
        );
    }

    #[test]
    fn sso_session_issues_without_ui() {
        assert_eq!(
            decide_interaction(Some(&S), &req(&[], None), true, false, none(), NOW),
            Interaction::Issue
        );
        assert_eq!(
            decide_interaction(Some(&S), &req(&["none"], None), true, false, none(), NOW),
            Interaction::Issue
        );
    }

    #[test]
    fn prompt_login_forces_reauthentication_once() {
        assert_eq!(
            decide_interaction(Some(&S), &req(&["login"], None), true, false, none(), NOW),
            Interaction::Login
        );
        let fresh = Fresh {
            authenticated: true,
            consented: false,
        };
        assert_eq!(
            decide_interaction(Some(&S), &req(&["login"], None), true, false, fresh, NOW),
            Interaction::Issue
        );
    }

    #[test]
    fn max_age_elapsed_forces_login() {
        assert_eq!(
            decide_interaction(Some(&S), &req(&[], Some(100)), true, false, none(), NOW),
            Interaction::Issue
        );
        assert_eq!(
            decide_interaction(Some(&S), &req(&[], Some(99)), true, false, none(), NOW),
            Interaction::Login
        );
        assert_eq!(
            decide_interaction(Some(&S), &req(&["none"], Some(1)), true, false, none(), NOW),
            Interaction::Fail(Rejection::LoginRequired)
        );
        assert_eq!(
            decide_interaction(Some(&S), &req(&[], Some(0)), true, false, none(), NOW),
            Interaction::Login
        );
    }

    #[test]
    fn id_token_hint_for_another_user_needs_login() {
        let mut r = req(&["none"], None);
        r.hint_sub = Some("u2".into());
        assert_eq!(
            decide_interaction(Some(&S), &r, true, false, none(), NOW),
            Interaction::Fail(Rejection::LoginRequired)
        );
        r.hint_sub = Some("u1".into());
        assert_eq!(
            decide_interaction(Some(&S), &r, true, false, none(), NOW),
            Interaction::Issue
        );
    }

    #[test]
    fn third_party_clients_need_consent_once_per_session() {
        assert_eq!(
            decide_interaction(Some(&S), &req(&[], None), false, false, none(), NOW),
            Interaction::Consent
        );
        assert_eq!(
            decide_interaction(Some(&S), &req(&[], None), false, true, none(), NOW),
            Interaction::Issue
        );
        assert_eq!(
            decide_interaction(Some(&S), &req(&["consent"], None), false, true, none(), NOW),
            Interaction::Consent
        );
        assert_eq!(
            decide_interaction(Some(&S), &req(&["none"], None), false, false, none(), NOW),
            Interaction::Fail(Rejection::ConsentRequired)
        );
        let fresh = Fresh {
            authenticated: false,
            consented: true,
        };
        assert_eq!(
            decide_interaction(Some(&S), &req(&["consent"], None), false, true, fresh, NOW),
            Interaction::Issue
        );
    }
}
