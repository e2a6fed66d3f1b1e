//! OpenID Provider Metadata (OIDC Discovery 1.0 §3) and the JWKS (RFC 7517).

use crate::app::State;
use crate::http::respond;
use crate::keys::SUPPORTED_ALGS;
use crate::model::Tenant;
use poem::http::StatusCode;
use poem::web::{Data, Path};
use poem::{handler, Response};
use serde_json::{json, Value};

/// The metadata document for a tenant. Every field describes something implemented.
pub fn metadata(t: &Tenant) -> Value {
    let i = &t.issuer;
    json!({
        "issuer": i,
        "authorization_endpoint": format!("{i}/authorize"),
        "token_endpoint": format!("{i}/token"),
        "userinfo_endpoint": format!("{i}/userinfo"),
        "jwks_uri": format!("{i}/jwks"),
        "revocation_endpoint": format!("{i}/revoke"),
        "introspection_endpoint": format!("{i}/introspect"),
        "end_session_endpoint": format!("{i}/end_session"),
        "scopes_supported": ["openid", "profile", "email", "offline_access", "groups"],
        "response_types_supported": ["code"],
        "response_modes_supported": ["query"],
        "grant_types_supported": ["authorization_code", "refresh_token", "client_credentials"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": SUPPORTED_ALGS,
        "userinfo_signing_alg_values_supported": [],
        "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post", "private_key_jwt", "none"],
        "token_endpoint_auth_signing_alg_values_supported": ["RS256", "ES256", "EdDSA"],
        "revocation_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post", "private_key_jwt", "none"],
        "introspection_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post", "private_key_jwt"],
        "code_challenge_methods_supported": ["S256"],
        // RFC 9449 §5.1.
        "dpop_signing_alg_values_supported": crate::tokens::dpop::SUPPORTED_ALGS,
        "claims_supported": ["sub", "iss", "aud", "exp", "iat", "auth_time", "nonce", "acr", "amr", "sid", "azp", "at_hash",
                             "name", "preferred_username", "updated_at", "email", "email_verified", "groups"],
        "claims_parameter_supported": true,
        "request_parameter_supported": false,
        "request_uri_parameter_supported": false,
        "require_request_uri_registration": false,
        "prompt_values_supported": ["none", "login", "consent", "select_account"],
        "acr_values_supported": crate::session::stepup::ACR_VALUES_SUPPORTED,
        "ui_locales_supported": ["en"],
        "claims_locales_supported": ["en"],
        "display_values_supported": ["page", "popup", "touch", "wap"],
        "authorization_response_iss_parameter_supported": true,
        "backchannel_logout_supported": true,
        "backchannel_logout_session_supported": true,
        "frontchannel_logout_supported": true,
        "frontchannel_logout_session_supported": true,
    })
}

#[handler]
pub async fn configuration(state: Data<&State>, Path(slug): Path<String>) -> Response {
    match super::load_tenant(&state, &slug).await {
        Ok(Some(t)) => respond::json(StatusCode::OK, &metadata(&t)),
        Ok(None) => respond::json(StatusCode::NOT_FOUND, &json!({"error": "not_found"})),
        Err(e) => respond::server_error(&e),
    }
}

#[handler]
pub async fn jwks(state: Data<&State>, Path(slug): Path<String>) -> Response {
    let t = match super::load_tenant(&state, &slug).await {
        Ok(Some(t)) => t,
        Ok(None) => return respond::json(StatusCode::NOT_FOUND, &json!({"error": "not_found"})),
        Err(e) => return respond::server_error(&e),
    };
    let now_ms = state.clock.now_ms();
    match state.keys.get(&state.read, &t.id, now_ms).await {
        Ok(keys) => {
            let mut r = respond::json(StatusCode::OK, &keys.jwks(now_ms / 1000));
            r.headers_mut().insert(
                "content-type",
                poem::http::HeaderValue::from_static("application/jwk-set+json"),
            );
            r
        }
        Err(e) => respond::server_error(&e),
    }
}
