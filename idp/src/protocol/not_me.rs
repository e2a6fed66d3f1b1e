//! "This wasn't me" (`/t/{slug}/not-me?t=...`), the link in a new-device notice. GET shows what
//! is being reported and a CSRF-protected form, and changes nothing (mail scanners prefetch
//! links); POST confirms through `session::service::reported::confirm`.

use super::login::render_with_csrf;
use super::{context, error_page, page_error, read_params};
use crate::app::{AppState, State};
use crate::model::Tenant;
use crate::session::service::reported::{self, LinkRejection};
use poem::http::StatusCode;
use poem::web::{Data, Path};
use poem::{handler, Body, Request, Response};
use serde_json::json;

/// The link cannot be used: say why, in words, without saying more than the link showed.
fn refused(state: &AppState, tenant: &Tenant, why: LinkRejection) -> Response {
    let (title, message) = match why {
        LinkRejection::Unknown => (
            "Link not valid",
            "This link is not valid. Copy the whole link from the e-mail, or sign in and review \
             your devices.",
        ),
        LinkRejection::Expired => (
            "Link expired",
            "This link has expired. If a sign-in was not yours, change your password and tell \
             your administrator.",
        ),
        LinkRejection::Used => (
            "Link already used",
            "This link was already used: the sign-in it reported has been dealt with.",
        ),
    };
    error_page(state, Some(tenant), StatusCode::BAD_REQUEST, title, message)
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
    let token = params.get("t").unwrap_or("").to_string();
    match reported::inspect(&state, &tenant, &token, ctx.now).await {
        Ok(Ok(signed_in)) => render_with_csrf(
            &state,
            &tenant,
            &ctx,
            "not_me.html",
            json!({
                "token": token,
                "device": { "browser": signed_in.browser, "os": signed_in.os },
                "signed_in_at": crate::templates::utc(signed_in.signed_in_at),
            }),
            StatusCode::OK,
        ),
        Ok(Err(why)) => refused(&state, &tenant, why),
        Err(e) => page_error(&state, Some(&tenant), e),
    }
}

#[handler]
pub async fn confirm(
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
    let token = params.get("t").unwrap_or("");
    match reported::confirm(&state, &tenant, token, &ctx).await {
        Ok(Ok(_)) => render_with_csrf(
            &state,
            &tenant,
            &ctx,
            "not_me.html",
            json!({ "done": true }),
            StatusCode::OK,
        ),
        Ok(Err(why)) => refused(&state, &tenant, why),
        Err(e) => page_error(&state, Some(&tenant), e),
    }
}
