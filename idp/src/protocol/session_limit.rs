//! The session-limit pages of the authorization flow: "refuse" (the user already holds as many
//! sessions as the policy allows) and "ask" (the user chooses which sessions to end, and the
//! authorization continues), and the form both post to. CSRF-protected like every form; the
//! "ask" choice is also bound to the browser that authenticated by a secret cookie, and
//! cancelling changes nothing and returns `access_denied` to the relying party.

use super::authorize::{
    issue, load_request, redirect_error, save_request, AuthRequest, Pending, PendingKind,
    PENDING_TTL_SECS,
};
use super::login::{client_gone, expired, render_with_csrf, signed_in};
use super::{context, error_page, page_error};
use crate::app::{AppState, State};
use crate::error::{internal, Rejection};
use crate::events::audit::{self, Event};
use crate::http::{cookies, respond, RequestContext};
use crate::model::{Client, Tenant};
use crate::session::service::{self as sessions, Admission, Candidate, Login};
use crate::store;
use crate::templates::ago;
use poem::http::StatusCode;
use poem::web::{Data, Path};
use poem::{handler, Body, Request, Response};
use serde_json::json;

fn admission_cookie(state: &AppState, tenant: &Tenant) -> String {
    super::pending::cookie_name(state, tenant)
}

/// Answer a login or join that admission did not admit.
#[allow(clippy::too_many_arguments)]
pub async fn limited(
    state: &AppState,
    tenant: &Tenant,
    client: &Client,
    req_id: &str,
    mut ar: AuthRequest,
    kind: PendingKind,
    outcome: Admission<()>,
    ctx: &RequestContext,
) -> Response {
    match outcome {
        Admission::Refused { live, limit } => {
            ar.progress.pending = None;
            if let Err(e) = save_request(state, tenant, req_id, &ar).await {
                return page_error(state, Some(tenant), e);
            }
            // Its "back to the application" ends in a redirect to the client.
            respond::hand_off(
                render_with_csrf(
                    state,
                    tenant,
                    ctx,
                    "session_limit.html",
                    json!({
                        "mode": "refuse", "req": req_id, "client_id": client.client_id,
                        "limit": limit, "live": live,
                    }),
                    StatusCode::FORBIDDEN,
                ),
                Some(&ar.redirect_uri),
            )
        }
        Admission::Ask {
            must_end,
            limit,
            candidates,
        } => {
            let secret = crate::crypto::random_token();
            ar.progress.pending = Some(Pending {
                kind,
                secret_hash: state.hasher.hash("admission", &secret),
                must_end,
                limit,
                at: ctx.now,
            });
            match save_request(state, tenant, req_id, &ar).await {
                Ok(true) => {}
                Ok(false) => return expired(state, tenant),
                Err(e) => return page_error(state, Some(tenant), e),
            }
            let mut r = ask_page(
                state,
                tenant,
                client,
                &ar.redirect_uri,
                req_id,
                must_end,
                limit,
                &candidates,
                None,
                ctx,
            );
            cookies::append(
                &mut r,
                state.cookies.set(
                    &admission_cookie(state, tenant),
                    &secret,
                    Some(PENDING_TTL_SECS),
                ),
            );
            r
        }
        Admission::Expired => respond::redirect(&format!(
            "{}/login?req={req_id}",
            super::authorize::tenant_path(tenant)
        )),
        Admission::CompromisedDevice => expired(state, tenant),
        Admission::Admitted(()) => page_error(
            state,
            Some(tenant),
            internal("admitted outcome passed to the session-limit page"),
        ),
    }
}

/// The choice of sessions to end; either answer ends in a redirect to `redirect_uri` (hand-off).
#[allow(clippy::too_many_arguments)]
fn ask_page(
    state: &AppState,
    tenant: &Tenant,
    client: &Client,
    redirect_uri: &str,
    req_id: &str,
    must_end: usize,
    limit: u32,
    candidates: &[Candidate],
    error: Option<&str>,
    ctx: &RequestContext,
) -> Response {
    let rows: Vec<serde_json::Value> = candidates
        .iter()
        .map(|c| {
            json!({
                "sid": c.sid,
                "device": crate::session::device::label(c.device_name.as_deref(), &c.browser, &c.os),
                "browser": c.browser, "os": c.os, "ip": c.ip,
                "location": "Unknown location",
                "started": ago(ctx.now, c.created_at),
                "started_at": crate::templates::utc(c.created_at),
                "last_active": ago(ctx.now, c.last_active_at),
                "last_active_at": crate::templates::utc(c.last_active_at),
                "apps": c.apps,
            })
        })
        .collect();
    respond::hand_off(
        render_with_csrf(
            state,
            tenant,
            ctx,
            "session_limit.html",
            json!({
                "mode": "ask", "req": req_id, "client_id": client.client_id, "limit": limit,
                "must_end": must_end, "sessions": rows, "error": error,
            }),
            if error.is_some() {
                StatusCode::BAD_REQUEST
            } else {
                StatusCode::OK
            },
        ),
        Some(redirect_uri),
    )
}

/// `POST /t/{slug}/login/choose`: `decision=end` with the chosen `end` sids, or `decision=cancel`.
#[handler]
pub async fn choose(
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
    let client = match super::authorize::request_client(&state, &tenant, &ar).await {
        Ok(Some(c)) => c,
        Ok(None) => return client_gone(&state, &tenant),
        Err(e) => return page_error(&state, Some(&tenant), e),
    };
    let mut resp = match params.get("decision") {
        Some("end") => end_and_continue(&state, &tenant, &client, &req_id, ar, &params, &ctx).await,
        _ => cancel(&state, &tenant, &req_id, &ar, &ctx).await,
    };
    // The binding cookie is spent unless this response asks again (and so set a fresh one).
    super::pending::clear_unless_set(&state, &tenant, &mut resp);
    resp
}

/// Cancelling ends nothing: the relying party hears `access_denied`.
async fn cancel(
    state: &AppState,
    tenant: &Tenant,
    req_id: &str,
    ar: &AuthRequest,
    ctx: &RequestContext,
) -> Response {
    let user = match &ar.progress.pending {
        Some(Pending {
            kind: PendingKind::Login { user_id, .. },
            ..
        }) => Some(user_id.clone()),
        _ => None,
    };
    let audit = audit::record(
        &state.db,
        Event {
            tenant_id: &tenant.id,
            kind: "session.limit_hit",
            user_id: user.as_deref(),
            client_id: Some(&ar.client_id),
            actor: "user",
            outcome: "cancelled",
            ..Default::default()
        },
        Some(ctx),
        ctx.now_ms,
    )
    .await;
    if let Err(e) = audit {
        return page_error(state, Some(tenant), e.into());
    }
    let _ = store::grants::delete_request(&state.db, &tenant.id, req_id).await;
    redirect_error(
        tenant,
        &ar.redirect_uri,
        ar.state.as_deref(),
        &Rejection::AccessDenied,
    )
}

async fn end_and_continue(
    state: &AppState,
    tenant: &Tenant,
    client: &Client,
    req_id: &str,
    ar: AuthRequest,
    params: &crate::http::Params,
    ctx: &RequestContext,
) -> Response {
    if ar.progress.pending.is_none() {
        return error_page(
            state,
            Some(tenant),
            StatusCode::BAD_REQUEST,
            "Nothing to choose",
            "This sign-in is not waiting for a choice. Return to the application and try again.",
        );
    }
    let Some(pending) = super::pending::check(state, tenant, &ar, ctx) else {
        return expired(state, tenant);
    };
    let chosen: Vec<String> = params
        .get_all("end")
        .into_iter()
        .map(str::to_string)
        .collect();
    match pending.kind.clone() {
        PendingKind::Login {
            user_id,
            acr,
            amr,
            mfa_at,
        } => {
            let user = match store::users::find(&state.db, &tenant.id, &user_id).await {
                Ok(Some(u)) if u.status == store::users::ACTIVE => u,
                Ok(_) => return expired(state, tenant),
                Err(e) => return page_error(state, Some(tenant), e.into()),
            };
            let login = Login {
                user: &user,
                client,
                acr,
                amr,
                mfa_at,
            };
            if chosen.len() < pending.must_end {
                return ask_again(
                    state,
                    tenant,
                    client,
                    &ar.redirect_uri,
                    req_id,
                    &pending,
                    &user.id,
                    None,
                    ctx,
                )
                .await;
            }
            signed_in(
                state,
                tenant,
                client,
                req_id,
                ar,
                &login,
                Some(&chosen),
                ctx,
            )
            .await
        }
        PendingKind::SecondFactor { .. }
        | PendingKind::Enrol { .. }
        | PendingKind::Enrolled { .. }
        | PendingKind::PasswordChange { .. } => expired(state, tenant),
        PendingKind::Join { session_id } => {
            let s = match sessions::resolve(state, tenant, ctx).await {
                Ok(r) => match r.live() {
                    Some(s) if s.id == session_id => s,
                    _ => return expired(state, tenant),
                },
                Err(e) => return page_error(state, Some(tenant), e),
            };
            if chosen.len() < pending.must_end {
                return ask_again(
                    state,
                    tenant,
                    client,
                    &ar.redirect_uri,
                    req_id,
                    &pending,
                    &s.user_id,
                    Some(&s.id),
                    ctx,
                )
                .await;
            }
            issue(state, tenant, client, req_id, &ar, &s, Some(&chosen), ctx).await
        }
    }
}

/// Too few sessions chosen: the same page again, saying how many.
#[allow(clippy::too_many_arguments)]
async fn ask_again(
    state: &AppState,
    tenant: &Tenant,
    client: &Client,
    redirect_uri: &str,
    req_id: &str,
    pending: &Pending,
    user_id: &str,
    exclude: Option<&str>,
    ctx: &RequestContext,
) -> Response {
    let candidates =
        match sessions::begin::candidates_for(state, tenant, user_id, client, exclude, ctx).await {
            Ok(c) => c,
            Err(e) => return page_error(state, Some(tenant), e),
        };
    let msg = if pending.must_end == 1 {
        "Choose a session to end.".to_string()
    } else {
        format!("Choose at least {} sessions to end.", pending.must_end)
    };
    let mut r = ask_page(
        state,
        tenant,
        client,
        redirect_uri,
        req_id,
        pending.must_end,
        pending.limit,
        &candidates,
        Some(&msg),
        ctx,
    );
    // Keep the binding cookie for the next try.
    if let Some(s) = ctx.cookies.get(&admission_cookie(state, tenant)) {
        cookies::append(
            &mut r,
            state
                .cookies
                .set(&admission_cookie(state, tenant), s, Some(PENDING_TTL_SECS)),
        );
    }
    r
}
