//! The consent page for third-party clients (OIDC Core §3.1.2.4). The server decides whether
//! the request is at its consent step: a consent submitted for a request that still needs its
//! login step (e.g. `prompt=login` or `max_age`) continues to the login, never to a code.

use super::authorize::{
    continue_authorization, load_request, redirect_error, AuthRequest, Interaction,
};
use super::{context, error_page, page_error};
use crate::app::{AppState, State};
use crate::error::Rejection;
use crate::http::RequestContext;
use crate::model::{Client, Tenant};
use crate::session::service as sessions;
use crate::store;
use poem::http::StatusCode;
use poem::web::{Data, Path};
use poem::{handler, Body, Request, Response};
use serde_json::json;

/// What granting a scope means, in the words the consent page uses.
fn scope_words(scope: &str) -> &'static str {
    match scope {
        "openid" => "Know who you are (your account identifier)",
        "profile" => "See your name and username",
        "email" => "See your e-mail address",
        "groups" => "See the groups you belong to",
        // OIDC Core §11: access while the user is not signed in, until it is revoked.
        "offline_access" => {
            "Keep access while you are signed out, until you revoke it in your account"
        }
        _ => "Use this permission",
    }
}

/// Render the consent form for a remembered request. The request id travels in the form.
pub fn page(
    state: &AppState,
    tenant: &Tenant,
    client: &Client,
    request_id: &str,
    r: &AuthRequest,
    ctx: &RequestContext,
) -> Response {
    let scopes: Vec<serde_json::Value> = r
        .scope
        .split(' ')
        .filter(|s| !s.is_empty())
        .map(|s| json!({ "name": s, "words": scope_words(s) }))
        .collect();
    // Allow and deny both end in a redirect to the request's redirect URI.
    crate::http::respond::hand_off(
        super::login::render_with_csrf(
            state,
            tenant,
            ctx,
            "consent.html",
            json!({ "req": request_id, "client_id": client.client_id, "scopes": scopes }),
            StatusCode::OK,
        ),
        Some(&r.redirect_uri),
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
        Ok(None) => {
            return error_page(
                &state,
                Some(&tenant),
                StatusCode::BAD_REQUEST,
                "Request expired",
                "Return to the application and try again.",
            )
        }
        Err(e) => return page_error(&state, Some(&tenant), e),
    };
    if params.get("decision") != Some("allow") {
        let _ = store::grants::delete_request(&state.db, &tenant.id, &req_id).await;
        return redirect_error(
            &tenant,
            &ar.redirect_uri,
            ar.state.as_deref(),
            &Rejection::AccessDenied,
        );
    }
    let session = match sessions::resolve(&state, &tenant, &ctx).await {
        Ok(s) => s.live(),
        Err(e) => return page_error(&state, Some(&tenant), e),
    };
    let client = match super::authorize::request_client(&state, &tenant, &ar).await {
        Ok(Some(c)) => c,
        _ => return super::login::client_gone(&state, &tenant),
    };
    // "allow" counts only if consent is the step this request is at.
    let at_consent = match super::authorize::next_interaction(
        &state,
        &tenant,
        &client,
        &ar,
        session.as_ref(),
        false,
        ctx.now,
    )
    .await
    {
        Ok(i) => i == Interaction::Consent,
        Err(e) => return page_error(&state, Some(&tenant), e),
    };
    continue_authorization(
        &state,
        &tenant,
        &client,
        &req_id,
        ar,
        session.as_ref(),
        at_consent,
        &ctx,
    )
    .await
}
