//! RP-Initiated Logout 1.0 with Front-Channel Logout 1.0 §3 on the logged-out page.
//!
//! Pipeline: tenant -> parameters -> id_token_hint (ours, expired accepted, §2) -> client (hint
//! `aud` and/or `client_id`, which must agree) -> post_logout_redirect_uri (exact registered
//! value only, §3; otherwise rendered error, never a redirect) -> with a hint matching the
//! browser's session: end it now; otherwise ask the user (§2: the OP MUST ask without a valid
//! hint), who signs out or stays signed in -> logged-out page with one iframe per participating
//! RP, then continue to the post-logout redirect URI with `state`.

use super::login::render_with_csrf;
use super::{context, error_page, load_client, page_error, read_params, tenant_json};
use crate::app::{AppState, State};
use crate::error::Result;
use crate::http::{cookies, respond, Params, RequestContext};
use crate::model::Tenant;
use crate::session::service::{self as sessions, Ender};
use crate::session::{EndReason, Session};
use crate::store;
use crate::tokens;
use poem::http::StatusCode;
use poem::web::{Data, Path};
use poem::{handler, Body, Request, Response};
use serde::{Deserialize, Serialize};
use serde_json::json;

/// A logout request remembered while the user confirms.
#[derive(Debug, Clone, Serialize, Deserialize, Default)]
struct LogoutRequest {
    kind: String,
    continue_url: Option<String>,
    client_id: Option<String>,
}

/// Verified hint facts.
struct Hint {
    sub: Option<String>,
    sid: Option<String>,
    aud: Vec<String>,
}

#[handler]
pub async fn handle(
    state: Data<&State>,
    Path(slug): Path<String>,
    req: &Request,
    body: Body,
) -> Response {
    let ctx = context(&state, req);
    let tenant = match super::tenant_page(&state, &slug).await {
        Ok(t) => t,
        Err(page) => return page,
    };
    let params = match read_params(req, body)
        .await
        .and_then(|p| p.reject_duplicates().map(|_| p))
    {
        Ok(p) => p,
        Err(r) => return page_error(&state, Some(&tenant), r.into()),
    };
    match run(&state, &tenant, &params, &ctx).await {
        Ok(r) => r,
        Err(e) => page_error(&state, Some(&tenant), e),
    }
}

fn refuse(state: &AppState, tenant: &Tenant, message: &str) -> Response {
    error_page(
        state,
        Some(tenant),
        StatusCode::BAD_REQUEST,
        "Logout request refused",
        message,
    )
}

async fn run(
    state: &AppState,
    tenant: &Tenant,
    p: &Params,
    ctx: &RequestContext,
) -> Result<Response> {
    let hint = match p.get("id_token_hint") {
        None => None,
        Some(h) => match verify_hint(state, tenant, h, ctx.now_ms).await? {
            Some(h) => Some(h),
            None => {
                return Ok(refuse(
                    state,
                    tenant,
                    "The id_token_hint is not a valid ID token from this provider.",
                ))
            }
        },
    };
    let client_id = match (
        p.get("client_id"),
        hint.as_ref().and_then(|h| h.aud.first().cloned()),
    ) {
        (Some(c), Some(_)) if !hint.as_ref().is_some_and(|h| h.aud.iter().any(|a| a == c)) => {
            return Ok(refuse(
                state,
                tenant,
                "The client_id does not match the id_token_hint.",
            ));
        }
        (Some(c), _) => Some(c.to_string()),
        (None, a) => a,
    };
    let client = match &client_id {
        Some(c) => match load_client(state, tenant, c).await? {
            Some(c) => Some(c),
            None => return Ok(refuse(state, tenant, "The client is not registered.")),
        },
        None => None,
    };
    let continue_url = match p.get("post_logout_redirect_uri") {
        None => None,
        Some(uri) => match &client {
            Some(c) if c.post_logout_redirect_uris.iter().any(|u| u == uri) => {
                Some(with_state(uri, p.get("state")))
            }
            _ => {
                return Ok(refuse(
                    state,
                    tenant,
                    "The post_logout_redirect_uri is not registered for this client.",
                ))
            }
        },
    };
    let session = sessions::resolve(state, tenant, ctx).await?.live();
    let hint_matches = match (&hint, &session) {
        (Some(h), Some(s)) => {
            h.sid.as_deref() == Some(s.sid.as_str())
                || (h.sid.is_none() && h.sub.as_deref() == Some(s.user_id.as_str()))
        }
        _ => false,
    };
    match session {
        None => Ok(logged_out_page(
            state,
            tenant,
            Vec::new(),
            continue_url,
            None,
        )),
        Some(s) if hint_matches => {
            finish(state, tenant, &s, EndReason::RpLogout, continue_url, ctx).await
        }
        Some(_) => {
            // §2: without a hint for this session the OP MUST ask the user.
            let id = crate::crypto::random_token();
            let lr = LogoutRequest {
                kind: "logout".into(),
                // RP-Initiated Logout 1.0 §2/§3: `client_id` identifies the RP when there is no
                // hint, and the URI was checked against that client's registered values above,
                // so after the user's answer the browser goes back there (with `state`).
                continue_url,
                client_id: client.as_ref().map(|c| c.client_id.clone()),
            };
            store::grants::insert_request(
                &state.db,
                store::grants::AuthRequestRow {
                    id: id.clone(),
                    tenant_id: tenant.id.clone(),
                    params: serde_json::to_string(&lr)?,
                    created_at: ctx.now,
                    expires_at: ctx.now + 600,
                },
            )
            .await?;
            // Signing out may end in a redirect to the post_logout_redirect_uri (§3): the
            // confirmation form hands off to its origin; without one, to Lanyard only.
            Ok(respond::hand_off(
                render_with_csrf(
                    state,
                    tenant,
                    ctx,
                    "logout_confirm.html",
                    json!({ "req": id, "client_id": lr.client_id }),
                    StatusCode::OK,
                ),
                lr.continue_url.as_deref(),
            ))
        }
    }
}

/// The user's answer on the confirmation page (RP-Initiated Logout 1.0 §2: the OP asks, and logs
/// the End-User out if they say yes).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ConfirmationDecision {
    /// End the session: every application is signed out.
    SignOut,
    /// Sign out of the application that asked, only; the session lives on.
    SignOutOfClient,
    Stay,
}

/// Only the explicit "No, stay signed in" keeps the session. "Only this app" signs out of the
/// application that asked when the request named one (`client_id` or the hint's `aud`); any
/// other submission of the (CSRF-checked) confirmation form signs out everywhere, as the form
/// did when "Sign out" was its only button, so a client that submits the form without a button
/// value still logs out, and never less than the user asked for.
fn decide_confirmation(decision: Option<&str>, named_client: bool) -> ConfirmationDecision {
    match decision {
        Some("stay") => ConfirmationDecision::Stay,
        Some("this_app") if named_client => ConfirmationDecision::SignOutOfClient,
        _ => ConfirmationDecision::SignOut,
    }
}

/// The user answered the confirmation page: sign out, or stay signed in. Either way the pending
/// logout request is used up.
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
    let r = async {
        let id = params.get("req").unwrap_or("");
        let lr: LogoutRequest =
            match store::grants::find_request(&state.db, &tenant.id, id, ctx.now).await? {
                // A stored request that does not parse is an error, not an empty request.
                Some(row) => serde_json::from_str::<LogoutRequest>(&row.params).map_err(|e| {
                    crate::error::internal(format!(
                        "pending logout request: stored params do not parse: {e}"
                    ))
                })?,
                None => LogoutRequest::default(),
            };
        if lr.kind == "logout" {
            store::grants::delete_request(&state.db, &tenant.id, id).await?;
        }
        let session = sessions::resolve(&state, &tenant, &ctx).await?.live();
        let client = match &lr.client_id {
            Some(c) => load_client(&state, &tenant, c).await?,
            None => None,
        };
        match (
            decide_confirmation(params.get("decision"), client.is_some()),
            session,
        ) {
            (ConfirmationDecision::Stay, Some(_)) => Ok(still_signed_in_page(&state, &tenant, lr)),
            (ConfirmationDecision::SignOutOfClient, Some(s)) => match &client {
                Some(c) => {
                    let left = sessions::leave_client(
                        &state,
                        &tenant.id,
                        &s.id,
                        c,
                        &Ender::new("user", Some(&ctx)),
                        ctx.now_ms,
                    )
                    .await?;
                    let frames = own_frames(&left.fanout, &s.id);
                    Ok(logged_out_page(
                        &state,
                        &tenant,
                        frames,
                        lr.continue_url,
                        Some(&c.client_id),
                    ))
                }
                None => {
                    finish(
                        &state,
                        &tenant,
                        &s,
                        EndReason::UserLogout,
                        lr.continue_url,
                        &ctx,
                    )
                    .await
                }
            },
            (ConfirmationDecision::SignOut, Some(s)) => {
                finish(
                    &state,
                    &tenant,
                    &s,
                    EndReason::UserLogout,
                    lr.continue_url,
                    &ctx,
                )
                .await
            }
            (_, None) => Ok(logged_out_page(
                &state,
                &tenant,
                Vec::new(),
                lr.continue_url,
                None,
            )),
        }
    }
    .await;
    r.unwrap_or_else(|e| page_error(&state, Some(&tenant), e))
}

/// Nothing ended. The way back is the RP's registered post-logout redirect URI (with its
/// `state`) when the request named one (with a hint or a `client_id`); otherwise the page says
/// so.
fn still_signed_in_page(state: &AppState, tenant: &Tenant, lr: LogoutRequest) -> Response {
    let ctx = json!({
        "tenant": tenant_json(tenant),
        "stayed": true,
        "continue_url": lr.continue_url,
        "client_id": lr.client_id,
    });
    match state.templates.render("logout_confirm.html", ctx) {
        Ok(body) => respond::html(StatusCode::OK, body),
        Err(e) => page_error(state, Some(tenant), crate::error::internal(e)),
    }
}

/// End the session through the termination path and show the logged-out page with the
/// front-channel frames the fan-out decided for this session.
async fn finish(
    state: &AppState,
    tenant: &Tenant,
    s: &Session,
    reason: EndReason,
    continue_url: Option<String>,
    ctx: &RequestContext,
) -> Result<Response> {
    let ended = sessions::end_one(
        state,
        &tenant.id,
        &s.id,
        reason,
        &Ender::new("user", Some(ctx)),
        ctx.now_ms,
    )
    .await?;
    Ok(signed_out(state, tenant, &ended, &s.id, continue_url))
}

/// The browser's own session `own` was just ended (in `ended`): the logged-out page with the
/// front-channel frames of that session (Front-Channel Logout 1.0 §3) and the session cookie
/// cleared. Used by RP-initiated logout and by the account portal.
pub fn signed_out(
    state: &AppState,
    tenant: &Tenant,
    ended: &sessions::Ended,
    own: &str,
    continue_url: Option<String>,
) -> Response {
    let frames = own_frames(&ended.fanout, own);
    let mut resp = logged_out_page(state, tenant, frames, continue_url, None);
    cookies::append(
        &mut resp,
        state
            .cookies
            .clear(&state.cookies.session_name(&tenant.slug)),
    );
    resp
}

/// The front-channel frames (Front-Channel Logout 1.0 §3) of the browser's own session.
fn own_frames(fanout: &crate::session::fanout::Fanout, own: &str) -> Vec<String> {
    fanout
        .frontchannel
        .iter()
        .filter(|(sid, _)| sid == own)
        .map(|(_, url)| url.clone())
        .collect()
}

fn with_state(uri: &str, state: Option<&str>) -> String {
    match (url::Url::parse(uri), state) {
        (Ok(mut u), Some(s)) => {
            u.query_pairs_mut().append_pair("state", s);
            u.to_string()
        }
        _ => uri.to_string(),
    }
}

/// The logged-out page. Its CSP allows framing exactly the RPs' front-channel origins.
fn logged_out_page(
    state: &AppState,
    tenant: &Tenant,
    frames: Vec<String>,
    continue_url: Option<String>,
    app: Option<&str>,
) -> Response {
    // Nothing to load in the browser: go straight to the RP (RP-Initiated Logout §3).
    if frames.is_empty() {
        if let Some(u) = &continue_url {
            return respond::redirect(u);
        }
    }
    let body = state
        .templates
        .render("logged_out.html", json!({ "tenant": tenant_json(tenant), "frames": frames, "continue_url": continue_url, "app": app }))
        .unwrap_or_default();
    let origins: Vec<String> = frames
        .iter()
        .map(|f| crate::http::csrf::origin_of(f))
        .filter(|o| !o.is_empty() && o != "null")
        .collect();
    let frame_src = if origins.is_empty() {
        "'none'".to_string()
    } else {
        origins.join(" ")
    };
    let csp = format!("default-src 'self'; script-src 'self'; style-src 'self'; frame-src {frame_src}; object-src 'none'; frame-ancestors 'none'; base-uri 'none'");
    let mut r = respond::html(StatusCode::OK, body);
    if let Ok(v) = poem::http::HeaderValue::from_str(&csp) {
        r.headers_mut().insert("content-security-policy", v);
    }
    r
}

async fn verify_hint(
    state: &AppState,
    tenant: &Tenant,
    hint: &str,
    now_ms: i64,
) -> Result<Option<Hint>> {
    let keys = state.keys.get(&state.read, &tenant.id, now_ms).await?;
    let Ok(v) = tokens::verify(&keys, hint, now_ms / 1000) else {
        return Ok(None);
    };
    if tokens::claim_str(&v.claims, "iss") != Some(tenant.issuer.as_str())
        || !tokens::is_id_token(&v)
    {
        return Ok(None);
    }
    Ok(Some(Hint {
        sub: tokens::claim_str(&v.claims, "sub").map(str::to_string),
        sid: tokens::claim_str(&v.claims, "sid").map(str::to_string),
        aud: tokens::audiences(&v.claims),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_an_explicit_stay_keeps_the_session() {
        for named in [false, true] {
            assert_eq!(
                decide_confirmation(Some("stay"), named),
                ConfirmationDecision::Stay
            );
            assert_eq!(
                decide_confirmation(Some("logout"), named),
                ConfirmationDecision::SignOut
            );
            assert_eq!(
                decide_confirmation(None, named),
                ConfirmationDecision::SignOut
            );
            assert_eq!(
                decide_confirmation(Some("Stay"), named),
                ConfirmationDecision::SignOut
            );
        }
    }

    #[test]
    fn only_this_app_needs_an_app_that_asked() {
        assert_eq!(
            decide_confirmation(Some("this_app"), true),
            ConfirmationDecision::SignOutOfClient
        );
        // No application named: signing out of "it" can only mean everywhere.
        assert_eq!(
            decide_confirmation(Some("this_app"), false),
            ConfirmationDecision::SignOut
        );
    }

    #[test]
    fn the_stay_page_offers_the_way_back_only_when_known() {
        let t = crate::templates::Templates::load(None).unwrap();
        let back = t
            .render(
                "logout_confirm.html",
                json!({"tenant": {"name": "Acme", "slug": "acme"}, "stayed": true,
                       "continue_url": "https://rp.example/bye?state=s", "client_id": "web"}),
            )
            .unwrap();
        assert!(back.contains("You are still signed in"));
        // (The URL is HTML-escaped in the attribute; the browser suite follows the link.)
        assert!(back.contains("id=\"continue\" href=\"https:"));
        assert!(back.contains("rp.example"));
        assert!(back.contains("Return to web"));
        assert!(!back.contains("<form"), "nothing left to submit");
        let none = t
            .render(
                "logout_confirm.html",
                json!({"tenant": {"name": "Acme", "slug": "acme"}, "stayed": true}),
            )
            .unwrap();
        assert!(none.contains("You are still signed in"));
        assert!(!none.contains("id=\"continue\""), "no way back to invent");
    }

    #[test]
    fn the_question_offers_both_answers() {
        let t = crate::templates::Templates::load(None).unwrap();
        let html = t
            .render(
                "logout_confirm.html",
                json!({"tenant": {"name": "Acme", "slug": "acme"}, "csrf": "c", "req": "r"}),
            )
            .unwrap();
        assert!(html.contains("value=\"logout\">Sign out</button>"));
        assert!(html.contains("value=\"stay\" class=\"secondary\">No, stay signed in</button>"));
        assert!(
            !html.contains("this_app"),
            "no app named, no app-only answer"
        );
        let html = t
            .render(
                "logout_confirm.html",
                json!({"tenant": {"name": "Acme", "slug": "acme"}, "csrf": "c", "req": "r",
                       "client_id": "web"}),
            )
            .unwrap();
        assert!(
            html.contains("value=\"this_app\">Only web</button>"),
            "{html}"
        );
        assert!(html.contains("value=\"logout\">Everywhere</button>"));
        assert!(html.contains("No, stay signed in</button>"));
    }
}
