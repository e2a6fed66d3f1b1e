//! A step of the authorization that waits on a page of its own (choose a session to end, enter
//! a second factor, enrol one): kept in the remembered request, never in the form, and bound to
//! the browser that reached it by a secret cookie whose hash the request stores.

use super::authorize::{save_request, AuthRequest, Pending, PendingKind, PENDING_TTL_SECS};
use crate::app::AppState;
use crate::crypto::constant_time_eq;
use crate::error::Result;
use crate::http::{cookies, RequestContext};
use crate::model::Tenant;
use poem::Response;

pub fn cookie_name(state: &AppState, tenant: &Tenant) -> String {
    state.cookies.admission_name(&tenant.slug)
}

/// Record `kind` as the request's pending step; returns the cookie secret to set.
#[allow(clippy::too_many_arguments)]
pub async fn bind(
    state: &AppState,
    tenant: &Tenant,
    req_id: &str,
    ar: &mut AuthRequest,
    kind: PendingKind,
    must_end: usize,
    limit: u32,
    ctx: &RequestContext,
) -> Result<Option<String>> {
    let secret = crate::crypto::random_token();
    ar.progress.pending = Some(Pending {
        kind,
        secret_hash: state.hasher.hash("admission", &secret),
        must_end,
        limit,
        at: ctx.now,
    });
    Ok(save_request(state, tenant, req_id, ar)
        .await?
        .then_some(secret))
}

/// Set the binding cookie on a response.
pub fn set_cookie(state: &AppState, tenant: &Tenant, resp: &mut Response, secret: &str) {
    cookies::append(
        resp,
        state
            .cookies
            .set(&cookie_name(state, tenant), secret, Some(PENDING_TTL_SECS)),
    );
}

/// The request's pending step, if this browser is the one it is bound to and it is fresh.
pub fn check(
    state: &AppState,
    tenant: &Tenant,
    ar: &AuthRequest,
    ctx: &RequestContext,
) -> Option<Pending> {
    let pending = ar.progress.pending.clone()?;
    let secret = ctx.cookies.get(&cookie_name(state, tenant))?;
    let bound = constant_time_eq(
        state.hasher.hash("admission", secret).as_bytes(),
        pending.secret_hash.as_bytes(),
    );
    (bound && ctx.now - pending.at <= PENDING_TTL_SECS).then_some(pending)
}

/// Spend the binding cookie unless the response set a fresh one.
pub fn clear_unless_set(state: &AppState, tenant: &Tenant, resp: &mut Response) {
    let name = cookie_name(state, tenant);
    if !cookies::sets(resp, &name) {
        cookies::append(resp, state.cookies.clear(&name));
    }
}
