//! `oidcc-rp-initiated-logout-certification-test-plan` (OpenID Connect RP-Initiated Logout 1.0):
//! every module logs in, then sends the browser to `end_session_endpoint`.

use anyhow::{Context as _, Result};
use base64::Engine as _;
use serde_json::json;

use crate::ctx::Ctx;
use crate::flow::{self, end_session, login, param, response_params, Navigation, Tokens};
use crate::html::says_logged_out;
use crate::http::Browser;
use crate::report::Checks;

pub const MODULES: &[&str] = &[
    "oidcc-rp-initiated-logout-discovery-endpoint-verification",
    "oidcc-rp-initiated-logout",
    "oidcc-rp-initiated-logout-bad-post-logout-redirect-uri",
    "oidcc-rp-initiated-logout-modified-id-token-hint",
    "oidcc-rp-initiated-logout-no-id-token-hint",
    "oidcc-rp-initiated-logout-no-params",
    "oidcc-rp-initiated-logout-no-post-logout-redirect-uri",
    "oidcc-rp-initiated-logout-no-state",
    "oidcc-rp-initiated-logout-only-state",
    "oidcc-rp-initiated-logout-query-added-to-post-logout-redirect-uri",
    "oidcc-rp-initiated-logout-bad-id-token-hint",
];

/// What the end-session request carries.
struct Logout {
    hint: Option<String>,
    uri: Option<String>,
    state: Option<String>,
}

pub async fn run(module: &str, ctx: &Ctx, c: &mut Checks) -> Result<()> {
    if module == MODULES[0] {
        c.require(
            ctx.op.str("end_session_endpoint").is_some(),
            "discovery has no end_session_endpoint",
        );
        if let Some(u) = ctx.op.str("end_session_endpoint") {
            c.require(
                u.starts_with("https://"),
                "end_session_endpoint is not https",
            );
        }
        return Ok(());
    }
    let (browser, _, t) = login(c, ctx, &ctx.client, "openid").await?;
    let registered = ctx.rp.post_logout().to_string();
    let state = ctx.rng.token(12);
    let hint = Some(t.id_token_raw.clone());
    let l = match module {
        "oidcc-rp-initiated-logout" => Logout {
            hint,
            uri: Some(registered),
            state: Some(state),
        },
        "oidcc-rp-initiated-logout-bad-post-logout-redirect-uri" => Logout {
            hint,
            uri: Some(format!("{registered}-not-registered")),
            state: Some(state),
        },
        "oidcc-rp-initiated-logout-modified-id-token-hint" => Logout {
            hint: Some(unsigned_copy(&t)?),
            uri: Some(registered),
            state: Some(state),
        },
        "oidcc-rp-initiated-logout-no-id-token-hint" => Logout {
            hint: None,
            uri: Some(registered),
            state: Some(state),
        },
        "oidcc-rp-initiated-logout-no-params" => Logout {
            hint: None,
            uri: None,
            state: None,
        },
        "oidcc-rp-initiated-logout-no-post-logout-redirect-uri" => Logout {
            hint,
            uri: None,
            state: None,
        },
        "oidcc-rp-initiated-logout-no-state" => Logout {
            hint,
            uri: Some(registered),
            state: None,
        },
        "oidcc-rp-initiated-logout-only-state" => Logout {
            hint: None,
            uri: None,
            state: Some(state),
        },
        "oidcc-rp-initiated-logout-query-added-to-post-logout-redirect-uri" => Logout {
            hint,
            uri: Some(format!("{registered}?foo=bar")),
            state: Some(state),
        },
        "oidcc-rp-initiated-logout-bad-id-token-hint" => Logout {
            hint: Some(foreign_signed_copy(&t)?),
            uri: Some(registered),
            state: Some(state),
        },
        other => anyhow::bail!("unknown module {other}"),
    };
    let mut params: Vec<(&str, &str)> = Vec::new();
    if let Some(h) = &l.hint {
        params.push(("id_token_hint", h));
    }
    if let Some(u) = &l.uri {
        params.push(("post_logout_redirect_uri", u));
    }
    if let Some(s) = &l.state {
        params.push(("state", s));
    }
    let nav = end_session(ctx, &browser, &params).await?;
    let valid_redirect = l.uri.as_deref() == Some(ctx.rp.post_logout().as_str())
        && l.hint.as_deref() == Some(t.id_token_raw.as_str());
    if valid_redirect {
        expect_redirect(c, ctx, &nav, l.state.as_deref());
        flow::check_logged_out(c, ctx, &browser, &ctx.client).await?;
    } else if l.uri.is_some() {
        expect_no_redirect(c, ctx, &nav);
    } else {
        expect_logged_out_page(c, ctx, &browser, &nav).await?;
    }
    Ok(())
}

/// §3: redirect to the registered URI carrying the same `state`; other parameters only warn.
pub fn expect_redirect(c: &mut Checks, ctx: &Ctx, nav: &Navigation, state: Option<&str>) {
    let Some(u) = nav
        .rp_url()
        .filter(|u| u.as_str().starts_with(ctx.rp.post_logout().as_str()))
    else {
        c.fail(format!(
            "no redirect to the post_logout_redirect_uri: {}",
            nav.describe()
        ));
        return;
    };
    let p = response_params(u);
    match state {
        Some(s) => {
            c.require(
                param(&p, "state") == Some(s),
                "post-logout redirect does not carry the request's state",
            );
        }
        None => {
            c.require(
                param(&p, "state").is_none(),
                "post-logout redirect carries a state that was not sent",
            );
        }
    }
    let extra: Vec<&str> = p
        .iter()
        .map(|(k, _)| k.as_str())
        .filter(|k| *k != "state")
        .collect();
    c.expect(
        extra.is_empty(),
        format!("post-logout redirect added parameters {extra:?}"),
    );
}

/// The OP must not redirect to an unvalidated URI: an error page or a logout confirmation.
pub fn expect_no_redirect(c: &mut Checks, ctx: &Ctx, nav: &Navigation) {
    if let Some(u) = nav.rp_url() {
        c.fail(format!(
            "the OP redirected to {} although the request must not be trusted",
            crate::http::strip_query(u)
        ));
    }
    let _ = ctx;
}

/// Without a redirect target the user sees "you are logged out" and the session is gone.
async fn expect_logged_out_page(
    c: &mut Checks,
    ctx: &Ctx,
    browser: &Browser,
    nav: &Navigation,
) -> Result<()> {
    match nav.page() {
        Some(p) => {
            c.require(
                says_logged_out(&p.body),
                format!(
                    "the final page does not say the user is logged out: {}",
                    p.describe()
                ),
            );
        }
        None => c.fail(format!("unexpected redirect: {}", nav.describe())),
    }
    flow::check_logged_out(c, ctx, browser, &ctx.client).await
}

/// The real ID token with its header changed to `alg: none` and the signature removed.
fn unsigned_copy(t: &Tokens) -> Result<String> {
    let payload = t
        .id_token_raw
        .split('.')
        .nth(1)
        .context("ID token has no payload")?;
    let header =
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(json!({"alg": "none"}).to_string());
    Ok(format!("{header}.{payload}."))
}

/// The real ID token's claims signed with a key the OP has never seen.
fn foreign_signed_copy(t: &Tokens) -> Result<String> {
    use josekit::jws::{JwsHeader, RS256};
    let pair = RS256.generate_key_pair(2048)?;
    let mut header = JwsHeader::new();
    header.set_key_id(t.id_token.kid().unwrap_or("conformance-foreign"));
    header.set_token_type("JWT");
    let map = t
        .id_token
        .claims
        .as_object()
        .cloned()
        .context("claims are not an object")?;
    let payload = josekit::jwt::JwtPayload::from_map(map)?;
    let signer = RS256.signer_from_jwk(&pair.to_jwk_private_key())?;
    Ok(josekit::jwt::encode_with_signer(
        &payload, &header, &signer,
    )?)
}
