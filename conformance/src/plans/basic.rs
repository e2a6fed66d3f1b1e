//! `oidcc-basic-certification-test-plan`, modules 1-27: the code flow, ID token, userinfo,
//! scopes and the authorization parameters an OP must accept (see CONFORMANCE.md).

use anyhow::Result;
use std::time::Duration;

use crate::ctx::Ctx;
use crate::flow::{
    self, authorize, has_claim, login, redeem, AuthRequest, Tokens, PROMPT_NONE_ERRORS,
};
use crate::op::{self, check_jwks_kids, UserinfoCall};
use crate::report::Checks;

pub const MODULES: &[&str] = &[
    "oidcc-server",
    "oidcc-response-type-missing",
    "oidcc-idtoken-signature",
    "oidcc-idtoken-unsigned",
    "oidcc-userinfo-get",
    "oidcc-userinfo-post-header",
    "oidcc-userinfo-post-body",
    "oidcc-ensure-request-without-nonce-succeeds-for-code-flow",
    "oidcc-scope-profile",
    "oidcc-scope-email",
    "oidcc-scope-address",
    "oidcc-scope-phone",
    "oidcc-scope-all",
    "oidcc-alternate-happy-flow",
    "oidcc-display-page",
    "oidcc-display-popup",
    "oidcc-prompt-login",
    "oidcc-prompt-none-not-logged-in",
    "oidcc-prompt-none-logged-in",
    "oidcc-max-age-1",
    "oidcc-max-age-10000",
    "oidcc-ensure-request-with-unknown-parameter-succeeds",
    "oidcc-id-token-hint",
    "oidcc-login-hint",
    "oidcc-ui-locales",
    "oidcc-claims-locales",
    "oidcc-ensure-request-with-acr-values-succeeds",
    "oidcc-codereuse",
    "oidcc-codereuse-30seconds",
    "oidcc-ensure-registered-redirect-uri",
    "oidcc-ensure-post-request-succeeds",
    "oidcc-server-client-secret-post",
    "oidcc-request-uri-unsigned-supported-correctly-or-rejected-as-unsupported",
    "oidcc-unsigned-request-object-supported-correctly-or-rejected-as-unsupported",
    "oidcc-claims-essential",
    "oidcc-ensure-request-object-with-redirect-uri",
    "oidcc-refresh-token",
    "oidcc-ensure-request-with-valid-pkce-succeeds",
];

pub async fn run(module: &str, ctx: &Ctx, c: &mut Checks) -> Result<()> {
    match module {
        "oidcc-server" => {
            let (browser, _, t) = login(c, ctx, &ctx.client, "openid").await?;
            check_jwks_kids(c, &ctx.op);
            c.require(t.reply.str("access_token").is_some(), "no access_token");
            // Once more through the stock openidconnect RP (silent: the session exists).
            let req = base(ctx);
            let res = authorize(ctx, &browser, &req, true).await?;
            let sub = flow::redeem_with_openidconnect(ctx, &ctx.client, &req, &res).await?;
            c.require(
                Some(sub.as_str()) == t.sub(),
                "sub differs between the two logins",
            );
        }
        "oidcc-response-type-missing" => response_type_missing(ctx, c).await?,
        "oidcc-idtoken-signature" => {
            let (_, _, t) = login(c, ctx, &ctx.client, "openid").await?;
            c.require(
                t.id_token.alg() == Some("RS256"),
                format!(
                    "ID token alg is {:?}, default must be RS256",
                    t.id_token.alg()
                ),
            );
            c.require(
                t.id_token.kid().is_some() || ctx.op.jwks.keys().len() == 1,
                "ID token header has no kid and the JWKS has several keys",
            );
        }
        "oidcc-idtoken-unsigned" => {
            if ctx
                .op
                .lists("id_token_signing_alg_values_supported", "none")
            {
                c.skip(
                    "alg none is advertised but needs a client registered for it (not configured)",
                );
            } else {
                c.skip("id_token_signing_alg_values_supported does not list none (not required)");
            }
        }
        "oidcc-userinfo-get" => userinfo(ctx, c, UserinfoCall::GetHeader).await?,
        "oidcc-userinfo-post-header" => userinfo(ctx, c, UserinfoCall::PostHeader).await?,
        "oidcc-userinfo-post-body" => userinfo(ctx, c, UserinfoCall::PostBody).await?,
        "oidcc-ensure-request-without-nonce-succeeds-for-code-flow" => {
            let req = AuthRequest::code(ctx, &ctx.client, "openid").remove("nonce");
            happy(ctx, c, req).await?;
        }
        "oidcc-scope-profile" => scope(ctx, c, "openid profile", &["name"]).await?,
        "oidcc-scope-email" => scope(ctx, c, "openid email", &["email"]).await?,
        "oidcc-scope-address" => scope(ctx, c, "openid address", &["address"]).await?,
        "oidcc-scope-phone" => scope(ctx, c, "openid phone", &["phone_number"]).await?,
        "oidcc-scope-all" => {
            scope(
                ctx,
                c,
                "openid profile email address phone",
                &["name", "email", "address", "phone_number"],
            )
            .await?;
        }
        "oidcc-alternate-happy-flow" => {
            // Reversed scope order and parameters in another order (OIDC Core §3.1.2.1).
            let mut req = AuthRequest::code(ctx, &ctx.client, "email profile openid");
            req.params.reverse();
            happy(ctx, c, req).await?;
        }
        "oidcc-display-page" => happy(ctx, c, base(ctx).set("display", "page"))
            .await
            .map(drop)?,
        "oidcc-display-popup" => happy(ctx, c, base(ctx).set("display", "popup"))
            .await
            .map(drop)?,
        "oidcc-prompt-login" => prompt_login(ctx, c).await?,
        "oidcc-prompt-none-not-logged-in" => {
            let browser = ctx.browser()?;
            let res = authorize(ctx, &browser, &base(ctx).set("prompt", "none"), false).await?;
            match res.error() {
                Some(e) if PROMPT_NONE_ERRORS.contains(&e) => {}
                Some(e) => c.fail(format!("prompt=none without a session returned {e}")),
                None if res.code().is_some() => {
                    c.fail("prompt=none without a session issued a code")
                }
                None => c.fail(format!(
                    "prompt=none without a session did not redirect back with an error: {}",
                    res.nav.describe()
                )),
            }
        }
        "oidcc-prompt-none-logged-in" => {
            silent_reauth(ctx, c, |r, _| r.set("prompt", "none")).await?
        }
        "oidcc-max-age-1" => max_age_1(ctx, c).await?,
        "oidcc-max-age-10000" => max_age_10000(ctx, c).await?,
        "oidcc-ensure-request-with-unknown-parameter-succeeds" => {
            happy(ctx, c, base(ctx).set("extra", "foobar"))
                .await
                .map(drop)?
        }
        "oidcc-id-token-hint" => {
            silent_reauth(ctx, c, |r, t| {
                r.set("prompt", "none")
                    .set("id_token_hint", t.id_token_raw.clone())
            })
            .await?;
        }
        "oidcc-login-hint" => {
            let req = base(ctx).set("login_hint", ctx.user.username.clone());
            happy(ctx, c, req).await?;
        }
        "oidcc-ui-locales" => happy(ctx, c, base(ctx).set("ui_locales", "se"))
            .await
            .map(drop)?,
        "oidcc-claims-locales" => happy(ctx, c, base(ctx).set("claims_locales", "se"))
            .await
            .map(drop)?,
        "oidcc-ensure-request-with-acr-values-succeeds" => {
            let t = happy(ctx, c, base(ctx).set("acr_values", "1 2")).await?;
            let acr = t.id_token.claim_str("acr");
            c.expect(
                matches!(acr, Some("1" | "2")),
                format!("acr {acr:?} is not one of the requested values (SHOULD)"),
            );
        }
        other => return super::basic_tokens::run(other, ctx, c).await,
    }
    Ok(())
}

pub fn base(ctx: &Ctx) -> AuthRequest {
    AuthRequest::code(ctx, &ctx.client, "openid")
}

/// A fresh browser completes `req` (logging in) and redeems the code.
pub async fn happy(ctx: &Ctx, c: &mut Checks, req: AuthRequest) -> Result<Tokens> {
    let browser = ctx.browser()?;
    let res = authorize(ctx, &browser, &req, true).await?;
    redeem(c, ctx, &ctx.client, &req, &res).await
}

async fn response_type_missing(ctx: &Ctx, c: &mut Checks) -> Result<()> {
    let browser = ctx.browser()?;
    let res = authorize(ctx, &browser, &base(ctx).remove("response_type"), true).await?;
    match (res.error(), res.code()) {
        (Some("unsupported_response_type" | "invalid_request"), _) => {}
        (Some(e), _) => c.fail(format!(
            "error {e}, expected unsupported_response_type or invalid_request"
        )),
        (None, Some(_)) => c.fail("a code was issued without response_type"),
        (None, None) => {
            // An error page shown to the user is allowed; anything sent to the RP is not.
            c.require(
                res.nav.page().is_some(),
                format!("unexpected outcome: {}", res.nav.describe()),
            );
        }
    }
    Ok(())
}

async fn userinfo(ctx: &Ctx, c: &mut Checks, how: UserinfoCall) -> Result<()> {
    let (_, _, t) = login(c, ctx, &ctx.client, "openid").await?;
    let r = op::userinfo(&ctx.http, &ctx.op, &t.access_token, how).await?;
    if r.status != 200 {
        let msg = format!("userinfo ({how:?}) returned HTTP {}", r.status);
        match how {
            UserinfoCall::PostBody => c.warn(msg),
            _ => c.fail(msg),
        }
        return Ok(());
    }
    c.require(
        r.str("sub") == t.sub(),
        "userinfo sub differs from the ID token's sub",
    );
    Ok(())
}

async fn scope(ctx: &Ctx, c: &mut Checks, scope: &str, claims: &[&str]) -> Result<()> {
    let (_, _, t) = login(c, ctx, &ctx.client, scope).await?;
    let r = op::userinfo(&ctx.http, &ctx.op, &t.access_token, UserinfoCall::GetHeader).await?;
    if !c.require(
        r.status == 200,
        format!("userinfo returned HTTP {}", r.status),
    ) {
        return Ok(());
    }
    for claim in claims {
        let found = has_claim(&r.json, claim) || has_claim(&t.id_token.claims, claim);
        c.expect(found, format!("{claim} not returned for scope \"{scope}\""));
    }
    Ok(())
}

async fn prompt_login(ctx: &Ctx, c: &mut Checks) -> Result<()> {
    let (browser, _, first) = login(c, ctx, &ctx.client, "openid").await?;
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let req = base(ctx).set("prompt", "login");
    let res = authorize(ctx, &browser, &req, true).await?;
    c.require(
        res.nav.logins >= 1,
        "prompt=login did not make the user log in again",
    );
    let second = redeem(c, ctx, &ctx.client, &req, &res).await?;
    if let (Some(a), Some(b)) = (
        first.id_token.claim_i64("auth_time"),
        second.id_token.claim_i64("auth_time"),
    ) {
        c.require(b > a, "auth_time did not advance after prompt=login");
    }
    c.require(first.sub() == second.sub(), "sub changed between logins");
    Ok(())
}

/// Logs in, then makes a second request in the same browser that must succeed without any UI.
async fn silent_reauth(
    ctx: &Ctx,
    c: &mut Checks,
    second: impl Fn(AuthRequest, &Tokens) -> AuthRequest,
) -> Result<()> {
    let (browser, _, first) = login(c, ctx, &ctx.client, "openid").await?;
    let req = second(base(ctx), &first);
    let res = authorize(ctx, &browser, &req, false).await?;
    if let Some(e) = res.error() {
        c.fail(format!("second request with a session returned {e}"));
        return Ok(());
    }
    let t = redeem(c, ctx, &ctx.client, &req, &res).await?;
    c.require(t.sub() == first.sub(), "sub differs from the first login");
    c.require(
        t.id_token.claim_i64("auth_time") == first.id_token.claim_i64("auth_time"),
        "auth_time differs although no re-authentication happened",
    );
    Ok(())
}

async fn max_age_1(ctx: &Ctx, c: &mut Checks) -> Result<()> {
    let (browser, _, first) = login(c, ctx, &ctx.client, "openid").await?;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let req = base(ctx).set("max_age", "1");
    let res = authorize(ctx, &browser, &req, true).await?;
    c.require(
        res.nav.logins >= 1,
        "max_age=1 after 2 s did not make the user log in again",
    );
    let t = redeem(c, ctx, &ctx.client, &req, &res).await?;
    match (
        first.id_token.claim_i64("auth_time"),
        t.id_token.claim_i64("auth_time"),
    ) {
        (_, None) => {
            c.fail("auth_time missing although max_age was requested (OIDC Core §3.1.2.1)")
        }
        (Some(a), Some(b)) => {
            c.require(
                b > a,
                "auth_time did not advance after forced re-authentication",
            );
        }
        (None, Some(_)) => {}
    }
    Ok(())
}

async fn max_age_10000(ctx: &Ctx, c: &mut Checks) -> Result<()> {
    let browser = ctx.browser()?;
    let req1 = base(ctx).set("max_age", "15000");
    let res1 = authorize(ctx, &browser, &req1, true).await?;
    let first = redeem(c, ctx, &ctx.client, &req1, &res1).await?;
    let req2 = base(ctx).set("max_age", "10000");
    let res2 = authorize(ctx, &browser, &req2, true).await?;
    c.require(
        res2.nav.logins == 0,
        "max_age=10000 made the user log in again",
    );
    let t = redeem(c, ctx, &ctx.client, &req2, &res2).await?;
    let (a, b) = (
        first.id_token.claim_i64("auth_time"),
        t.id_token.claim_i64("auth_time"),
    );
    c.require(
        a.is_some() && b.is_some(),
        "auth_time missing although max_age was requested",
    );
    c.require(a == b, "auth_time changed without re-authentication");
    c.require(t.sub() == first.sub(), "sub changed");
    Ok(())
}
