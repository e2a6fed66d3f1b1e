//! The consent page for third-party clients (OIDC Core §3.1.2.4).

use super::authorize::{continue_authorization, load_request, redirect_error, AuthRequest, Fresh};
use super::{current_session, error_page, load_client, page_error};
use crate::app::{AppState, State};
use crate::error::Rejection;
use crate::http::RequestContext;
use crate::model::{Client, Tenant};
use crate::store;
use poem::http::StatusCode;
use poem::web::{Data, Path};
use poem::{handler, Body, Request, Response};
use serde_json::json;

/// Render the consent form for a remembered request. The request parameter travels in the form.
pub fn page(
    state: &AppState,
    tenant: &Tenant,
    client: &Client,
    request_id: &str,
    r: &AuthRequest,
    _ctx: &RequestContext,
) -> Response {
    // The page is reached by redirect-free rendering, so the CSRF cookie may be new; the login
    // helper sets it.
    let scopes: Vec<&str> = r.scope.split(' ').collect();
    let dummy = poem::Request::default();
    super::login::render_with_csrf(
        state,
        tenant,
        &dummy,
        "consent.html",
        json!({ "req": request_id, "client_id": client.client_id, "scopes": scopes }),
        StatusCode::OK,
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
    let session = match current_session(&state, &tenant, req, &ctx).await {
        Ok(s) => s,
        Err(e) => return page_error(&state, Some(&tenant), e),
    };
    let client = match load_client(&state, &tenant, &ar.client_id).await {
        Ok(Some(c)) => c,
        _ => {
            return error_page(
                &state,
                Some(&tenant),
                StatusCode::BAD_REQUEST,
                "Invalid request",
                "The client is no longer registered.",
            )
        }
    };
    continue_authorization(
        &state,
        &tenant,
        &client,
        &req_id,
        ar,
        session.as_ref(),
        Fresh {
            authenticated: true,
            consented: true,
        },
        &ctx,
    )
    .await
}
