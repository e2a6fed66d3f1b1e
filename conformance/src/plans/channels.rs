//! Back-channel, front-channel and session-management logout plans (OpenID Back-Channel Logout
//! 1.0, Front-Channel Logout 1.0, Session Management 1.0).

use anyhow::Result;
use std::time::Duration;

use super::config::check_https;
use super::logout::expect_redirect;
use crate::ctx::Ctx;
use crate::flow::{self, end_session, login, param};
use crate::listener::BackchannelHit;
use crate::logout_token::{evaluate_logout_token, Expectation};
use crate::report::Checks;

pub const BACKCHANNEL: &[&str] = &[
    "oidcc-backchannel-logout-discovery-endpoint-verification",
    "oidcc-backchannel-rp-initiated-logout",
];
pub const FRONTCHANNEL: &[&str] = &[
    "oidcc-frontchannel-logout-discovery-endpoint-verification",
    "oidcc-frontchannel-rp-initiated-logout",
];
pub const SESSION: &[&str] = &[
    "oidcc-session-management-discovery-endpoint-verification",
    "oidcc-session-management-rp-initiated-logout",
];

/// How long the OP has to deliver a back-channel logout after the browser's logout finished.
pub const DELIVERY_WAIT: Duration = Duration::from_secs(15);

pub async fn run(module: &str, ctx: &Ctx, c: &mut Checks) -> Result<()> {
    match module {
        "oidcc-backchannel-logout-discovery-endpoint-verification" => {
            check_https(c, &ctx.op.doc);
            c.require(
                ctx.op.flag("backchannel_logout_supported"),
                "backchannel_logout_supported is not true",
            );
            c.require(
                ctx.op.flag("backchannel_logout_session_supported"),
                "backchannel_logout_session_supported is not true",
            );
            c.require(
                ctx.op.str("end_session_endpoint").is_some(),
                "discovery has no end_session_endpoint",
            );
        }
        "oidcc-backchannel-rp-initiated-logout" => backchannel_logout(ctx, c, false).await?,
        "oidcc-frontchannel-logout-discovery-endpoint-verification" => {
            check_https(c, &ctx.op.doc);
            c.require(
                ctx.op.flag("frontchannel_logout_supported"),
                "frontchannel_logout_supported is not true",
            );
            c.require(
                ctx.op.flag("frontchannel_logout_session_supported"),
                "frontchannel_logout_session_supported is not true",
            );
            c.require(
                ctx.op.str("end_session_endpoint").is_some(),
                "discovery has no end_session_endpoint",
            );
        }
        "oidcc-frontchannel-rp-initiated-logout" => frontchannel_logout(ctx, c).await?,
        "oidcc-session-management-discovery-endpoint-verification" => {
            if ctx.op.str("check_session_iframe").is_none() {
                c.skip("discovery has no check_session_iframe");
            } else {
                c.require(
                    ctx.op.str("end_session_endpoint").is_some(),
                    "discovery has no end_session_endpoint",
                );
            }
        }
        "oidcc-session-management-rp-initiated-logout" => {
            if ctx.op.str("check_session_iframe").is_none() {
                c.skip("discovery has no check_session_iframe");
            } else {
                c.skip("the check_session_iframe protocol needs the OP's JavaScript, which this runner does not execute");
            }
        }
        other => anyhow::bail!("unknown module {other}"),
    }
    Ok(())
}

/// Logs in, logs out through the end-session endpoint, and returns the back-channel requests
/// addressed to `client` that arrived (checking redirect and session end on the way).
pub async fn backchannel_logout(ctx: &Ctx, c: &mut Checks, strict: bool) -> Result<()> {
    let mark = ctx.rp.mark();
    let (browser, _, t) = login(c, ctx, &ctx.client, "openid").await?;
    let state = ctx.rng.token(12);
    let uri = ctx.rp.post_logout().to_string();
    let nav = end_session(
        ctx,
        &browser,
        &[
            ("id_token_hint", &t.id_token_raw),
            ("post_logout_redirect_uri", &uri),
            ("state", &state),
        ],
    )
    .await?;
    expect_redirect(c, ctx, &nav, Some(&state));
    let client_id = ctx.client.id.clone();
    let sid = t.sid().map(str::to_owned);
    let hits = ctx
        .rp
        .wait_backchannel(mark, DELIVERY_WAIT, |h| {
            h.iter().any(|x| for_session(x, &client_id, sid.as_deref()))
        })
        .await;
    // Other sessions of the same client may end meanwhile (eviction, earlier modules); the one
    // for this session is judged, any other is only a fallback so a wrong sid is still reported.
    let hit = hits
        .iter()
        .find(|h| for_session(h, &client_id, sid.as_deref()))
        .or_else(|| hits.iter().find(|h| addressed_to(h, &client_id)));
    let Some(hit) = hit else {
        c.fail(format!(
            "no back-channel logout request for {client_id} within {}s",
            DELIVERY_WAIT.as_secs()
        ));
        return flow::check_logged_out(c, ctx, &browser, &ctx.client).await;
    };
    check_backchannel_hit(c, ctx, hit, t.sub(), t.sid(), strict);
    flow::check_logged_out(c, ctx, &browser, &ctx.client).await
}

/// §2.5: a form POST carrying only `logout_token`; the token per §2.6.
pub fn check_backchannel_hit(
    c: &mut Checks,
    ctx: &Ctx,
    hit: &BackchannelHit,
    sub: Option<&str>,
    sid: Option<&str>,
    strict: bool,
) {
    c.require(
        hit.content_type
            .as_deref()
            .is_some_and(|t| t.starts_with("application/x-www-form-urlencoded")),
        format!(
            "back-channel request content-type is {:?}",
            hit.content_type
        ),
    );
    c.expect(
        hit.params.len() == 1,
        "back-channel request body carries parameters besides logout_token",
    );
    let Some(token) = hit.logout_token() else {
        c.fail("back-channel request has no logout_token");
        return;
    };
    let expect = Expectation {
        issuer: &ctx.op.issuer,
        client_id: &ctx.client.id,
        sub,
        sid,
        sid_required: strict,
        strict,
    };
    c.extend(evaluate_logout_token(
        token,
        &ctx.op.jwks,
        &expect,
        crate::clock::now_epoch(),
    ));
}

/// Whether a back-channel request is for `client_id`'s session `sid` (any session when the ID
/// token had no `sid`).
pub fn for_session(hit: &BackchannelHit, client_id: &str, sid: Option<&str>) -> bool {
    if !addressed_to(hit, client_id) {
        return false;
    }
    let token_sid = hit
        .logout_token()
        .and_then(|t| crate::jwt::Jws::parse(t).ok())
        .and_then(|j| j.claim_str("sid").map(str::to_owned));
    match (sid, token_sid) {
        (Some(want), Some(got)) => want == got,
        _ => true,
    }
}

/// Whether a back-channel request's token names `client_id` in `aud` (signature not checked
/// here; this only routes requests to the module that expects them).
pub fn addressed_to(hit: &BackchannelHit, client_id: &str) -> bool {
    let Some(token) = hit.logout_token() else {
        return true;
    };
    let Ok(jws) = crate::jwt::Jws::parse(token) else {
        return true;
    };
    match jws.claims.get("aud") {
        Some(serde_json::Value::String(a)) => a == client_id,
        Some(serde_json::Value::Array(a)) => a.iter().any(|v| v.as_str() == Some(client_id)),
        _ => true,
    }
}

async fn frontchannel_logout(ctx: &Ctx, c: &mut Checks) -> Result<()> {
    let mark = ctx.rp.mark();
    let (browser, _, t) = login(c, ctx, &ctx.client, "openid").await?;
    let state = ctx.rng.token(12);
    let uri = ctx.rp.post_logout().to_string();
    let nav = end_session(
        ctx,
        &browser,
        &[
            ("id_token_hint", &t.id_token_raw),
            ("post_logout_redirect_uri", &uri),
            ("state", &state),
        ],
    )
    .await?;
    let hits = ctx.rp.frontchannel_since(mark);
    match hits.first() {
        None => c.fail(format!(
            "the OP did not render the front-channel logout URI ({} iframes on its pages)",
            nav.iframes.len()
        )),
        Some(h) => {
            c.require(
                param(&h.query, "iss") == Some(ctx.op.issuer.as_str()),
                "front-channel iss is not the issuer",
            );
            c.require(
                param(&h.query, "sid").is_some() && param(&h.query, "sid") == t.sid(),
                "front-channel sid is not the ID token's sid",
            );
            let extra: Vec<&str> = h
                .query
                .iter()
                .map(|(k, _)| k.as_str())
                .filter(|k| *k != "iss" && *k != "sid")
                .collect();
            c.expect(
                extra.is_empty(),
                format!("front-channel URI got unexpected parameters {extra:?}"),
            );
        }
    }
    expect_redirect(c, ctx, &nav, Some(&state));
    flow::check_logged_out(c, ctx, &browser, &ctx.client).await
}
