//! DPoP at Lanyard's endpoints (RFC 9449): reading the `DPoP` header (§4.1), checking a proof
//! (the pure checks of `tokens::dpop`, then the replay register shared by every node, §11.1),
//! auditing a refused proof, and the `DPoP-Nonce` (§8, §9) and `WWW-Authenticate` (§7.1) parts
//! of answers. The token endpoint and userinfo call this; neither knows how a proof is checked.

use crate::app::AppState;
use crate::error::{Rejection, Result};
use crate::events::audit::{self, Event};
use crate::http::{respond, RequestContext};
use crate::model::Tenant;
use crate::store;
use crate::tokens::dpop::{self, nonce, Expected, Proof, ProofRejection};
use poem::http::{HeaderValue, StatusCode};
use poem::{Request, Response};
use serde_json::json;

/// The `DPoP` request header: absent, or exactly one (§4.3 point 1: not more than one).
pub fn proof_header(req: &Request) -> std::result::Result<Option<String>, ProofRejection> {
    let mut values = req.headers().get_all("dpop").iter();
    let Some(first) = values.next() else {
        return Ok(None);
    };
    if values.next().is_some() {
        return Err(ProofRejection::Multiple);
    }
    first
        .to_str()
        .map(|s| Some(s.trim().to_string()))
        .map_err(|_| ProofRejection::Malformed)
}

/// The request a proof came with, as the endpoint knows it.
#[derive(Debug, Clone, Copy)]
pub struct Site<'a> {
    /// The endpoint's path below the issuer (`token`, `userinfo`): `htu` is `{issuer}/{endpoint}`.
    pub endpoint: &'static str,
    pub method: &'a str,
    /// The access token presented with the proof at a protected resource (`ath`).
    pub access_token: Option<&'a str>,
    /// The client, when known (audit only).
    pub client_id: Option<&'a str>,
}

/// Check a proof fully: every stateless rule, then the `jti` is recorded in the shared register
/// (a proof is accepted once, §11.1). A refused proof is audited with its reason (never the
/// proof or a token); a missing or stale nonce is the protocol's normal first step (§8) and is
/// not. `Ok(Err(_))` is the refusal; `Err` a storage failure.
pub async fn check_proof(
    state: &AppState,
    tenant: &Tenant,
    proof: std::result::Result<&str, ProofRejection>,
    r: &Site<'_>,
    ctx: &RequestContext,
) -> Result<std::result::Result<Proof, ProofRejection>> {
    let nonces = state
        .config
        .dpop_nonce_required
        .then(|| nonce::accepted(&state.hasher, &tenant.id, ctx.now));
    let htu = format!("{}/{}", tenant.issuer, r.endpoint);
    let expected = Expected {
        htm: r.method,
        htu: &htu,
        access_token: r.access_token,
        nonces: nonces.as_deref(),
    };
    let outcome = match proof.and_then(|p| dpop::decide_proof(p, &expected, ctx.now)) {
        Ok(p) => {
            let key = state.hasher.hash("dpop_jti", &p.replay_key());
            if store::dpop::insert_seen(&state.db, &tenant.id, &key, p.remember_until()).await? {
                Ok(p)
            } else {
                Err(ProofRejection::Replayed)
            }
        }
        Err(e) => Err(e),
    };
    if let Err(why) = outcome {
        if !why.wants_nonce() {
            refused(state, tenant, why, r, ctx).await?;
        }
    }
    Ok(outcome)
}

async fn refused(
    state: &AppState,
    tenant: &Tenant,
    why: ProofRejection,
    r: &Site<'_>,
    ctx: &RequestContext,
) -> Result<()> {
    metrics::counter!(
        "lanyard_dpop_proofs_refused_total",
        "tenant" => tenant.slug.clone(),
        "reason" => why.as_str(),
    )
    .increment(1);
    tracing::warn!(
        event = "dpop.proof_refused",
        tenant = %tenant.slug,
        endpoint = r.endpoint,
        reason = why.as_str(),
        "DPoP proof refused"
    );
    audit::record(
        &state.db,
        Event {
            tenant_id: &tenant.id,
            kind: "dpop.proof_refused",
            client_id: r.client_id,
            actor: "client",
            outcome: "refused",
            detail: Some(json!({"reason": why.as_str(), "endpoint": r.endpoint})),
            ..Default::default()
        },
        Some(ctx),
        ctx.now_ms,
    )
    .await?;
    Ok(())
}

/// §8.2, §9: when nonces are required, every answer to a request that carried a proof names the
/// nonce to use next (`DPoP-Nonce`), the `use_dpop_nonce` error included.
pub fn with_nonce(
    mut resp: Response,
    state: &AppState,
    tenant: &Tenant,
    ctx: &RequestContext,
) -> Response {
    if state.config.dpop_nonce_required {
        let n = nonce::current(&state.hasher, &tenant.id, ctx.now);
        if let Ok(v) = HeaderValue::from_str(&n) {
            resp.headers_mut().insert("dpop-nonce", v);
        }
    }
    resp
}

/// The `DPoP` challenge of a protected resource (§7.1): the algorithms accepted and, when the
/// request failed, the error (RFC 6750 §3 syntax).
pub fn challenge(error: Option<&Rejection>) -> String {
    let algs = dpop::SUPPORTED_ALGS.join(" ");
    match error {
        None => format!("DPoP algs=\"{algs}\""),
        Some(r) => {
            let e = r.oauth();
            format!(
                "DPoP error=\"{}\", error_description=\"{}\", algs=\"{algs}\"",
                e.error, e.description
            )
        }
    }
}

/// A protected resource's refusal under the DPoP scheme: 401 with the challenge (§7.1, §9).
pub fn resource_error(rej: &Rejection) -> Response {
    let e = rej.oauth();
    let mut r = respond::json(
        StatusCode::UNAUTHORIZED,
        &json!({ "error": e.error, "error_description": e.description }),
    );
    if let Ok(v) = HeaderValue::from_str(&challenge(Some(rej))) {
        r.headers_mut().insert("www-authenticate", v);
    }
    respond::no_store(r)
}
