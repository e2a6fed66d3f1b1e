//! "Choose a new password" in the login flow: after the password was verified, a user who must
//! change it (they reported a sign-in as not theirs) picks a new one before anything else. The
//! step waits as the request's pending step, bound to this browser (`protocol::pending`), so
//! only the browser that just proved the old password can set the new one.

use super::authorize::{load_request, AuthRequest, PendingKind};
use super::login::{client_gone, expired, password_verified, render_with_csrf};
use super::{context, load_client, page_error};
use crate::app::{AppState, State};
use crate::http::{respond, RequestContext};
use crate::manage::users::MIN_PASSWORD_LEN;
use crate::model::{Client, Tenant};
use crate::store;
use poem::http::StatusCode;
use poem::web::{Data, Path};
use poem::{handler, Body, Request, Response};
use serde_json::json;

/// Ask for a new password.
pub async fn ask(
    state: &AppState,
    tenant: &Tenant,
    _client: &Client,
    req_id: &str,
    mut ar: AuthRequest,
    user_id: &str,
    ctx: &RequestContext,
) -> Response {
    let kind = PendingKind::PasswordChange {
        user_id: user_id.into(),
    };
    let secret = match super::pending::bind(state, tenant, req_id, &mut ar, kind, 0, 0, ctx).await {
        Ok(Some(s)) => s,
        Ok(None) => return expired(state, tenant),
        Err(e) => return page_error(state, Some(tenant), e),
    };
    let mut r = form(
        state,
        tenant,
        &ar.redirect_uri,
        req_id,
        None,
        StatusCode::OK,
        ctx,
    );
    super::pending::set_cookie(state, tenant, &mut r, &secret);
    r
}

/// The new-password form; once changed, the sign-in goes on to `redirect_uri` (hand-off).
fn form(
    state: &AppState,
    tenant: &Tenant,
    redirect_uri: &str,
    req_id: &str,
    error: Option<&str>,
    status: StatusCode,
    ctx: &RequestContext,
) -> Response {
    respond::hand_off(
        render_with_csrf(
            state,
            tenant,
            ctx,
            "change_password.html",
            json!({ "req": req_id, "error": error }),
            status,
        ),
        Some(redirect_uri),
    )
}

/// What is wrong with the new password, if anything.
fn decide_new_password(new: &str, repeated: &str) -> Option<String> {
    if new != repeated {
        return Some("The two passwords do not match.".into());
    }
    if new.chars().count() < MIN_PASSWORD_LEN {
        return Some(format!(
            "Choose a password of at least {MIN_PASSWORD_LEN} characters."
        ));
    }
    None
}

/// `POST /t/{slug}/login/password`: the new password, twice.
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
    let client = match load_client(&state, &tenant, &ar.client_id).await {
        Ok(Some(c)) => c,
        Ok(None) => return client_gone(&state, &tenant),
        Err(e) => return page_error(&state, Some(&tenant), e),
    };
    let Some(PendingKind::PasswordChange { user_id }) =
        super::pending::check(&state, &tenant, &ar, &ctx).map(|p| p.kind)
    else {
        return expired(&state, &tenant);
    };
    let new = params.get("new_password").unwrap_or("").to_string();
    let repeated = params.get("confirm_password").unwrap_or("");
    if let Some(why) = decide_new_password(&new, repeated) {
        return form(
            &state,
            &tenant,
            &ar.redirect_uri,
            &req_id,
            Some(&why),
            StatusCode::BAD_REQUEST,
            &ctx,
        );
    }
    let user = match store::users::find(&state.db, &tenant.id, &user_id).await {
        Ok(Some(u)) if u.status == store::users::ACTIVE => u,
        Ok(_) => return expired(&state, &tenant),
        Err(e) => return page_error(&state, Some(&tenant), e.into()),
    };
    // The old password may have been seen by whoever signed in: it must not come back.
    if crate::passwords::verify(new.clone(), Some(user.password_hash.clone())).await {
        return form(
            &state,
            &tenant,
            &ar.redirect_uri,
            &req_id,
            Some("Choose a password different from your current one."),
            StatusCode::BAD_REQUEST,
            &ctx,
        );
    }
    if let Err(e) = crate::factors::service::change_password(
        &state,
        &tenant,
        &user.id,
        &new,
        None,
        "user",
        Some(&ctx),
    )
    .await
    {
        return page_error(&state, Some(&tenant), e);
    }
    let user = match store::users::find(&state.db, &tenant.id, &user_id).await {
        Ok(Some(u)) => u,
        Ok(None) => return expired(&state, &tenant),
        Err(e) => return page_error(&state, Some(&tenant), e.into()),
    };
    let mut resp = password_verified(&state, &tenant, &client, &req_id, ar, &user, &ctx).await;
    super::pending::clear_unless_set(&state, &tenant, &mut resp);
    resp
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_new_password_is_repeated_and_long_enough() {
        assert!(decide_new_password("long enough pw", "long enough pw").is_none());
        assert!(decide_new_password("long enough pw", "long enough px").is_some());
        assert!(decide_new_password("short", "short").is_some());
    }
}
