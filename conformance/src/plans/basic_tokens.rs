//! `oidcc-basic-certification-test-plan`, modules 28-38: code reuse, redirect URI registration,
//! POST requests, client_secret_post, request objects, claims, refresh tokens and PKCE.

use anyhow::{bail, Result};
use base64::Engine as _;
use serde_json::{json, Map, Value};
use sha2::Digest as _;
use std::time::Duration;

use super::basic::{base, happy};
use crate::ctx::Ctx;
use crate::flow::{self, authorize, has_claim, login, offline_request, redeem, AuthRequest};
use crate::op::{self, ClientAuth, UserinfoCall};
use crate::report::Checks;

pub async fn run(module: &str, ctx: &Ctx, c: &mut Checks) -> Result<()> {
    match module {
        "oidcc-codereuse" => code_reuse(ctx, c, Duration::ZERO).await?,
        "oidcc-codereuse-30seconds" => code_reuse(ctx, c, Duration::from_secs(30)).await?,
        "oidcc-ensure-registered-redirect-uri" => unregistered_redirect(ctx, c).await?,
        "oidcc-ensure-post-request-succeeds" => {
            let mut req = base(ctx);
            req.post = true;
            happy(ctx, c, req).await?;
        }
        "oidcc-server-client-secret-post" => {
            let client = match &ctx.client2 {
                Some(c2) => c2.with_auth(ClientAuth::Post),
                None => ctx.client.with_auth(ClientAuth::Post),
            };
            login(c, ctx, &client, "openid").await?;
        }
        "oidcc-request-uri-unsigned-supported-correctly-or-rejected-as-unsupported" => {
            unsigned_request_uri(ctx, c).await?;
        }
        "oidcc-unsigned-request-object-supported-correctly-or-rejected-as-unsupported" => {
            unsigned_request_object(ctx, c).await?;
        }
        "oidcc-claims-essential" => {
            let claims = json!({ "userinfo": { "name": { "essential": true } } }).to_string();
            let t = happy(ctx, c, base(ctx).set("claims", claims)).await?;
            let r =
                op::userinfo(&ctx.http, &ctx.op, &t.access_token, UserinfoCall::GetHeader).await?;
            c.require(
                r.status == 200,
                format!("userinfo returned HTTP {}", r.status),
            );
            c.expect(
                has_claim(&r.json, "name"),
                "essential claim name not returned from userinfo",
            );
        }
        "oidcc-ensure-request-object-with-redirect-uri" => {
            request_object_redirect_uri(ctx, c).await?
        }
        "oidcc-refresh-token" => refresh_token(ctx, c).await?,
        "oidcc-ensure-request-with-valid-pkce-succeeds" => {
            let verifier = ctx.rng.token(32);
            let challenge = base64::engine::general_purpose::URL_SAFE_NO_PAD
                .encode(sha2::Sha256::digest(verifier.as_bytes()));
            let req = base(ctx)
                .set("code_challenge", challenge)
                .set("code_challenge_method", "S256")
                .set("code_verifier", verifier);
            // code_verifier is only sent to the token endpoint; strip it from the front channel.
            let front = req.clone().remove("code_verifier");
            let browser = ctx.browser()?;
            let res = authorize(ctx, &browser, &front, true).await?;
            redeem(c, ctx, &ctx.client, &req, &res).await?;
        }
        other => bail!("unknown module {other}"),
    }
    Ok(())
}

/// RFC 6749 §4.1.2: a code is single use; on reuse the OP SHOULD revoke what it issued.
async fn code_reuse(ctx: &Ctx, c: &mut Checks, wait: Duration) -> Result<()> {
    let browser = ctx.browser()?;
    let req = base(ctx);
    let res = authorize(ctx, &browser, &req, true).await?;
    let first = redeem(c, ctx, &ctx.client, &req, &res).await?;
    tokio::time::sleep(wait).await;
    let code = res.code().unwrap_or_default();
    let redirect = ctx.rp.callback().to_string();
    let params = [
        ("grant_type", "authorization_code"),
        ("code", code),
        ("redirect_uri", redirect.as_str()),
    ];
    let again = op::token_request(&ctx.http, &ctx.op, &ctx.client, &params).await?;
    let refused = again.status == 400 && again.error() == Some("invalid_grant");
    if wait.is_zero() {
        c.expect(
            refused,
            format!(
                "second use of the code: HTTP {} {:?}, expected 400 invalid_grant",
                again.status,
                again.error()
            ),
        );
        return Ok(());
    }
    c.require(
        refused,
        format!(
            "second use of the code after 30 s: HTTP {} {:?}, expected 400 invalid_grant",
            again.status,
            again.error()
        ),
    );
    let ui = op::userinfo(
        &ctx.http,
        &ctx.op,
        &first.access_token,
        UserinfoCall::GetHeader,
    )
    .await?;
    c.expect(
        (400..500).contains(&ui.status),
        format!("access token from the reused code still works at userinfo (HTTP {}); it SHOULD be revoked", ui.status),
    );
    Ok(())
}

async fn unregistered_redirect(ctx: &Ctx, c: &mut Checks) -> Result<()> {
    let browser = ctx.browser()?;
    let bad = format!("{}-suffix{}", ctx.rp.callback(), ctx.rng.slug(6));
    let res = authorize(ctx, &browser, &base(ctx).set("redirect_uri", bad), true).await?;
    // OIDC Core §3.1.2.1: the redirect URI must match a registered one exactly; the OP shows an
    // error page instead of redirecting (calling the registered URI would be a failure too).
    if let Some(u) = res.nav.rp_url() {
        c.fail(format!(
            "the OP redirected to {}: it must show an error instead",
            crate::http::strip_query(u)
        ));
    }
    Ok(())
}

/// An unsigned (`alg: none`) request object, RFC 9101 / OIDC Core §6.1.
fn unsigned_jwt(claims: &Value) -> String {
    let e = |v: &Value| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string());
    format!("{}.{}.", e(&json!({ "alg": "none" })), e(claims))
}

fn request_claims(ctx: &Ctx, req: &AuthRequest) -> Value {
    let mut m: Map<String, Value> = req
        .params
        .iter()
        .map(|(k, v)| (k.clone(), Value::String(v.clone())))
        .collect();
    m.insert("iss".into(), json!(ctx.client.id));
    m.insert("aud".into(), json!(ctx.op.issuer));
    Value::Object(m)
}

/// The official suite skips the request-object modules unless discovery lists alg `none` in
/// `request_object_signing_alg_values_supported` (AbstractOIDCCRequestObjectServerTest).
fn skip_without_unsigned_request_objects(ctx: &Ctx, c: &mut Checks) -> bool {
    if ctx
        .op
        .lists("request_object_signing_alg_values_supported", "none")
    {
        return false;
    }
    c.skip("request_object_signing_alg_values_supported does not list none (unsigned request objects not offered)");
    true
}

async fn unsigned_request_object(ctx: &Ctx, c: &mut Checks) -> Result<()> {
    if skip_without_unsigned_request_objects(ctx, c) {
        return Ok(());
    }
    let full = base(ctx);
    let obj = unsigned_jwt(&request_claims(ctx, &full));
    // The nonce travels only inside the request object: an OP that ignored it cannot echo it.
    let outer = full
        .clone()
        .remove("nonce")
        .remove("state")
        .set("request", obj);
    let browser = ctx.browser()?;
    let res = authorize(ctx, &browser, &outer, true).await?;
    match res.error() {
        Some("request_not_supported") => return Ok(()),
        Some(e) => {
            c.fail(format!("unsigned request object rejected with {e}, expected success or request_not_supported"));
            return Ok(());
        }
        None => {}
    }
    if res.response.is_none() {
        if ctx.op.doc.get("request_parameter_supported") == Some(&Value::Bool(false)) {
            return Ok(());
        }
        c.fail(format!(
            "no response to an unsigned request object: {}",
            res.nav.describe()
        ));
        return Ok(());
    }
    // Redeem with the full request (state and nonce from inside the request object).
    let t = redeem(c, ctx, &ctx.client, &full, &res).await?;
    let _ = t;
    Ok(())
}

/// OIDC Core §6.2: the unsigned request object by reference, served from the RP listener.
/// Processed (the nonce only it carries comes back) or `request_uri_not_supported`.
async fn unsigned_request_uri(ctx: &Ctx, c: &mut Checks) -> Result<()> {
    if skip_without_unsigned_request_objects(ctx, c) {
        return Ok(());
    }
    // Discovery §3: request_uri_parameter_supported defaults to true when omitted.
    if ctx.op.doc.get("request_uri_parameter_supported") == Some(&Value::Bool(false)) {
        c.skip("request_uri_parameter_supported is false");
        return Ok(());
    }
    let full = base(ctx);
    let obj = unsigned_jwt(&request_claims(ctx, &full));
    let uri = ctx.rp.host_request_object(&ctx.rng.token(12), obj);
    let outer = full
        .clone()
        .remove("nonce")
        .remove("state")
        .set("request_uri", uri.to_string());
    let browser = ctx.browser()?;
    let res = authorize(ctx, &browser, &outer, true).await?;
    match res.error() {
        Some("request_uri_not_supported") => {}
        Some(e) => c.fail(format!(
            "unsigned request_uri rejected with {e}, expected success or request_uri_not_supported"
        )),
        None if res.response.is_some() => {
            redeem(c, ctx, &ctx.client, &full, &res).await?;
        }
        None => c.fail(format!(
            "no response to an unsigned request_uri: {}",
            res.nav.describe()
        )),
    }
    Ok(())
}

async fn request_object_redirect_uri(ctx: &Ctx, c: &mut Checks) -> Result<()> {
    if skip_without_unsigned_request_objects(ctx, c) {
        return Ok(());
    }
    let full = base(ctx);
    let obj = unsigned_jwt(&request_claims(ctx, &full));
    let outer = full
        .clone()
        .remove("redirect_uri")
        .remove("nonce")
        .remove("state")
        .set("request", obj);
    let browser = ctx.browser()?;
    let res = authorize(ctx, &browser, &outer, true).await?;
    match (&res.response, res.error()) {
        (Some(_), None) => {
            redeem(c, ctx, &ctx.client, &full, &res).await?;
        }
        (Some(_), Some("request_not_supported")) => {}
        (Some(_), Some(e)) => c.fail(format!(
            "request object with redirect_uri rejected with {e}"
        )),
        (None, _) => {
            // An error page (invalid redirect) is allowed; a redirect elsewhere is not.
            c.require(
                res.nav.page().is_some(),
                format!("unexpected outcome: {}", res.nav.describe()),
            );
        }
    }
    Ok(())
}

/// Shannon entropy of the token's characters times its length, as the suite estimates it.
pub fn estimated_entropy_bits(token: &str) -> f64 {
    let n = token.chars().count();
    if n == 0 {
        return 0.0;
    }
    let mut counts = std::collections::HashMap::new();
    for ch in token.chars() {
        *counts.entry(ch).or_insert(0usize) += 1;
    }
    let per_char: f64 = counts
        .values()
        .map(|&k| {
            let p = k as f64 / n as f64;
            -p * p.log2()
        })
        .sum();
    per_char * n as f64
}

/// RFC 6749 Appendix A.17: refresh-token = 1*VSCHAR.
pub fn is_vschar_token(token: &str) -> bool {
    !token.is_empty() && token.bytes().all(|b| (0x20..=0x7e).contains(&b))
}

async fn refresh_token(ctx: &Ctx, c: &mut Checks) -> Result<()> {
    let browser = ctx.browser()?;
    let req = offline_request(ctx, &ctx.client);
    let res = authorize(ctx, &browser, &req, true).await?;
    let t = redeem(c, ctx, &ctx.client, &req, &res).await?;
    let Some(rt) = t.refresh_token.clone() else {
        c.skip("no refresh token was issued");
        return Ok(());
    };
    c.require(
        is_vschar_token(&rt),
        "refresh token has characters outside VSCHAR (RFC 6749 A.17)",
    );
    let bits = estimated_entropy_bits(&rt);
    c.require(
        bits >= 96.0,
        format!("refresh token carries ~{bits:.0} bits of entropy, fewer than 96"),
    );
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let r = op::token_request(
        &ctx.http,
        &ctx.op,
        &ctx.client,
        &[("grant_type", "refresh_token"), ("refresh_token", &rt)],
    )
    .await?;
    if !c.require(
        r.status == 200,
        format!("refresh grant returned HTTP {} {}", r.status, r.json),
    ) {
        return Ok(());
    }
    flow::token_response_checks(c, &r);
    if let Some(raw) = r.str("id_token") {
        let now = crate::clock::now_epoch();
        // OIDC Core §12.2: a nonce in the refreshed ID token, if any, is the original one.
        let carries_nonce =
            crate::jwt::Jws::parse(raw).is_ok_and(|j| j.claims.get("nonce").is_some());
        let nonce = if carries_nonce {
            req.get("nonce")
        } else {
            None
        };
        if let Some(new) = op::check_id_token(c, &ctx.op, &ctx.client, raw, nonce, now) {
            for claim in ["iss", "sub", "aud", "auth_time", "azp"] {
                c.require(
                    new.claims.get(claim) == t.id_token.claims.get(claim),
                    format!("refreshed ID token changed {claim} (OIDC Core §12.2)"),
                );
            }
            c.require(
                new.claim_i64("iat") > t.id_token.claim_i64("iat"),
                "refreshed ID token has no new iat",
            );
        }
    }
    // A refresh token is bound to its client (RFC 6749 §6): client 2's token at client 1 fails.
    let Some(client2) = &ctx.client2 else {
        c.warn("no second client configured: cross-client refresh check not run");
        return Ok(());
    };
    let b2 = ctx.browser()?;
    let req2 = offline_request(ctx, client2);
    let res2 = authorize(ctx, &b2, &req2, true).await?;
    let t2 = redeem(c, ctx, client2, &req2, &res2).await?;
    let Some(rt2) = t2.refresh_token else {
        c.fail("second client got no refresh token");
        return Ok(());
    };
    let cross = op::token_request(
        &ctx.http,
        &ctx.op,
        &ctx.client,
        &[("grant_type", "refresh_token"), ("refresh_token", &rt2)],
    )
    .await?;
    c.require(
        cross.status == 400 && cross.error() == Some("invalid_grant"),
        format!(
            "client 2's refresh token used by client 1: HTTP {} {:?}, expected 400 invalid_grant",
            cross.status,
            cross.error()
        ),
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entropy_estimate_separates_random_from_repetitive() {
        assert!(estimated_entropy_bits("aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa") < 1.0);
        let random = "Xq3vT9kLm2Pz8RwYc5JbN7dFh4GsA6eU1tKo0iVn";
        assert!(
            estimated_entropy_bits(random) > 96.0,
            "{}",
            estimated_entropy_bits(random)
        );
    }

    #[test]
    fn vschar_rejects_controls_and_non_ascii() {
        assert!(is_vschar_token("abc-_.~+/="));
        assert!(!is_vschar_token("abc\n"));
        assert!(!is_vschar_token("é"));
        assert!(!is_vschar_token(""));
    }

    #[test]
    fn unsigned_jwt_has_empty_signature() {
        let t = unsigned_jwt(&json!({"a": 1}));
        assert!(t.ends_with('.'));
        assert_eq!(t.split('.').count(), 3);
    }
}
