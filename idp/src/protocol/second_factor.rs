//! The second-factor pages of the authorization: "enter the code from your authenticator app"
//! (after the password, or to step up a live session), "set up an authenticator app" (when the
//! policy requires a second factor and the user has none: QR code and secret shown once,
//! confirmed with a code), and the recovery codes shown once after enrolment. Each waits as the
//! request's pending step, bound to this browser (`protocol::pending`).

use super::authorize::{load_request, AuthRequest, PendingKind};
use super::login::{client_gone, expired, render_with_csrf, signed_in};
use super::{context, page_error};
use crate::app::{AppState, State};
use crate::factors::service::{self as factors, Verified};
use crate::http::{respond, RequestContext};
use crate::model::{Client, Tenant};
use crate::session::service::{self as sessions, Login};
use crate::session::stepup::Level;
use crate::store;
use base64::Engine;
use poem::http::StatusCode;
use poem::web::{Data, Path};
use poem::{handler, Body, Request, Response};
use serde_json::json;

/// Ask for the second factor.
pub async fn ask(
    state: &AppState,
    tenant: &Tenant,
    client: &Client,
    req_id: &str,
    mut ar: AuthRequest,
    kind: PendingKind,
    ctx: &RequestContext,
) -> Response {
    let step_up = matches!(
        kind,
        PendingKind::SecondFactor {
            session_id: Some(_),
            ..
        }
    );
    let secret = match super::pending::bind(state, tenant, req_id, &mut ar, kind, 0, 0, ctx).await {
        Ok(Some(s)) => s,
        Ok(None) => return expired(state, tenant),
        Err(e) => return page_error(state, Some(tenant), e),
    };
    let mut r = code_page(
        state,
        tenant,
        client,
        &ar.redirect_uri,
        req_id,
        step_up,
        None,
        StatusCode::OK,
        ctx,
    );
    super::pending::set_cookie(state, tenant, &mut r, &secret);
    r
}

/// The code form; a right code ends in a redirect to `redirect_uri` (the page hands off there).
#[allow(clippy::too_many_arguments)]
fn code_page(
    state: &AppState,
    tenant: &Tenant,
    client: &Client,
    redirect_uri: &str,
    req_id: &str,
    step_up: bool,
    error: Option<&str>,
    status: StatusCode,
    ctx: &RequestContext,
) -> Response {
    respond::hand_off(
        render_with_csrf(
            state,
            tenant,
            ctx,
            "second_factor.html",
            json!({ "req": req_id, "client_id": client.client_id, "step_up": step_up, "error": error }),
            status,
        ),
        Some(redirect_uri),
    )
}

/// Start enrolling a second factor (the policy requires one).
#[allow(clippy::too_many_arguments)]
pub async fn enrol(
    state: &AppState,
    tenant: &Tenant,
    client: &Client,
    req_id: &str,
    mut ar: AuthRequest,
    user_id: &str,
    session_id: Option<&str>,
    ctx: &RequestContext,
) -> Response {
    let user = match store::users::find(&state.db, &tenant.id, user_id).await {
        Ok(Some(u)) => u,
        Ok(None) => return expired(state, tenant),
        Err(e) => return page_error(state, Some(tenant), e.into()),
    };
    let e = match factors::start_enrolment(state, tenant, &user).await {
        Ok(e) => e,
        Err(e) => return page_error(state, Some(tenant), e),
    };
    let kind = PendingKind::Enrol {
        user_id: user_id.into(),
        session_id: session_id.map(str::to_string),
        factor_id: e.factor_id.clone(),
    };
    let secret = match super::pending::bind(state, tenant, req_id, &mut ar, kind, 0, 0, ctx).await {
        Ok(Some(s)) => s,
        Ok(None) => return expired(state, tenant),
        Err(e) => return page_error(state, Some(tenant), e),
    };
    let mut r = enrol_page(
        state,
        tenant,
        client,
        &ar.redirect_uri,
        req_id,
        &e,
        None,
        StatusCode::OK,
        ctx,
    );
    super::pending::set_cookie(state, tenant, &mut r, &secret);
    r
}

/// The enrolment form; a right first code leads on to the client's `redirect_uri` (hand-off).
#[allow(clippy::too_many_arguments)]
fn enrol_page(
    state: &AppState,
    tenant: &Tenant,
    client: &Client,
    redirect_uri: &str,
    req_id: &str,
    e: &factors::Enrolment,
    error: Option<&str>,
    status: StatusCode,
    ctx: &RequestContext,
) -> Response {
    let qr = base64::engine::general_purpose::STANDARD.encode(e.qr_svg.as_bytes());
    // The secret in groups of four, as people type it.
    let grouped = e
        .secret_base32
        .as_bytes()
        .chunks(4)
        .map(|c| String::from_utf8_lossy(c).to_string())
        .collect::<Vec<_>>()
        .join(" ");
    respond::hand_off(
        render_with_csrf(
            state,
            tenant,
            ctx,
            "enrol_factor.html",
            json!({
                "req": req_id, "client_id": client.client_id,
                "qr": format!("data:image/svg+xml;base64,{qr}"), "secret": grouped,
                "otpauth_uri": e.otpauth_uri, "error": error,
            }),
            status,
        ),
        Some(redirect_uri),
    )
}

struct Form {
    tenant: Tenant,
    params: crate::http::Params,
    ar: AuthRequest,
    client: Client,
    req_id: String,
}

async fn read(
    state: &AppState,
    slug: &str,
    req: &Request,
    body: Body,
    ctx: &RequestContext,
) -> Result<Form, Response> {
    let (tenant, params) = super::read_form(state, slug, req, body, ctx).await?;
    let req_id = params.get("req").unwrap_or("").to_string();
    let ar = match load_request(state, &tenant, &req_id, ctx.now).await {
        Ok(Some(ar)) => ar,
        Ok(None) => return Err(expired(state, &tenant)),
        Err(e) => return Err(page_error(state, Some(&tenant), e)),
    };
    let client = match super::authorize::request_client(state, &tenant, &ar).await {
        Ok(Some(c)) => c,
        Ok(None) => return Err(client_gone(state, &tenant)),
        Err(e) => return Err(page_error(state, Some(&tenant), e)),
    };
    Ok(Form {
        tenant,
        params,
        ar,
        client,
        req_id,
    })
}

/// `POST /t/{slug}/login/factor`: the code from the authenticator app (or a recovery code).
#[handler]
pub async fn submit_code(
    state: Data<&State>,
    Path(slug): Path<String>,
    req: &Request,
    body: Body,
) -> Response {
    let ctx = context(&state, req);
    let f = match read(&state, &slug, req, body, &ctx).await {
        Ok(f) => f,
        Err(r) => return r,
    };
    let mut resp = match super::pending::check(&state, &f.tenant, &f.ar, &ctx) {
        Some(p) => match p.kind {
            PendingKind::SecondFactor {
                user_id,
                session_id,
            } => {
                let code = f.params.get("code").unwrap_or("");
                match factors::verify(&state, &f.tenant, &user_id, code, &ctx).await {
                    Ok(Verified::Ok { .. }) => {
                        verified(&state, &f, &user_id, session_id.as_deref(), ctx.now, &ctx).await
                    }
                    Ok(Verified::Throttled) => code_page(
                        &state,
                        &f.tenant,
                        &f.client,
                        &f.ar.redirect_uri,
                        &f.req_id,
                        session_id.is_some(),
                        Some("Too many attempts. Wait a few minutes, then try again."),
                        StatusCode::TOO_MANY_REQUESTS,
                        &ctx,
                    ),
                    Ok(_) => code_page(
                        &state,
                        &f.tenant,
                        &f.client,
                        &f.ar.redirect_uri,
                        &f.req_id,
                        session_id.is_some(),
                        Some("That code is not right. Enter the current code from your app."),
                        StatusCode::UNAUTHORIZED,
                        &ctx,
                    ),
                    Err(e) => page_error(&state, Some(&f.tenant), e),
                }
            }
            _ => expired(&state, &f.tenant),
        },
        None => expired(&state, &f.tenant),
    };
    // A wrong code keeps the step (and its cookie); anything else spends it.
    if resp.status() != StatusCode::UNAUTHORIZED && resp.status() != StatusCode::TOO_MANY_REQUESTS {
        super::pending::clear_unless_set(&state, &f.tenant, &mut resp);
    }
    resp
}

/// `POST /t/{slug}/login/enrol`: the first code from the newly set-up app.
#[handler]
pub async fn submit_enrolment(
    state: Data<&State>,
    Path(slug): Path<String>,
    req: &Request,
    body: Body,
) -> Response {
    let ctx = context(&state, req);
    let mut f = match read(&state, &slug, req, body, &ctx).await {
        Ok(f) => f,
        Err(r) => return r,
    };
    let Some(p) = super::pending::check(&state, &f.tenant, &f.ar, &ctx) else {
        return expired(&state, &f.tenant);
    };
    let PendingKind::Enrol {
        user_id,
        session_id,
        factor_id,
    } = p.kind
    else {
        return expired(&state, &f.tenant);
    };
    let code = f.params.get("code").unwrap_or("").to_string();
    let codes = match factors::confirm_enrolment(
        &state,
        &f.tenant,
        &user_id,
        &factor_id,
        &code,
        session_id.as_deref(),
        &ctx,
    )
    .await
    {
        Ok(Some(c)) => c,
        Ok(None) => {
            // Show the same key again with the reason: the user has probably scanned it already
            // and mistyped or waited too long.
            let pending = match store::users::find(&state.db, &f.tenant.id, &user_id).await {
                Ok(Some(u)) => factors::pending_enrolment(&state, &f.tenant, &u, &factor_id).await,
                Ok(None) => return expired(&state, &f.tenant),
                Err(e) => Err(e.into()),
            };
            return match pending {
                Ok(Some(e)) => enrol_page(
                    &state,
                    &f.tenant,
                    &f.client,
                    &f.ar.redirect_uri,
                    &f.req_id,
                    &e,
                    Some("That code did not match. Enter the code your app shows now."),
                    StatusCode::BAD_REQUEST,
                    &ctx,
                ),
                Ok(None) => expired(&state, &f.tenant),
                Err(e) => page_error(&state, Some(&f.tenant), e),
            };
        }
        Err(e) => return page_error(&state, Some(&f.tenant), e),
    };
    let kind = PendingKind::Enrolled {
        user_id,
        session_id,
        mfa_at: ctx.now,
    };
    let secret =
        match super::pending::bind(&state, &f.tenant, &f.req_id, &mut f.ar, kind, 0, 0, &ctx).await
        {
            Ok(Some(s)) => s,
            Ok(None) => return expired(&state, &f.tenant),
            Err(e) => return page_error(&state, Some(&f.tenant), e),
        };
    // "Continue" leads on to the client's redirect URI.
    let mut r = respond::hand_off(
        render_with_csrf(
            &state,
            &f.tenant,
            &ctx,
            "recovery_codes.html",
            json!({ "req": f.req_id, "codes": codes.0, "client_id": f.client.client_id }),
            StatusCode::OK,
        ),
        Some(&f.ar.redirect_uri),
    );
    super::pending::set_cookie(&state, &f.tenant, &mut r, &secret);
    r
}

/// `POST /t/{slug}/login/continue`: the user saved the recovery codes; the sign-in continues.
#[handler]
pub async fn continue_after_codes(
    state: Data<&State>,
    Path(slug): Path<String>,
    req: &Request,
    body: Body,
) -> Response {
    let ctx = context(&state, req);
    let f = match read(&state, &slug, req, body, &ctx).await {
        Ok(f) => f,
        Err(r) => return r,
    };
    let mut resp = match super::pending::check(&state, &f.tenant, &f.ar, &ctx) {
        Some(p) => match p.kind {
            PendingKind::Enrolled {
                user_id,
                session_id,
                mfa_at,
            } => verified(&state, &f, &user_id, session_id.as_deref(), mfa_at, &ctx).await,
            _ => expired(&state, &f.tenant),
        },
        None => expired(&state, &f.tenant),
    };
    super::pending::clear_unless_set(&state, &f.tenant, &mut resp);
    resp
}

/// The second factor was proved at `mfa_at`: begin the session at the MFA level (after the
/// password), or step up the browser's live session (same session, same `sid`, new cookie),
/// and continue the authorization.
async fn verified(
    state: &AppState,
    f: &Form,
    user_id: &str,
    session_id: Option<&str>,
    mfa_at: i64,
    ctx: &RequestContext,
) -> Response {
    let user = match store::users::find(&state.db, &f.tenant.id, user_id).await {
        Ok(Some(u)) if u.status == store::users::ACTIVE => u,
        Ok(_) => return expired(state, &f.tenant),
        Err(e) => return page_error(state, Some(&f.tenant), e.into()),
    };
    let login = Login {
        user: &user,
        client: &f.client,
        acr: Level::Mfa.acr_as(f.ar.numeric_acr()).into(),
        amr: vec!["pwd".into(), "otp".into()],
        mfa_at: Some(mfa_at),
    };
    if let Some(sid) = session_id {
        // Step-up: the browser's session must still be the one that asked.
        match sessions::resolve(state, &f.tenant, ctx).await {
            Ok(r) => match r.live() {
                Some(s) if s.id == sid => {}
                _ => return expired(state, &f.tenant),
            },
            Err(e) => return page_error(state, Some(&f.tenant), e),
        }
    }
    signed_in(
        state,
        &f.tenant,
        &f.client,
        &f.req_id,
        f.ar.clone(),
        &login,
        None,
        ctx,
    )
    .await
}
