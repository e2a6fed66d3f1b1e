//! The login page: CSRF-protected form, throttled per account and per IP, generic failure
//! message, argon2id verification off the runtime; on success a new session (or a re-authenticated
//! one with a new cookie secret) and the authorization continues.

use super::authorize::{continue_authorization, load_request, Fresh};
use super::{
    error_page, load_client, load_tenant, page_error, read_params, tenant_json, tenant_not_found,
};
use crate::app::{AppState, State};
use crate::error::Result;
use crate::events::audit::{self, Event};
use crate::events::termination::{end_session, Ender};
use crate::http::{cookies, respond, RequestContext};
use crate::model::Tenant;
use crate::session::EndReason;
use crate::store::{self, TransactionTrait};
use crate::throttle::{self, Counter, ThrottleRule};
use poem::http::StatusCode;
use poem::web::{Data, Path};
use poem::{handler, Body, Request, Response};
use serde_json::json;

const GENERIC_FAILURE: &str = "Invalid username or password.";
const LOCKED: &str = "Too many failed attempts. Try again later.";

#[handler]
pub async fn page(
    state: Data<&State>,
    Path(slug): Path<String>,
    req: &Request,
    body: Body,
) -> Response {
    let Ok(Some(tenant)) = load_tenant(&state, &slug).await else {
        return tenant_not_found(&state);
    };
    let params = match read_params(req, body).await {
        Ok(p) => p,
        Err(r) => return page_error(&state, Some(&tenant), r.into()),
    };
    let now = state.clock.now();
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
            req,
            &req_id,
            Some(&ar.client_id),
            ar.login_hint.as_deref(),
            None,
            StatusCode::OK,
        ),
        Ok(None) => expired(&state, &tenant),
        Err(e) => page_error(&state, Some(&tenant), e),
    }
}

fn expired(state: &AppState, tenant: &Tenant) -> Response {
    error_page(
        state,
        Some(tenant),
        StatusCode::BAD_REQUEST,
        "Sign-in expired",
        "This sign-in request has expired. Return to the application and try again.",
    )
}

/// Render a form page with a CSRF token (reusing the browser's token cookie if it has one).
pub fn render_with_csrf(
    state: &AppState,
    tenant: &Tenant,
    req: &Request,
    template: &str,
    mut ctx: serde_json::Value,
    status: StatusCode,
) -> Response {
    let name = state.cookies.csrf_name(&tenant.slug);
    let token = cookies::read(req, &name)
        .filter(|t| t.len() >= 32)
        .unwrap_or_else(crate::crypto::random_token);
    ctx["csrf"] = json!(token);
    ctx["tenant"] = tenant_json(tenant);
    let body = match state.templates.render(template, &ctx) {
        Ok(b) => b,
        Err(e) => return page_error(state, Some(tenant), crate::error::internal(e)),
    };
    let mut r = respond::html(status, body);
    cookies::append(&mut r, state.cookies.set(&name, &token, None));
    r
}

#[allow(clippy::too_many_arguments)]
fn render(
    state: &AppState,
    tenant: &Tenant,
    req: &Request,
    req_id: &str,
    client_id: Option<&str>,
    username: Option<&str>,
    error: Option<&str>,
    status: StatusCode,
) -> Response {
    render_with_csrf(
        state,
        tenant,
        req,
        "login.html",
        json!({ "req": req_id, "client_id": client_id, "username": username, "error": error }),
        status,
    )
}

#[handler]
pub async fn submit(
    state: Data<&State>,
    Path(slug): Path<String>,
    req: &Request,
    body: Body,
) -> Response {
    let ctx = RequestContext::from_request(req, state.clock.as_ref());
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
    match authenticate(&state, &tenant, &username, password, &ctx).await {
        Ok(Ok(user)) => {
            let (session, cookie_value, device_cookie) =
                match establish_session(&state, &tenant, req, &user, &ctx).await {
                    Ok(v) => v,
                    Err(e) => return page_error(&state, Some(&tenant), e),
                };
            let client = match load_client(&state, &tenant, &ar.client_id).await {
                Ok(Some(c)) => c,
                Ok(None) => {
                    return error_page(
                        &state,
                        Some(&tenant),
                        StatusCode::BAD_REQUEST,
                        "Invalid request",
                        "The client is no longer registered.",
                    )
                }
                Err(e) => return page_error(&state, Some(&tenant), e),
            };
            let fresh = Fresh {
                authenticated: true,
                consented: false,
            };
            let mut resp = continue_authorization(
                &state,
                &tenant,
                &client,
                &req_id,
                ar,
                Some(&session),
                fresh,
                &ctx,
            )
            .await;
            cookies::append(
                &mut resp,
                state.cookies.set(
                    &state.cookies.session_name(&tenant.slug),
                    &cookie_value,
                    None,
                ),
            );
            if let Some(d) = device_cookie {
                cookies::append(
                    &mut resp,
                    state.cookies.set(
                        &state.cookies.device_name(&tenant.slug),
                        &d,
                        Some(400 * 24 * 3600),
                    ),
                );
            }
            resp
        }
        Ok(Err(message)) => render(
            &state,
            &tenant,
            req,
            &req_id,
            Some(&ar.client_id),
            Some(&username),
            Some(message),
            StatusCode::UNAUTHORIZED,
        ),
        Err(e) => page_error(&state, Some(&tenant), e),
    }
}

fn throttle_key(kind: &str, tenant: &Tenant, value: &str) -> String {
    format!("{kind}:{}:{}", tenant.id, value.to_lowercase())
}

async fn load_counter(state: &AppState, key: &str) -> Result<Counter> {
    Ok(store::throttle::find(&state.db, key)
        .await?
        .map(|r| Counter {
            failures: r.failures,
            window_start: r.window_start,
            locked_until: r.locked_until,
        })
        .unwrap_or_default())
}

async fn record_failure(
    state: &AppState,
    key: &str,
    c: &Counter,
    rule: &ThrottleRule,
    now: i64,
) -> Result<()> {
    let n = throttle::after_failure(c, rule, now);
    store::throttle::save(
        &state.db,
        store::throttle::ThrottleRow {
            key: key.to_string(),
            failures: n.failures,
            window_start: n.window_start,
            locked_until: n.locked_until,
        },
    )
    .await?;
    Ok(())
}

/// Check throttles, verify the password, record the outcome. `Ok(Err(msg))` = refused.
async fn authenticate(
    state: &AppState,
    tenant: &Tenant,
    username: &str,
    password: String,
    ctx: &RequestContext,
) -> Result<std::result::Result<store::users::User, &'static str>> {
    let acct_key = throttle_key("acct", tenant, username);
    let ip_key = throttle_key("ip", tenant, &ctx.ip);
    let acct = load_counter(state, &acct_key).await?;
    let ip = load_counter(state, &ip_key).await?;
    let user = store::users::find_by_username(&state.db, &tenant.id, username).await?;
    if !throttle::evaluate_attempt(&acct, ctx.now) || !throttle::evaluate_attempt(&ip, ctx.now) {
        audit::record(
            &state.db,
            Event {
                tenant_id: &tenant.id,
                kind: "login.throttled",
                user_id: user.as_ref().map(|u| u.id.as_str()),
                actor: "user",
                outcome: "refused",
                detail: Some(json!({"username": username})),
                ..Default::default()
            },
            Some(ctx),
            ctx.now_ms,
        )
        .await?;
        observe_login(tenant, "throttled", ctx);
        return Ok(Err(LOCKED));
    }
    let ok =
        crate::passwords::verify(password, user.as_ref().map(|u| u.password_hash.clone())).await;
    let active = user
        .as_ref()
        .is_some_and(|u| u.status == store::users::ACTIVE);
    if ok && active {
        if acct.failures > 0 {
            store::throttle::delete(&state.db, &acct_key).await?;
        }
        // `ok` implies the user exists.
        if let Some(u) = user {
            observe_login(tenant, "succeeded", ctx);
            return Ok(Ok(u));
        }
    }
    record_failure(state, &acct_key, &acct, &throttle::PER_ACCOUNT, ctx.now).await?;
    record_failure(state, &ip_key, &ip, &throttle::PER_IP, ctx.now).await?;
    audit::record(
        &state.db,
        Event {
            tenant_id: &tenant.id,
            kind: "login.failed",
            user_id: user.as_ref().map(|u| u.id.as_str()),
            actor: "user",
            outcome: if ok { "inactive" } else { "bad_credentials" },
            detail: Some(json!({"username": username})),
            ..Default::default()
        },
        Some(ctx),
        ctx.now_ms,
    )
    .await?;
    observe_login(tenant, if ok { "inactive" } else { "bad_credentials" }, ctx);
    Ok(Err(GENERIC_FAILURE))
}

/// Count a login outcome in `lanyard_logins_total` and log refusals as security events. Never
/// the username: people type their password into it.
fn observe_login(tenant: &Tenant, outcome: &'static str, ctx: &RequestContext) {
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

/// Create the session (or re-authenticate the browser's session for the same user) and the device.
/// Returns the session, the new session cookie value, and a new device cookie if one was minted.
async fn establish_session(
    state: &AppState,
    tenant: &Tenant,
    req: &Request,
    user: &store::users::User,
    ctx: &RequestContext,
) -> Result<(store::sessions::SessionRow, String, Option<String>)> {
    let policy = tenant.policy();
    let existing = super::current_session(state, tenant, req, ctx).await?;
    let cookie_value = crate::crypto::random_token();
    let cookie_hash = state.hasher.hash("session", &cookie_value);
    let amr = json!(["pwd"]).to_string();
    if let Some(s) = existing.as_ref() {
        if s.user_id == user.id {
            // Same user re-authenticating: same session (RPs keep their sid), new cookie secret
            // so a fixated or stolen cookie stops working.
            let idle = crate::session::touched_idle_deadline(&policy, s.absolute_deadline, ctx.now);
            store::sessions::mark_reauthenticated(
                &state.db,
                &tenant.id,
                &s.id,
                &cookie_hash,
                ctx.now,
                "1",
                &amr,
                idle,
            )
            .await?;
            audit::record(
                &state.db,
                Event {
                    tenant_id: &tenant.id,
                    kind: "session.reauthenticated",
                    session_id: Some(&s.id),
                    user_id: Some(&user.id),
                    actor: "user",
                    outcome: "ok",
                    ..Default::default()
                },
                Some(ctx),
                ctx.now_ms,
            )
            .await?;
            let mut s = s.clone();
            s.auth_time = ctx.now;
            s.cookie_hash = cookie_hash;
            return Ok((s, cookie_value, None));
        }
        end_session(
            state,
            &tenant.id,
            &s.id,
            EndReason::Superseded,
            &Ender {
                actor: "user",
                ctx: Some(ctx),
            },
            ctx.now_ms,
        )
        .await?;
    }
    let (device_id, device_cookie) = resolve_device(state, tenant, req, ctx).await?;
    let (idle, absolute) = crate::session::initial_deadlines(&policy, ctx.now);
    let row = store::sessions::SessionRow {
        id: crate::crypto::random_id(),
        tenant_id: tenant.id.clone(),
        sid: crate::crypto::random_token(),
        cookie_hash,
        user_id: user.id.clone(),
        device_id: Some(device_id),
        auth_time: ctx.now,
        acr: "1".into(),
        amr,
        ip: ctx.ip.clone(),
        user_agent: ctx.user_agent.clone(),
        created_at: ctx.now,
        last_active_at: ctx.now,
        idle_deadline: idle,
        absolute_deadline: absolute,
        state: store::sessions::ACTIVE.into(),
        ended_at: None,
        end_reason: None,
        end_batch: None,
    };
    let txn = state.db.begin().await?;
    let session = store::sessions::insert(&txn, row).await?;
    audit::record(
        &txn,
        Event {
            tenant_id: &tenant.id,
            kind: "session.created",
            session_id: Some(&session.id),
            user_id: Some(&user.id),
            actor: "user",
            outcome: "ok",
            detail: Some(json!({"device_id": session.device_id, "amr": ["pwd"]})),
            ..Default::default()
        },
        Some(ctx),
        ctx.now_ms,
    )
    .await?;
    txn.commit().await?;
    Ok((session, cookie_value, device_cookie))
}

/// The browser's device, from its long-lived device cookie, or a new one.
async fn resolve_device(
    state: &AppState,
    tenant: &Tenant,
    req: &Request,
    ctx: &RequestContext,
) -> Result<(String, Option<String>)> {
    if let Some(token) = cookies::read(req, &state.cookies.device_name(&tenant.slug)) {
        let hash = state.hasher.hash("device", &token);
        if let Some(d) =
            store::sessions::find_device_by_token_hash(&state.db, &tenant.id, &hash).await?
        {
            store::sessions::mark_device_seen(&state.db, &tenant.id, &d.id, ctx.now, &ctx.ip)
                .await?;
            return Ok((d.id, None));
        }
    }
    let token = crate::crypto::random_token();
    let ua = woothee::parser::Parser::new().parse(&ctx.user_agent);
    let (browser, os) = match ua {
        Some(r) => (
            format!("{} {}", r.name, r.version).trim().to_string(),
            r.os.to_string(),
        ),
        None => ("unknown".to_string(), "unknown".to_string()),
    };
    let d = store::sessions::insert_device(
        &state.db,
        store::sessions::DeviceRow {
            id: crate::crypto::random_id(),
            tenant_id: tenant.id.clone(),
            token_hash: state.hasher.hash("device", &token),
            user_agent: ctx.user_agent.clone(),
            browser,
            os,
            name: None,
            first_seen: ctx.now,
            last_seen: ctx.now,
            last_ip: ctx.ip.clone(),
            trust: "unknown".into(),
        },
    )
    .await?;
    Ok((d.id, Some(token)))
}
