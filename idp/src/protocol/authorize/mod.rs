//! Authorization endpoint (OIDC Core §3.1.2, RFC 6749 §4.1.1, RFC 7636, RFC 9207).
//!
//! Pipeline: tenant -> parameters -> client and redirect URI (errors rendered, never redirected)
//! -> request rules (errors redirected with `iss`) -> remember the request -> decide interaction
//! (login / consent / issue) with the browser's session -> admission when the session joins a
//! client whose rule limits sessions -> issue -> respond.
//!
//! The request's progress (which session completed its login step, a pending admission) is kept
//! server-side in the remembered request: a later step can never claim a login that did not
//! happen in this request.

use super::{context, error_page, load_client, load_tenant, read_params, tenant_not_found};
use crate::app::{AppState, State};
use crate::clock::UnixTime;
use crate::error::{Rejection, Result};
use crate::http::{respond, Params, RequestContext};
use crate::model::{Client, Tenant};
use crate::session::service::{self as sessions, Admission};
use crate::session::stepup::StepDecision;
use crate::session::Session;
use crate::store;
use crate::tokens::{self, pkce};
use poem::http::StatusCode;
use poem::web::{Data, Path};
use poem::{handler, Body, Request, Response};

mod interaction;
mod request;

pub use interaction::{decide_interaction, fresh_for, Fresh, Interaction, SessionFacts};
use request::KNOWN_SCOPES;
pub use request::{
    AuthRequest, Pending, PendingKind, PortalReturn, Progress, PENDING_TTL_SECS, REQUEST_TTL_SECS,
};

#[handler]
pub async fn handle(
    state: Data<&State>,
    Path(slug): Path<String>,
    req: &Request,
    body: Body,
) -> Response {
    let ctx = context(&state, req);
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
    let failed = |e: crate::error::Error| {
        fail_after_validation(&state, &tenant, &redirect_uri, state_param.as_deref(), e)
    };
    let session = match sessions::resolve(&state, &tenant, &ctx).await {
        Ok(s) => s.live(),
        Err(e) => return failed(e),
    };
    // SSO (OIDC Core §3.1.2.3: the End-User is already authenticated): a session that already
    // takes part in this client and needs no other step gets its code at once; the request is
    // never stored. Anything else is remembered and decided step by step.
    if let Some(s) = session.as_ref() {
        match answer_from_session(&state, &tenant, &client, &request, s, &ctx).await {
            Ok(Some(response)) => return response,
            Ok(None) => {}
            Err(e) => return failed(e),
        }
    }
    match remember(&state, &tenant, &request, ctx.now).await {
        Ok(id) => {
            continue_authorization(
                &state,
                &tenant,
                &client,
                &id,
                request,
                session.as_ref(),
                false,
                &ctx,
            )
            .await
        }
        Err(e) => failed(e),
    }
}

/// A failure once the redirect URI is validated. An unreachable store goes back to the client
/// as `temporarily_unavailable` (RFC 6749 §4.1.2.1: "unable to handle the request due to a
/// temporary overloading or maintenance"), which it can show or retry; anything else is a page.
fn fail_after_validation(
    state: &AppState,
    tenant: &Tenant,
    redirect_uri: &str,
    state_param: Option<&str>,
    e: crate::error::Error,
) -> Response {
    if e.is_store_unavailable() {
        tracing::warn!(error = %e, "authorize: store unavailable");
        return redirect_error(tenant, redirect_uri, state_param, &Rejection::Unavailable);
    }
    super::page_error(state, Some(tenant), e)
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
    if !client.accepts_redirect_uri(redirect_uri) {
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
    // OIDC Core §3.1.2.1: `display` is one of four ASCII values; anything else is an error
    // rather than ignored, like the other enumerations (`prompt` above, `response_mode`).
    if p.get("display")
        .is_some_and(|d| !matches!(d, "page" | "popup" | "touch" | "wap"))
    {
        return Err(Rejection::Malformed("display"));
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
        claims: match p.get("claims") {
            None => None,
            Some(c) => {
                crate::session::stepup::parse_claims_acr(c)
                    .map_err(|_| Rejection::Malformed("claims"))?;
                Some(c.to_string())
            }
        },
        // RFC 9449 §10: the code is bound to this key thumbprint; checked at the token
        // endpoint against the proof's key (§10.1).
        dpop_jkt: match p.get("dpop_jkt") {
            None => None,
            Some(j) if crate::tokens::dpop::is_thumbprint(j) => Some(j.to_string()),
            Some(_) => return Err(Rejection::Malformed("dpop_jkt")),
        },
        progress: Progress::default(),
        portal: None,
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

/// The code for a request that a live session answers without any step: the session already
/// takes part in the client (no admission, no consent), and neither a login nor a second factor
/// is due. `None` when a step is due (the caller remembers the request and decides it step by
/// step, `continue_authorization`).
async fn answer_from_session(
    state: &AppState,
    tenant: &Tenant,
    client: &Client,
    r: &AuthRequest,
    s: &Session,
    ctx: &RequestContext,
) -> Result<Option<Response>> {
    if r.portal.is_some() {
        return Ok(None);
    }
    let participants = sessions::resolve::participants(&state.read, &tenant.id, &s.id).await?;
    if !participants.contains(&client.id) {
        return Ok(None);
    }
    let facts = SessionFacts {
        user_id: &s.user_id,
        auth_time: s.auth.time,
        reauth_required: s.mode() == Some(crate::session::Mode::ReauthRequired),
    };
    let interaction = decide_interaction(
        Some(&facts),
        r,
        client.first_party,
        true,
        fresh_for(r, Some(s), false),
        ctx.now,
    );
    if interaction != Interaction::Issue {
        return Ok(None);
    }
    let step = match step_for(state, tenant, client, r, s, Some(participants), ctx).await {
        Ok(d) => d,
        // Refusals are answered on the step-by-step path, which redirects them to the client.
        Err(crate::error::Error::Rejected(_)) => return Ok(None),
        Err(e) => return Err(e),
    };
    if step.decision != StepDecision::Satisfied {
        return Ok(None);
    }
    let acr = step.level.acr_as(r.numeric_acr());
    let answered = tokens::service::Answered::ByParticipatingSession;
    let code = tokens::service::issue_code(state, tenant, client, answered, r, s, acr, ctx).await?;
    Ok(Some(code_redirect(tenant, r, &code)))
}

/// What this request asks of the session's authentication level (`acr_values`, an essential
/// `acr` claim) against what it holds. `participants`: the session's clients when the caller
/// has just read them (otherwise read here).
async fn step_for(
    state: &AppState,
    tenant: &Tenant,
    client: &Client,
    r: &AuthRequest,
    s: &Session,
    participants: Option<Vec<String>>,
    ctx: &RequestContext,
) -> Result<sessions::stepup::StepUp> {
    let claims = r.claims_acr();
    let asked = sessions::stepup::Asked {
        claims: claims.as_ref(),
        acr_values: r.acr_values.as_deref(),
    };
    let participants = match participants {
        Some(p) => p,
        None => sessions::resolve::participants(&state.read, &tenant.id, &s.id).await?,
    };
    sessions::stepup::for_session_of(state, tenant, s, client, participants, asked, ctx).await
}

/// The successful authorization response (RFC 6749 §4.1.2, with `iss`: RFC 9207 §2).
fn code_redirect(tenant: &Tenant, r: &AuthRequest, code: &str) -> Response {
    let mut params = vec![("code", code)];
    if let Some(st) = r.state.as_deref() {
        params.push(("state", st));
    }
    params.push(("iss", tenant.issuer.as_str()));
    respond::redirect_with(&r.redirect_uri, &params)
}

/// Decide the next step of a remembered request with the browser's session.
pub async fn next_interaction(
    state: &AppState,
    tenant: &Tenant,
    client: &Client,
    r: &AuthRequest,
    session: Option<&Session>,
    consented_now: bool,
    now: UnixTime,
) -> Result<Interaction> {
    let consented_before = match session {
        Some(s) => sessions::resolve::participants(&state.read, &tenant.id, &s.id)
            .await?
            .contains(&client.id),
        None => false,
    };
    let facts = session.map(|s| SessionFacts {
        user_id: &s.user_id,
        auth_time: s.auth.time,
        reauth_required: s.mode() == Some(crate::session::Mode::ReauthRequired),
    });
    Ok(decide_interaction(
        facts.as_ref(),
        r,
        client.first_party,
        consented_before,
        fresh_for(r, session, consented_now),
        now,
    ))
}

/// Decide and carry out the next step of a remembered request. `consented_now` is true only
/// when the consent step itself was just answered with "allow".
#[allow(clippy::too_many_arguments)]
pub async fn continue_authorization(
    state: &AppState,
    tenant: &Tenant,
    client: &Client,
    request_id: &str,
    r: AuthRequest,
    session: Option<&Session>,
    consented_now: bool,
    ctx: &RequestContext,
) -> Response {
    let interaction =
        match next_interaction(state, tenant, client, &r, session, consented_now, ctx.now).await {
            Ok(i) => i,
            Err(e) => return super::page_error(state, Some(tenant), e),
        };
    if let Some(back) = r.portal {
        return match (interaction, session) {
            (Interaction::Login, _) | (_, None) => {
                respond::redirect(&format!("{}/login?req={request_id}", tenant_path(tenant)))
            }
            // Signed in: back to the portal page (a fixed path of this tenant).
            (_, Some(_)) => {
                let _ = store::grants::delete_request(&state.db, &tenant.id, request_id).await;
                respond::redirect(&back.path(&tenant.slug))
            }
        };
    }
    match interaction {
        Interaction::Fail(rej) => {
            let _ = store::grants::delete_request(&state.db, &tenant.id, request_id).await;
            redirect_error(tenant, &r.redirect_uri, r.state.as_deref(), &rej)
        }
        Interaction::Login => {
            respond::redirect(&format!("{}/login?req={request_id}", tenant_path(tenant)))
        }
        Interaction::Consent => super::consent::page(state, tenant, client, request_id, &r, ctx),
        Interaction::Issue => match session {
            Some(s) => issue(state, tenant, client, request_id, &r, s, None, ctx).await,
            None => redirect_error(
                tenant,
                &r.redirect_uri,
                r.state.as_deref(),
                &Rejection::LoginRequired,
            ),
        },
    }
}

/// The issue step: admission when the session joins a client for the first time (a client rule
/// may limit sessions per user and client), then the code.
#[allow(clippy::too_many_arguments)]
pub async fn issue(
    state: &AppState,
    tenant: &Tenant,
    client: &Client,
    request_id: &str,
    r: &AuthRequest,
    s: &Session,
    chosen: Option<&[String]>,
    ctx: &RequestContext,
) -> Response {
    match sessions::join(state, tenant, s, client, chosen, ctx).await {
        Ok(Admission::Admitted(())) => {}
        Ok(Admission::Expired) => {
            return respond::redirect(&format!("{}/login?req={request_id}", tenant_path(tenant)))
        }
        Ok(other) => {
            return super::session_limit::limited(
                state,
                tenant,
                client,
                request_id,
                r.clone(),
                PendingKind::Join {
                    session_id: s.id.clone(),
                },
                other,
                ctx,
            )
            .await
        }
        Err(e) => return super::page_error(state, Some(tenant), e),
    }
    let step = match step_for(state, tenant, client, r, s, None, ctx).await {
        Ok(d) => d,
        Err(crate::error::Error::Rejected(rej)) => {
            return redirect_error(tenant, &r.redirect_uri, r.state.as_deref(), &rej)
        }
        Err(e) => return super::page_error(state, Some(tenant), e),
    };
    match step.decision {
        StepDecision::Satisfied => {}
        // §3.1.2.1: prompt=none cannot show the second-factor page.
        _ if r.prompt.iter().any(|p| p == "none") => {
            return redirect_error(
                tenant,
                &r.redirect_uri,
                r.state.as_deref(),
                &Rejection::LoginRequired,
            )
        }
        StepDecision::StepUp => {
            let kind = PendingKind::SecondFactor {
                user_id: s.user_id.clone(),
                session_id: Some(s.id.clone()),
            };
            return super::second_factor::ask(
                state,
                tenant,
                client,
                request_id,
                r.clone(),
                kind,
                ctx,
            )
            .await;
        }
        StepDecision::Unmet { enrol: true } => {
            return super::second_factor::enrol(
                state,
                tenant,
                client,
                request_id,
                r.clone(),
                &s.user_id,
                Some(&s.id),
                ctx,
            )
            .await
        }
        StepDecision::Unmet { enrol: false } => {
            return redirect_error(
                tenant,
                &r.redirect_uri,
                r.state.as_deref(),
                &Rejection::UnmetAuthentication,
            )
        }
    }
    let acr = step.level.acr_as(r.numeric_acr());
    let answered = tokens::service::Answered::Remembered(request_id);
    match tokens::service::issue_code(state, tenant, client, answered, r, s, acr, ctx).await {
        Ok(code) => code_redirect(tenant, r, &code),
        Err(e) => super::page_error(state, Some(tenant), e),
    }
}

/// The client a remembered request signs in to: its relying party, or for a portal sign-in the
/// portal's built-in first-party client ([`Client::portal`]).
pub async fn request_client(
    state: &AppState,
    tenant: &Tenant,
    r: &AuthRequest,
) -> Result<Option<Client>> {
    match r.portal {
        Some(PortalReturn::Admin) => return Ok(Some(Client::admin_area(tenant))),
        Some(_) => return Ok(Some(Client::portal(tenant))),
        None => {}
    }
    load_client(state, tenant, &r.client_id).await
}

/// Begin a sign-in for the account portal: remember a request of the portal's own (no relying
/// party, no code) and send the browser to the login page. `again` asks for the password even
/// with a live session (`prompt=login`, OIDC Core §3.1.2.1): a sensitive action wants a fresh
/// sign-in. After it, the browser returns to `back`.
pub async fn start_portal_sign_in(
    state: &AppState,
    tenant: &Tenant,
    back: PortalReturn,
    again: bool,
    ctx: &RequestContext,
) -> Result<Response> {
    let r = AuthRequest {
        client_id: match back {
            PortalReturn::Admin => crate::model::ADMIN_CLIENT_ID.into(),
            _ => crate::model::PORTAL_CLIENT_ID.into(),
        },
        redirect_uri: format!("{}{}", state.config.public_url, back.path(&tenant.slug)),
        scope: "openid".into(),
        state: None,
        nonce: None,
        code_challenge: None,
        prompt: if again {
            vec!["login".into()]
        } else {
            Vec::new()
        },
        max_age: None,
        login_hint: None,
        hint_sub: None,
        acr_values: None,
        claims: None,
        progress: Progress::default(),
        portal: Some(back),
        dpop_jkt: None,
    };
    let id = remember(state, tenant, &r, ctx.now).await?;
    Ok(respond::redirect(&format!(
        "{}/login?req={id}",
        tenant_path(tenant)
    )))
}

pub fn tenant_path(t: &Tenant) -> String {
    format!("/t/{}", t.slug)
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

/// Save a remembered request's progress.
pub async fn save_request(
    state: &AppState,
    tenant: &Tenant,
    id: &str,
    r: &AuthRequest,
) -> Result<bool> {
    Ok(store::grants::update_request(&state.db, &tenant.id, id, serde_json::to_string(r)?).await?)
}
