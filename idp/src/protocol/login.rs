//! The login page: CSRF-protected form, throttled per account and per IP (`login_guard`: 429
//! with `Retry-After` and the time to try again on the page), generic failure message, a clear
//! message for a locked account, argon2id verification off the runtime; on success the session service begins the
//! session (re-authentication, or a new session through admission) and the authorization
//! continues, or the "session limit" page asks or refuses.

use super::authorize::{
    continue_authorization, load_request, save_request, AuthRequest, PendingKind,
};
use super::login_guard::{authenticate, LoginRejection};
use super::{context, error_page, page_error, read_params, tenant_json};
use crate::app::{AppState, State};
use crate::http::{cookies, respond, RequestContext};
use crate::model::{Client, Tenant};
use crate::session::service::{self as sessions, Admission, Begun, Login};
use crate::store;
use poem::http::StatusCode;
use poem::web::{Data, Path};
use poem::{handler, Body, Request, Response};
use serde_json::json;

const GENERIC_FAILURE: &str = "Invalid username or password.";

/// "in 3 minutes", "in 45 seconds": when a throttled sign-in may try again.
pub fn retry_in_words(secs: i64) -> String {
    let secs = secs.max(1);
    match secs {
        1 => "in 1 second".into(),
        2..=119 => format!("in {secs} seconds"),
        _ => format!("in {} minutes", (secs + 59) / 60),
    }
}

/// The login page's message for a refused sign-in, and its HTTP status.
fn refusal(r: LoginRejection) -> (String, StatusCode) {
    use crate::session::lock::LockDecision;
    match r {
        LoginRejection::BadCredentials => (GENERIC_FAILURE.into(), StatusCode::UNAUTHORIZED),
        LoginRejection::Throttled { retry_after, .. } => (
            format!(
                "Too many failed attempts. Try again {}.",
                retry_in_words(retry_after)
            ),
            StatusCode::TOO_MANY_REQUESTS,
        ),
        LoginRejection::Locked(LockDecision::Until(t)) => (
            format!(
                "This account is locked until {}. Ask your administrator if you need access sooner.",
                crate::templates::utc(t)
            ),
            StatusCode::FORBIDDEN,
        ),
        LoginRejection::Locked(_) => (
            "This account is locked until an administrator unlocks it.".into(),
            StatusCode::FORBIDDEN,
        ),
    }
}

#[handler]
pub async fn page(
    state: Data<&State>,
    Path(slug): Path<String>,
    req: &Request,
    body: Body,
) -> Response {
    let tenant = match super::tenant_page(&state, &slug).await {
        Ok(t) => t,
        Err(page) => return page,
    };
    let params = match read_params(req, body).await {
        Ok(p) => p,
        Err(r) => return page_error(&state, Some(&tenant), r.into()),
    };
    let ctx = context(&state, req);
    let now = ctx.now;
    let Some(req_id) = params.get("req").map(str::to_string) else {
        return error_page(
            &state,
            Some(&tenant),
            StatusCode::BAD_REQUEST,
            "Nothing to sign in to",
            "Start signing in from an application.",
        );
    };
    match load_request(&state, &tenant, &req_id, now).await {
        Ok(Some(ar)) => render(
            &state,
            &tenant,
            &ctx,
            &req_id,
            &ar,
            ar.login_hint.as_deref(),
            None,
            StatusCode::OK,
        ),
        Ok(None) => expired(&state, &tenant),
        Err(e) => page_error(&state, Some(&tenant), e),
    }
}

pub fn expired(state: &AppState, tenant: &Tenant) -> Response {
    error_page(
        state,
        Some(tenant),
        StatusCode::BAD_REQUEST,
        "Sign-in expired",
        "This sign-in request has expired. Return to the application and try again.",
    )
}

/// Render a form page with a CSRF token (reusing the browser's token cookie if it has one),
/// bound to the purpose of the template's forms (`http::csrf::purpose_of_template`).
pub fn render_with_csrf(
    state: &AppState,
    tenant: &Tenant,
    rctx: &RequestContext,
    template: &str,
    ctx: serde_json::Value,
    status: StatusCode,
) -> Response {
    let purpose = crate::http::csrf::purpose_of_template(template);
    render_with_csrf_for(state, tenant, rctx, purpose, template, ctx, status)
}

/// [`render_with_csrf`] for forms of a given purpose (the portal renders shared templates whose
/// forms post to its own endpoints).
pub fn render_with_csrf_for(
    state: &AppState,
    tenant: &Tenant,
    rctx: &RequestContext,
    purpose: crate::http::csrf::FormPurpose,
    template: &str,
    mut ctx: serde_json::Value,
    status: StatusCode,
) -> Response {
    let name = state.cookies.csrf_name(&tenant.slug);
    let token = rctx
        .cookies
        .get(&name)
        .filter(|t| t.len() >= 32)
        .map(str::to_string)
        .unwrap_or_else(crate::crypto::random_token);
    ctx["csrf"] = json!(crate::http::csrf::bind_token(
        &state.hasher,
        &token,
        purpose
    ));
    ctx["tenant"] = tenant_json(tenant);
    let body = match state.templates.render(template, &ctx) {
        Ok(b) => b,
        Err(e) => return page_error(state, Some(tenant), crate::error::internal(e)),
    };
    let mut r = respond::html(status, body);
    cookies::append(&mut r, state.cookies.set(&name, &token, None));
    r
}

/// The sign-in form of the pending request `ar`: its submission ends in a redirect to the
/// request's `redirect_uri` (or the next step), so the page hands off to that origin.
#[allow(clippy::too_many_arguments)]
fn render(
    state: &AppState,
    tenant: &Tenant,
    ctx: &RequestContext,
    req_id: &str,
    ar: &AuthRequest,
    username: Option<&str>,
    error: Option<&str>,
    status: StatusCode,
) -> Response {
    respond::hand_off(
        render_with_csrf(
            state,
            tenant,
            ctx,
            "login.html",
            json!({ "req": req_id, "client_id": Some(ar.shown_client()), "username": username, "error": error }),
            status,
        ),
        Some(&ar.redirect_uri),
    )
}

#[handler]
pub async fn submit(
    state: Data<&State>,
    Path(slug): Path<String>,
    req: &Request,
    body: Body,
) -> Response {
    let ctx = context(&state, req);
    let (tenant, params) = match super::read_form(&state, &slug, req, body, &ctx).await {
        Ok(v) => v,
        Err(resp) => return resp,
    };
    let req_id = params.get("req").unwrap_or("").to_string();
    let ar = match load_request(&state, &tenant, &req_id, ctx.now).await {
        Ok(Some(ar)) => ar,
        Ok(None) => return expired(&state, &tenant),
        Err(e) => return page_error(&state, Some(&tenant), e),
    };
    let username = params
        .get("username")
        .unwrap_or("")
        .chars()
        .take(256)
        .collect::<String>();
    let password = params.get("password").unwrap_or("").to_string();
    let client = match super::authorize::request_client(&state, &tenant, &ar).await {
        Ok(Some(c)) => c,
        Ok(None) => return client_gone(&state, &tenant),
        Err(e) => return page_error(&state, Some(&tenant), e),
    };
    match authenticate(&state, &tenant, &username, password, &ctx).await {
        Ok(Ok(user)) => password_verified(&state, &tenant, &client, &req_id, ar, &user, &ctx).await,
        Ok(Err(rejection)) => {
            let (message, status) = refusal(rejection);
            let mut resp = render(
                &state,
                &tenant,
                &ctx,
                &req_id,
                &ar,
                Some(&username),
                Some(&message),
                status,
            );
            if let LoginRejection::Throttled { retry_after, .. } = rejection {
                // RFC 6585 §4 (429) with RFC 9110 §10.2.3 Retry-After in seconds.
                if let Ok(v) = poem::http::HeaderValue::from_str(&retry_after.max(1).to_string()) {
                    resp.headers_mut()
                        .insert(poem::http::header::RETRY_AFTER, v);
                }
            }
            resp
        }
        Err(e) => page_error(&state, Some(&tenant), e),
    }
}

/// The password was right: ask for a new one when the user must change it, then ask for the
/// second factor when the user has one, enrol one when the policy requires it, or begin the
/// session at the password level.
pub(super) async fn password_verified(
    state: &AppState,
    tenant: &Tenant,
    client: &Client,
    req_id: &str,
    ar: AuthRequest,
    user: &store::users::User,
    ctx: &RequestContext,
) -> Response {
    use crate::session::stepup::{Level, StepDecision};
    if user.must_change_password {
        // A device reported as not the user's must not get to choose their new password.
        match sessions::begin::from_compromised_device(state, tenant, ctx).await {
            Ok(false) => {}
            Ok(true) => return compromised_device(state, tenant),
            Err(e) => return page_error(state, Some(tenant), e),
        }
        return super::password_change::ask(state, tenant, client, req_id, ar, &user.id, ctx).await;
    }
    let claims = ar.claims_acr();
    let asked = sessions::stepup::Asked {
        claims: claims.as_ref(),
        acr_values: ar.acr_values.as_deref(),
    };
    let step = match sessions::stepup::for_login(state, tenant, &user.id, client, asked, ctx).await
    {
        Ok(s) => s,
        Err(crate::error::Error::Rejected(rej)) => {
            return super::authorize::redirect_error(
                tenant,
                &ar.redirect_uri,
                ar.state.as_deref(),
                &rej,
            )
        }
        Err(e) => return page_error(state, Some(tenant), e),
    };
    match step.decision {
        StepDecision::StepUp => {
            let kind = PendingKind::SecondFactor {
                user_id: user.id.clone(),
                session_id: None,
            };
            super::second_factor::ask(state, tenant, client, req_id, ar, kind, ctx).await
        }
        StepDecision::Unmet { enrol: true } => {
            super::second_factor::enrol(state, tenant, client, req_id, ar, &user.id, None, ctx)
                .await
        }
        StepDecision::Unmet { enrol: false } => super::authorize::redirect_error(
            tenant,
            &ar.redirect_uri,
            ar.state.as_deref(),
            &crate::error::Rejection::UnmetAuthentication,
        ),
        StepDecision::Satisfied => {
            let login = Login {
                user,
                client,
                acr: Level::Pwd.acr_as(ar.numeric_acr()).into(),
                amr: vec!["pwd".into()],
                mfa_at: None,
            };
            signed_in(state, tenant, client, req_id, ar, &login, None, ctx).await
        }
    }
}

fn compromised_device(state: &AppState, tenant: &Tenant) -> Response {
    error_page(
        state,
        Some(tenant),
        StatusCode::FORBIDDEN,
        "This device cannot sign in",
        "This device was reported as not belonging to you, so it can no longer sign in. \
         Sign in from another device, or ask your administrator.",
    )
}

pub fn client_gone(state: &AppState, tenant: &Tenant) -> Response {
    error_page(
        state,
        Some(tenant),
        StatusCode::BAD_REQUEST,
        "Invalid request",
        "The client is no longer registered.",
    )
}

/// The user proved who they are: begin the session (through admission), record the login step
/// in the request, and continue the authorization with the new cookies. `chosen` are the
/// sessions picked on the "ask" page.
#[allow(clippy::too_many_arguments)]
pub async fn signed_in(
    state: &AppState,
    tenant: &Tenant,
    client: &Client,
    req_id: &str,
    mut ar: AuthRequest,
    login: &Login<'_>,
    chosen: Option<&[String]>,
    ctx: &RequestContext,
) -> Response {
    let current = match chosen {
        // The first submission already ended any other user's session in this browser.
        Some(_) => None,
        None => match sessions::resolve(state, tenant, ctx).await {
            Ok(r) => r.live(),
            Err(e) => return page_error(state, Some(tenant), e),
        },
    };
    let begun = match sessions::begin(state, tenant, login, current, chosen, ctx).await {
        Ok(b) => b,
        Err(e) => return page_error(state, Some(tenant), e),
    };
    let b: Begun = match begun {
        Admission::Admitted(b) => b,
        Admission::CompromisedDevice => return compromised_device(state, tenant),
        other => {
            let kind = PendingKind::Login {
                user_id: login.user.id.clone(),
                acr: login.acr.clone(),
                amr: login.amr.clone(),
                mfa_at: login.mfa_at,
            };
            return super::session_limit::limited(
                state,
                tenant,
                client,
                req_id,
                ar,
                kind,
                other.map(|_| ()),
                ctx,
            )
            .await;
        }
    };
    ar.progress.authenticated_session = Some(b.session.id.clone());
    ar.progress.pending = None;
    match save_request(state, tenant, req_id, &ar).await {
        Ok(true) => {}
        Ok(false) => return expired(state, tenant),
        Err(e) => return page_error(state, Some(tenant), e),
    }
    let mut resp = continue_authorization(
        state,
        tenant,
        client,
        req_id,
        ar,
        Some(&b.session),
        false,
        ctx,
    )
    .await;
    cookies::append(
        &mut resp,
        state
            .cookies
            .set(&state.cookies.session_name(&tenant.slug), &b.cookie, None),
    );
    if let Some(d) = &b.device_cookie {
        cookies::append(
            &mut resp,
            state.cookies.set(
                &state.cookies.device_name(&tenant.slug),
                d,
                Some(400 * 24 * 3600),
            ),
        );
    }
    resp
}

/// Count a login outcome in `lanyard_logins_total` and log refusals as security events. Never
/// the username: people type their password into it.
pub(super) fn observe_login(tenant: &Tenant, outcome: &'static str, ctx: &RequestContext) {
    metrics::counter!("lanyard_logins_total", "tenant" => tenant.slug.clone(), "outcome" => outcome)
        .increment(1);
    match outcome {
        "succeeded" => tracing::info!(event = "login.succeeded", tenant = %tenant.slug, "login"),
        "throttled" => {
            tracing::warn!(event = "login.throttled", tenant = %tenant.slug, ip = %ctx.ip, "login throttled")
        }
        reason => {
            tracing::warn!(event = "login.failed", tenant = %tenant.slug, reason, ip = %ctx.ip, "login failed")
        }
    }
}
