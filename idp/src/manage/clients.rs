//! Relying parties of a tenant: register, list, show, update, disable / enable, rotate the
//! secret with an overlap, delete. Metadata is validated in `client_metadata`, the one place.
//!
//! Every change drops this node's cached copy of the client (`cache.rs`), so it is in force here
//! at once; other nodes (and a server when the CLI made the change) see it within the cache's two
//! seconds.

use super::client_metadata::{self as meta, LifetimeChanges};
use super::{conflict, invalid, ManageError, Result};
use crate::app::AppState;
use crate::events::audit::{self, Event};
use crate::model::{AuthMethod, Client, Lifetimes, Tenant};
use crate::store::{self, to_json_list};
use sea_orm::DatabaseConnection;
use serde::Serialize;

/// Everything a new client registration says.
#[derive(Debug, Clone, Default)]
pub struct NewClient {
    pub client_id: String,
    /// None = generate one (confidential clients).
    pub secret: Option<String>,
    pub public: bool,
    pub auth_method: Option<String>,
    pub redirect_uris: Vec<String>,
    pub post_logout_redirect_uris: Vec<String>,
    pub backchannel_logout_uri: Option<String>,
    pub frontchannel_logout_uri: Option<String>,
    pub grant_types: Vec<String>,
    pub first_party: bool,
    pub id_token_alg: Option<String>,
    pub jwks: Option<String>,
    pub lifetimes: Lifetimes,
    /// RFC 9449 §5.2 `dpop_bound_access_tokens`.
    pub dpop_bound_access_tokens: bool,
}

#[derive(Serialize)]
pub struct CreatedClient {
    pub client_id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_secret: Option<String>,
    pub token_endpoint_auth_method: String,
    pub redirect_uris: Vec<String>,
    pub grant_types: Vec<String>,
}

impl std::fmt::Debug for CreatedClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "CreatedClient({}, secret: ***)", self.client_id)
    }
}

pub async fn create_client(
    state: &AppState,
    tenant: &Tenant,
    c: NewClient,
    now: i64,
) -> Result<CreatedClient> {
    let (db, hasher) = (&state.db, &state.hasher);
    meta::validate_client_id(&c.client_id).map_err(invalid)?;
    meta::validate_uris(
        c.redirect_uris
            .iter()
            .chain(&c.post_logout_redirect_uris)
            .chain(&c.backchannel_logout_uri)
            .chain(&c.frontchannel_logout_uri),
    )
    .map_err(invalid)?;
    meta::validate_logout_uris(
        &c.redirect_uris,
        c.backchannel_logout_uri.as_deref(),
        c.frontchannel_logout_uri.as_deref(),
        &state.config.allow_private_destinations,
    )
    .map_err(ManageError::InvalidClientMetadata)?;
    meta::validate_lifetimes(&c.lifetimes).map_err(invalid)?;
    let method = meta::resolve_auth_method(c.auth_method.as_deref(), c.public).map_err(invalid)?;
    if method == AuthMethod::PrivateKeyJwt && c.jwks.is_none() {
        return Err(invalid("private_key_jwt needs a JWK Set (--jwks)"));
    }
    let alg = meta::resolve_id_token_alg(c.id_token_alg.as_deref()).map_err(invalid)?;
    let grants = meta::resolve_grant_types(&c.grant_types, c.public).map_err(invalid)?;
    let secret = match method {
        AuthMethod::ClientSecretBasic | AuthMethod::ClientSecretPost => {
            Some(c.secret.clone().unwrap_or_else(crate::crypto::random_token))
        }
        _ => None,
    };
    if let Some(s) = &secret {
        meta::validate_secret(s).map_err(invalid)?;
    }
    if store::clients::find_by_client_id(db, &tenant.id, &c.client_id)
        .await?
        .is_some()
    {
        return Err(conflict(format!(
            "client '{}' already exists in '{}'",
            c.client_id, tenant.slug
        )));
    }
    store::clients::insert(
        db,
        store::clients::ClientRow {
            id: crate::crypto::random_id(),
            tenant_id: tenant.id.clone(),
            client_id: c.client_id.clone(),
            secret_hash: secret.as_ref().map(|s| hasher.hash("client_secret", s)),
            auth_method: method.as_str().into(),
            redirect_uris: to_json_list(&c.redirect_uris),
            post_logout_redirect_uris: to_json_list(&c.post_logout_redirect_uris),
            grant_types: to_json_list(&grants),
            backchannel_logout_uri: c.backchannel_logout_uri.clone(),
            frontchannel_logout_uri: c.frontchannel_logout_uri.clone(),
            id_token_alg: alg,
            jwks: c.jwks.clone(),
            first_party: c.first_party,
            lifetimes: serde_json::to_string(&c.lifetimes)?,
            created_at: now,
            disabled: false,
            previous_secret_hash: None,
            previous_secret_until: None,
            dpop_bound_access_tokens: c.dpop_bound_access_tokens,
        },
    )
    .await?;
    Ok(CreatedClient {
        client_id: c.client_id,
        client_secret: secret,
        token_endpoint_auth_method: method.as_str().into(),
        redirect_uris: c.redirect_uris,
        grant_types: grants,
    })
}

/// Register a client on an operator's behalf (CLI, admin API, admin area): [`create_client`],
/// then the `client.created` audit event naming the actor. (The demo seed and tests register
/// without an actor.)
pub async fn register_client(
    state: &AppState,
    tenant: &Tenant,
    c: NewClient,
    actor: &str,
) -> Result<CreatedClient> {
    let created = create_client(state, tenant, c, state.clock.now()).await?;
    changed(state, tenant, &created.client_id, "client.created", actor).await?;
    Ok(created)
}

/// A client as an operator reads it (never a secret or its hash).
#[derive(Debug, Clone, Serialize)]
pub struct ClientView {
    pub client_id: String,
    pub token_endpoint_auth_method: String,
    pub redirect_uris: Vec<String>,
    pub post_logout_redirect_uris: Vec<String>,
    pub grant_types: Vec<String>,
    pub backchannel_logout_uri: Option<String>,
    pub frontchannel_logout_uri: Option<String>,
    pub id_token_signed_response_alg: String,
    pub first_party: bool,
    pub lifetimes: Lifetimes,
    pub disabled: bool,
    /// When a rotated-out secret stops working, while it still does.
    pub previous_secret_valid_until: Option<i64>,
    /// RFC 9449 §5.2: token requests without a DPoP proof are refused.
    pub dpop_bound_access_tokens: bool,
    pub created_at: i64,
}

fn view(row: store::clients::ClientRow, now: i64) -> Result<ClientView> {
    let created_at = row.created_at;
    let c = Client::from_row(row)?;
    Ok(ClientView {
        token_endpoint_auth_method: c.auth_method.as_str().into(),
        previous_secret_valid_until: c
            .previous_secret
            .as_ref()
            .map(|p| p.until)
            .filter(|until| *until > now),
        client_id: c.client_id,
        redirect_uris: c.redirect_uris,
        post_logout_redirect_uris: c.post_logout_redirect_uris,
        grant_types: c.grant_types,
        backchannel_logout_uri: c.backchannel_logout_uri,
        frontchannel_logout_uri: c.frontchannel_logout_uri,
        id_token_signed_response_alg: c.id_token_alg,
        first_party: c.first_party,
        lifetimes: c.lifetimes,
        disabled: c.disabled,
        dpop_bound_access_tokens: c.dpop_bound_access_tokens,
        created_at,
    })
}

async fn find(
    db: &DatabaseConnection,
    tenant: &Tenant,
    client_id: &str,
) -> Result<store::clients::ClientRow> {
    store::clients::find_by_client_id(db, &tenant.id, client_id)
        .await?
        .ok_or_else(|| ManageError::not_found("client", client_id))
}

pub async fn list_clients(state: &AppState, tenant: &Tenant) -> Result<Vec<ClientView>> {
    let now = state.clock.now();
    store::clients::list(&state.db, &tenant.id)
        .await?
        .into_iter()
        .map(|r| view(r, now))
        .collect()
}

pub async fn show_client(state: &AppState, tenant: &Tenant, client_id: &str) -> Result<ClientView> {
    view(find(&state.db, tenant, client_id).await?, state.clock.now())
}

/// Registration changes; `None` keeps the current value. For the logout URIs `Some(None)`
/// removes the URI. Lists replace the registered list whole.
#[derive(Debug, Clone, Default)]
pub struct ClientChanges {
    pub redirect_uris: Option<Vec<String>>,
    pub post_logout_redirect_uris: Option<Vec<String>>,
    pub backchannel_logout_uri: Option<Option<String>>,
    pub frontchannel_logout_uri: Option<Option<String>>,
    pub first_party: Option<bool>,
    pub lifetimes: LifetimeChanges,
}

pub async fn update_client(
    state: &AppState,
    tenant: &Tenant,
    client_id: &str,
    changes: ClientChanges,
    actor: &str,
) -> Result<ClientView> {
    let row = find(&state.db, tenant, client_id).await?;
    let current = Client::from_row(row.clone())?;
    let redirect_uris = changes.redirect_uris.unwrap_or(current.redirect_uris);
    let post_logout = changes
        .post_logout_redirect_uris
        .unwrap_or(current.post_logout_redirect_uris);
    let backchannel = changes
        .backchannel_logout_uri
        .unwrap_or(current.backchannel_logout_uri);
    let frontchannel = changes
        .frontchannel_logout_uri
        .unwrap_or(current.frontchannel_logout_uri);
    let lifetimes = changes.lifetimes.apply(&current.lifetimes);
    meta::validate_uris(
        redirect_uris
            .iter()
            .chain(&post_logout)
            .chain(&backchannel)
            .chain(&frontchannel),
    )
    .map_err(invalid)?;
    meta::validate_logout_uris(
        &redirect_uris,
        backchannel.as_deref(),
        frontchannel.as_deref(),
        &state.config.allow_private_destinations,
    )
    .map_err(ManageError::InvalidClientMetadata)?;
    meta::validate_lifetimes(&lifetimes).map_err(invalid)?;
    store::clients::update(
        &state.db,
        &tenant.id,
        &row.id,
        store::clients::ClientUpdate {
            redirect_uris: to_json_list(&redirect_uris),
            post_logout_redirect_uris: to_json_list(&post_logout),
            backchannel_logout_uri: backchannel,
            frontchannel_logout_uri: frontchannel,
            first_party: changes.first_party.unwrap_or(current.first_party),
            lifetimes: serde_json::to_string(&lifetimes)?,
        },
    )
    .await?;
    changed(state, tenant, client_id, "client.updated", actor).await?;
    show_client(state, tenant, client_id).await
}

/// Disable (`true`) or enable a client. A disabled client is refused at the token endpoint
/// (`invalid_client`), its access tokens are refused at UserInfo and its tokens introspect as
/// inactive. Returns whether anything changed.
pub async fn set_client_disabled(
    state: &AppState,
    tenant: &Tenant,
    client_id: &str,
    disabled: bool,
    actor: &str,
) -> Result<bool> {
    let row = find(&state.db, tenant, client_id).await?;
    let did = store::clients::mark_disabled(&state.db, &tenant.id, &row.id, disabled).await?;
    let kind = if disabled {
        "client.disabled"
    } else {
        "client.enabled"
    };
    if did {
        changed(state, tenant, client_id, kind, actor).await?;
    }
    Ok(did)
}

/// A freshly rotated secret, printed once.
#[derive(Serialize)]
pub struct RotatedSecret {
    pub client_id: String,
    pub client_secret: String,
    /// The old secret works until then (Unix seconds); `None`: it stopped working now.
    pub previous_secret_valid_until: Option<i64>,
}

impl std::fmt::Debug for RotatedSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "RotatedSecret({}, secret: ***)", self.client_id)
    }
}

/// Replace a confidential client's secret. The old one keeps working for `overlap_secs` (so the
/// new one can be deployed first), then never again; an older previous secret is dropped now.
pub async fn rotate_secret(
    state: &AppState,
    tenant: &Tenant,
    client_id: &str,
    overlap_secs: i64,
    actor: &str,
) -> Result<RotatedSecret> {
    if overlap_secs < 0 {
        return Err(invalid("--overlap must be 0 or more seconds"));
    }
    let row = find(&state.db, tenant, client_id).await?;
    let Some(current) = row.secret_hash.as_deref() else {
        return Err(invalid(format!(
            "client '{client_id}' has no secret (it authenticates with {})",
            row.auth_method
        )));
    };
    let secret = crate::crypto::random_token();
    let now = state.clock.now();
    let until = (overlap_secs > 0).then(|| now.saturating_add(overlap_secs));
    let hash = state.hasher.hash("client_secret", &secret);
    if !store::clients::mark_secret_rotated(&state.db, &tenant.id, &row.id, current, &hash, until)
        .await?
    {
        return Err(conflict(format!(
            "client '{client_id}' changed while rotating; try again"
        )));
    }
    changed(state, tenant, client_id, "client.secret_rotated", actor).await?;
    Ok(RotatedSecret {
        client_id: client_id.to_string(),
        client_secret: secret,
        previous_secret_valid_until: until,
    })
}

/// Delete a client. Its tokens stop working at once (every check looks the client up); sessions
/// it took part in stay, and logout deliveries already owed to it are still made.
pub async fn delete_client(
    state: &AppState,
    tenant: &Tenant,
    client_id: &str,
    actor: &str,
) -> Result<()> {
    let row = find(&state.db, tenant, client_id).await?;
    store::clients::delete(&state.db, &tenant.id, &row.id).await?;
    changed(state, tenant, client_id, "client.deleted", actor).await
}

/// Drop this node's cached copy and append the audit event.
async fn changed(
    state: &AppState,
    tenant: &Tenant,
    client_id: &str,
    kind: &str,
    actor: &str,
) -> Result<()> {
    state.cache.forget_client(&tenant.id, client_id);
    audit::record(
        &state.db,
        Event {
            tenant_id: &tenant.id,
            kind,
            client_id: Some(client_id),
            actor,
            outcome: "ok",
            ..Default::default()
        },
        None,
        state.clock.now_ms(),
    )
    .await?;
    Ok(())
}
