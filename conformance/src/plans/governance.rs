//! `lanyard-session-governance-plan`: what happens after login, checked from outside —
//! refresh rotation and reuse detection, revocation seen by introspection, the exact logout
//! token, back-channel retries, and logout when a session times out.

use anyhow::{Context as _, Result};
use std::time::Duration;

use super::channels::{check_backchannel_hit, for_session};
use crate::ctx::Ctx;
use crate::flow::{authorize, end_session, login, offline_request, redeem, Tokens};
use crate::op::{self, Op, Reply};
use crate::report::Checks;

pub const MODULES: &[&str] = &[
    "lanyard-refresh-rotation-reuse-detection",
    "lanyard-revocation-then-introspection",
    "lanyard-backchannel-logout-token-shape",
    "lanyard-backchannel-retry-after-503",
    "lanyard-logout-on-session-idle-timeout",
];

pub async fn run(module: &str, ctx: &Ctx, c: &mut Checks, retry_wait: Duration) -> Result<()> {
    match module {
        "lanyard-refresh-rotation-reuse-detection" => rotation(ctx, c).await,
        "lanyard-revocation-then-introspection" => revocation(ctx, c).await,
        "lanyard-backchannel-logout-token-shape" => {
            super::channels::backchannel_logout(ctx, c, true).await
        }
        "lanyard-backchannel-retry-after-503" => retry(ctx, c, retry_wait).await,
        "lanyard-logout-on-session-idle-timeout" => idle_timeout(ctx, c).await,
        other => anyhow::bail!("unknown module {other}"),
    }
}

async fn offline_tokens(ctx: &Ctx, c: &mut Checks) -> Result<Tokens> {
    let browser = ctx.browser()?;
    let req = offline_request(ctx, &ctx.client);
    let res = authorize(ctx, &browser, &req, true).await?;
    redeem(c, ctx, &ctx.client, &req, &res).await
}

async fn refresh(ctx: &Ctx, rt: &str) -> Result<Reply> {
    op::token_request(
        &ctx.http,
        &ctx.op,
        &ctx.client,
        &[("grant_type", "refresh_token"), ("refresh_token", rt)],
    )
    .await
}

fn is_invalid_grant(r: &Reply) -> bool {
    r.status == 400 && r.error() == Some("invalid_grant")
}

/// OAuth 2.0 Security BCP §4.14.2: rotate on every use; a replayed token revokes the family.
async fn rotation(ctx: &Ctx, c: &mut Checks) -> Result<()> {
    let t = offline_tokens(ctx, c).await?;
    let a = t.refresh_token.context("no refresh token issued")?;
    let r1 = refresh(ctx, &a).await?;
    let b = r1.str("refresh_token").map(str::to_owned);
    let Some(b) = b.filter(|b| *b != a) else {
        c.fail(format!(
            "refreshing A did not rotate (HTTP {}, new refresh token absent or equal)",
            r1.status
        ));
        return Ok(());
    };
    let r2 = refresh(ctx, &b).await?;
    let Some(cc) = r2
        .str("refresh_token")
        .map(str::to_owned)
        .filter(|x| *x != b)
    else {
        c.fail(format!("refreshing B did not rotate (HTTP {})", r2.status));
        return Ok(());
    };
    let replay = refresh(ctx, &a).await?;
    c.require(
        is_invalid_grant(&replay),
        format!(
            "replayed A: HTTP {} {:?}, expected 400 invalid_grant",
            replay.status,
            replay.error()
        ),
    );
    let newest = refresh(ctx, &cc).await?;
    c.require(
        is_invalid_grant(&newest),
        format!(
            "after A's replay the newest token C still works (HTTP {}): the family was not revoked",
            newest.status
        ),
    );
    Ok(())
}

async fn introspect(ctx: &Ctx, ep: &url::Url, token: &str, hint: &str) -> Result<Reply> {
    op::client_post(
        &ctx.http,
        ep,
        &ctx.client,
        &[("token", token), ("token_type_hint", hint)],
    )
    .await
}

/// RFC 7009 revocation, observed through RFC 7662 introspection.
async fn revocation(ctx: &Ctx, c: &mut Checks) -> Result<()> {
    let (Ok(revoke), Ok(intro)) = (
        ctx.op.endpoint("revocation_endpoint"),
        ctx.op.endpoint("introspection_endpoint"),
    ) else {
        c.fail("discovery lacks revocation_endpoint or introspection_endpoint");
        return Ok(());
    };
    let t = offline_tokens(ctx, c).await?;
    let before = introspect(ctx, &intro, &t.access_token, "access_token").await?;
    c.require(
        before.json.get("active") == Some(&serde_json::Value::Bool(true)),
        format!(
            "fresh access token not active: HTTP {} {}",
            before.status, before.json
        ),
    );
    let r = op::client_post(
        &ctx.http,
        &revoke,
        &ctx.client,
        &[
            ("token", &t.access_token),
            ("token_type_hint", "access_token"),
        ],
    )
    .await?;
    c.require(
        r.status == 200,
        format!(
            "revoking the access token returned HTTP {} (RFC 7009 §2.2)",
            r.status
        ),
    );
    let after = introspect(ctx, &intro, &t.access_token, "access_token").await?;
    c.require(
        after.status == 200 && after.json.get("active") == Some(&serde_json::Value::Bool(false)),
        format!(
            "revoked access token introspects as {} (HTTP {})",
            after.json, after.status
        ),
    );
    if let Some(rt) = &t.refresh_token {
        let r = op::client_post(
            &ctx.http,
            &revoke,
            &ctx.client,
            &[("token", rt), ("token_type_hint", "refresh_token")],
        )
        .await?;
        c.require(
            r.status == 200,
            format!("revoking the refresh token returned HTTP {}", r.status),
        );
        let after = introspect(ctx, &intro, rt, "refresh_token").await?;
        c.require(
            after.json.get("active") == Some(&serde_json::Value::Bool(false)),
            format!("revoked refresh token introspects as {}", after.json),
        );
        let used = refresh(ctx, rt).await?;
        c.require(
            is_invalid_grant(&used),
            format!(
                "revoked refresh token still refreshes (HTTP {})",
                used.status
            ),
        );
    }
    let garbage = introspect(ctx, &intro, "not-a-token", "access_token").await?;
    c.require(
        garbage.status == 200
            && garbage.json.get("active") == Some(&serde_json::Value::Bool(false)),
        "introspection of an unknown token is not 200 {\"active\": false} (RFC 7662 §2.2)",
    );
    Ok(())
}

/// Back-Channel Logout §2.8: a delivery the RP refused (503) is retried, as a new token.
async fn retry(ctx: &Ctx, c: &mut Checks, wait: Duration) -> Result<()> {
    let mark = ctx.rp.mark();
    let (browser, _, t) = login(c, ctx, &ctx.client, "openid").await?;
    ctx.rp.fail_next_backchannel(1);
    let uri = ctx.rp.post_logout().to_string();
    end_session(
        ctx,
        &browser,
        &[
            ("id_token_hint", &t.id_token_raw),
            ("post_logout_redirect_uri", &uri),
        ],
    )
    .await?;
    let id = ctx.client.id.clone();
    let sid = t.sid().map(str::to_owned);
    let ours = |x: &crate::listener::BackchannelHit| for_session(x, &id, sid.as_deref());
    let hits = ctx
        .rp
        .wait_backchannel(mark, wait, |h| h.iter().filter(|x| ours(x)).count() >= 2)
        .await;
    ctx.rp.fail_next_backchannel(0);
    let mine: Vec<_> = hits.iter().filter(|h| ours(h)).collect();
    match mine.as_slice() {
        [] => c.fail("no back-channel logout request arrived"),
        [first] => c.fail(format!(
            "the delivery answered {} was not retried within {}s",
            first.answered,
            wait.as_secs()
        )),
        [first, second, ..] => {
            c.require(
                first.answered == 503,
                "the listener did not refuse the first delivery",
            );
            check_backchannel_hit(c, ctx, second, t.sub(), t.sid(), true);
            let jti = |h: &crate::listener::BackchannelHit| {
                h.logout_token()
                    .and_then(|tok| crate::jwt::Jws::parse(tok).ok())
                    .and_then(|j| j.claim_str("jti").map(str::to_owned))
            };
            c.require(
                jti(first) != jti(second),
                "the retried logout token reuses the jti of the refused one",
            );
            c.require(
                second.received_at >= first.received_at,
                "retry arrived before the first attempt",
            );
        }
    }
    Ok(())
}

/// A session that idles past the tenant's timeout ends, and the RP is told by back channel.
async fn idle_timeout(ctx: &Ctx, c: &mut Checks) -> Result<()> {
    let Some(idle) = &ctx.idle else {
        c.skip("the OP is not known to have a short idle timeout (pass --idle-timeout-secs or --setup lanyard)");
        return Ok(());
    };
    let op = Op::discover(&ctx.http, &idle.issuer).await?;
    let mut sub_ctx = ctx.clone();
    sub_ctx.op = op;
    sub_ctx.client = idle.client.clone();
    sub_ctx.user = idle.user.clone();
    let mark = ctx.rp.mark();
    let (_browser, _, t) = login(c, &sub_ctx, &idle.client, "openid").await?;
    let wait = Duration::from_secs(idle.idle_secs.saturating_mul(2) + 60);
    let id = idle.client.id.clone();
    let sid = t.sid().map(str::to_owned);
    let hits = ctx
        .rp
        .wait_backchannel(mark, wait, |h| {
            h.iter().any(|x| for_session(x, &id, sid.as_deref()))
        })
        .await;
    match hits.iter().find(|h| for_session(h, &id, sid.as_deref())) {
        None => c.fail(format!(
            "no back-channel logout within {}s of login with an idle timeout of {}s",
            wait.as_secs(),
            idle.idle_secs
        )),
        Some(hit) => check_backchannel_hit(c, &sub_ctx, hit, t.sub(), t.sid(), true),
    }
    Ok(())
}
