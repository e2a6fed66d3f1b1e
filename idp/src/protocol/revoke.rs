//! Token revocation (RFC 7009). Revoking a refresh token revokes its family (and with it the
//! access tokens issued from it, through live-state introspection); revoking an access token
//! marks its `jti`. Unknown tokens are answered 200 (§2.2).

use crate::app::State;
use crate::error::Rejection;
use crate::events::audit::{self, Event};
use crate::http::respond;
use crate::store;
use crate::tokens;
use poem::http::StatusCode;
use poem::web::{Data, Path};
use poem::{handler, Body, Request, Response};

#[handler]
pub async fn handle(
    state: Data<&State>,
    Path(slug): Path<String>,
    req: &Request,
    body: Body,
) -> Response {
    let ctx = super::context(&state, req);
    let (tenant, params, client) =
        match super::read_client_request(&state, &slug, req, body, "revoke", ctx.now).await {
            Ok(v) => v,
            Err(resp) => return resp,
        };
    let Some(token) = params.get("token") else {
        return respond::oauth_json(&Rejection::Malformed("token"), false);
    };
    let ok = respond::no_store(Response::builder().status(StatusCode::OK).finish());
    // Refresh token?
    let hash = state.hasher.hash("refresh", token);
    match store::grants::find_refresh(&state.db, &tenant.id, &hash).await {
        Ok(Some(rt)) => {
            let family =
                match store::grants::find_family(&state.db, &tenant.id, &rt.family_id).await {
                    Ok(Some(f)) => f,
                    Ok(None) => return ok,
                    Err(e) => return respond::server_error(&e.into()),
                };
            // §2.1: only the client the token was issued to may revoke it.
            if family.client_id != client.id {
                return respond::oauth_json(&Rejection::UnauthorizedGrant, false);
            }
            let r = async {
                use crate::store::TransactionTrait;
                let txn = state.db.begin().await?;
                if store::grants::mark_family_revoked(
                    &txn,
                    &tenant.id,
                    &family.id,
                    "client_revoked",
                    ctx.now,
                )
                .await?
                {
                    audit::record(
                        &txn,
                        Event {
                            tenant_id: &tenant.id,
                            kind: "refresh.revoked",
                            session_id: family.session_id.as_deref(),
                            user_id: Some(&family.user_id),
                            client_id: Some(&client.client_id),
                            actor: "client",
                            outcome: "ok",
                            ..Default::default()
                        },
                        Some(&ctx),
                        ctx.now_ms,
                    )
                    .await?;
                }
                txn.commit().await?;
                Ok::<_, sea_orm::DbErr>(())
            }
            .await;
            return match r {
                Ok(()) => ok,
                Err(e) => respond::server_error(&e.into()),
            };
        }
        Ok(None) => {}
        Err(e) => return respond::server_error(&e.into()),
    }
    // Access token? Only if it is ours and names this client.
    let keys = match state.keys.get(&state.read, &tenant.id, ctx.now_ms).await {
        Ok(k) => k,
        Err(e) => return respond::server_error(&e),
    };
    if let Ok(v) = tokens::verify(&keys, token, ctx.now) {
        if v.typ.as_deref() == Some(tokens::TYP_ACCESS) {
            if tokens::claim_str(&v.claims, "client_id") != Some(client.client_id.as_str()) {
                return respond::oauth_json(&Rejection::UnauthorizedGrant, false);
            }
            if let Some(jti) = tokens::claim_str(&v.claims, "jti") {
                let exp = v
                    .claims
                    .get("exp")
                    .and_then(serde_json::Value::as_i64)
                    .unwrap_or(ctx.now);
                // Registered tokens are marked; unregistered (client_credentials) ones get a row.
                let r = match store::grants::mark_access_revoked(&state.db, &tenant.id, jti).await {
                    Ok(true) => Ok(()),
                    Ok(false) => {
                        store::grants::insert_revoked_access(
                            &state.db, &tenant.id, jti, &client.id, exp,
                        )
                        .await
                    }
                    Err(e) => Err(e),
                };
                if let Err(e) = r {
                    return respond::server_error(&e.into());
                }
            }
        }
    }
    ok
}
